/** Public types of the PLAID index (re-exported by plaid-index.ts, the module other areas import). */
import type { SearchView } from './plaid-search.js'
export type MetadataValue = string | number | boolean | null

/** Reserved metadata key under which the service keeps a document's text (`store_text`); the lexical side reads it. */
export const STORED_TEXT_KEY = '_text'
export type Metadata = Record<string, MetadataValue>

export interface IndexSettings {
  dim: number
  nbits: 1 | 2 | 4
  seed: number
  /** live vectors needed before the index trains centroids; below that, search is exact brute force */
  minTrainVectors: number
  /** fixed centroid count; default the reference's 2^floor(log2(16·√vectors)) at each (re)training, trimmed to 2.625 bytes of int16 centroids per vector where half of it fits (kmeans.ts defaultNumCentroids) */
  numCentroids?: number
  kmeansIters: number
  /**
   * keep each vector's original (int8 per component, dim + 4 bytes) beside the compressed index, on disk when the
   * index has a data folder, for the exact stage's final ranking (original-rows.ts); false: rank decompressed vectors.
   * Default true (absent in settings written before it existed)
   */
  keepOriginals?: boolean
}

export interface SearchParams {
  k: number
  /**
   * Cells each query token probes. Unset: the default is a minimum and each token may probe deeper (probe-depth.ts);
   * set: exactly this many for every token.
   */
  ncells?: number
  centroidScoreThreshold?: number
  ndocs?: number
  filter?: (metadata: Metadata | undefined, id: string) => boolean
  /**
   * A filter already evaluated, in place of `filter`: per slot, 1 when the document is live and may be returned (the
   * search pool evaluates filters on the main thread, where metadata lives, and its workers search with this).
   */
  allowedSlots?: Uint8Array
  /**
   * Diagnostics (benches and tests, never the service): when given, the search fills it with the documents that
   * survived each stage and the budgets it chose. Costs a copy of each stage's ids; off (undefined) by default.
   */
  trace?: SearchTrace
}

/** Stage-by-stage survivors of one search (ids, in no particular order) and the budgets it used. */
export interface SearchTrace {
  /** union of the probed IVF lists (or every allowed document when the search was exact) */
  candidates?: string[]
  /** after the pruned approximate cut (absent when the candidates already fitted in it) */
  pruned?: string[]
  /** after the unpruned approximate cut: what the exact stage scores */
  unpruned?: string[]
  /** the returned top k */
  final?: string[]
  /** the exact stage's pool in approximate order (best first) with those scores: where a lost target ranked */
  approx?: { ids: string[]; scores: number[] }
  /** the budgets chosen for this query */
  budgets?: Record<string, number>
}

export interface SearchHit { id: string; score: number; metadata?: Metadata }
export type SearchStage = 'centroids' | 'candidates' | 'approx' | 'exact'

/** What the index measures to decide a re-training (see plaid-index.ts). */
export interface DriftStats {
  /** live vectors when the centroids were last trained */
  vectorsAtTrain: number
  /** mean ‖x − C[code]‖² over the vectors coded at training */
  residualAtTrain: number
  /** vectors coded with the current centroids since training */
  vectorsSinceTrain: number
  /** mean ‖x − C[code]‖² over those (0 when none) */
  residualSinceTrain: number
  /** number of (re)trainings so far */
  trainings: number
  /** centroid groups appended for batches far from the trained centroids, since the last training */
  centroidExtensions: number
}

export interface IndexStats {
  documents: number
  vectors: number
  tombstones: number
  bytes: number
  trained: boolean
  centroids: number
  drift: DriftStats
  /** what `bytes` is made of (they sum to it); optional for other engines behind the same port */
  memory?: MemoryBreakdown
  /** the original vectors kept for the final ranking (settings.keepOriginals) */
  originals?: OriginalsStats
}

export interface OriginalsStats {
  /** where they are: 'none' when not kept, or not available (see `unavailable`) */
  home: 'memory' | 'file' | 'none'
  vectors: number
  bytesOnDisk: number
  /** why an index set to keep them has none (a snapshot from before they were kept, a missing file) */
  unavailable?: string
}

/** Bytes held by an index, by part; `slack` is capacity of growable arrays beyond their used length. */
export interface MemoryBreakdown {
  /** centroid codes, packed residuals and (untrained) raw vectors, used length */
  vectors: number
  /** fine int16 centroids, coarse centroids and group offsets */
  centroids: number
  /** the rest of the centroids' WebAssembly memory: coding and search scratch, decode table */
  centroidScratch: number
  /** inverted file lists (base + delta) */
  ivf: number
  /** per-document arrays (start, length, live), used length */
  documents: number
  /** ids, metadata and the id map (estimated V8 cost) */
  ids: number
  /** unused capacity of the growable arrays */
  slack: number
  /** original vectors held in memory (an index without a data folder; on disk otherwise, see IndexStats.originals) */
  originals: number
}

export interface IndexState {
  formatVersion: number
  settings: IndexSettings
  scalars: Record<string, number | string | boolean>
  arrays: Record<string, Float32Array | Int32Array | Uint32Array | Uint8Array | Uint16Array | Float64Array>
  ids: string[]
  metadata: Array<Metadata | null>
}

export interface PlaidIndex {
  readonly settings: IndexSettings
  upsert(docs: Array<{ id: string; vectors: Float32Array; metadata?: Metadata }>): { added: string[]; updated: string[] }
  delete(ids: string[]): { deleted: string[]; missing: string[] }
  get(id: string): { id: string; metadata?: Metadata; nVectors: number } | undefined
  ids(): string[]
  search(query: Float32Array, params: SearchParams): { hits: SearchHit[]; timingsMs: Partial<Record<SearchStage, number>> }
  stats(): IndexStats
  compact(): void
  retrain(): void
  exportState(): IndexState
  /**
   * Makes the original vectors written so far durable; a snapshot calls it in the same tick as exportState(), before
   * writing the state that names them.
   */
  syncOriginals(): Promise<void>
  /** A snapshot of `state` is durable: record files that neither it nor the index uses are deleted. */
  releaseOriginals(state: IndexState): void
  /** The index is dropped: its open files are closed, and with removeFiles its record files are deleted. */
  dispose(opts?: { removeFiles?: boolean }): void
  /**
   * The arrays search reads, with a number that changes on every write (upsert, delete, compact, retrain), for the
   * search workers (src/search-workers) to publish a consistent version. Read it between writes, never hold on to
   * the live array: writes flip it in place.
   */
  searchState(): { view: SearchView; version: number }
}
