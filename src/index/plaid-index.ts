/**
 * A PLAID-style multi-vector index with updates.
 *
 * Storage is doc-major and append-only: each document version owns a slot (per-slot typed arrays docStart, docLen,
 * live) and a contiguous run of vectors — raw float32 while the index is untrained, then a centroid code (uint16 when
 * K ≤ 65536) plus the packed residual. An upsert of an existing id tombstones the old slot and appends a new one; a
 * delete tombstones. Search skips tombstones through the live bitset, so a replaced or deleted version can never be
 * returned. Compaction (explicit, or automatic once a quarter of the stored vectors are dead) copies the live slots
 * into fresh exact-size arrays, keeping their order.
 *
 * Training: the index searches exactly until it holds `minTrainVectors` live vectors, then trains k-means + codec on
 * them and codes everything. Later vectors are coded with the existing centroids; a batch that lands clearly farther
 * from them than the training data did gets centroids of its own, appended (codeBatch). It re-trains (from the
 * original vectors where it keeps them, on disk (original-rows.ts); else from the decompressed ones) when either
 *  - growth: live vectors reached 4× the count at training (the reference formula's K would have doubled), or
 *  - drift:  at least 10% as many vectors as at training were coded since, and their mean squared residual
 *            ‖x − C[code]‖² is more than twice the training-time mean (new data the centroids do not cover).
 * Both figures are reported by stats().drift.
 */
import { AppError } from '../errors.js'
import { ensureCapacity } from './growable.js'
import { buildIvf, forgetSlotInIvf, type Ivf, ivfBytes, setIvfDelta } from './ivf.js'
import { reorderResiduals, rowCopier, rowsOf, tailRow } from './residual-rows.js'
import { assignCodes, CENTROID_SCALE, compactCentroidSet, createCentroidSet, defaultNumCentroids, trainCentroids } from './kmeans.js'
import { createSearchScratch, searchIndex, type SearchView } from './plaid-search.js'
import { createPrng, sampleIndices } from './prng.js'
import { decodeVector, encodeResidual, makeCodec, removeRadial, type ResidualCodec, trainCodec, trainCodecPerDimension } from './residual-codec.js'
import { createFileOriginalRows, createMemoryOriginalRows, openFileOriginalRows, originalRowBytes, type OriginalRows } from './original-rows.js'
import type { DriftStats, IndexSettings, IndexState, IndexStats, MemoryBreakdown, Metadata, PlaidIndex, SearchParams } from './types.js'

export type {
  DriftStats, IndexSettings, IndexState, IndexStats, MemoryBreakdown, Metadata, MetadataValue, PlaidIndex, SearchHit, SearchParams, SearchStage, SearchTrace,
} from './types.js'

/**
 * Newest index state format: 1 plain x − C residuals; 2 radial-free residuals (residual-codec.ts), pooled quantizer;
 * 3 as 2 with a quantizer per dimension where the codec has one (nbits 1, 2). A state is written as 3 only when its
 * codec is per dimension, so indexes a format-2 reader can load stay readable by it.
 */
export const INDEX_FORMAT_VERSION = 3

export const DEFAULT_INDEX_SETTINGS: Omit<IndexSettings, 'dim'> = {
  nbits: 2,
  seed: 12345,
  minTrainVectors: 16384,
  kmeansIters: 4,
  keepOriginals: true,
}

/** Phase timings of the last (re)training, for benchmarks: sample, kmeans, codec, encode, ivf (ms). */
export const lastTrainTimings: Record<string, number> = {}
/** The same phases in this process's CPU time (ms): comparable across machine loads (the phases are single-threaded). */
export const lastTrainCpuTimings: Record<string, number> = {}

/** Growth factor of live vectors since training that triggers a re-training. */
const RETRAIN_GROWTH = 4
/**
 * Relative increase of the mean squared residual of newly coded vectors that triggers a re-training. Measured on the
 * 10k-document synthetic set: its own documents re-coded give ratio 1.00; the same documents with ±0.1 uniform noise
 * per dimension (the bench's update scenario) 1.55, which new centroids could not fix (noise is not a new region);
 * documents from topics absent at training give well above 2. Re-training also re-codes decompressed vectors (a
 * second quantization), so it should happen only when it pays.
 */
const RETRAIN_DRIFT = 2
/** Fraction of the trained size that must have been coded since training before drift is judged. */
const DRIFT_MIN_FRACTION = 0.1
/** Batch mean squared residual, relative to training, above which the batch gets centroids of its own (codeBatch). */
const EXTEND_RATIO = 1.2
/**
 * Smallest batch that may add centroids: max(256, vectors at training / 1000) vectors, which bounds the appended
 * coarse cells to ~3000 before the ×4 growth re-training (each cell costs every coded vector one more dot product).
 */
const EXTEND_MIN_VECTORS = 256
const EXTEND_MIN_FRACTION = 0.001
/** How long a replaced original-vector store stays readable for searches running on the version before it. */
const ORIGINALS_GRACE_MS = 60_000
/** Dead share of stored vectors that triggers automatic compaction. */
const AUTO_COMPACT_DEAD = 0.25
/** k-means sample size per centroid (the reference allows up to 256). */
const SAMPLE_PER_CENTROID = 32
/** Vectors whose residuals set the codec's cutoffs and weights. */
const CODEC_SAMPLE = 32768
/** Vectors coded per chunk during (re)training. */
const CODE_CHUNK = 65536
/** Delta IVF size (vectors) relative to the base beyond which the IVF is rebuilt. */
const IVF_DELTA_FRACTION = 0.1

