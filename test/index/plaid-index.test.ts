import t, { type Test } from 'tap'
import { AppError } from '../../src/errors.js'
import { createPlaidIndex, type PlaidIndex, restorePlaidIndex } from '../../src/index/plaid-index.js'
import { setChunkSizesForTests } from '../../src/index/plaid-search.js'
import { createPrng } from '../../src/index/prng.js'
import { liveDecoded, liveOriginals, makeDocs, originalsError, queryFor, rankExact } from './synthetic-vectors.js'

const dim = 32
const base = makeDocs({ seed: 21, dim, nDocs: 160, nTopics: 24, minLen: 8, maxLen: 24, noise: 0.8 })
const rng = createPrng(99)
const queries = Array.from({ length: 8 }, () => queryFor(base.docs[rng.int(base.docs.length)].vectors, dim, 8, 0.5, rng))
const EVERYTHING = { ncells: 1 << 20, ndocs: 1 << 20, centroidScoreThreshold: -10 }

function trainedIndex(docs = base.docs, nbits: 1 | 2 | 4 = 2, keepOriginals = true): PlaidIndex {
  const index = createPlaidIndex({ dim, nbits, minTrainVectors: 500, numCentroids: 32, seed: 5, keepOriginals })
  index.upsert(docs)
  return index
}

/** What the exact stage ranks by: the original vectors the index keeps, or (keepOriginals: false) the decompressed ones. */
type Reference = 'originals' | 'decoded'

/** The live documents with the vectors of `ref`, decoded independently from the exported state (synthetic-vectors.ts). */
function referenceDocs(t: Tap, index: PlaidIndex, ref: Reference): Array<{ id: string; vectors: Float32Array }> {
  const state = index.exportState()
  // the reference must be the one the index ranks by: records iff it keeps originals
  t.equal(state.arrays.originals !== undefined, ref === 'originals', `the state ${ref === 'originals' ? 'carries' : 'has no'} original vectors`)
  return ref === 'originals' ? liveOriginals(state) : liveDecoded(state)
}

/**
 * Scores must match a float64 MaxSim over the vectors the exact stage ranks by: the dequantized original vectors, or
 * with ref 'decoded' (keepOriginals: false, old states) the decompressed vectors.
 */
function checkAgainst(t: Tap, ref0: Reference, index: PlaidIndex, q: Float32Array, k: number, params = EVERYTHING): void {
  const ref = rankExact(q, referenceDocs(t, index, ref0), dim)
  const got = index.search(q, { k, ...params }).hits
  t.equal(got.length, Math.min(k, ref.length))
  for (let i = 0; i < got.length; i++) {
    // near-ties may swap places between float32 and float64; compare scores rank by rank and ids as sets of clear winners
    t.ok(Math.abs(got[i].score - ref[i].score) < 1e-3, `rank ${i}: ${got[i].score} vs ${ref[i].score}`)
  }
  const clear = ref.filter((r, i) => i < k && (i + 1 >= ref.length || r.score - ref[i + 1].score > 1e-3) && (i === 0 || ref[i - 1].score - r.score > 1e-3))
  const gotIds = new Set(got.map((h) => h.id))
  for (const r of clear) t.ok(gotIds.has(r.id), `${r.id} found`)
}
type Tap = Test

/** id → the vectors it was upserted with, for originalsError (the last upsert of an id wins). */
function upserted(...lists: Array<Array<{ id: string; vectors: Float32Array }>>): Map<string, Float32Array> {
  return new Map(lists.flat().map((d) => [d.id, d.vectors]))
}

/** Every live document's kept originals are its own upserted vectors (to their int8 rounding), in its own rows. */
function checkOriginalsOf(t: Tap, index: PlaidIndex, vectors: Map<string, Float32Array>, label: string): void {
  const err = originalsError(index.exportState(), vectors)
  t.ok(err <= 1.001, `${label}: originals within their int8 rounding of the upserted vectors (worst ${err.toFixed(3)} × the bound)`)
}

