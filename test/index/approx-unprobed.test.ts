/**
 * The approximate stage's centroid pass (plaid-search.ts approxUnprobed), against a plain computation: per document and
 * token j, the best of the token's probe score and the centroid scores S[c, j] of the document's kept codes c in cells
 * token j did not probe. A cell another token probed still counts for j (probed-cells.ts: on skewed data that is where
 * many documents hold j's match). Both paths: the WebAssembly kernel over S in the centroid arena, and TypeScript.
 */
import t from 'tap'
import { centroidArena } from '../../src/index/kmeans.js'
import { createPlaidIndex } from '../../src/index/plaid-index.js'
import { approxUnprobed, centroidScoreRows } from '../../src/index/plaid-search.js'
import { createPrng } from '../../src/index/prng.js'
import { makeDocs, queryFor, probedBestCells } from './synthetic-vectors.js'

const dim = 32, qlen = 12, K = 48
const set = makeDocs({ seed: 7, dim, nDocs: 160, nTopics: 6, minLen: 6, maxLen: 30, noise: 0.8 })
const index = createPlaidIndex({ dim, nbits: 2, minTrainVectors: 500, numCentroids: K, seed: 3, keepOriginals: false })
index.upsert(set.docs)
const { view } = index.searchState()
const rng = createPrng(13)

interface Case {
  query: Float32Array; chosen: Uint32Array; stride: number; counts: Uint32Array; kept: Uint8Array; floor: Float32Array; pool: Uint32Array; init: Float32Array
}

function makeCase(S: Float32Array, query: Float32Array): Case {
  // each token probed its best 1–4 cells; kept: the codes some token scores ≥ 0.2
  const stride = 4
  const { chosen, counts } = probedBestCells(S, qlen, K, stride, rng)
  const kept = new Uint8Array(K)
  for (let c = 0; c < K; c++) for (let j = 0; j < qlen; j++) if (S[c * qlen + j] >= 0.2) kept[c] = 1
  const floor = Float32Array.from({ length: qlen }, () => 0.1 + 0.2 * rng.next())
  const pool = Uint32Array.from({ length: 100 }, (_, i) => (i * 3) % view.nSlots)
  // probe scores where a probed vector reached the token, else the floor
  const init = new Float32Array(pool.length * qlen)
  for (let i = 0; i < pool.length; i++) for (let j = 0; j < qlen; j++) init[i * qlen + j] = rng.next() < 0.4 ? 0.3 + 0.6 * rng.next() : floor[j]
  return { query, chosen, stride, counts, kept, floor, pool, init }
}

/** The pass written plainly; perCell: the former rule, a cell probed by any token hidden from every token. */
function reference(c: Case, S: Float32Array, perCell = false): Float64Array {
  const out = new Float64Array(c.pool.length)
  const probedBy = (j: number): Set<number> => new Set(Array.from(c.chosen.subarray(j * c.stride, j * c.stride + c.counts[j])))
  const anyProbed = new Set<number>()
  for (let j = 0; j < qlen; j++) for (const x of probedBy(j)) anyProbed.add(x)
  for (let i = 0; i < c.pool.length; i++) {
    const s = c.pool[i], a = view.docStart[s]
    for (let j = 0; j < qlen; j++) {
      const hidden = perCell ? anyProbed : probedBy(j)
      let best = c.init[i * qlen + j]
      for (let x = 0; x < view.docLen[s]; x++) {
        const code = view.codes[a + x]
        if (c.kept[code] === 1 && !hidden.has(code)) best = Math.max(best, S[code * qlen + j])
      }
      out[i] += best
    }
  }
  return out
}

t.test('each token is credited the kept codes in cells it did not probe, with the kernel and without', async (t) => {
  const cset = view.cset!
  const ca = centroidArena(cset)
  t.ok(ca !== null, 'the centroid arena runs here')
  let differFromPerCell = 0
  for (let round = 0; round < 4; round++) {
    const doc = set.docs[rng.int(set.docs.length)]
    const query = queryFor(doc.vectors, dim, qlen, 1.0, rng)
    const sPtr = centroidScoreRows(cset, query, qlen, 0, K)
    const S = Float32Array.from(ca!.arena.f32(sPtr, K * qlen))
    const c = makeCase(S, query)
    const want = reference(c, S)
    const former = reference(c, S, true)
    for (let i = 0; i < want.length; i++) if (Math.abs(want[i] - former[i]) > 1e-4) differFromPerCell++
    for (const kernel of [true, false]) {
      const Sin = kernel ? ca!.arena.f32(sPtr, K * qlen) : Float32Array.from(S)
      const got = approxUnprobed(view, Sin, kernel ? sPtr : -1, qlen, c.pool, c.kept, c.floor, c.init, { chosen: c.chosen, stride: c.stride, counts: c.counts })
      let worst = 0
      for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]))
      t.ok(worst < 1e-4, `round ${round}, ${kernel ? 'kernel' : 'TypeScript'}: largest difference ${worst.toExponential(2)}`)
      const after = kernel ? ca!.arena.f32(sPtr, K * qlen) : Sin
      t.same(Array.from(after), Array.from(S), 'the centroid scores are left as they were')
    }
  }
  // the cases reach what the former rule missed: a code one token probed, scoring best for another
  t.ok(differFromPerCell > 0, `${differFromPerCell} documents score otherwise than with a probed cell hidden from every token`)
})