function validateSettings(s: IndexSettings): IndexSettings {
  const bad = (msg: string): never => { throw new AppError('VALIDATION_ERROR', `index settings: ${msg}`) }
  if (!Number.isInteger(s.dim) || s.dim < 1 || s.dim > 8192) bad(`dim must be an integer in 1..8192, got ${s.dim}`)
  if (s.nbits !== 1 && s.nbits !== 2 && s.nbits !== 4) bad(`nbits must be 1, 2 or 4, got ${s.nbits}`)
  if ((s.dim * s.nbits) % 8 !== 0) bad(`dim × nbits must be a multiple of 8 (dim ${s.dim}, nbits ${s.nbits})`)
  if (!Number.isInteger(s.seed)) bad(`seed must be an integer, got ${s.seed}`)
  if (!Number.isInteger(s.minTrainVectors) || s.minTrainVectors < 1) bad(`minTrainVectors must be a positive integer, got ${s.minTrainVectors}`)
  if (!Number.isInteger(s.kmeansIters) || s.kmeansIters < 1 || s.kmeansIters > 100) bad(`kmeansIters must be in 1..100, got ${s.kmeansIters}`)
  if (s.keepOriginals !== undefined && typeof s.keepOriginals !== 'boolean') bad(`keepOriginals must be true or false, got ${String(s.keepOriginals)}`)
  if (s.numCentroids !== undefined && (!Number.isInteger(s.numCentroids) || s.numCentroids < 1 || s.numCentroids > 1 << 24)) {
    bad(`numCentroids must be a positive integer, got ${s.numCentroids}`)
  }
  return s
}

function validateMetadata(id: string, m: unknown): Metadata | undefined {
  if (m === undefined || m === null) return undefined
  if (typeof m !== 'object' || Array.isArray(m)) throw new AppError('INVALID_METADATA', `document "${id}": metadata must be an object`)
  for (const [key, v] of Object.entries(m as Record<string, unknown>)) {
    const ok = v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))
    if (!ok) throw new AppError('INVALID_METADATA', `document "${id}": metadata field "${key}" must be a string, finite number, boolean or null`)
  }
  return m as Metadata
}

/** An untrained batch not copied into raw: its vectors are stored indices base, base + 1, … in document order. */
interface PendingVectors { base: number; vectors: Float32Array[] }

/** Mutable arrays of one index (everything search reads, plus bookkeeping). */
interface Core extends SearchView {
  nVectors: number
  liveDocs: number
  liveVectors: number
  deadVectors: number
  slotOf: Map<string, number>
  stringBytes: number
  /** slots below this are in the IVF base; those at or above it in the delta */
  ivfBaseSlots: number
  ivfBaseVectors: number
  drift: Omit<DriftStats, 'centroidExtensions'> & { residualSumSince: number }
  /** centroid sets appended since training (codeBatch) */
  extensions: number
  /** the original vectors, one record per stored vector (null: not kept, or not available) */
  originals: OriginalRows | null
  /** why an index set to keep originals has none */
  originalsUnavailable?: string
}

function emptyCore(dim: number): Core {
  return {
    dim, nSlots: 0, nVectors: 0, liveDocs: 0, liveVectors: 0, deadVectors: 0,
    docStart: new Uint32Array(0), docLen: new Uint32Array(0), live: new Uint8Array(0),
    ids: [], metadata: [], slotOf: new Map(), stringBytes: 0,
    trained: false, raw: new Float32Array(0), codes: new Uint16Array(0), residuals: new Uint8Array(0),
    cset: null, codec: null, ivf: null, ivfBaseSlots: 0, ivfBaseVectors: 0,
    drift: { vectorsAtTrain: 0, residualAtTrain: 0, vectorsSinceTrain: 0, residualSinceTrain: 0, residualSumSince: 0, trainings: 0 },
    extensions: 0,
    originals: null,
  }
}

/**
 * Index of the first NaN or ±Infinity in v, or −1. x·0 is 0 for every finite x and NaN otherwise, so four running
 * sums of x·0 check a whole document branch-free (a bulk build checks 200 M values: ~0.1 s, where a per-value
 * Number.isFinite test inside upsert's loop measured ~2 s); only a failing document is scanned for the position.
 */
function firstNonFinite(v: Float32Array): number {
  const n = v.length, m = n & ~3
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0
  for (let i = 0; i < m; i += 4) { s0 += v[i] * 0; s1 += v[i + 1] * 0; s2 += v[i + 2] * 0; s3 += v[i + 3] * 0 }
  for (let i = m; i < n; i++) s0 += v[i] * 0
  if (s0 + s1 + s2 + s3 === 0) return -1
  for (let i = 0; i < n; i++) if (!Number.isFinite(v[i])) return i
  return -1
}

function stringCost(id: string, m: Metadata | undefined): number {
  // rough V8 cost: 2 bytes per char + object headers; metadata estimated from its JSON size
  return 2 * id.length + 32 + (m === undefined ? 0 : 2 * JSON.stringify(m).length + 64)
}

class PlaidIndexImpl implements PlaidIndex {
  readonly settings: IndexSettings
  private c: Core
  private readonly scratch = createSearchScratch()
  /** bumped by every write; see PlaidIndex.searchState */
  private writes = 0

  constructor(settings: IndexSettings, core?: Core, originalsDir?: string) {
    this.settings = settings
    this.c = core ?? emptyCore(settings.dim)
    if (core === undefined && settings.keepOriginals !== false) {
      this.c.originals = originalsDir === undefined ? createMemoryOriginalRows(settings.dim) : createFileOriginalRows(originalsDir, settings.dim)
    }
  }

