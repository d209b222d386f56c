/**
 * The port "log of changes to an index": the store of record behind the in-memory indexes (DESIGN.md §9). The PLAID
 * (and lexical) indexes are derived data; a write is acknowledged only once its record is in the change log.
 *
 * Adapters, chosen by configuration (src/change-log/open-change-log.ts):
 *  - `wal`       embedded write-ahead log under DATA_DIR/wal (file-wal.ts): fsync with group commit. Default.
 *  - `off`       no log (DURABILITY=snapshot): writes are durable only once snapshotted, as before (no-change-log.ts).
 *  - `postgres`  PostgreSQL (DATABASE_URL), shared by several replicas (built beside this one).
 *
 * Sequence numbers. Every record has a `seq`: a positive safe integer, strictly increasing among the records of one
 * index name, and never reused for that name, even across drop and re-create. It need not be contiguous, nor comparable
 * between indexes (the WAL uses one global counter, which satisfies both; PostgreSQL may keep a counter per index).
 * The responses of /index, deletes, and index create/drop carry the seq of their write, and the index store remembers,
 * per index, the seq of the last record applied to it (`appliedSeq`), which snapshots record as the position they cover.
 *
 * The write path (src/server/indexing.ts and the routes use ChangeWriter, change-writer.ts):
 *   validate the request fully (schema, ids, vectors, metadata)  →  encode texts  →  `log.append(index, changes)`
 *   (resolves once durable)  →  `applier.apply(record)` to the in-memory indexes, synchronously after the append
 *   resolves  →  respond with `seq` and the apply results.
 * Validation must happen before the append: a record in the log is replayed at every start-up, so it must apply.
 * (The applier nevertheless skips, with a warning, a record whose apply fails with a 4xx AppError, since such a write
 * was answered with an error and never acknowledged.)
 *
 * Contract for adapters:
 *  - `append` assigns the seq and resolves with it only once the record is durable (WAL: fsync'ed; PostgreSQL: the
 *    transaction committed). Appends of one index resolve in seq order (the writer applies in resolution order and the
 *    applier skips any record at or below the index's applied seq). A failure rejects with an AppError; when the log
 *    cannot take writes at all, AppError('CHANGE_LOG_UNAVAILABLE') (503) — searches keep being served from memory.
 *  - `append` may round the vectors of upserts IN PLACE to the precision it stores (e.g. float16) before it resolves,
 *    so that what the live index gets is exactly what a replay gives. The WAL stores float32 and changes nothing.
 *  - `replay(snapshots, onRecord)` delivers, in seq order per index, every record whose seq is above what the loaded
 *    snapshot of its index covers (`snapshots.get(index)`; records of names without a snapshot are all delivered). It
 *    may deliver more (the applier skips what is applied). Later appends get seqs above everything seen, snapshots
 *    included.
 *  - `truncate(covered)` may forget records that snapshots cover: `covered(index)` is the seq the index's durable
 *    snapshot covers, or `Infinity` when the index does not exist any more (its drop was applied and its snapshot
 *    folder removed). A log may keep more than that; it must never forget a record above `covered`.
 *  - Replay of a log whose prefix was truncated must converge to the same state: hence an upsert carries the settings
 *    to create its index when absent, a delete of an absent index and a drop of an absent index do nothing.
 */
import type { IndexSettings, Metadata } from '../index/types.js'
import type { Bm25Settings } from '../lexical/bm25.js'

export type ChangeLogKind = 'wal' | 'off' | 'postgres'

/** One document version as written: its token vectors (n × dim, row-major), metadata, and text when it had one. */
export interface DocumentChange {
  id: string
  /** n × dim float32 values; the record's dim is the index's. */
  vectors: Float32Array
  metadata?: Metadata
  /** The document's text when the request gave one (the lexical index is rebuilt from it); not the stored text. */
  text?: string
}

export type Change =
  /**
   * Creates the index; a no-op when it exists (so a replay after truncation converges). `lexical`: its BM25 settings
   * (absent in records written before lexical search: the defaults).
   */
  | { op: 'create'; settings: IndexSettings; lexical?: Bm25Settings }
  /** Drops the index and its snapshot; a no-op when absent. */
  | { op: 'drop' }
  /**
   * Upserts by id; creates the index with `create` (and `lexical`) settings when absent. `dim` = row width of every
   * document's vectors.
   */
  | { op: 'upsert'; dim: number; create: IndexSettings; lexical?: Bm25Settings; documents: DocumentChange[] }
  /** Deletes by id; a no-op when the index is absent. */
  | { op: 'delete'; ids: string[] }
  /**
   * Deletes every document whose id is not in `ids`; a no-op when the index is absent. Never written to a log: the
   * PostgreSQL follower delivers it to a replica that fell behind the purge of deletes' tombstones (it cannot see those
   * deletes row by row any more), with the ids the database holds live, in the first record it delivers after that.
   */
  | { op: 'retain'; ids: string[] }

/** One durable write: all its changes apply to one index, in order, under one seq. */
export interface ChangeRecord {
  index: string
  seq: number
  changes: Change[]
}

export type ChangeResult =
  | { op: 'create'; created: boolean }
  | { op: 'drop'; dropped: boolean }
  | { op: 'upsert'; added: string[]; updated: string[] }
  | { op: 'delete'; deleted: string[]; missing: string[] }
  | { op: 'retain'; deleted: string[] }

export interface ChangeLog {
  readonly kind: ChangeLogKind
  /**
   * Start-up: deliver the records after what the snapshots cover (see the module comment) and get ready to append.
   * Called once, before the first append. Throws AppError('CHANGE_LOG_CORRUPT') when the log is damaged before its tail.
   */
  replay(snapshots: ReadonlyMap<string, number>, onRecord: (record: ChangeRecord) => void): Promise<ReplayInfo>
  /** Durably appends one record and resolves with its seq (see the contract above). */
  append(index: string, changes: Change[]): Promise<number>
  /** Forget what snapshots cover (see the contract above). */
  truncate(covered: (index: string) => number): Promise<void>
  /** Highest seq assigned so far (0 if none). */
  lastSeq(): number
  /** Finish pending appends, release files/connections. */
  close(): Promise<void>
}

export interface ReplayInfo {
  records: number
  bytes: number
  /** Bytes dropped from a torn tail (a record cut by a crash; never acknowledged). */
  tornBytes: number
}

/** What adapters report for metrics (src/server/plugins/metrics.ts). */
export interface ChangeLogObserver {
  /** One record became durable: its encoded bytes and the time from append() to durable. */
  appended?(e: { bytes: number; seconds: number }): void
  /** One fsync (WAL) covering `records` records. */
  synced?(e: { records: number; seconds: number }): void
}
