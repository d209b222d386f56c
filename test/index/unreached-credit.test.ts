/**
 * The exact stage's credit for tokens no probed vector reaches (src/index/unreached-credit.ts): the counts against a
 * count done here, the credit against the least-squares slope in its textbook form, and through a search's trace that
 * the credit only adds documents after those of the approximate order.
 */
import t from 'tap'
import { createPlaidIndex, type SearchTrace } from '../../src/index/plaid-index.js'
import { createPrng } from '../../src/index/prng.js'
import { unreachedCount, unreachedCredit } from '../../src/index/unreached-credit.js'
import { gaussian, makeDocs, normalize, queryFor } from './synthetic-vectors.js'

t.test('unreachedCount: the tokens whose probe row holds the floor', async (t) => {
  const rng = createPrng(11)
  const qlen = 32, n = 50
  const floor = Float32Array.from({ length: qlen }, () => 0.3 * rng.next())
  const rows = new Float32Array(n * qlen)
  const want: number[] = []
  for (let i = 0; i < n; i++) {
    let u = 0
    for (let j = 0; j < qlen; j++) {
      const reached = rng.next() < 0.6
      rows[i * qlen + j] = reached ? floor[j] + 0.01 + rng.next() : floor[j]
      if (!reached) u++
    }
    want.push(u)
  }
  t.same(Array.from({ length: n }, (_, i) => unreachedCount({ rows, floor, qlen }, i)), want)
})

t.test('unreachedCredit: the least-squares slope where positive, else 0', async (t) => {
  const rng = createPrng(12)
  /** (n Σxy − Σx Σy) / (n Σx² − (Σx)²) in float64 */
  const textbook = (x: number[], y: number[]): number => {
    const n = x.length
    let sx = 0, sy = 0, sxy = 0, sxx = 0
    for (let i = 0; i < n; i++) { sx += x[i]; sy += y[i]; sxy += x[i] * y[i]; sxx += x[i] * x[i] }
    return (n * sxy - sx * sy) / (n * sxx - sx * sx)
  }
  for (const trueSlope of [0.05, 0.01, -0.03]) {
    const n = 48
    const counts = Uint16Array.from({ length: n }, () => Math.floor(rng.next() * 20))
    const errors = Float64Array.from(counts, (u) => 0.2 + trueSlope * u + 0.02 * gaussian(rng))
    const want = textbook(Array.from(counts), Array.from(errors))
    const got = unreachedCredit(errors, counts, n)
    if (want > 0) t.ok(Math.abs(got - want) < 1e-12, `slope ${trueSlope}: ${got} against ${want}`)
    else t.equal(got, 0, `slope ${trueSlope}: ${want} is not positive, so no credit`)
  }
  t.equal(unreachedCredit(Float64Array.of(0.1, 0.5, 0.9), Uint16Array.of(4, 4, 4), 3), 0, 'counts that do not vary: no credit')
  t.equal(unreachedCredit(Float64Array.of(0.1), Uint16Array.of(4), 1), 0, 'one document: no credit')
})

t.test('search: the exact stage scores a prefix of the approximate order, then at most need/2 documents more', async (t) => {
  const dim = 64
  const rng = createPrng(29)
  const set = makeDocs({ seed: 43, dim, nDocs: 600, nTopics: 12, minLen: 10, maxLen: 40, noise: 1.2 })
  const index = createPlaidIndex({ dim, nbits: 2, minTrainVectors: 500, numCentroids: 64, seed: 5 })
  index.upsert(set.docs)
  const need = 48 // k 10: ndocs 192 / 4
  let added = 0
  for (let i = 0; i < 30; i++) {
    const doc = set.docs[rng.int(set.docs.length)]
    const q = queryFor(doc.vectors, dim, 32, 1.0, rng)
    // the rest of the 32 positions flat, as [MASK] padding is: one shared direction plus noise
    for (let j = 12; j < 32; j++) {
      for (let d = 0; d < dim; d++) q[j * dim + d] = (d === 0 ? 1 : 0) + 0.3 * gaussian(rng)
      normalize(q, j * dim, dim)
    }
    const trace: SearchTrace = {}
    const { hits } = index.search(q, { k: 10, trace })
    const order = trace.approx!.ids, scored = trace.unpruned!
    let prefix = 0
    while (prefix < scored.length && scored[prefix] === order[prefix]) prefix++
    t.ok(prefix >= Math.min(need, order.length), `query ${i}: the first ${need} by approximate score are scored first (prefix ${prefix})`)
    t.ok(scored.length - prefix <= need / 2, `query ${i}: ${scored.length - prefix} documents added after the approximate order's ${prefix}`)
    t.equal(new Set(scored).size, scored.length, `query ${i}: no document scored twice`)
    added += scored.length - prefix
    const again = index.search(q, { k: 10 })
    t.same(again.hits, hits, `query ${i}: the same hits again`)
  }
  t.ok(added > 0, `the credit added documents on some queries (${added} in all)`)
})