t.test('untrained index searches exactly (brute-force MaxSim over the original vectors)', async (t) => {
  const index = createPlaidIndex({ dim, minTrainVectors: 1e9 })
  index.upsert(base.docs)
  t.equal(index.stats().trained, false)
  for (const q of queries.slice(0, 4)) {
    const ref = rankExact(q, base.docs, dim).slice(0, 10)
    const got = index.search(q, { k: 10 })
    t.same(got.hits.map((h) => h.id), ref.map((r) => r.id))
    for (let i = 0; i < 10; i++) t.ok(Math.abs(got.hits[i].score - ref[i].score) < 1e-4)
    t.ok(got.timingsMs.exact !== undefined)
  }
})

t.test('trained search with ncells = K and ndocs ≥ collection equals brute-force MaxSim over the original vectors (keepOriginals: false: over the decompressed vectors)', async (t) => {
  for (const nbits of [1, 2, 4] as const) {
    for (const ref of ['originals', 'decoded'] as const) {
      const index = trainedIndex(base.docs, nbits, ref === 'originals')
      const st = index.stats()
      t.ok(st.trained && st.centroids === 32, `nbits ${nbits} trained`)
      t.equal(st.originals?.home, ref === 'originals' ? 'memory' : 'none')
      for (const q of queries.slice(0, 3)) checkAgainst(t, ref, index, q, 15)
    }
  }
})

t.test('default parameters find the document a query was drawn from; timings per stage', async (t) => {
  const index = trainedIndex()
  const r2 = createPrng(7)
  let found = 0
  for (let i = 0; i < 20; i++) {
    const target = base.docs[r2.int(base.docs.length)]
    const q = queryFor(target.vectors, dim, 8, 0.3, r2)
    const res = index.search(q, { k: 10 })
    if (res.hits.some((h) => h.id === target.id)) found++
    t.same(Object.keys(res.timingsMs).sort(), ['approx', 'candidates', 'centroids', 'exact'])
  }
  t.ok(found >= 18, `found ${found}/20`)
})

t.test('upsert and delete never change other documents\' scores and never return stale versions', async (t) => {
  const index = trainedIndex()
  const q = queries[0]
  const before = new Map(index.search(q, { k: 160, ...EVERYTHING }).hits.map((h) => [h.id, h.score]))
  const top = [...before.keys()].slice(0, 3)
  const fresh = makeDocs({ seed: 77, dim, nDocs: 3, nTopics: 4, minLen: 8, maxLen: 12, noise: 0.8 })
  // replace the current top-1 with unrelated vectors, delete the top-2, add two new documents
  const up = index.upsert([{ id: top[0], vectors: fresh.docs[0].vectors }, { id: 'new1', vectors: fresh.docs[1].vectors }, { id: 'new2', vectors: fresh.docs[2].vectors }])
  t.same(up, { added: ['new1', 'new2'], updated: [top[0]] })
  t.same(index.delete([top[1], 'nope']), { deleted: [top[1]], missing: ['nope'] })
  t.equal(index.get(top[1]), undefined)
  t.equal(index.get(top[0])?.nVectors, fresh.docs[0].vectors.length / dim)
  const after = index.search(q, { k: 200, ...EVERYTHING }).hits
  t.equal(new Set(after.map((h) => h.id)).size, after.length, 'no id twice')
  t.notOk(after.some((h) => h.id === top[1]), 'deleted document never returned')
  t.equal(after.length, 160 - 1 + 2)
  for (const h of after) {
    if (h.id === top[0] || h.id.startsWith('new')) continue
    t.equal(h.score, before.get(h.id), `${h.id} unchanged`)
  }
  // the replaced document is scored by its new vectors
  checkAgainst(t, 'originals', index, q, 200)
  const now = upserted(base.docs, [{ id: top[0], vectors: fresh.docs[0].vectors }, { id: 'new1', vectors: fresh.docs[1].vectors }, { id: 'new2', vectors: fresh.docs[2].vectors }])
  checkOriginalsOf(t, index, now, 'after the update')
  const st = index.stats()
  t.equal(st.documents, 161)
  t.equal(index.ids().length, 161)

  index.compact()
  t.equal(index.stats().tombstones, 0)
  const compacted = index.search(q, { k: 200, ...EVERYTHING }).hits
  t.same(compacted, after, 'compaction changes nothing visible')
  // the compaction renumbered the stored vectors: the originals moved with them
  checkOriginalsOf(t, index, now, 'after the compaction')
  t.equal(index.stats().originals?.vectors, index.stats().vectors, 'one record per stored vector')
})

