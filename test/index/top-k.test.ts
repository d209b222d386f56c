/**
 * Selection helpers of the search: topIndices against a full sort, bestIndices (the same set, unsorted), and
 * probeSums (four documents at a time) against one document's plain sum in token order, bit for bit.
 */
import t from 'tap'
import { probeSums } from '../../src/index/plaid-search.js'
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
  for (const [n, m] of [[1, 1], [10, 3], [1000, 1], [1000, 768], [5000, 1600], [300, 300], [300, 500]] as const) {
    const { scores, keys } = scored(n + m, n)
    const sorted = Array.from({ length: n }, (_, i) => i).sort((a, b) => (scores[b]! - scores[a]!) || (keys[a]! - keys[b]!))
    const want = sorted.slice(0, Math.min(m, n))
    t.same(Array.from(topIndices(scores, keys, n, m, new Uint32Array(n))), want, `n ${n}, m ${m}: topIndices, best first`)
    const best = bestIndices(scores, keys, n, m, new Uint32Array(n))
    t.same(Array.from(best).sort((a, b) => a - b), [...want].sort((a, b) => a - b), `n ${n}, m ${m}: bestIndices, the same set`)
  }
})

t.test('probeSums: every document\'s float32 sum equals its plain sum in token order', async (t) => {
  const rng = createPrng(7)
  for (const [n, qlen] of [[0, 32], [1, 32], [3, 8], [4, 32], [9_803, 32], [17, 5]] as const) {
    const rows = Float32Array.from({ length: n * qlen }, () => (rng.next() - 0.5) * 3)
    const got = probeSums(rows, n, qlen)
    let same = 0
    for (let i = 0; i < n; i++) {
      let sum = 0
      for (let j = 0; j < qlen; j++) sum += rows[i * qlen + j]!
      if (Object.is(Math.fround(sum), got[i])) same++
    }
    t.equal(same, n, `${n} documents × ${qlen} tokens: every sum bit-identical`)
  }
})
