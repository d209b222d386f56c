/**
 * The centroid-score threshold a search uses when the caller sets none (src/index/score-threshold.ts): the default
 * where unrelated centroids score around 0, the query's mean centroid score + 0.25 where every vector leans one way.
 * Checked against the mean computed here over every score (float centroids × float query), and through the search's
 * trace on two small indexes, one of each kind.
 */
import t from 'tap'
import { createPlaidIndex, type SearchTrace } from '../../src/index/plaid-index.js'
import { createPrng } from '../../src/index/prng.js'
import { adaptiveThreshold, MEAN_MARGIN } from '../../src/index/score-threshold.js'
import { gaussian, makeDocs, normalize, queryFor } from './synthetic-vectors.js'

/** mean + MEAN_MARGIN over every value, in float64 */
function bound(values: ArrayLike<number>): number {
  let sum = 0
  for (let i = 0; i < values.length; i++) sum += values[i]
  return sum / values.length + MEAN_MARGIN
}

t.test('adaptiveThreshold: the base where scores lie around 0, their mean + 0.25 where they sit high', async (t) => {
  const rng = createPrng(5)
  const K = 4096, qlen = 32
  const low = Float32Array.from({ length: K * qlen }, () => 0.1 * gaussian(rng))
  t.equal(adaptiveThreshold(low, K, qlen, 0.4), 0.4, 'scores ~N(0, 0.1): mean + 0.25 is below the base')
  const high = Float32Array.from({ length: K * qlen }, () => 0.5 + 0.05 * gaussian(rng))
  const got = adaptiveThreshold(high, K, qlen, 0.4)
  t.ok(Math.abs(got - bound(high)) < 0.002, `scores ~N(0.5, 0.05): ${got} against ${bound(high)} over every score`)
  t.equal(adaptiveThreshold(high, K, qlen, 0.9), 0.9, 'a base above the bound stays')
  t.equal(adaptiveThreshold(high, K, qlen, 0.4), got, 'deterministic')
  t.equal(adaptiveThreshold(new Float32Array(0), 0, qlen, 0.45), 0.45, 'no centroids: the base')
})

t.test('search: the threshold rises on vectors that lean one way, stays on those that do not, and a given one is kept', async (t) => {
  const dim = 128
  const rng = createPrng(23)
  const iso = makeDocs({ seed: 41, dim, nDocs: 300, nTopics: 20, minLen: 8, maxLen: 30, noise: 0.9 })
  // the same documents pulled towards one direction: cosine between unrelated vectors ~0.6
  const lean = new Float32Array(dim)
  for (let d = 0; d < dim; d++) lean[d] = gaussian(rng)
  normalize(lean, 0, dim)
  const tilt = (v: Float32Array): Float32Array => {
    const out = Float32Array.from(v)
    for (let r = 0; r < out.length / dim; r++) {
      for (let d = 0; d < dim; d++) out[r * dim + d] += 1.2 * lean[d]
      normalize(out, r * dim, dim)
    }
    return out
  }
  const tilted = iso.docs.map((doc) => ({ id: doc.id, vectors: tilt(doc.vectors) }))
  const build = (docs: typeof tilted) => {
    const index = createPlaidIndex({ dim, nbits: 2, minTrainVectors: 500, numCentroids: 64, seed: 3 })
    index.upsert(docs)
    return index
  }
  const isoIndex = build(iso.docs), tiltIndex = build(tilted)
  const threshold = (index: typeof isoIndex, q: Float32Array, given?: number): { value: number; ids: string[] } => {
    const trace: SearchTrace = {}
    const { hits } = index.search(q, { k: 10, trace, ...(given === undefined ? {} : { centroidScoreThreshold: given }) })
    return { value: trace.budgets!.threshold, ids: hits.map((h) => h.id) }
  }
  const centroids = (index: typeof isoIndex): Float32Array => {
    const rows = new Int16Array((index.exportState().arrays.centroids as Uint16Array).slice().buffer)
    return Float32Array.from(rows, (x) => x * 2 ** -14)
  }
  const tiltCentroids = centroids(tiltIndex), isoCentroids = centroids(isoIndex)
  /** every centroid score of a 16-token query, in float64 */
  const scores = (cents: Float32Array, q: Float32Array): Float64Array => {
    const K = cents.length / dim
    const S = new Float64Array(K * 16)
    for (let c = 0; c < K; c++) {
      for (let j = 0; j < 16; j++) {
        let s = 0
        for (let d = 0; d < dim; d++) s += cents[c * dim + d] * q[j * dim + d]
        S[c * 16 + j] = s
      }
    }
    return S
  }
  for (let i = 0; i < 5; i++) {
    const doc = iso.docs[rng.int(iso.docs.length)]
    const qIso = queryFor(doc.vectors, dim, 16, 0.5, rng)
    const qTilt = tilt(qIso)
    t.ok(bound(scores(isoCentroids, qIso)) < 0.4, `vectors every way: mean + 0.25 = ${bound(scores(isoCentroids, qIso)).toFixed(3)}`)
    t.equal(threshold(isoIndex, qIso).value, 0.4, 'so the search keeps the default 0.4')
    // the search samples every 7th of the 1,024 scores (int16 centroids and query): within a few hundredths
    const want = bound(scores(tiltCentroids, qTilt))
    const got = threshold(tiltIndex, qTilt)
    t.ok(want > 0.6, `the tilted scores sit high (mean + 0.25 = ${want.toFixed(3)})`)
    t.ok(Math.abs(got.value - want) < 0.03, `vectors leaning one way: threshold ${got.value.toFixed(3)} against ${want.toFixed(3)}`)
    t.same(threshold(tiltIndex, qTilt), got, 'the same query: the same threshold and hits')
    t.equal(threshold(tiltIndex, qTilt, 0.3).value, 0.3, 'a caller\'s threshold is used as given')
  }
})
