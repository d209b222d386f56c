/**
 * Child process for plaid-no-simd.test.ts: runs with JACOLBERT_NO_SIMD=1 (set by the parent before any import), so
 * every kernel takes its TypeScript path. Builds a two-level index (K > 256), updates it, and prints a JSON summary of
 * how its search results compare with float64 MaxSim over the vectors its exact stage ranks by, decoded independently:
 * the kept original vectors (`originals`), and for an index with keepOriginals: false the decompressed vectors
 * (`decoded`, the TypeScript decoding).
 */
import { createPlaidIndex, type IndexState } from '../../src/index/plaid-index.js'
import { createPrng } from '../../src/index/prng.js'
import { simdAvailable } from '../../src/index/simd-kernels.js'
import { liveDecoded, liveOriginals, makeDocs, maxSim64, queryFor, rankExact } from './synthetic-vectors.js'

const dim = 16
const set = makeDocs({ seed: 8, dim, nDocs: 400, nTopics: 60, minLen: 10, maxLen: 30, noise: 0.7 })
const far = makeDocs({ seed: 99, dim, nDocs: 40, nTopics: 5, minLen: 10, maxLen: 30, noise: 0.2, prefix: 'f' })

function run(keepOriginals: boolean): Record<string, unknown> {
  const live = (state: IndexState): Array<{ id: string; vectors: Float32Array }> => (keepOriginals ? liveOriginals(state) : liveDecoded(state))
  const index = createPlaidIndex({ dim, minTrainVectors: 1000, numCentroids: 512, seed: 3, keepOriginals })
  index.upsert(set.docs.slice(0, 360))
  index.upsert(far.docs)
  index.delete(set.docs.slice(0, 20).map((d) => d.id))
  const rng = createPrng(4)
  let maxErr = 0, found = 0, compared = 0
  for (let i = 0; i < 6; i++) {
    const q = queryFor(set.docs[20 + rng.int(340)].vectors, dim, 8, 0.3, rng)
    const ref = rankExact(q, live(index.exportState()), dim)
    const got = index.search(q, { k: 20, ncells: 1 << 20, ndocs: 1 << 20, centroidScoreThreshold: -10 }).hits
    for (let r = 0; r < got.length; r++) { maxErr = Math.max(maxErr, Math.abs(got[r].score - ref[r].score)); compared++ }
  }
  for (let i = 0; i < 10; i++) {
    const target = set.docs[20 + rng.int(340)]
    if (index.search(queryFor(target.vectors, dim, 8, 0.2, rng), { k: 10 }).hits.some((h) => h.id === target.id)) found++
  }
  // small budgets: the pruned cut, the partial exact over kept codes and the exact stage over the other vectors all run
  // on their TypeScript paths; every returned score must still be the exact MaxSim over the reference vectors
  const vectors = new Map(live(index.exportState()).map((d) => [d.id, d.vectors]))
  let maxErrSmall = 0, comparedSmall = 0
  for (let i = 0; i < 4; i++) {
    const q = queryFor(set.docs[20 + rng.int(340)].vectors, dim, 8, 0.3, rng)
    for (const h of index.search(q, { k: 10, ncells: 2, ndocs: 40, centroidScoreThreshold: 0.3 }).hits) {
      maxErrSmall = Math.max(maxErrSmall, Math.abs(h.score - maxSim64(q, vectors.get(h.id)!, dim)))
      comparedSmall++
    }
  }
  const st = index.stats()
  return { home: st.originals?.home, trained: st.trained, centroids: st.centroids, extensions: st.drift.centroidExtensions, maxErr, compared, found, maxErrSmall, comparedSmall }
}

console.log(JSON.stringify({ simd: simdAvailable(), originals: run(true), decoded: run(false) }))