  upsert(docs: Array<{ id: string; vectors: Float32Array; metadata?: Metadata }>): { added: string[]; updated: string[] } {
    const dim = this.settings.dim
    if (!Array.isArray(docs)) throw new AppError('VALIDATION_ERROR', 'upsert expects an array of documents')
    const metas: Array<Metadata | undefined> = []
    let total = 0
    for (const d of docs) {
      if (typeof d?.id !== 'string' || d.id.length === 0) throw new AppError('VALIDATION_ERROR', 'every document needs a non-empty string id')
      const v = d.vectors
      if (!(v instanceof Float32Array) || v.length === 0 || v.length % dim !== 0) {
        throw new AppError('DIMENSION_MISMATCH', `document "${d.id}": vectors must be a non-empty Float32Array of n×${dim} values, got ${v?.length}`)
      }
      const bad = firstNonFinite(v)
      if (bad >= 0) throw new AppError('INVALID_VECTOR', `document "${d.id}": vector value ${bad} is not finite`)
      metas.push(validateMetadata(d.id, d.metadata))
      total += v.length / dim
    }
    this.writes++
    const c = this.c
    const added: string[] = [], updated: string[] = []
    // allocate room for the whole batch once
    const firstNewSlot = c.nSlots
    c.docStart = ensureCapacity(c.docStart, c.nSlots + docs.length)
    c.docLen = ensureCapacity(c.docLen, c.nSlots + docs.length)
    c.live = ensureCapacity(c.live, c.nSlots + docs.length)
    const vecBase = c.nVectors
    if (c.trained) {
      c.codes = ensureCapacity(c.codes, c.nVectors + total)
      c.residuals = ensureCapacity(c.residuals, (c.nVectors + total) * c.codec!.bytesPerVector)
    }
    const batch = c.trained ? new Float32Array(total * dim) : null
    let at = 0
    for (let i = 0; i < docs.length; i++) {
      const d = docs[i]
      const n = d.vectors.length / dim
      const old = c.slotOf.get(d.id)
      if (old !== undefined) { this.tombstone(old); updated.push(d.id) } else added.push(d.id)
      const s = c.nSlots++
      c.docStart[s] = c.nVectors
      c.docLen[s] = n
      c.live[s] = 1
      c.ids[s] = d.id
      c.metadata[s] = metas[i]
      c.slotOf.set(d.id, s)
      c.stringBytes += stringCost(d.id, metas[i])
      c.nVectors += n
      c.liveDocs++
      c.liveVectors += n
      c.originals?.append(d.vectors, n)
      if (batch !== null) {
        batch.set(d.vectors, at)
        at += d.vectors.length
      }
    }
    if (batch !== null) {
      this.codeBatch(batch, total, vecBase)
      this.refreshIvf(firstNewSlot)
      if (this.retrainReason() !== undefined) { this.train(); return { added, updated } }
    } else {
      const pending = { base: vecBase, vectors: docs.map((d) => d.vectors) }
      if (c.liveVectors >= this.settings.minTrainVectors) {
        // trains straight from the documents' arrays: a bulk load copied into raw first cost a second copy of the
        // input (~4 s CPU and +0.9 GB peak for 1.8 M vectors × 128), only to be coded and dropped
        try {
          this.train(pending)
        } catch (err) {
          if (!c.trained) this.appendRaw(pending) // keep the documents searchable, untrained
          throw err
        }
        return { added, updated }
      }
      this.appendRaw(pending)
    }
    this.maybeCompact()
    return { added, updated }
  }

  delete(ids: string[]): { deleted: string[]; missing: string[] } {
    this.writes++
    const deleted: string[] = [], missing: string[] = []
    for (const id of ids) {
      const s = this.c.slotOf.get(id)
      if (s === undefined) { missing.push(id); continue }
      this.tombstone(s)
      deleted.push(id)
    }
    this.maybeCompact()
    return { deleted, missing }
  }

  get(id: string): { id: string; metadata?: Metadata; nVectors: number } | undefined {
    const s = this.c.slotOf.get(id)
    if (s === undefined) return undefined
    const m = this.c.metadata[s]
    return m === undefined ? { id, nVectors: this.c.docLen[s] } : { id, metadata: m, nVectors: this.c.docLen[s] }
  }

  ids(): string[] {
    const out: string[] = []
    for (let s = 0; s < this.c.nSlots; s++) if (this.c.live[s]) out.push(this.c.ids[s])
    return out
  }

  search(query: Float32Array, params: SearchParams) {
    return searchIndex(this.c, query, params, this.scratch)
  }

  searchState(): { view: SearchView; version: number } {
    return { view: this.c, version: this.writes }
  }

  stats(): IndexStats {
    const c = this.c, dim = this.settings.dim
    // original vectors in memory: their used records here, the growable array's spare capacity under slack
    const originalsHeld = c.originals?.bytesInMemory() ?? 0
    const originalsUsed = originalsHeld === 0 ? 0 : c.originals!.rows * c.originals!.bytesPerRow
    const held = c.docStart.byteLength + c.docLen.byteLength + c.live.byteLength + c.raw.byteLength + c.codes.byteLength + c.residuals.byteLength
    const documents = c.nSlots * (c.docStart.BYTES_PER_ELEMENT + c.docLen.BYTES_PER_ELEMENT + c.live.BYTES_PER_ELEMENT)
    const vectors = c.trained ? c.nVectors * (c.codes.BYTES_PER_ELEMENT + c.codec!.bytesPerVector) : c.nVectors * dim * 4
    const cs = c.cset
    // with SIMD the arena holds the fine centroids (their only copy) and a copy of the coarse ones, then scratch
    const centroids = cs === null ? 0 : cs.k * dim * 2 + cs.coarse.byteLength * (cs.arena ? 2 : 1) + cs.groupOffsets.byteLength
    const memory: MemoryBreakdown = {
      vectors, centroids, centroidScratch: cs === null ? 0 : cs.bytes() - centroids, ivf: c.ivf ? ivfBytes(c.ivf) : 0,
      documents, ids: c.stringBytes + c.slotOf.size * 16, slack: held - documents - vectors + originalsHeld - originalsUsed,
      originals: originalsUsed,
    }
    const bytes = Object.values(memory).reduce((a, b) => a + b, 0)
    const d = c.drift
    return {
      documents: c.liveDocs, vectors: c.liveVectors, tombstones: c.nSlots - c.liveDocs, bytes, memory, trained: c.trained,
      centroids: c.cset?.k ?? 0,
      drift: {
        vectorsAtTrain: d.vectorsAtTrain, residualAtTrain: d.residualAtTrain, vectorsSinceTrain: d.vectorsSinceTrain,
        residualSinceTrain: d.vectorsSinceTrain > 0 ? d.residualSumSince / d.vectorsSinceTrain : 0, trainings: d.trainings,
        centroidExtensions: c.extensions,
      },
      originals: {
        home: c.originals?.home ?? 'none', vectors: c.originals?.rows ?? 0, bytesOnDisk: c.originals?.bytesOnDisk() ?? 0,
        ...(c.originalsUnavailable === undefined ? {} : { unavailable: c.originalsUnavailable }),
      },
    }
  }