t.test('many deletes trigger automatic compaction; results stay those of the survivors', async (t) => {
  const index = trainedIndex()
  const gone = base.docs.slice(0, 60).map((d) => d.id)
  index.delete(gone)
  t.equal(index.stats().tombstones, 0, 'compacted automatically')
  t.equal(index.stats().documents, 100)
  const hits = index.search(queries[1], { k: 100, ...EVERYTHING }).hits
  t.equal(hits.length, 100)
  t.notOk(hits.some((h) => gone.includes(h.id)))
  checkAgainst(t, 'originals', index, queries[1], 100)
  checkOriginalsOf(t, index, upserted(base.docs), 'after the compaction')
})

t.test('retrain keeps results consistent with the original vectors and the documents findable', async (t) => {
  const index = trainedIndex()
  const r2 = createPrng(8)
  const target = base.docs[17]
  const q = queryFor(target.vectors, dim, 8, 0.3, r2)
  t.equal(index.search(q, { k: 1 }).hits[0].id, target.id)
  const baseline = index.stats().drift.residualAtTrain
  index.retrain()
  t.equal(index.stats().drift.trainings, 2)
  // re-training codes the kept original vectors (decompressed ones without them); the raw-data residual baseline is
  // kept, so raw re-uploads are not "drift"
  t.ok(index.stats().drift.residualAtTrain >= baseline)
  index.upsert(base.docs.slice(60, 100).map((d) => ({ id: `again-${d.id}`, vectors: d.vectors })))
  t.same([index.stats().drift.trainings, index.stats().drift.centroidExtensions], [2, 0], 'no extension or re-training for raw copies')
  t.equal(index.search(q, { k: 1 }).hits[0].id, target.id)
  checkAgainst(t, 'originals', index, q, 20)
  checkOriginalsOf(t, index, upserted(base.docs, base.docs.slice(60, 100).map((d) => ({ id: `again-${d.id}`, vectors: d.vectors }))), 'after the re-training')
})

t.test('a batch far from every centroid gets centroids of its own; small far batches trigger a re-training; so does growth ×4', async (t) => {
  const other = makeDocs({ seed: 1234, dim, nDocs: 40, nTopics: 6, minLen: 8, maxLen: 24, noise: 0.2, prefix: 'x' })
  const index = trainedIndex()
  t.equal(index.stats().drift.trainings, 1)
  const k0 = index.stats().centroids
  index.upsert(other.docs)
  const d = index.stats().drift
  t.equal(d.trainings, 1, 'no re-training')
  t.equal(d.centroidExtensions, 1)
  t.ok(index.stats().centroids > k0, `K ${k0} -> ${index.stats().centroids}`)
  t.ok(d.residualSinceTrain < 1.2 * d.residualAtTrain, `re-coded residual ${d.residualSinceTrain.toFixed(3)} vs ${d.residualAtTrain.toFixed(3)} at training`)
  // results stay exact over the original vectors, new documents are found, and a snapshot keeps the new centroids
  checkAgainst(t, 'originals', index, queries[0], 30)
  const r2 = createPrng(31)
  for (let i = 0; i < 5; i++) {
    const target = other.docs[r2.int(other.docs.length)]
    t.equal(index.search(queryFor(target.vectors, dim, 8, 0.2, r2), { k: 3 }).hits[0].id, target.id)
  }
  const copy = restorePlaidIndex(index.exportState())
  t.same(copy.search(queries[1], { k: 10 }).hits, index.search(queries[1], { k: 10 }).hits)
  t.equal(copy.stats().drift.centroidExtensions, 1)

  // the same far documents one at a time are too small to get centroids; their drift re-trains once enough came
  const slow = trainedIndex()
  for (const doc of other.docs) slow.upsert([doc])
  const ds = slow.stats().drift
  t.equal(ds.centroidExtensions, 0)
  t.ok(ds.trainings >= 2, `re-trained on drift ${JSON.stringify(ds)}`)
  checkAgainst(t, 'originals', slow, queries[0], 30)
  checkOriginalsOf(t, slow, upserted(base.docs, other.docs), 're-trained on drift')

  // growth: re-adding copies of the same documents (same distribution, no drift) under new ids
  const small = createPlaidIndex({ dim, minTrainVectors: 200, numCentroids: 8, seed: 1 })
  const first = base.docs.slice(0, 16)
  small.upsert(first)
  const at = small.stats().drift.vectorsAtTrain
  t.ok(small.stats().trained)
  for (let copy = 1; copy < 3; copy++) small.upsert(first.map((d) => ({ id: `${d.id}-${copy}`, vectors: d.vectors })))
  t.equal(small.stats().drift.trainings, 1, 'no re-training below ×4 for same-distribution data')
  t.ok(Math.abs(small.stats().drift.residualSinceTrain - small.stats().drift.residualAtTrain) < 1e-6, 'same residual as at training')
  small.upsert(first.map((d) => ({ id: `${d.id}-3`, vectors: d.vectors })))
  t.equal(small.stats().drift.trainings, 2, 're-trained at ×4 growth')
  t.equal(small.stats().drift.vectorsAtTrain, 4 * at)
  checkOriginalsOf(t, small, upserted(...[0, 1, 2, 3].map((c) => first.map((d) => ({ id: c === 0 ? d.id : `${d.id}-${c}`, vectors: d.vectors })))), 're-trained at growth')
})

