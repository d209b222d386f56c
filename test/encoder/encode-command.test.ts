/** `jacolbert encode` and `jacolbert convert` as a user runs them (child process, stdin lines -> JSON lines). */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { GOLDEN_PATH, IPADIC_DIR, REPO_ROOT, TINY_MODEL_DIR, dictionaryOnly, sharedOnly } from '../helpers/shared.js'
import { makeRandomCheckpoint } from '../helpers/make-checkpoint.js'
import { loadGolden } from '../helpers/golden-encoding.js'

const cli = (args: string[], input = ''): { status: number | null; stdout: string; stderr: string } => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), ...args], { input, encoding: 'utf8', cwd: REPO_ROOT, env: { ...process.env, TMPDIR: process.env.TMPDIR } })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

const skip = sharedOnly().skip || dictionaryOnly(IPADIC_DIR).skip
t.test('encode prints the golden vectors, one JSON object per line, in input order', { skip }, async (t) => {
  const golden = loadGolden(GOLDEN_PATH)
  for (const kind of ['query', 'document'] as const) {
    const cases = golden.encoding.filter((e) => e.kind === kind && !e.text.includes('\n')).slice(0, 4)
    const r = cli(['encode', '--model', TINY_MODEL_DIR, '--dic', IPADIC_DIR, '--kind', kind, '--providers', 'cpu', '--threads', '1', '--chunk', '3'], cases.map((e) => `${e.text}\n`).join(''))
    t.equal(r.status, 0, r.stderr)
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { shape: [number, number]; vectors: number[][] })
    t.equal(lines.length, cases.length)
    let worst = 0
    lines.forEach((l, i) => {
      t.same(l.shape, cases[i]!.shape)
      t.equal(l.vectors.length, l.shape[0])
      l.vectors.flat().forEach((v, j) => (worst = Math.max(worst, Math.abs(v - cases[i]!.vectors[j]!))))
    })
    t.ok(worst < 1e-5, `${kind}: within 1e-5 (worst ${worst.toExponential(2)})`)
  }
})

t.test('usage errors and convert', async (t) => {
  const r = cli(['encode'])
  t.equal(r.status, 2)
  t.match(r.stderr, /--model DIR is required/)
  t.equal(cli(['encode', '--help']).status, 0)
  const dir = await makeRandomCheckpoint(join(t.testdir(), 'm'), { vocabSize: 64, hidden: 16, heads: 2, intermediate: 32, layers: 1, dim: 8 })
  const c1 = cli(['convert', '--model', dir, '--fp16'])
  t.equal(c1.status, 0, c1.stderr)
  t.match(c1.stdout, /fp32-fused\tconverted in \d+ ms\t.*onnx\/fp32-fused-[0-9a-f]+\.onnx/)
  t.match(c1.stdout, /fp16-fused\tconverted/)
  const c2 = cli(['convert', '--model', dir])
  t.match(c2.stdout, /fp32-fused\tcached/)
  const bad = cli(['convert', '--model', join(dir, 'nope')])
  t.equal(bad.status, 1)
  t.match(bad.stderr, /CHECKPOINT_INVALID.*does not exist/)
})