  /**
   * The live documents' residuals in vector order (a snapshot's layout, whatever the order in memory); a deleted
   * document's rows are zeros (it may have none: residual-rows.ts).
   */
  private residualsInVectorOrder(): Uint8Array {
    const c = this.c, bpv = c.codec!.bytesPerVector
    const out = new Uint8Array(c.nVectors * bpv)
    const rowOf = rowsOf(c.ivf), copy = rowCopier(c.residuals, out, bpv)
    for (let s = 0; s < c.nSlots; s++) {
      if (!c.live[s]) continue
      for (let v = c.docStart[s], end = v + c.docLen[s]; v < end; v++) copy(rowOf(v), v)
    }
    return out
  }

  compact(): void {
    this.writes++
    const c = this.c
    if (c.nSlots === c.liveDocs) return
    const dim = this.settings.dim
    const slots = this.liveSlots()
    const n = slots.length
    this.selectOriginals(slots)
    const docStart = new Uint32Array(n), docLen = new Uint32Array(n), live = new Uint8Array(n).fill(1)
    const ids: string[] = new Array(n), metadata: Array<Metadata | undefined> = new Array(n)
    const bpv = c.codec?.bytesPerVector ?? 0
    const raw = new Float32Array(c.trained ? 0 : c.liveVectors * dim)
    const codes = c.trained ? new (c.codes.constructor as Uint16ArrayConstructor)(c.liveVectors) : new Uint16Array(0)
    const residuals = new Uint8Array(c.trained ? c.liveVectors * bpv : 0)
    // into vector order; rebuildIvf puts them back in cell order
    const rowOf = rowsOf(c.ivf), copy = rowCopier(c.residuals, residuals, bpv)
    let at = 0
    c.slotOf.clear()
    for (let i = 0; i < n; i++) {
      const s = slots[i], a = c.docStart[s], len = c.docLen[s]
      docStart[i] = at
      docLen[i] = len
      ids[i] = c.ids[s]
      metadata[i] = c.metadata[s]
      c.slotOf.set(ids[i], i)
      if (c.trained) {
        codes.set(c.codes.subarray(a, a + len), at)
        for (let v = 0; v < len; v++) copy(rowOf(a + v), at + v)
      } else {
        raw.set(c.raw.subarray(a * dim, (a + len) * dim), at * dim)
      }
      at += len
    }
    Object.assign(c, { docStart, docLen, live, ids, metadata, raw, codes, residuals, nSlots: n, nVectors: at, deadVectors: 0 })
    c.stringBytes = 0
    for (let i = 0; i < n; i++) c.stringBytes += stringCost(ids[i], metadata[i])
    if (c.trained) this.rebuildIvf(null)
  }

  retrain(): void {
    this.writes++
    if (this.c.liveVectors > 0) this.train()
  }

  exportState(): IndexState {
    const c = this.c
    const arrays: IndexState['arrays'] = {
      docStart: c.docStart.slice(0, c.nSlots),
      docLen: c.docLen.slice(0, c.nSlots),
      live: c.live.slice(0, c.nSlots),
    }
    const scalars: IndexState['scalars'] = {
      nSlots: c.nSlots, nVectors: c.nVectors, trained: c.trained,
      vectorsAtTrain: c.drift.vectorsAtTrain, residualAtTrain: c.drift.residualAtTrain,
      vectorsSinceTrain: c.drift.vectorsSinceTrain, residualSumSince: c.drift.residualSumSince, trainings: c.drift.trainings,
      centroidExtensions: c.extensions,
    }
    if (c.trained) {
      const cs = c.cset!, codec = c.codec!
      arrays.codes = c.codes.slice(0, c.nVectors)
      arrays.residuals = this.residualsInVectorOrder()
      // int16 centroids travel as their bit pattern in a Uint16Array (IndexState has no Int16Array); × centroidScale
      arrays.centroids = new Uint16Array(cs.centroids.slice().buffer)
      arrays.coarse = cs.coarse.slice()
      arrays.groupOffsets = cs.groupOffsets.slice()
      arrays.cutoffs = codec.cutoffs.slice()
      arrays.weights = codec.weights.slice()
      scalars.codecCentroidWeight = codec.centroidWeight
      scalars.numCentroids = cs.k
      scalars.centroidScale = CENTROID_SCALE
      scalars.groups = cs.groups
    } else {
      arrays.raw = c.raw.slice(0, c.nVectors * this.settings.dim)
    }
    if (c.originals !== null) {
      const part = c.originals.snapshotPart()
      scalars.originalsRows = c.originals.rows
      if ('file' in part) scalars.originalsFile = part.file
      else arrays.originals = part.bytes
    }
    return {
      formatVersion: c.trained && c.codec!.perDimension ? 3 : 2,
      settings: { ...this.settings },
      scalars,
      arrays,
      ids: c.ids.slice(0, c.nSlots),
      metadata: c.metadata.slice(0, c.nSlots).map((m) => m ?? null),
    }
  }

  syncOriginals(): Promise<void> {
    return this.c.originals?.sync() ?? Promise.resolve()
  }

  releaseOriginals(state: IndexState): void {
    const file = state.scalars.originalsFile
    this.c.originals?.prune(typeof file === 'string' ? [file] : [])
  }

  dispose(opts?: { removeFiles?: boolean }): void {
    const o = this.c.originals
    if (o === null) return
    // every record file of the folder goes with a dropped index (its snapshot's too); synchronous, so an index
    // re-created under the same name afterwards cannot lose its new file
    if (opts?.removeFiles) o.prune([])
    o.close({ remove: opts?.removeFiles === true, graceMs: ORIGINALS_GRACE_MS })
    this.c.originals = null
  }

  // ---- internals -------------------------------------------------------------------------------------------

