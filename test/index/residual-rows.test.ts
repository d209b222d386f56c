import t, { type Test } from 'tap'
import { forEachPosition } from '../../src/index/ivf.js'
import { CENTROID_SCALE } from '../../src/index/kmeans.js'
import { createPlaidIndex, type PlaidIndex, restorePlaidIndex } from '../../src/index/plaid-index.js'
import { createPrng } from '../../src/index/prng.js'
import { decodeVector } from '../../src/index/residual-codec.js'
import { NO_ROW, residualRows, rowsOf, storedRows } from '../../src/index/residual-rows.js'
import { createViewPublisher } from '../../src/search-workers/shared-view.js'
import { liveDecoded, makeDocs, queryFor } from './synthetic-vectors.js'

// Residuals live in the IVF's base order (src/index/residual-rows.ts). Whatever the order, each live vector's row must
// decode to that vector: checked against the vectors upserted (independent of the index), after every operation that
// moves rows (training, appends, a delta past the rebuild fraction, deletes, compaction, re-training, a load).

const dim = 32
const set = makeDocs({ seed: 41, dim, nDocs: 240, nTopics: 30, minLen: 6, maxLen: 20, noise: 0.6 })
const first = set.docs.slice(0, 150), later = set.docs.slice(150, 160), more = set.docs.slice(160)

/** The file's index: 24 centroids over `set`'s vectors, trained at 1,000 (seed 3 for the first test, 4 for the others). */
const smallIndex = (seed: number, keepOriginals = true): PlaidIndex =>
  createPlaidIndex({ dim, nbits: 2, minTrainVectors: 1000, numCentroids: 24, seed, keepOriginals })
/** id → vectors as last upserted */
const upserted = new Map<string, Float32Array>()
const upsert = (index: PlaidIndex, docs: typeof set.docs): void => {
  index.upsert(docs)
  for (const d of docs) upserted.set(d.id, d.vectors)
}

function cos(a: Float32Array, aOff: number, b: Float32Array, bOff: number): number {
  let ab = 0, aa = 0, bb = 0
  for (let d = 0; d < dim; d++) {
    ab += a[aOff + d] * b[bOff + d]
    aa += a[aOff + d] ** 2
    bb += b[bOff + d] ** 2
  }
  return ab / Math.sqrt(aa * bb)
}

/**
 * Every live vector's row decodes closer to its own upserted vector than to any other live vector (a row holding
 * another vector's residual, or another cell's, would decode near that one); the base lists' entries are the
 * consecutive rows from their cell's first; the rows stay within the array.
 */
