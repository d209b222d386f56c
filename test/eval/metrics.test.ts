/**
 * Ranking metrics against hand-computed values and against scikit-learn's ndcg_score (an independent implementation,
 * Debian python3-sklearn), including tied scores and queries with several relevant documents of different gains.
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mapAtK, mrrAtK, ndcgAtK, parseMetric, rankByScore, recallAtK, successAtK } from '../../src/eval/metrics.js'

const q = (o: Record<string, number>): Map<string, number> => new Map(Object.entries(o))

t.test('hand-computed cases', async (t) => {
  // ranking a b c d e; relevant: b (gain 1) and d (gain 2); f is relevant but never retrieved
  const ranked = ['a', 'b', 'c', 'd', 'e']
  const rel = q({ b: 1, d: 2, f: 1, z: 0 })
  t.equal(recallAtK(ranked, rel, 1), 0)
  t.equal(recallAtK(ranked, rel, 2), 1 / 3)
  t.equal(recallAtK(ranked, rel, 5), 2 / 3)
  t.equal(successAtK(ranked, rel, 1), 0)
  t.equal(successAtK(ranked, rel, 2), 1)
  t.equal(mrrAtK(ranked, rel, 1), 0)
  t.equal(mrrAtK(ranked, rel, 10), 1 / 2)
  // AP@5 = (1/2 + 2/4) / 3 relevant
  t.equal(mapAtK(ranked, rel, 5), (0.5 + 0.5) / 3)
  t.equal(mapAtK(ranked, rel, 3), 0.5 / 3)
  // DCG@5 = 1/log2(3) + 2/log2(5); IDCG@5 = 2/log2(2) + 1/log2(3) + 1/log2(4)
  const dcg = 1 / Math.log2(3) + 2 / Math.log2(5)
  const idcg = 2 + 1 / Math.log2(3) + 1 / 2
  t.ok(Math.abs(ndcgAtK(ranked, rel, 5) - dcg / idcg) < 1e-15)
  // IDCG@2 = 2 + 1/log2(3); DCG@2 = 1/log2(3)
  t.ok(Math.abs(ndcgAtK(ranked, rel, 2) - (1 / Math.log2(3)) / (2 + 1 / Math.log2(3))) < 1e-15)
  t.equal(ndcgAtK(['d', 'b', 'f'], rel, 3), 1, 'ideal ranking scores 1')
  // no relevant document at all
  t.equal(ndcgAtK(ranked, q({ a: 0 }), 5), 0)
  t.equal(recallAtK(ranked, q({}), 5), 0)
  // ties: the order policy reads the list; averaging spreads the tied group's gain
  const r = rankByScore(['x', 'y', 'z'], [1, 1, 0])
  t.same(r.ids, ['x', 'y', 'z'], 'equal scores keep input order')
  t.equal(ndcgAtK(r.ids, q({ y: 1 }), 1), 0)
  t.equal(ndcgAtK(r.ids, q({ y: 1 }), 1, { ties: 'average', scores: r.scores }), 0.5)
  t.same(parseMetric('nDCG@10'), { name: 'ndcg', k: 10 })
  t.throws(() => parseMetric('precision@3'), /not one of/)
  t.throws(() => parseMetric('recall@0'))
})

function findSklearnPython(): string | undefined {
  for (const py of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(py, ['-c', 'import sklearn'], { encoding: 'utf8' })
    if (r.status === 0) return py
  }
  return undefined
}

const python = findSklearnPython()
t.test('nDCG@k agrees with scikit-learn ndcg_score', { skip: python ? false : 'python3 with scikit-learn not found (apt-get install -y python3-sklearn)' }, async (t) => {
  // deterministic pseudo-random cases: 60 queries × 12 candidates, graded gains 0..3, some with scores drawn from
  // a small set so that ties are common
  let s = 12345
  const rnd = (): number => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32)
  const cases: Array<{ gains: number[]; scores: number[]; k: number }> = []
  for (let c = 0; c < 60; c++) {
    const n = 12
    const tied = c % 2 === 0
    const gains: number[] = Array.from({ length: n }, () => (rnd() < 0.6 ? 0 : 1 + Math.floor(rnd() * 3)))
    if (!gains.some((g) => g > 0)) gains[c % n] = 1
    const scores = Array.from({ length: n }, () => (tied ? Math.floor(rnd() * 4) : rnd()))
    cases.push({ gains, scores, k: [1, 3, 5, 10, 12][c % 5]! })
  }
  const script = `
import json, sys
import numpy as np
from sklearn.metrics import ndcg_score
cases = json.load(sys.stdin)
out = []
for c in cases:
    yt = np.asarray([c['gains']], dtype=float); ys = np.asarray([c['scores']], dtype=float)
    out.append([ndcg_score(yt, ys, k=c['k']), ndcg_score(yt, ys, k=c['k'], ignore_ties=True)])
print(json.dumps(out))
`
  const r = spawnSync(python!, ['-c', script], { input: JSON.stringify(cases), encoding: 'utf8' })
  t.equal(r.status, 0, r.stderr)
  const ref = JSON.parse(r.stdout) as Array<[number, number]>
  let worstAvg = 0
  let worstOrderNoTies = 0
  let tiedCasesDiffering = 0
  cases.forEach((c, i) => {
    const ids = c.gains.map((_, j) => `d${j}`)
    const qrels = new Map(ids.map((id, j) => [id, c.gains[j]!]))
    const ranked = rankByScore(ids, c.scores)
    const avg = ndcgAtK(ranked.ids, qrels, c.k, { ties: 'average', scores: ranked.scores })
    worstAvg = Math.max(worstAvg, Math.abs(avg - ref[i]![0]))
    const ordered = ndcgAtK(ranked.ids, qrels, c.k)
    if (i % 2 === 1) worstOrderNoTies = Math.max(worstOrderNoTies, Math.abs(ordered - ref[i]![0]))
    else if (Math.abs(ordered - ref[i]![0]) > 1e-9) tiedCasesDiffering++
  })
  t.ok(worstAvg < 1e-12, `tie-averaging policy = sklearn default on all 60 cases (worst |diff| ${worstAvg.toExponential(2)})`)
  t.ok(worstOrderNoTies < 1e-12, `order policy = sklearn on the 30 cases without ties (worst ${worstOrderNoTies.toExponential(2)})`)
  t.ok(tiedCasesDiffering > 0, 'the tied cases do exercise the difference between the two policies')
})