  /** The originals of `slots` in their order become the store (a compaction or training renumbers the vectors). */
  private selectOriginals(slots: Uint32Array): void {
    const c = this.c
    if (c.originals === null) return
    const starts = new Uint32Array(slots.length), lens = new Uint32Array(slots.length)
    let next = 0 // where the records would continue if the slots kept them all, in place
    let inPlace = true
    for (let i = 0; i < slots.length; i++) {
      starts[i] = c.docStart[slots[i]]
      lens[i] = c.docLen[slots[i]]
      if (starts[i] !== next) inPlace = false
      next = starts[i] + lens[i]
    }
    // a file whose every record stays where it is (a first training with nothing deleted) is not copied; an array in
    // memory is, to drop its growth capacity (a copy in memory costs little)
    if (inPlace && next === c.originals.rows && c.originals.home === 'file') return
    const old = c.originals
    c.originals = old.select(starts, lens, slots.length)
    // searches on the version before may still read the old store; its file stays until a snapshot no longer needs it
    old.close({ graceMs: ORIGINALS_GRACE_MS })
  }

  private tombstone(s: number): void {
    const c = this.c
    if (!c.live[s]) return
    c.live[s] = 0
    if (c.ivf !== null) forgetSlotInIvf(c.ivf, c.codes, c.docStart, c.docLen, s)
    c.liveDocs--
    c.liveVectors -= c.docLen[s]
    c.deadVectors += c.docLen[s]
    c.slotOf.delete(c.ids[s])
  }

  private maybeCompact(): void {
    const c = this.c
    if (c.deadVectors > 0 && c.deadVectors >= AUTO_COMPACT_DEAD * c.nVectors) this.compact()
  }

  private liveSlots(): Uint32Array {
    const c = this.c
    const out = new Uint32Array(c.liveDocs)
    let i = 0
    for (let s = 0; s < c.nSlots; s++) if (c.live[s]) out[i++] = s
    return out
  }

  /** Why a re-training is due now, or undefined. */
  private retrainReason(): 'growth' | 'drift' | undefined {
    const c = this.c, d = c.drift
    if (!c.trained) return undefined
    if (c.liveVectors >= RETRAIN_GROWTH * d.vectorsAtTrain) return 'growth'
    if (d.vectorsSinceTrain >= DRIFT_MIN_FRACTION * d.vectorsAtTrain && d.residualAtTrain > 0 &&
      d.residualSumSince / d.vectorsSinceTrain > RETRAIN_DRIFT * d.residualAtTrain) return 'drift'
    return undefined
  }

  /** Codes n vectors (rows of x) into codes/residuals at vector index `at`; updates the drift sums. */
  private codeInto(x: Float32Array, n: number, at: number, count = true): number {
    const c = this.c, cs = c.cset!, codec = c.codec!, dim = this.settings.dim
    const score = new Float32Array(n)
    assignCodes(cs, x, 0, n, c.codes, at, score)
    const cents = cs.centroids
    let sum = 0
    const bpv = codec.bytesPerVector
    // appended vectors: rows after the IVF base's (residual-rows.ts), in vector order
    const row0 = tailRow(c.ivf, at)
    for (let i = 0; i < n; i++) {
      const code = c.codes[at + i]
      encodeResidual(codec, x, i * dim, cents, code * dim, c.residuals, (row0 + i) * bpv, CENTROID_SCALE)
      let xx = 0
      for (let d = 0; d < dim; d++) xx += x[i * dim + d] * x[i * dim + d]
      sum += Math.max(0, xx - 2 * score[i] + 1) // ‖x − C‖² with ‖C‖ = 1
    }
    if (count) {
      c.drift.vectorsSinceTrain += n
      c.drift.residualSumSince += sum
    }
    return sum
  }

  /**
   * Codes a batch; when its vectors sit clearly farther from their centroids than the training data did (mean
   * squared residual > EXTEND_RATIO × the training mean), new centroids are trained on the batch (as many as the
   * training density gives: K·n/vectorsAtTrain, at least 1), appended as a new coarse cell, and the batch is
   * re-coded against them. Existing codes stay valid (appending keeps every index), so this costs O(batch) work
   * plus an IVF rebuild, and new regions of the space get their own centroids without a re-training.
   */
  private codeBatch(x: Float32Array, n: number, at: number): void {
    const c = this.c
    const sum = this.codeInto(x, n, at, false)
    const cs = c.cset!, dim = this.settings.dim
    const kNew = Math.max(1, Math.round((cs.k * n) / Math.max(1, c.drift.vectorsAtTrain)))
    const limit = c.codes instanceof Uint16Array ? 65536 : 1 << 30
    if (n < Math.max(EXTEND_MIN_VECTORS, EXTEND_MIN_FRACTION * c.drift.vectorsAtTrain) || sum / n <= EXTEND_RATIO * c.drift.residualAtTrain || cs.k + kNew > limit || kNew > n) {
      c.drift.vectorsSinceTrain += n
      c.drift.residualSumSince += sum
      return
    }
    const rng = createPrng(this.settings.seed + 7919 * (c.drift.trainings + cs.k))
    const m = Math.min(n, Math.max(kNew, 2 * SAMPLE_PER_CENTROID * kNew))
    const pick = sampleIndices(n, m, rng)
    const sample = new Float32Array(m * dim)
    for (let i = 0; i < m; i++) sample.set(x.subarray(pick[i] * dim, pick[i] * dim + dim), i * dim)
    const sub = trainCentroids(sample, m, dim, kNew, this.settings.kmeansIters, rng)
    const k = cs.k + kNew
    const q = new Int16Array(k * dim)
    q.set(cs.centroids)
    q.set(sub.centroids, cs.k * dim)
    const coarse = new Float32Array((cs.groups + sub.groups) * dim)
    coarse.set(cs.coarse)
    coarse.set(sub.coarse, cs.groups * dim)
    const offsets = new Uint32Array(cs.groups + sub.groups + 1)
    offsets.set(cs.groupOffsets)
    for (let g = 1; g <= sub.groups; g++) offsets[cs.groups + g] = cs.k + sub.groupOffsets[g]
    c.cset = createCentroidSet(k, dim, q, coarse, offsets)
    c.extensions++
    this.codeInto(x, n, at, true)
  }

