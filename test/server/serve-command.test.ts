/** `jacolbert serve --help` lists every setting (from src/config.ts) with its flag; bad flags exit 2 naming them. */
import t from 'tap'
import { CONFIG_VARS } from '../../src/config.js'
import { run } from '../../src/cli/serve-command.js'

async function capture(fn: () => Promise<number>): Promise<{ code: number; out: string; err: string }> {
  let out = ''
  let err = ''
  const w1 = process.stdout.write.bind(process.stdout)
  const w2 = process.stderr.write.bind(process.stderr)
  process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write
  process.stderr.write = ((s: string) => ((err += s), true)) as typeof process.stderr.write
  try {
    return { code: await fn(), out, err }
  } finally {
    process.stdout.write = w1
    process.stderr.write = w2
  }
}

t.test('--help lists every variable and its flag; secrets are env-only', async (t) => {
  const { code, out } = await capture(() => run(['--help']))
  t.equal(code, 0)
  for (const v of CONFIG_VARS) {
    t.match(out, v.env, `${v.env} listed`)
    if (v.secret) t.match(out, new RegExp(`${v.env}\\s+\\(env only\\)`))
    else t.match(out, `--${v.env.toLowerCase().replace(/_/g, '-')}`)
  }
})

t.test('a bad flag exits 2 with a message naming it, before anything starts', async (t) => {
  const { code, err } = await capture(() => run(['--port', 'eighty']))
  t.equal(code, 2)
  t.match(err, /--port must be an integer/)
})