function checkRows(t: Test, index: PlaidIndex, label: string): void {
  const { view } = index.searchState()
  const ivf = view.ivf!, codec = view.codec!, cset = view.cset!, bpv = codec.bytesPerVector
  const nVectors = view.nSlots === 0 ? 0 : view.docStart[view.nSlots - 1] + view.docLen[view.nSlots - 1]
  t.ok(storedRows(ivf, nVectors) * bpv <= view.residuals.length, `${label}: the array holds every row`)
  const rowOf = rowsOf(ivf)
  // base lists: entry i of cell c is row baseRowStart[c] + i (what the probe reads)
  let listed = true
  for (let c = 0; c < ivf.k; c++) {
    let i = 0
    forEachPosition(ivf.baseOffsets, ivf.baseGaps, c, (v) => { if (rowOf(v) !== ivf.baseRowStart[c] + i++) listed = false })
    if (ivf.baseRowStart[c] + i !== ivf.baseRowStart[c + 1]) listed = false
  }
  t.ok(listed, `${label}: base list entries are their cell's consecutive rows`)
  // the refinement's lookup of single rows (entry points every 64 rows, then gap steps) agrees with the full map,
  // one at a time and in one batch: every stored vector, listed or not (a vector no list holds has no row)
  const all = Uint32Array.from({ length: nVectors }, (_, v) => v)
  const batch = residualRows(ivf, view.codes, all, nVectors)
  let lookups = 0, wrong = 0
  for (let v = 0; v < nVectors; v++) {
    const want = rowOf(v) === NO_ROW ? -1 : rowOf(v)
    if (residualRows(ivf, view.codes, Uint32Array.of(v), 1)[0] !== want) wrong++
    if (batch[v] !== want) wrong++
    lookups++
  }
  t.equal(wrong, 0, `${label}: ${lookups} single-row lookups equal the row map`)
  t.ok(ivf.baseSkips.length >= 2 * Math.floor(ivf.baseRowStart[ivf.k] / 64), `${label}: an entry point every 64 rows`)
  // Each live document's rows decode within the codec's error of its upserted vectors: every row at cosine ≥ 0.7
  // (another topic's vector decodes near 0), and per document a mean ≥ 0.9 (correct rows average ~0.97 here, the
  // worst single row ~0.76; rows shifted onto other vectors of the same topic and cell average ~0.7).
  const out = new Float32Array(dim)
  let unstored = 0, far = 0, poorDocs = 0, docs = 0, vectors = 0
  for (let s = 0; s < view.nSlots; s++) {
    if (!view.live[s]) continue
    const x = upserted.get(view.ids[s])!
    let sum = 0
    for (let i = 0; i < view.docLen[s]; i++) {
      const row = rowOf(view.docStart[s] + i)
      if (row === NO_ROW) { unstored++; continue }
      decodeVector(codec, cset.centroids, view.codes[view.docStart[s] + i], view.residuals, row * bpv, out, 0, CENTROID_SCALE)
      const c = cos(out, 0, x, i * dim)
      sum += c
      if (c < 0.7) far++
    }
    if (sum / view.docLen[s] < 0.9) poorDocs++
    docs++
    vectors += view.docLen[s]
  }
  t.equal(unstored, 0, `${label}: every live vector has a row`)
  t.equal(far, 0, `${label}: each of the ${vectors} live vectors' rows decodes within cosine 0.7 of it`)
  t.equal(poorDocs, 0, `${label}: each of the ${docs} live documents' rows decode at mean cosine ≥ 0.9`)
}

t.test('residual rows follow every operation that moves them', async (t) => {
  upserted.clear()
  const index = smallIndex(3)
  upsert(index, first)
  t.ok(index.stats().trained, 'trained by the first batch')
  const ivf0 = index.searchState().view.ivf!
  t.equal(ivf0.tailFrom, index.searchState().view.docStart[149] + index.searchState().view.docLen[149], 'the base covers every vector stored at the build')
  checkRows(t, index, 'after training')

  // a small batch: delta lists, rows after the base's in vector order
  upsert(index, later)
  t.equal(index.searchState().view.ivf!.baseRowStart, ivf0.baseRowStart, 'a small batch leaves the base as it is')
  checkRows(t, index, 'after appending to the delta')

  // deletes keep their rows until the next rebuild; a re-upserted id gets new rows in the tail
  index.delete([first[3].id, first[7].id, later[2].id])
  upsert(index, [{ id: first[10].id, vectors: more[0].vectors, metadata: more[0].metadata }])
  checkRows(t, index, 'after deletes and a replacement')

  // a batch past the delta fraction rebuilds the base from the current layout (base rows and tail rows)
  upsert(index, more.slice(1, 60))
  const v1 = index.searchState().view
  t.not(v1.ivf!.baseRowStart, ivf0.baseRowStart, 'the base was rebuilt')
  t.equal(v1.ivf!.tailFrom, v1.docStart[v1.nSlots - 1] + v1.docLen[v1.nSlots - 1], 'the rebuilt base covers every vector stored')
  t.equal(v1.ivf!.baseRowStart[v1.ivf!.k], index.stats().vectors, 'its rows are the live vectors (deleted ones dropped)')
  checkRows(t, index, 'after a rebuild past the delta fraction')

  // deletes, then compaction: vector order, then the rebuild's cell order
  index.delete([first[20].id, first[21].id, more[5].id])
  index.compact()
  t.equal(index.stats().tombstones, 0, 'compacted')
  checkRows(t, index, 'after compaction')

  // a load: the snapshot layout is vector order; the loaded index rebuilds the same base and rows
  index.delete([first[30].id])
  const state = index.exportState()
  const loaded = restorePlaidIndex(state)
  checkRows(t, loaded, 'after a load')
  t.same(loaded.exportState().arrays.residuals, state.arrays.residuals, 'a loaded index exports the same residuals')
  const rng = createPrng(5)
  for (let i = 0; i < 6; i++) {
    const q = queryFor(set.docs[rng.int(set.docs.length)].vectors, dim, 8, 0.5, rng)
    t.same(loaded.search(q, { k: 10 }).hits, index.search(q, { k: 10 }).hits, `query ${i}: the loaded index returns what the live one does`)
  }

  // exported rows of a deleted document are zeros (it may have none in memory)
  const slot = state.arrays.live!.indexOf(0)
  const bpv = index.searchState().view.codec!.bytesPerVector
  const a = state.arrays.docStart![slot] * bpv, b = a + state.arrays.docLen![slot] * bpv
  t.ok(state.arrays.residuals!.subarray(a, b).every((x) => x === 0), 'a deleted document exports zero residuals')

  index.retrain()
  checkRows(t, index, 'after re-training')
})