t.test('training from a batch that crosses the threshold (partly in raw, ids replaced) equals one bulk build of the live documents', async (t) => {
  const docs = base.docs
  const a = createPlaidIndex({ dim, minTrainVectors: 1500, numCentroids: 64, seed: 7 })
  a.upsert(docs.slice(0, 12)) // stays raw
  t.equal(a.stats().trained, false)
  // replaces doc 3 (raw) and, within the batch, doc 20 twice: the first copy is tombstoned by the second
  const batch = [...docs.slice(12, 20), { ...docs[40], id: docs[3].id }, docs[20], ...docs.slice(21, 120), { ...docs[41], id: docs[20].id }]
  a.upsert(batch)
  t.equal(a.stats().trained, true)
  // the same live documents in the same order, in one upsert
  const live = [...docs.slice(0, 3), ...docs.slice(4, 20), { ...docs[40], id: docs[3].id }, ...docs.slice(21, 120), { ...docs[41], id: docs[20].id }]
  const b = createPlaidIndex({ dim, minTrainVectors: 1500, numCentroids: 64, seed: 7 })
  b.upsert(live)
  t.same(a.ids().sort(), b.ids().sort())
  const sa = a.exportState(), sb = b.exportState()
  t.same(Array.from(sa.arrays.centroids), Array.from(sb.arrays.centroids), 'same centroids')
  t.same(Array.from(sa.arrays.codes), Array.from(sb.arrays.codes), 'same codes')
  t.same(Array.from(sa.arrays.residuals), Array.from(sb.arrays.residuals), 'same residuals')
  t.same(Array.from(sa.arrays.originals), Array.from(sb.arrays.originals), 'same original vectors, in the same order')
  for (const q of queries) t.same(a.search(q, { k: 10 }).hits, b.search(q, { k: 10 }).hits)
  // below the threshold, a batch lands in raw and is searched exactly
  const r = createPlaidIndex({ dim, minTrainVectors: 1e9 })
  r.upsert(docs.slice(0, 5))
  r.upsert(docs.slice(5, 30))
  const ref = rankExact(queries[0], docs.slice(0, 30).map((d) => ({ id: d.id, vectors: d.vectors })), dim)
  t.same(r.search(queries[0], { k: 5 }).hits.map((h) => h.id), ref.slice(0, 5).map((x) => x.id))
})

