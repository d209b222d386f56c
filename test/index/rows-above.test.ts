/**
 * rows-above.ts: the bounds from block maxima against the rows they must cover. Per token, rankThresholds is the
 * rank-th best of the residue blocks' maxima computed plainly, it is never above the token's rank-th best row (so a
 * pass listing the rows at or above it finds the rank best), and it is −∞ for a skipped token or a rank beyond the
 * blocks. Scores drawn plainly, with ties, and drifting slowly with the row (the best rows of a token together).
 */
import t from 'tap'
import { createPrng } from '../../src/index/prng.js'
import { blockMaxima, rankThresholds, rowsAboveScratch } from '../../src/index/rows-above.js'
import { createSimdArena } from '../../src/index/simd-kernels.js'

const rng = createPrng(11)

t.test('rankThresholds: the rank-th best block maximum, never above the rank-th best row', async (t) => {
  for (const [K, qlen, kind] of [[3000, 32, 'plain'], [3000, 32, 'smooth'], [1200, 8, 'ties'], [90, 12, 'plain']] as const) {
    const S = Float32Array.from({ length: K * qlen }, () => rng.next() - 0.5)
    if (kind === 'ties') for (let i = 0; i < S.length; i++) S[i] = Math.round(S[i] * 20) / 20
    if (kind === 'smooth') for (let c = 0; c < K; c++) for (let j = 0; j < qlen; j++) S[c * qlen + j] = Math.fround(Math.sin(c / 200 + j) + 0.01 * S[c * qlen + j])
    const arena = createSimdArena(K * qlen * 4)!
    arena.f32(0, K * qlen).set(S)
    const ca = { arena, coarsePtr: 0, scratch: 0, tablePtr: 0, tableWeights: null }
    const ra = rowsAboveScratch(ca, 0, K, qlen)
    const kept = new Uint8Array(K)
    const maxima = blockMaxima(ca, ra, 0, K, qlen, { threshold: 0.3, into: kept })
    t.equal(maxima.blocks, Math.min(K, 256), `K ${K}: min(K, 256) blocks`)
    let badKept = 0
    for (let c = 0; c < K; c++) if (kept[c] !== (Math.max(...S.subarray(c * qlen, (c + 1) * qlen)) >= 0.3 ? 1 : 0)) badKept++
    t.equal(badKept, 0, `K ${K} ${kind}: kept = some score ≥ threshold`)
    for (const rank of [1, 8, 32, 200]) {
      const skip = Uint8Array.from({ length: qlen }, (_, j) => (j % 3 === 1 ? 0 : 1))
      const bound = rankThresholds(ca, ra, maxima, qlen, rank, skip)
      let bad = 0, above = 0
      for (let j = 0; j < qlen; j++) {
        if (skip[j] === 0 || rank > maxima.blocks) { if (bound[j] !== -Infinity) bad++; continue }
        const blockMax: number[] = []
        for (let b = 0; b < maxima.blocks; b++) {
          let m = -Infinity
          for (let r = b; r < K; r += maxima.blocks) m = Math.max(m, S[r * qlen + j])
          blockMax.push(m)
        }
        blockMax.sort((x, y) => y - x)
        if (bound[j] !== blockMax[rank - 1]) bad++
        const rows = Array.from({ length: K }, (_, c) => S[c * qlen + j]).sort((x, y) => y - x)
        if (bound[j] > rows[rank - 1]) bad++
        above += rows.filter((x) => x >= bound[j]).length
      }
      t.equal(bad, 0, `K ${K}, qlen ${qlen}, ${kind}, rank ${rank}: plain rank-th block maximum, ≤ the rank-th best row, −∞ where skipped`)
      if (rank <= maxima.blocks && rank === 8 && kind !== 'ties') {
        const tokens = skip.reduce((a, b) => a + b, 0)
        t.ok(above / tokens < 4 * rank, `rank 8: ${(above / tokens).toFixed(1)} rows per token at or above the bound (of ${K})`)
      }
    }
  }
})