  /**
   * Rebuilds the IVF and puts the residuals in its base order (residual-rows.ts). `from`: the order c.residuals are in
   * now (null: vector order, as training, compaction and a load leave them). The reorder writes a new array (the
   * old one stays with searches running on the previous version): a rebuild briefly holds both, 32 + 4 bytes per
   * vector more at nbits 2.
   */
  private rebuildIvf(from: Ivf | null): void {
    const c = this.c
    const ivf = buildIvf(c.cset!.k, c.codes, c.docStart, c.docLen, this.liveSlots(), c.nSlots)
    const bpv = c.codec!.bytesPerVector
    c.residuals = reorderResiduals(c.residuals, bpv, from, ivf, Math.max(c.nVectors, Math.floor(c.residuals.length / bpv)))
    c.ivf = ivf
    c.ivfBaseSlots = c.nSlots
    c.ivfBaseVectors = c.nVectors
  }

  private refreshIvf(_firstNew: number): void {
    const c = this.c
    if (c.ivf!.k !== c.cset!.k || c.nVectors - c.ivfBaseVectors > IVF_DELTA_FRACTION * c.ivfBaseVectors) { this.rebuildIvf(c.ivf); return }
    const delta: number[] = []
    for (let s = c.ivfBaseSlots; s < c.nSlots; s++) if (c.live[s]) delta.push(s)
    setIvfDelta(c.ivf!, c.codes, c.docStart, c.docLen, Uint32Array.from(delta), c.nSlots)
  }

  /** Copies an untrained batch's vectors (stored indices from pending.base on) into raw. */
  private appendRaw(pending: PendingVectors): void {
    const c = this.c, dim = this.settings.dim
    let at = pending.base * dim
    c.raw = ensureCapacity(c.raw, c.nVectors * dim)
    for (const v of pending.vectors) {
      c.raw.set(v, at)
      at += v.length
    }
  }

  /**
   * Writes stored vector `stored` (decompressed when trained) to out at outOff. Untrained, stored vectors from
   * pending.base on are read from the batch's own arrays (not yet in raw).
   */
  private vectorReader(pending?: PendingVectors): (stored: number, out: Float32Array, outOff: number) => void {
    const c = this.c, dim = this.settings.dim
    if (!c.trained && pending !== undefined) {
      const { base, vectors } = pending
      const starts = new Float64Array(vectors.length + 1)
      for (let j = 0; j < vectors.length; j++) starts[j + 1] = starts[j] + vectors[j].length / dim
      let j = 0 // last document read: reads come mostly in ascending order
      return (v, out, o) => {
        if (v < base) { out.set(c.raw.subarray(v * dim, v * dim + dim), o); return }
        const r = v - base
        if (r < starts[j] || r >= starts[j + 1]) {
          let lo = 0, hi = vectors.length - 1
          while (lo < hi) {
            const mid = (lo + hi + 1) >> 1
            if (starts[mid] <= r) lo = mid
            else hi = mid - 1
          }
          j = lo
        }
        const off = (r - starts[j]) * dim
        out.set(vectors[j].subarray(off, off + dim), o)
      }
    }
    if (!c.trained) return (v, out, o) => { out.set(c.raw.subarray(v * dim, v * dim + dim), o) }
    if (c.originals !== null && c.originals.rows === c.nVectors) {
      // the original vectors (to their int8 rounding) rather than decompressed ones: a re-training then does not
      // quantize the codec's error a second time. A read that continues the last one fetches a block (coding reads
      // every vector in ascending order); any other fetches its own record (the k-means sample comes in random order).
      const src = c.originals, bpr = src.bytesPerRow
      const blockRows = Math.max(1, Math.floor((256 << 10) / bpr))
      const block = new Uint8Array(blockRows * bpr)
      const view = new DataView(block.buffer), q = new Int8Array(block.buffer)
      let first = 0, count = 0
      return (v, out, o) => {
        if (v < first || v >= first + count) {
          count = v === first + count ? Math.min(blockRows, src.rows - v) : 1
          first = v
          src.read(v, count, block, 0)
        }
        const at = (v - first) * bpr
        const scale = view.getFloat32(at, true)
        for (let d = 0; d < dim; d++) out[o + d] = q[at + 4 + d] * scale
      }
    }
    const codec = c.codec!, cset = c.cset!, bpv = codec.bytesPerVector
    const rowOf = rowsOf(c.ivf)
    return (v, out, o) => decodeVector(codec, cset.centroids, c.codes[v], c.residuals, rowOf(v) * bpv, out, o, CENTROID_SCALE)
  }