t.test('memory accounting: the parts sum to bytes, and a bulk build holds what a restored copy holds', async (t) => {
  // two-level centroids (K > 256): coding runs through the centroid arena's scratch
  const index = createPlaidIndex({ dim, minTrainVectors: 500, numCentroids: 512, seed: 5 })
  index.upsert(base.docs)
  const built = index.stats()
  t.equal(built.centroids, 512)
  const m = built.memory!
  t.equal(Object.values(m).reduce((a, b) => a + b, 0), built.bytes, 'parts sum to bytes')
  t.equal(m.slack, 0, 'training leaves exact-size arrays')
  t.equal(m.vectors, built.vectors * (2 + dim * 2 / 8), 'uint16 code + 2-bit residual per vector')
  // (the arena's 64 KiB headroom, rounded up to whole WebAssembly pages)
  t.ok(m.centroidScratch < 2 * 65536, `no coding scratch left behind (${m.centroidScratch} bytes)`)
  const copy = restorePlaidIndex(index.exportState())
  t.same(copy.stats().memory, m, 'same bytes as after a snapshot load')
  // later small upserts grow the arrays with amortised slack (and never shrink them per call)
  index.upsert([{ id: 'extra', vectors: base.docs[0].vectors }])
  const after = index.stats()
  t.ok(after.memory!.slack > 0, 'growth keeps spare capacity')
  t.equal(Object.values(after.memory!).reduce((a, b) => a + b, 0), after.bytes)
})

t.test('exportState → restorePlaidIndex gives identical results (trained with tombstones, and untrained)', async (t) => {
  const index = trainedIndex()
  index.delete([base.docs[3].id])
  index.upsert([{ id: base.docs[4].id, vectors: base.docs[5].vectors, metadata: { group: 9 } }])
  t.ok(index.stats().tombstones > 0)
  const copy = restorePlaidIndex(index.exportState())
  // (bytes differ: the copy's arrays have no spare capacity, and its IVF has no delta)
  t.same({ ...copy.stats(), bytes: 0, memory: undefined }, { ...index.stats(), bytes: 0, memory: undefined })
  for (const q of queries) t.same(copy.search(q, { k: 10 }).hits, index.search(q, { k: 10 }).hits)
  t.same(copy.get(base.docs[4].id), { id: base.docs[4].id, metadata: { group: 9 }, nVectors: base.docs[5].vectors.length / dim })
  // and it keeps working after restore
  copy.upsert([{ id: 'later', vectors: base.docs[6].vectors }])
  t.equal(copy.search(queries[0], { k: 500, ...EVERYTHING }).hits.length, 160)

  const raw = createPlaidIndex({ dim, minTrainVectors: 1e9 })
  raw.upsert(base.docs.slice(0, 20))
  const rawCopy = restorePlaidIndex(raw.exportState())
  t.same(rawCopy.search(queries[0], { k: 5 }).hits, raw.search(queries[0], { k: 5 }).hits)
})

t.test('format-1 and format-2 states (pooled quantizer; format 1 also plain residuals) still restore and search exactly over their decoding', async (t) => {
  // states written before the original vectors were kept: no records, no keepOriginals setting
  const current = trainedIndex(base.docs, 2, false).exportState()
  t.equal(current.arrays.originals, undefined)
  const { keepOriginals: _keep, ...oldSettings } = current.settings
  const state = { ...current, settings: oldSettings }
  t.equal(state.formatVersion, 3, 'a per-dimension codec is written as format 3')
  const w = Number(state.scalars.codecCentroidWeight)
  t.ok(w > 0.5 && w < 1, `centroid weight ${w}`)
  // a pooled quantizer in the old layout: the mean of the per-dimension rows (ascending, like each row)
  const meanRows = (a: Float32Array, width: number): Float32Array => {
    const out = new Float32Array(width)
    for (let i = 0; i < a.length; i++) out[i % width] += a[i] / (a.length / width)
    return out
  }
  const pooled = { ...state.arrays, cutoffs: meanRows(state.arrays.cutoffs as Float32Array, 3), weights: meanRows(state.arrays.weights as Float32Array, 4) }
  const v2 = restorePlaidIndex({ ...state, formatVersion: 2, arrays: pooled })
  t.equal(v2.exportState().formatVersion, 2, 'a pooled codec is written as format 2 again')
  t.match(v2.stats().originals, { home: 'none', vectors: 0, unavailable: String }, 'no original vectors to rank by: it says so')
  for (const q of queries.slice(0, 2)) checkAgainst(t, 'decoded', v2, q, 10)
  const { codecCentroidWeight: _drop, ...v1Scalars } = state.scalars
  const old = restorePlaidIndex({ ...state, formatVersion: 1, scalars: v1Scalars, arrays: pooled })
  t.equal(old.exportState().scalars.codecCentroidWeight, 1)
  t.match(old.stats().originals, { home: 'none', unavailable: String })
  for (const q of queries.slice(0, 2)) checkAgainst(t, 'decoded', old, q, 10)
  t.throws(() => restorePlaidIndex({ ...state, formatVersion: 2 }), { code: 'SNAPSHOT_INVALID' }, 'per-dimension rows in a format-2 state')
})

