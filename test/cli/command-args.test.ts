/** parseCommandArgs: the usage-error, --help and required-folder conventions every `jacolbert` command shares. */
import t from 'tap'
import { parseCommandArgs, usageError } from '../../src/cli/command-args.js'

const HELP = 'usage: jacolbert demo\n'

function capture<T>(fn: () => T): { result: T; stdout: string; stderr: string } {
  let stdout = ''
  let stderr = ''
  const out = process.stdout.write
  const err = process.stderr.write
  process.stdout.write = ((s: string) => ((stdout += s), true)) as typeof process.stdout.write
  process.stderr.write = ((s: string) => ((stderr += s), true)) as typeof process.stderr.write
  try {
    return { result: fn(), stdout, stderr }
  } finally {
    process.stdout.write = out
    process.stderr.write = err
  }
}

const options = { model: { type: 'string' }, fast: { type: 'boolean' } } as const

t.test('an unknown option or a positional is a usage error: message, blank line, help on stderr, exit 2', async (t) => {
  const r = capture(() => parseCommandArgs('demo', ['--nope'], options, HELP))
  t.equal(r.result, 2)
  t.equal(r.stdout, '')
  t.match(r.stderr, /^jacolbert demo: Unknown option '--nope'/)
  t.ok(r.stderr.endsWith(`\n\n${HELP}`))
  t.equal(capture(() => parseCommandArgs('demo', ['x'], options, HELP)).result, 2)
  const p = capture(() => parseCommandArgs('demo', ['x'], options, HELP, { positionals: true }))
  t.same(typeof p.result === 'number' ? p.result : p.result.positionals, ['x'])
})

t.test('-h and --help print the help on stdout and exit 0, before the required check', async (t) => {
  for (const argv of [['-h'], ['--help']]) {
    const r = capture(() => parseCommandArgs('demo', argv, options, HELP, { require: { option: 'model', env: 'DEMO_MODEL_UNSET' } }))
    t.same(r, { result: 0, stdout: HELP, stderr: '' })
  }
})

t.test('a required folder comes from its flag, else its environment variable', async (t) => {
  delete process.env.DEMO_MODEL
  const missing = capture(() => parseCommandArgs('demo', [], options, HELP, { require: { option: 'model', env: 'DEMO_MODEL' } }))
  t.same(missing, { result: 2, stdout: '', stderr: `jacolbert demo: --model DIR is required (or set DEMO_MODEL)\n\n${HELP}` })
  const noEnv = capture(() => parseCommandArgs('demo', [], options, HELP, { require: { option: 'model' } }))
  t.equal(noEnv.stderr, `jacolbert demo: --model DIR is required\n\n${HELP}`)
  process.env.DEMO_MODEL = '/env'
  t.teardown(() => void delete process.env.DEMO_MODEL)
  const fromEnv = parseCommandArgs('demo', ['--fast'], options, HELP, { require: { option: 'model', env: 'DEMO_MODEL' } })
  t.not(typeof fromEnv, 'number')
  if (typeof fromEnv !== 'number') {
    t.equal(fromEnv.required, '/env')
    t.equal(fromEnv.values.fast, true)
  }
  const fromFlag = parseCommandArgs('demo', ['--model', '/flag'], options, HELP, { require: { option: 'model', env: 'DEMO_MODEL' } })
  t.equal(typeof fromFlag !== 'number' && fromFlag.required, '/flag')
})

t.test('usageError writes the shared format and returns 2', async (t) => {
  t.same(capture(() => usageError('demo', 'bad', HELP)), { result: 2, stdout: '', stderr: `jacolbert demo: bad\n\n${HELP}` })
})