  /** (Re)trains centroids and codec on the live vectors, codes them all and compacts (pending: see vectorReader). */
  private train(pending?: PendingVectors): void {
    const c = this.c, dim = this.settings.dim
    const slots = this.liveSlots()
    const n = c.liveVectors
    if (n === 0) return
    // stored vector index of each live vector, in slot order
    const stored = new Uint32Array(n)
    for (let i = 0, at = 0; i < slots.length; i++) {
      const a = c.docStart[slots[i]], len = c.docLen[slots[i]]
      for (let v = 0; v < len; v++) stored[at++] = a + v
    }
    let tPhase = performance.now(), cpuPhase = process.cpuUsage()
    const phase = (name: string): void => {
      const now = performance.now(), cpu = process.cpuUsage(cpuPhase)
      lastTrainTimings[name] = now - tPhase
      lastTrainCpuTimings[name] = (cpu.user + cpu.system) / 1000
      tPhase = now
      cpuPhase = process.cpuUsage()
    }
    const wasTrained = c.trained
    const read = this.vectorReader(pending)
    const rng = createPrng(this.settings.seed + c.drift.trainings)
    const k = Math.min(this.settings.numCentroids ?? defaultNumCentroids(n, dim), n)
    const m = Math.min(n, Math.max(k, SAMPLE_PER_CENTROID * k))
    const pick = sampleIndices(n, m, rng)
    const sample = new Float32Array(m * dim)
    for (let i = 0; i < m; i++) read(stored[pick[i]], sample, i * dim)
    phase('sample')
    const cset = trainCentroids(sample, m, dim, k, this.settings.kmeansIters, rng)
    phase('kmeans')

    // codec from the residuals of an evenly spread subset of the sample
    const nc = Math.min(m, CODEC_SAMPLE)
    const step = m / nc
    const sub = new Float32Array(nc * dim)
    for (let i = 0; i < nc; i++) sub.set(sample.subarray(Math.floor(i * step) * dim, Math.floor(i * step) * dim + dim), i * dim)
    const subCodes = new Uint32Array(nc)
    assignCodes(cset, sub, 0, nc, subCodes, 0, null)
    const cq = cset.centroids
    // radial-free residuals (see residual-codec.ts): the codec quantizes x − C less its component along C, and
    // decodes with C weighted by 1 − the mean removed coefficient
    let radialSum = 0
    for (let i = 0; i < nc; i++) {
      const co = subCodes[i] * dim
      for (let d = 0; d < dim; d++) sub[i * dim + d] -= cq[co + d] * CENTROID_SCALE
      radialSum += removeRadial(sub, i * dim, cq, co, dim, CENTROID_SCALE)
    }
    // one quantizer per dimension where the decode tables stay small (nbits 1, 2; see residual-codec.ts)
    const nbits = this.settings.nbits
    const trained = nbits === 4 ? trainCodec(sub, nbits, dim) : trainCodecPerDimension(sub, nbits, dim)
    const centroidWeight = Math.min(1, Math.max(0.05, 1 - radialSum / nc))
    const codec = makeCodec(nbits, dim, trained.cutoffs, trained.weights, { centroidWeight })
    phase('codec')

    // code every live vector into fresh, exact-size arrays (a compaction at the same time)
    const codes = k <= 65536 ? new Uint16Array(n) : new Uint32Array(n)
    const residuals = new Uint8Array(n * codec.bytesPerVector)
    const chunk = new Float32Array(Math.min(n, CODE_CHUNK) * dim)
    const score = new Float32Array(Math.min(n, CODE_CHUNK))
    let residualSum = 0
    for (let v0 = 0; v0 < n; v0 += CODE_CHUNK) {
      const len = Math.min(CODE_CHUNK, n - v0)
      for (let i = 0; i < len; i++) read(stored[v0 + i], chunk, i * dim)
      assignCodes(cset, chunk, 0, len, codes, v0, score)
      const cq = cset.centroids
      for (let i = 0; i < len; i++) {
        encodeResidual(codec, chunk, i * dim, cq, codes[v0 + i] * dim, residuals, (v0 + i) * codec.bytesPerVector, CENTROID_SCALE)
        let xx = 0
        for (let d = 0; d < dim; d++) xx += chunk[i * dim + d] ** 2
        residualSum += Math.max(0, xx - 2 * score[i] + 1)
      }
    }
    phase('encode')
    this.selectOriginals(slots)
    const docStart = new Uint32Array(slots.length), docLen = new Uint32Array(slots.length)
    const ids: string[] = new Array(slots.length), metadata: Array<Metadata | undefined> = new Array(slots.length)
    c.slotOf.clear()
    let stringBytes = 0
    for (let i = 0, at = 0; i < slots.length; i++) {
      const s = slots[i]
      docStart[i] = at
      docLen[i] = c.docLen[s]
      at += c.docLen[s]
      ids[i] = c.ids[s]
      metadata[i] = c.metadata[s]
      c.slotOf.set(ids[i], i)
      stringBytes += stringCost(ids[i], metadata[i])
    }
    Object.assign(c, {
      docStart, docLen, live: new Uint8Array(slots.length).fill(1), ids, metadata, stringBytes,
      nSlots: slots.length, nVectors: n, deadVectors: 0,
      // the coding scratch stays behind in the training set's arena
      trained: true, raw: new Float32Array(0), codes, residuals, cset: compactCentroidSet(cset), codec,
    })
    c.drift = {
      // a re-training codes decompressed vectors, which sit closer to any centroids than raw ones: keep the raw-data
      // baseline so that new raw vectors are not judged drifted (and re-trained on) merely for being raw
      vectorsAtTrain: n,
      residualAtTrain: wasTrained ? Math.max(residualSum / n, c.drift.residualAtTrain) : residualSum / n,
      vectorsSinceTrain: 0, residualSinceTrain: 0, residualSumSince: 0,
      trainings: c.drift.trainings + 1,
    }
    c.extensions = 0
    this.rebuildIvf(null)
    phase('ivf')
  }