t.test('restore refuses inconsistent state with SNAPSHOT_INVALID', async (t) => {
  const state = trainedIndex().exportState()
  t.throws(() => restorePlaidIndex({ ...state, formatVersion: 99 }), { code: 'SNAPSHOT_INVALID' })
  const { codecCentroidWeight: _w, ...noWeight } = state.scalars
  t.throws(() => restorePlaidIndex({ ...state, scalars: noWeight }), { code: 'SNAPSHOT_INVALID' })
  t.throws(() => restorePlaidIndex({ ...state, arrays: { ...state.arrays, codes: new Uint16Array(3) } }), { code: 'SNAPSHOT_INVALID' })
  t.throws(() => restorePlaidIndex({ ...state, ids: state.ids.slice(1) }), { code: 'SNAPSHOT_INVALID' })
  const bigCode = (state.arrays.codes as Uint16Array).slice()
  bigCode[0] = 40000
  t.throws(() => restorePlaidIndex({ ...state, arrays: { ...state.arrays, codes: bigCode } }), { code: 'SNAPSHOT_INVALID' })
})

t.test('filter is applied before scoring: k results when k exist, all passing the filter', async (t) => {
  const index = trainedIndex(base.docs.map((d) => ({ ...d })))
  for (const q of queries.slice(0, 4)) {
    const even = index.search(q, { k: 10, filter: (m) => m?.even === true })
    t.equal(even.hits.length, 10)
    t.ok(even.hits.every((h) => h.metadata?.even === true))
    // equal to brute force restricted to the filter, for clear winners
    const ref = rankExact(q, liveOriginals(index.exportState()).filter((_, i) => i % 2 === 0), dim)
    t.equal(even.hits[0].id, ref[0].id)
    // a very selective filter: only 3 documents pass, wherever they are
    const few = new Set([base.docs[1].id, base.docs[50].id, base.docs[151].id])
    const r = index.search(q, { k: 10, filter: (_m, id) => few.has(id) })
    t.same(new Set(r.hits.map((h) => h.id)), few)
    t.equal(index.search(q, { k: 10, filter: () => false }).hits.length, 0)
    // a filter that passes 20 documents, with default (small) candidate lists: still 10 hits
    const group = index.search(q, { k: 10, filter: (m) => m?.group === 3 && m.even === false })
    t.equal(group.hits.length, 10)
  }
})

t.test('invalid input is refused with the documented error codes', async (t) => {
  const index = trainedIndex()
  const code = (fn: () => unknown) => { try { fn(); return 'none' } catch (e) { return e instanceof AppError ? e.code : String(e) } }
  t.equal(code(() => index.upsert([{ id: 'a', vectors: new Float32Array(dim + 1) }])), 'DIMENSION_MISMATCH')
  t.equal(code(() => index.upsert([{ id: 'a', vectors: new Float32Array(dim).fill(Number.NaN) }])), 'INVALID_VECTOR')
  // one bad value anywhere in a document (any lane, the tail, ±Infinity), named by its position
  for (const [at, value] of [[0, Infinity], [37, -Infinity], [3 * dim - 1, Number.NaN], [2 * dim + 6, Infinity]] as const) {
    const v = new Float32Array(3 * dim).fill(0.25)
    v[at] = value
    let msg = ''
    try { index.upsert([{ id: 'ok', vectors: new Float32Array(dim).fill(-0.5) }, { id: 'bad', vectors: v }]) } catch (e) { msg = (e as Error).message }
    t.match(msg, `vector value ${at} is not finite`, `${value} at ${at}`)
  }
  t.equal(index.get('ok'), undefined, 'a batch with a bad document adds nothing')
  t.equal(code(() => index.upsert([{ id: '', vectors: new Float32Array(dim) }])), 'VALIDATION_ERROR')
  t.equal(code(() => index.upsert([{ id: 'a', vectors: new Float32Array(dim), metadata: { x: { y: 1 } } as never }])), 'INVALID_METADATA')
  t.equal(code(() => index.search(new Float32Array(dim - 1), { k: 5 })), 'DIMENSION_MISMATCH')
  t.equal(code(() => index.search(queries[0], { k: 0 })), 'INVALID_SEARCH_PARAMS')
  t.equal(code(() => index.search(queries[0], { k: 5, ndocs: 1.5 })), 'INVALID_SEARCH_PARAMS')
  t.equal(code(() => index.search(queries[0], { k: 5, allowedSlots: new Uint8Array(3) })), 'INVALID_SEARCH_PARAMS', 'an evaluated filter short of the slots')
  t.equal(code(() => createPlaidIndex({ dim: 6, nbits: 4 as never, minTrainVectors: 1 } as never)), 'none')
  t.equal(code(() => createPlaidIndex({ dim: 6, nbits: 2 })), 'VALIDATION_ERROR')
  t.equal(code(() => createPlaidIndex({ dim, nbits: 3 as never })), 'VALIDATION_ERROR')
  t.equal(index.stats().documents, 160, 'failed upserts changed nothing')
})

