import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'

// The TypeScript fallbacks (no WebAssembly SIMD) run in a child process, where JACOLBERT_NO_SIMD=1 is set before the
// kernels module is first loaded.
t.test('without WebAssembly SIMD the index still trains two-level centroids, extends them and searches exactly', async (t) => {
  const child = fileURLToPath(new URL('./no-simd-child.ts', import.meta.url))
  const out = execFileSync(process.execPath, ['--import', 'tsx', child], { env: { ...process.env, JACOLBERT_NO_SIMD: '1' }, encoding: 'utf8' })
  const out0 = JSON.parse(out.trim().split('\n').pop()!)
  t.equal(out0.simd, false, 'SIMD disabled in the child')
  // scores against the original vectors the index keeps, and (keepOriginals: false) against the decompressed vectors
  for (const ref of ['originals', 'decoded'] as const) {
    const r = out0[ref]
    t.equal(r.home, ref === 'originals' ? 'memory' : 'none', `${ref}: what the index keeps`)
    t.equal(r.trained, true)
    t.ok(r.centroids > 512, `${ref}: centroids ${r.centroids} (512 trained + appended)`)
    t.equal(r.extensions, 1)
    t.ok(r.compared >= 100 && r.maxErr < 1e-3, `${ref}: max score error ${r.maxErr} over ${r.compared} ranks`)
    t.ok(r.found >= 9, `${ref}: found ${r.found}/10`)
    t.ok(r.comparedSmall >= 30 && r.maxErrSmall < 1e-3, `${ref}: small budgets: max score error ${r.maxErrSmall} over ${r.comparedSmall} hits`)
  }
})