  /** For restore: installs validated arrays. */
  static fromState(state: IndexState, originalsDir?: string): PlaidIndexImpl {
    const bad = (msg: string): never => { throw new AppError('SNAPSHOT_INVALID', `index state: ${msg}`) }
    // formats 1 (plain x − C residuals) and 2 (pooled quantizer) still load; their codecs decode as before
    if (state?.formatVersion !== INDEX_FORMAT_VERSION && state?.formatVersion !== 1 && state?.formatVersion !== 2) {
      bad(`unsupported format version ${state?.formatVersion} (expected 1 to ${INDEX_FORMAT_VERSION})`)
    }
    const settings = validateSettings({ ...DEFAULT_INDEX_SETTINGS, ...state.settings })
    const dim = settings.dim
    const sc = state.scalars, ar = state.arrays
    const num = (key: string): number => {
      const v = sc[key]
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) return bad(`scalar ${key} missing or invalid`)
      return v
    }
    const arr = <T>(key: string, ctor: new (...a: never[]) => T, len: number): T => {
      const a = ar[key]
      if (!(a instanceof ctor)) return bad(`array ${key} missing or of the wrong type`)
      if ((a as unknown as ArrayLike<number>).length !== len) bad(`array ${key} has length ${(a as unknown as ArrayLike<number>).length}, expected ${len}`)
      return a
    }
    const nSlots = num('nSlots'), nVectors = num('nVectors')
    const trained = sc.trained === true
    const core = emptyCore(dim)
    core.docStart = arr('docStart', Uint32Array, nSlots)
    core.docLen = arr('docLen', Uint32Array, nSlots)
    core.live = arr('live', Uint8Array, nSlots)
    if (!Array.isArray(state.ids) || state.ids.length !== nSlots) bad('ids length does not match the slots')
    if (!Array.isArray(state.metadata) || state.metadata.length !== nSlots) bad('metadata length does not match the slots')
    core.nSlots = nSlots
    core.nVectors = nVectors
    core.ids = state.ids.slice()
    core.metadata = state.metadata.map((m) => m ?? undefined)
    for (let s = 0; s < nSlots; s++) {
      if (core.docStart[s] + core.docLen[s] > nVectors) bad(`slot ${s} points past the stored vectors`)
      if (core.live[s]) {
        if (core.slotOf.has(core.ids[s])) bad(`id "${core.ids[s]}" is live twice`)
        core.slotOf.set(core.ids[s], s)
        core.liveDocs++
        core.liveVectors += core.docLen[s]
      } else core.deadVectors += core.docLen[s]
      core.stringBytes += stringCost(core.ids[s], core.metadata[s])
    }
    core.drift = {
      vectorsAtTrain: num('vectorsAtTrain'), residualAtTrain: num('residualAtTrain'), vectorsSinceTrain: num('vectorsSinceTrain'),
      residualSinceTrain: 0, residualSumSince: num('residualSumSince'), trainings: num('trainings'),
    }
    core.extensions = typeof sc.centroidExtensions === 'number' ? sc.centroidExtensions : 0
    // opened last, once the rest of the state checked out: opening cuts the file back and deletes the folder's other
    // record files, which an unloadable snapshot must leave as they are
    const withOriginals = (idx: PlaidIndexImpl): PlaidIndexImpl => {
      if (settings.keepOriginals !== false) restoreOriginals(core, state, originalsDir)
      return idx
    }
    if (trained) {
      const k = num('numCentroids'), groups = num('groups')
      const codesArr = ar.codes
      if (!(codesArr instanceof Uint16Array || codesArr instanceof Uint32Array) || codesArr.length !== nVectors) bad('array codes missing or of the wrong size')
      const codes = codesArr as Uint16Array | Uint32Array
      for (let i = 0; i < codes.length; i++) if (codes[i] >= k) bad(`code ${codes[i]} at vector ${i} exceeds the ${k} centroids`)
      const groupOffsets = arr('groupOffsets', Uint32Array, groups + 1)
      if (groupOffsets[groups] !== k) bad('groupOffsets do not cover the centroids')
      const bits = arr('centroids', Uint16Array, k * dim)
      if (sc.centroidScale !== CENTROID_SCALE) bad(`centroid scale ${String(sc.centroidScale)} is not ${CENTROID_SCALE}`)
      const cset = createCentroidSet(k, dim, new Int16Array(bits.buffer, bits.byteOffset, k * dim), arr('coarse', Float32Array, groups * dim), groupOffsets)
      const n = 1 << settings.nbits
      const radial = state.formatVersion === 1 ? undefined : { centroidWeight: num('codecCentroidWeight') }
      // format 3: a quantizer per dimension (dim rows of cutoffs and weights) or, at nbits 4, a pooled one
      const rows = state.formatVersion === 3 && settings.nbits !== 4 ? dim : 1
      const codec: ResidualCodec = makeCodec(settings.nbits, dim, arr('cutoffs', Float32Array, rows * (n - 1)), arr('weights', Float32Array, rows * n), radial)
      core.residuals = arr('residuals', Uint8Array, nVectors * codec.bytesPerVector)
      core.codes = codes
      core.cset = cset
      core.codec = codec
      core.trained = true
      const idx = new PlaidIndexImpl(settings, core)
      idx.rebuildIvf(null)
      return withOriginals(idx)
    }
    core.raw = arr('raw', Float32Array, nVectors * dim)
    return withOriginals(new PlaidIndexImpl(settings, core))
  }
}

/**
 * A new, empty index; it trains itself once it holds `minTrainVectors` vectors. originalsDir: the folder of its
 * original vectors' files (settings.keepOriginals); without it they are kept in memory.
 */
export function createPlaidIndex(settings: Partial<IndexSettings> & { dim: number }, opts?: { originalsDir?: string }): PlaidIndex {
  const full = validateSettings({ ...DEFAULT_INDEX_SETTINGS, ...stripUndefined(settings) } as IndexSettings)
  return new PlaidIndexImpl(full, undefined, opts?.originalsDir)
}

/**
 * Rebuilds an index from exportState()'s output (arrays are adopted, not copied); AppError SNAPSHOT_INVALID when
 * inconsistent. originalsDir: where the state's original-vector file is (a state that names one).
 */
export function restorePlaidIndex(state: IndexState, opts?: { originalsDir?: string }): PlaidIndex {
  return PlaidIndexImpl.fromState(state, opts?.originalsDir)
}

/**
 * The state's original vectors, when it has them: its record file (opened, records past its count cut off, the
 * folder's unused files deleted) or its array. An index whose originals are missing or do not match still loads and
 * ranks by decompressed vectors (stats().originals.unavailable says why): its compressed index is intact.
 */
function restoreOriginals(core: Core, state: IndexState, dir: string | undefined): void {
  const sc = state.scalars, dim = state.settings.dim
  const rows = sc.originalsRows
  if (typeof rows !== 'number') { core.originalsUnavailable = 'the snapshot has no original vectors'; return }
  let store: OriginalRows | null = null
  try {
    if (typeof sc.originalsFile === 'string') {
      if (dir === undefined) throw new Error('no folder was given for the original vectors\' file')
      store = openFileOriginalRows(dir, sc.originalsFile, dim, rows)
      store.prune([])
    } else if (state.arrays.originals instanceof Uint8Array && state.arrays.originals.length === rows * originalRowBytes(dim)) {
      store = createMemoryOriginalRows(dim, state.arrays.originals)
    } else throw new Error('the snapshot\'s original vectors are missing or of the wrong size')
    if (rows !== core.nVectors) throw new Error(`the snapshot has ${rows} original vectors for ${core.nVectors} stored vectors`)
    core.originals = store
  } catch (err) {
    store?.close()
    core.originalsUnavailable = (err as Error).message
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}