t.test('an index without original vectors re-trains and ranks from its rows', async (t) => {
  upserted.clear()
  const index = smallIndex(4, false)
  upsert(index, first)
  upsert(index, later)
  index.delete([first[0].id])
  // the exact stage decodes rows by vector: the same hits as a load (which rebuilds the layout from vector order)
  const loaded = restorePlaidIndex(index.exportState())
  const rng = createPrng(6)
  for (let i = 0; i < 6; i++) {
    const q = queryFor(set.docs[rng.int(set.docs.length)].vectors, dim, 8, 0.5, rng)
    t.same(index.search(q, { k: 10 }).hits, loaded.search(q, { k: 10 }).hits, `query ${i}: live and loaded agree`)
  }
  checkRows(t, index, 'before re-training, without originals')
  // re-training decodes every vector from its row and codes that: compare with those decoded vectors (decoded from the
  // vector-order export, checked just above), the codec's error twice over being too much for the upserted ones
  for (const d of liveDecoded(index.exportState())) upserted.set(d.id, d.vectors)
  index.retrain()
  checkRows(t, index, 'after re-training from decoded rows')
})

t.test('without original vectors the exact stage\'s row map is made once per base, counted, and published as it is', async (t) => {
  upserted.clear()
  const index = smallIndex(4, false)
  upsert(index, first)
  const rng = createPrng(9)
  const query = (): Float32Array => queryFor(set.docs[rng.int(150)].vectors, dim, 8, 0.5, rng)
  const ivfBytes = (): number => index.stats().memory!.ivf
  const before = ivfBytes()
  t.equal(index.searchState().view.ivf!.baseRows, undefined, 'no map before the exact stage needs one')
  index.search(query(), { k: 10 })
  const ivf = index.searchState().view.ivf!
  const map = ivf.baseRows!
  t.ok(map instanceof Uint32Array && map.buffer instanceof SharedArrayBuffer, 'the map is on shared memory')
  t.equal(ivfBytes() - before, ivf.tailFrom * 4, `counted in the IVF's bytes: 4 per base vector (${ivf.tailFrom})`)
  index.search(query(), { k: 10 })
  t.equal(index.searchState().view.ivf!.baseRows, map, 'the next search reuses it')
  const msg = createViewPublisher().publish(index.searchState().view, 1)
  t.equal(msg.ivf!.baseRows, map, 'a published version carries it (workers read it in place, no rebuild per version)')
  upsert(index, later) // a delta: the base, and so its map, stay
  index.search(query(), { k: 10 })
  t.equal(index.searchState().view.ivf, ivf, 'the appended documents went to the delta lists')
  t.equal(index.searchState().view.ivf!.baseRows, map, 'the base keeps its map')

  const kept = smallIndex(4)
  upsert(kept, first)
  kept.search(query(), { k: 10 })
  t.equal(kept.searchState().view.ivf!.baseRows, undefined, 'with original vectors the exact stage reads them: no map')
  t.equal(createViewPublisher().publish(kept.searchState().view, 1).ivf!.baseRows, undefined, 'and none is published')
})
