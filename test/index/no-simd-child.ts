/**
 * Child process for plaid-no-simd.test.ts: runs with JACOLBERT_NO_SIMD=1 (set by the parent before any import), so
 * every kernel takes its TypeScript path. Builds a two-level index (K > 256), updates it, and prints a JSON summary of
 * how its search results compare with float64 MaxSim over the independently decoded vectors.
 */
import { createPlaidIndex } from '../../src/index/plaid-index.js'
import { createPrng } from '../../src/index/prng.js'
import { simdAvailable } from '../../src/index/simd-kernels.js'
import { liveDecoded, makeDocs, maxSim64, queryFor, rankExact } from './synthetic-vectors.js'

const dim = 16
const set = makeDocs({ seed: 8, dim, nDocs: 400, nTopics: 60, minLen: 10, maxLen: 30, noise: 0.7 })
const index = createPlaidIndex({ dim, minTrainVectors: 1000, numCentroids: 512, seed: 3 })
index.upsert(set.docs.slice(0, 360))
const far = makeDocs({ seed: 99, dim, nDocs: 40, nTopics: 5, minLen: 10, maxLen: 30, noise: 0.2, prefix: 'f' })
index.upsert(far.docs)
index.delete(set.docs.slice(0, 20).map((d) => d.id))
const rng = createPrng(4)
let maxErr = 0, found = 0, compared = 0
for (let i = 0; i < 6; i++) {
  const q = queryFor(set.docs[20 + rng.int(340)].vectors, dim, 8, 0.3, rng)
  const ref = rankExact(q, liveDecoded(index.exportState()), dim)
  const got = index.search(q, { k: 20, ncells: 1 << 20, ndocs: 1 << 20, centroidScoreThreshold: -10 }).hits
  for (let r = 0; r < got.length; r++) { maxErr = Math.max(maxErr, Math.abs(got[r].score - ref[r].score)); compared++ }
}
for (let i = 0; i < 10; i++) {
  const target = set.docs[20 + rng.int(340)]
  if (index.search(queryFor(target.vectors, dim, 8, 0.2, rng), { k: 10 }).hits.some((h) => h.id === target.id)) found++
}
// small budgets: the pruned cut, the partial exact over kept codes and the exact stage over the other vectors all run
// on their TypeScript paths; every returned score must still be the exact MaxSim over the decoded vectors
const decoded = new Map(liveDecoded(index.exportState()).map((d) => [d.id, d.vectors]))
let maxErrSmall = 0, comparedSmall = 0
for (let i = 0; i < 4; i++) {
  const q = queryFor(set.docs[20 + rng.int(340)].vectors, dim, 8, 0.3, rng)
  for (const h of index.search(q, { k: 10, ncells: 2, ndocs: 40, centroidScoreThreshold: 0.3 }).hits) {
    maxErrSmall = Math.max(maxErrSmall, Math.abs(h.score - maxSim64(q, decoded.get(h.id)!, dim)))
    comparedSmall++
  }
}
const st = index.stats()
console.log(JSON.stringify({ simd: simdAvailable(), trained: st.trained, centroids: st.centroids, extensions: st.drift.centroidExtensions, maxErr, compared, found, maxErrSmall, comparedSmall }))
