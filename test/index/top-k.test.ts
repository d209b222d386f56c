/**
 * Selection helpers of the search: topIndices against a full sort, bestIndices (the same set, unsorted), and
 * probeRows and probeRowSums (the probe's sparse result) against a dense table of scores.
 */
import t from 'tap'
import { probeRows, probeRowSums } from '../../src/index/probe-scores.js'
import { createPrng } from '../../src/index/prng.js'
import { bestIndices, topIndices } from '../../src/index/top-k.js'

/** Scores with many exact ties (a coarse grid), so the tie rule (smaller key first) decides often. */
function scored(seed: number, n: number): { scores: Float32Array; keys: Uint32Array } {
  const rng = createPrng(seed)
  const scores = Float32Array.from({ length: n }, () => Math.round(rng.next() * 50) / 10)
  const keys = Uint32Array.from({ length: n }, (_, i) => (i * 7919) % 100_003)
  return { scores, keys }
}

t.test('topIndices is the full sort cut at m; bestIndices holds the same set', async (t) => {
  for (const [n, m] of [[1, 1], [10, 3], [1000, 1], [1000, 768], [5000, 1600], [9655, 768], [300, 300], [300, 500], [50, 0]] as const) {
    const { scores, keys } = scored(n + m, n)
    const sorted = Array.from({ length: n }, (_, i) => i).sort((a, b) => (scores[b]! - scores[a]!) || (keys[a]! - keys[b]!))
    const want = sorted.slice(0, Math.min(m, n))
    t.same(Array.from(topIndices(scores, keys, n, m, new Uint32Array(n))), want, `n ${n}, m ${m}: topIndices, best first`)
    const best = bestIndices(scores, keys, n, m, new Uint32Array(n))
    t.same(Array.from(best).sort((a, b) => a - b), [...want].sort((a, b) => a - b), `n ${n}, m ${m}: bestIndices, the same set`)
  }
})

t.test('bestIndices with distinct, equal and infinite scores (the histogram may degenerate to one bin): the set stays right', async (t) => {
  const n = 400
  const keys = Uint32Array.from({ length: n }, (_, i) => (i * 7919) % 100_003)
  const cases: Array<[string, Float32Array]> = [
    ['all equal', new Float32Array(n).fill(2.5)],
    ['distinct', Float32Array.from({ length: n }, (_, i) => Math.fround(Math.sin(i * 12.9898) * 43.758))],
    ['−∞ and +∞ among finite scores', Float32Array.from({ length: n }, (_, i) => (i % 17 === 0 ? -Infinity : i % 29 === 0 ? Infinity : (i * 31) % 97 / 10))],
  ]
  for (const [label, scores] of cases) {
    for (const m of [1, 10, 133, 399]) {
      const sorted = Array.from({ length: n }, (_, i) => i).sort((a, b) => (scores[b]! > scores[a]! ? 1 : scores[b]! < scores[a]! ? -1 : 0) || (keys[a]! - keys[b]!))
      const want = sorted.slice(0, m).sort((a, b) => a - b)
      t.same(Array.from(bestIndices(scores, keys, n, m, new Uint32Array(n))).sort((a, b) => a - b), want, `${label}, m ${m}`)
    }
  }
})

t.test('probeRowSums and probeRows: each document\'s scores and their sum, from the sparse per-token entries', async (t) => {
  const rng = createPrng(7)
  for (const [n, qlen] of [[0, 32], [1, 32], [3, 8], [4, 32], [9_803, 32], [17, 5]] as const) {
    // a dense table where about half the scores beat their token's floor; the result keeps only those, as the probe does
    const floor = Float32Array.from({ length: qlen }, () => (rng.next() - 0.5) * 2)
    const dense = Float32Array.from({ length: n * qlen }, (_, x) => Math.max(floor[x % qlen]!, floor[x % qlen]! + (rng.next() - 0.5) * 3))
    const start = new Uint32Array(qlen + 1), entryRow: number[] = [], entryBest: number[] = []
    const gain = new Float64Array(n)
    for (let j = 0; j < qlen; j++) {
      start[j] = entryRow.length
      for (let i = 0; i < n; i++) {
        const v = dense[i * qlen + j]!
        if (v > floor[j]!) { entryRow.push(i); entryBest.push(v); gain[i] += v - floor[j]! }
      }
    }
    start[qlen] = entryRow.length
    const result = { slots: new Uint32Array(n), start, entryRow: Uint32Array.from(entryRow), entryBest: Float32Array.from(entryBest), floor, gain }
    const rows = probeRows(result, qlen)
    t.same(Array.from(rows), Array.from(dense), `${n} documents × ${qlen} tokens: every row, floors where no entry`)
    const sums = probeRowSums(result, qlen)
    let worst = 0
    for (let i = 0; i < n; i++) {
      let sum = 0
      for (let j = 0; j < qlen; j++) sum += dense[i * qlen + j]!
      worst = Math.max(worst, Math.abs(sums[i]! - sum) / Math.max(1, Math.abs(sum)))
    }
    t.equal(sums.length, n, `${n} documents: one sum each`)
    t.ok(worst < 4e-7, `${n} documents: sums equal the rows' plain sums to float32 rounding (worst ${worst.toExponential(1)})`)
    if (n >= 4) {
      const pick = Uint32Array.of(n - 1, 0, 2)
      const picked = probeRows(result, qlen, pick)
      t.same(Array.from(picked), [...rows.subarray((n - 1) * qlen, n * qlen), ...rows.subarray(0, qlen), ...rows.subarray(2 * qlen, 3 * qlen)], `${n} documents: picked rows, in the picked order`)
    }
  }
})
