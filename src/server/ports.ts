/**
 * The parts the HTTP layer is built from: the engines' own data types, and structural subsets ("ports") of the encoder,
 * an index and the index store, so tests can inject small fakes. Imports are type-only, so src/server never loads
 * onnxruntime.
 */
import type { ReplicationStatus } from '../change-log/postgres/postgres-change-log.js'
import type { EncodedText, Encoder, EncoderBatchEvent } from '../encoder/index.js'
import type {
  IndexSettings, IndexStats as EngineIndexStats, Metadata, MetadataValue, PlaidIndex, SearchParams, SearchStage,
} from '../index/types.js'
import type { IndexStore, LexicalInfo } from '../index/index-store.js'
import type { Bm25Settings } from '../lexical/bm25.js'

export type { EncodedText, EncoderBatchEvent, IndexSettings, Metadata, MetadataValue, SearchParams, SearchStage, Bm25Settings, LexicalInfo }
export type { IndexDocument, IndexChange, UpsertChange, DeleteChange } from '../index/index-store.js'
export type { ReplicationStatus }

export type EncoderPort = Omit<Encoder, 'settings'>

export type MetadataFilter = NonNullable<SearchParams['filter']>

/** What the service reports of an index; the engine's drift internals stay out of the API. */
export type IndexStats = Omit<EngineIndexStats, 'drift'>

export type IndexPort = Pick<PlaidIndex, 'settings' | 'upsert' | 'delete' | 'get' | 'search'> & { stats(): IndexStats } & Partial<Pick<PlaidIndex, 'searchState'>>

/** The search worker pool (src/search-workers) when SEARCH_WORKERS > 0: searches of indexes with searchState() go there. */
export interface SearchPoolPort {
  search(index: Pick<PlaidIndex, 'searchState'>, query: Float32Array, params: SearchParams): Promise<ReturnType<PlaidIndex['search']>>
}

export interface IndexStorePort {
  list(): Array<{ name: string; stats: IndexStats; settings: IndexSettings; dirty: boolean; lastSnapshotAt: number | undefined; lexical?: LexicalInfo }>
  get(name: string): IndexPort | undefined
  getOrThrow(name: string): IndexPort
  create(name: string, settings?: Partial<IndexSettings>, lexical?: Partial<Bm25Settings>): IndexPort
  getOrCreate(name: string): IndexPort
  /** The single mutation path (both engines; see IndexStore.apply). */
  apply: IndexStore['apply']
  searchLexical: IndexStore['searchLexical']
  drop(name: string): boolean
  markDirty(name: string): void
  /** Change-log bookkeeping (see src/change-log/applier.ts ApplyTarget). */
  appliedSeq(name: string): number
  setAppliedSeq(name: string, seq: number): void
  newIndexSettings(settings?: Partial<IndexSettings>): IndexSettings
  lexicalSettings(name: string): Bm25Settings | undefined
  newLexicalSettings(bm25?: Partial<Bm25Settings>): Bm25Settings
  saveAll(): Promise<void>
}

/** Shared mode: what the service shows of the replicating change log (src/change-log/postgres). */
export interface ReplicationPort {
  status(): ReplicationStatus
  /** Ask for a catch-up round now. */
  wake(): void
}

export type CompileFilter = (filter: unknown) => MetadataFilter