t.test('dimensions that are not a multiple of 4 take the TypeScript paths and stay exact', async (t) => {
  const d6 = makeDocs({ seed: 4, dim: 6, nDocs: 60, nTopics: 8, minLen: 5, maxLen: 12, noise: 0.5 })
  // the TypeScript decoding (keepOriginals: false), and the TypeScript exact stage over the original vectors
  for (const ref0 of ['decoded', 'originals'] as const) {
    const index = createPlaidIndex({ dim: 6, nbits: 4, minTrainVectors: 100, numCentroids: 16, keepOriginals: ref0 === 'originals' })
    index.upsert(d6.docs)
    t.ok(index.stats().trained)
    const r = createPrng(3)
    for (let i = 0; i < 3; i++) {
      const q = queryFor(d6.docs[r.int(60)].vectors, 6, 4, 0.3, r)
      const ref = rankExact(q, referenceDocs(t, index, ref0), 6)
      const got = index.search(q, { k: 60, ...EVERYTHING }).hits
      t.equal(got.length, 60)
      for (let j = 0; j < 60; j++) t.ok(Math.abs(got[j].score - ref[j].score) < 1e-4, `${ref0} rank ${j}: ${got[j].score} vs ${ref[j].score}`)
    }
  }
})

t.test('chunked exact and approximate stages give the same results as single chunks, pruning included', async (t) => {
  const index = trainedIndex()
  const params = [{ ...EVERYTHING }, { ncells: 2, ndocs: 12, centroidScoreThreshold: 0.3 }, { ncells: 1, ndocs: 8, centroidScoreThreshold: 0.6 }]
  const before = queries.map((q) => params.map((p) => index.search(q, { k: 10, ...p }).hits))
  setChunkSizesForTests(37, 23)
  try {
    queries.forEach((q, i) => params.forEach((p, j) => t.same(index.search(q, { k: 10, ...p }).hits, before[i][j])))
  } finally {
    setChunkSizesForTests(2048, 32768)
  }
  // pruning and small ndocs still find the document a query was drawn from
  const r2 = createPrng(17)
  let found = 0
  for (let i = 0; i < 10; i++) {
    const target = base.docs[r2.int(base.docs.length)]
    if (index.search(queryFor(target.vectors, dim, 8, 0.3, r2), { k: 5, ncells: 2, ndocs: 16, centroidScoreThreshold: 0.3 }).hits.some((h) => h.id === target.id)) found++
  }
  t.ok(found >= 8, `found ${found}/10 (measured 8–9 with these seeds)`)
})

t.test('a query whose length is not a multiple of 4 (TypeScript reductions over the kernel\'s unnormalised rows) scores like the decoded vectors (keepOriginals: false), or like the original vectors', async (t) => {
  // the kernel's rows are unnormalised decoded vectors (factor 1 / norm), or widened int8 originals (factor: their scale)
  for (const ref of ['decoded', 'originals'] as const) {
    const index = trainedIndex(base.docs, 2, ref === 'originals')
    const r = createPrng(1234)
    for (let i = 0; i < 3; i++) checkAgainst(t, ref, index, queryFor(base.docs[r.int(base.docs.length)].vectors, dim, 7, 0.4, r), 10)
  }
})
