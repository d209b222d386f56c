import t from 'tap'
import { discordant, rankSummary, signTestP, targetRanks } from '../../bench/index-matrix.js'

t.test('sign test: exact binomial tails under p = 1/2', async (t) => {
  // 6 discordant queries all one way: 2 · (1/2)^6
  t.ok(Math.abs(signTestP(0, 6) - 2 / 64) < 1e-12)
  t.ok(Math.abs(signTestP(8, 0) - 2 / 256) < 1e-12)
  // 14 against 25: 2 · Σ_{i ≤ 14} C(39, i) / 2^39
  let tail = 0
  let c = 1
  for (let i = 0; i <= 14; i++) {
    tail += c
    c = (c * (39 - i)) / (i + 1)
  }
  t.ok(Math.abs(signTestP(14, 25) - (2 * tail) / 2 ** 39) < 1e-12)
  t.equal(signTestP(3, 3), 1, 'an even split is capped at 1')
  t.equal(signTestP(0, 0), 1)
  const far = signTestP(0, 2000)
  t.ok(far >= 0 && far < 1e-12, 'a long one-sided run gives a tiny p, not NaN')
})

t.test('discordant queries, both ways', async (t) => {
  const { a, b } = discordant('10110', '01100')
  t.same(a, [0, 3])
  t.same(b, [1])
})

t.test('target ranks count the documents strictly above the target', async (t) => {
  // two queries over four documents
  const scores = Float32Array.from([0.5, 0.9, 0.7, 0.7, /* q1 */ 2, 1, 3, 2])
  const qrels = Int32Array.from([2, 0])
  // q0: the target (0.7) has 0.9 above it, and a tie at 0.7 that does not count; q1: 3 above 2, the tie again not
  t.same(targetRanks(scores, qrels, 4, 2), [2, 2])
  t.same(targetRanks(scores, Int32Array.from([1, 2]), 4, 2), [1, 1])
})

t.test('rank summary', async (t) => {
  t.equal(rankSummary([]), '–')
  t.equal(rankSummary([14, 11, 1, 12]), 'median 12 (1–14), 1 of them ≤ 10')
})
