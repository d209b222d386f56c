/** Messages between the search pool (main thread) and its search workers. */
import type { SearchParams, SearchStage } from '../index/types.js'
import type { LingerRequest, ShareChannel, ShareRequest } from './search-share.js'
import type { SharedViewMessage } from './shared-view.js'

/** params without the filter function: a filter arrives compiled to `allowed` (1 = live and passing, per slot). */
export type WorkerSearchParams = Omit<SearchParams, 'filter'>
/**
 * share: an idle sibling may do part of the search (search-share.ts); linger: false keeps helpers from lingering
 * (measurements); shareWaitMs: see createSearchPool
 */
export interface SearchRequest {
  type: 'search'; id: number; key: number; query: Float32Array; params: WorkerSearchParams; allowed?: Uint8Array; share?: boolean; linger?: boolean; shareWaitMs?: number
}

export type SearchWorkerMessage =
  | SharedViewMessage
  | { type: 'release'; keys: number[] }
  | SearchRequest
  | ShareRequest
  | LingerRequest
  | { type: 'close' }

export type SearchWorkerReply =
  /** share: this worker's control block and job buffer as an owner of searches */
  | { type: 'ready'; share: ShareChannel }
  | {
    type: 'result'; id: number; slots: Uint32Array; scores: Float64Array; timingsMs: Partial<Record<SearchStage, number>>; workerMs: number
    /** how many parts of the search (centroid scores, probe, exact batches) a sibling did */
    helped: number
  }
  /** a help request for the pool to forward to an idle worker */
  | ShareRequest
  | { type: 'error'; id: number; code: string; message: string; details?: Record<string, unknown> }
