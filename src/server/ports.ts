/**
 * The parts the HTTP layer is built from, as the structural subset it uses of the contracts in COMMON.md
 * (src/encoder Encoder, src/index IndexStore/PlaidIndex). Keeping them here lets tests inject small fakes and keeps
 * src/server free of onnxruntime.
 */
export type MetadataValue = string | number | boolean | null
export type Metadata = Record<string, MetadataValue>

export interface EncodedText {
  vectors: Float32Array
  n: number
  dim: number
  tokens?: string[]
}

export interface EncoderBatchEvent {
  kind: 'query' | 'document'
  texts: number
  tokens: number
  queueWaitMs: number
  computeMs: number
}

export interface EncoderPort {
  readonly modelName: string
  readonly dim: number
  readonly provider: string
  encodeQueries(texts: string[], opts?: { returnTokens?: boolean; dynamicLength?: boolean }): Promise<EncodedText[]>
  encodeDocuments(texts: string[], opts?: { returnTokens?: boolean }): Promise<EncodedText[]>
  queueDepth(): number
  close(): Promise<void>
}

export interface IndexSettings {
  dim: number
  nbits: 1 | 2 | 4
  seed: number
  minTrainVectors: number
  numCentroids?: number
  kmeansIters: number
}

export type MetadataFilter = (metadata: Metadata | undefined, id: string) => boolean

export interface SearchParams {
  k: number
  ncells?: number
  centroidScoreThreshold?: number
  ndocs?: number
  filter?: MetadataFilter
}

export type SearchStage = 'centroids' | 'candidates' | 'approx' | 'exact'

export interface IndexStats {
  documents: number
  vectors: number
  tombstones: number
  bytes: number
  trained: boolean
  centroids: number
}

export interface IndexPort {
  readonly settings: IndexSettings
  upsert(docs: Array<{ id: string; vectors: Float32Array; metadata?: Metadata }>): { added: string[]; updated: string[] }
  delete(ids: string[]): { deleted: string[]; missing: string[] }
  get(id: string): { id: string; metadata?: Metadata; nVectors: number } | undefined
  search(
    query: Float32Array,
    params: SearchParams,
  ): { hits: Array<{ id: string; score: number; metadata?: Metadata }>; timingsMs: Partial<Record<SearchStage, number>> }
  stats(): IndexStats
}

export interface IndexStorePort {
  list(): Array<{ name: string; stats: IndexStats; settings: IndexSettings; dirty: boolean; lastSnapshotAt: number | undefined }>
  get(name: string): IndexPort | undefined
  getOrThrow(name: string): IndexPort
  create(name: string, settings?: Partial<IndexSettings>): IndexPort
  getOrCreate(name: string): IndexPort
  drop(name: string): boolean
  markDirty(name: string): void
  saveAll(): Promise<void>
}

export type CompileFilter = (filter: unknown) => MetadataFilter
