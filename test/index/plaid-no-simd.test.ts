import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'

// The TypeScript fallbacks (no WebAssembly SIMD) run in a child process, where JACOLBERT_NO_SIMD=1 is set before the
// kernels module is first loaded.
t.test('without WebAssembly SIMD the index still trains two-level centroids, extends them and searches exactly', async (t) => {
  const child = fileURLToPath(new URL('./no-simd-child.ts', import.meta.url))
  const out = execFileSync(process.execPath, ['--import', 'tsx', child], { env: { ...process.env, JACOLBERT_NO_SIMD: '1' }, encoding: 'utf8' })
  const r = JSON.parse(out.trim().split('\n').pop()!)
  t.equal(r.simd, false, 'SIMD disabled in the child')
  t.equal(r.trained, true)
  t.ok(r.centroids > 512, `centroids ${r.centroids} (512 trained + appended)`)
  t.equal(r.extensions, 1)
  t.ok(r.compared >= 100 && r.maxErr < 1e-3, `max score error ${r.maxErr} over ${r.compared} ranks`)
  t.ok(r.found >= 9, `found ${r.found}/10`)
  t.ok(r.comparedSmall >= 30 && r.maxErrSmall < 1e-3, `small budgets: max score error ${r.maxErrSmall} over ${r.comparedSmall} hits`)
})
