/**
 * The `postgres` change-log adapter (DATABASE_URL): PostgreSQL is the store of record shared by every replica
 * (pg-store.ts has the schema and the ordering argument); each replica keeps its own in-memory indexes and applies
 * every change, in seq order per index, through the applier.
 *
 * - replay(): migrates the schema, then delivers everything the local snapshots do not cover (a replica without
 *   snapshots builds each index from its documents), logging progress; it resolves once this replica has caught up with
 *   the heads it saw, so /readyz stays 503 until then. Then it keeps following: LISTEN wakes it on every commit, and a
 *   periodic round (pollIntervalMs) makes sure nothing is missed if a notification is (notifications are not durable).
 * - append(): one transaction under the index's row lock; resolves once committed AND this replica has applied every
 *   earlier seq of that index (other replicas' writes), so the writer's own apply (ChangeWriter) lands in seq order.
 *   Seqs this process is appending are "owned": the follower never delivers them (the writer applies them), which
 *   keeps ChangeWriter's invariant that its record is not applied by someone else first. If this replica cannot reach
 *   seq − 1 within applyWaitMs the append rejects (503 REPLICA_LAGGING): the write is committed and its seq is released
 *   to the follower, so retrying it (upserts and deletes are idempotent) is safe.
 * - Tombstones: every `purgeIntervalMs` a purge round deletes tombstones older than `tombstoneRetentionS` (pg-store
 *   purgeTombstones), raising the index's purged_seq. Each page is read in one database snapshot together with
 *   purged_seq; when it is above what this replica has applied (it was down or partitioned longer than the retention,
 *   or restarted from an older snapshot, or a purge ran during its scan), deletes may be missing, so the page is read
 *   again with the live ids of the same snapshot, delivered as a `retain` change at the head of the next record:
 *   every local document not among them is deleted before later changes apply. A replica built from nothing needs
 *   none of that (what was purged before its first page it never had).
 * - Database unreachable: appends reject with CHANGE_LOG_UNAVAILABLE (503), the follower retries with exponential
 *   backoff (250 ms → 10 s), searches keep being served from memory; status().databaseUp says so.
 * Cost per change: one range scan of the changed rows (seq index), float16 decoding O(vectors), the index upsert.
 */
import pg from 'pg'
import { AppError } from '../../errors.js'
import type { IndexSettings } from '../../index/types.js'
import type { Bm25Settings } from '../../lexical/bm25.js'
import type { Change, ChangeLog, ChangeRecord, DocumentChange, ReplayInfo } from '../change-log.js'
import { createPgStore, isConnectionError, NOTIFY_CHANNEL, type ChangeRow, type IndexRow, type PgStore } from './pg-store.js'

export interface PostgresLogger {
  info(o: object, msg?: string): void
  warn(o: object, msg?: string): void
  error(o: object, msg?: string): void
}

export interface PostgresChangeLogOptions {
  url: string
  /** The seq this process has applied for an index (the applier's view: Applier.appliedSeq). */
  appliedSeq(name: string): number
  logger?: PostgresLogger
  /** Catch-up round interval when no notification arrives. Default 1000 ms. */
  pollIntervalMs?: number
  /** How long an append waits for this replica to apply the seqs before its own. Default 10 s. */
  applyWaitMs?: number
  /** Documents read per page while catching up. Default 256. */
  pageDocuments?: number
  /** A delete's tombstone is kept this long (so replicas that are behind see the delete row by row). Default 7 days. */
  tombstoneRetentionS?: number
  /** How often this replica purges tombstones older than the retention; 0 = never. Default 1 h. */
  purgeIntervalMs?: number
  poolSize?: number
}

export interface IndexReplicationStatus {
  name: string
  appliedSeq: number
  headSeq: number
  lagChanges: number
  lagSeconds: number
}

export interface ReplicationStatus {
  databaseUp: boolean
  /** Last connection problem, while the database is down. */
  lastError: string | undefined
  /** Initial build/catch-up progress, in documents. */
  catchUp: { active: boolean; done: number; total: number }
  indexes: IndexReplicationStatus[]
}

export interface PostgresChangeLog extends ChangeLog {
  readonly kind: 'postgres'
  status(): ReplicationStatus
  /** Ask for a catch-up round now (e.g. a search with min_seq ahead of this replica). */
  wake(): void
  /** One purge round now (what the periodic one does): tombstones older than the retention; resolves with how many. */
  purgeTombstones(): Promise<number>
}

/** Tombstones deleted per purge transaction (the index's writers wait for each one). */
const PURGE_BATCH = 5000
const BACKOFF_MIN_MS = 250
const BACKOFF_MAX_MS = 10_000
/** An owned seq whose append resolved this long ago without its apply is released to the follower (writer failed). */
const OWNED_GRACE_MS = 5000

const silent: PostgresLogger = { info() {}, warn() {}, error() {} }
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export function createPostgresChangeLog(opts: PostgresChangeLogOptions): PostgresChangeLog {
  const log = opts.logger ?? silent
  const pollMs = opts.pollIntervalMs ?? 1000
  const applyWaitMs = opts.applyWaitMs ?? 10_000
  const pageDocs = opts.pageDocuments ?? 256
  const retentionS = opts.tombstoneRetentionS ?? 7 * 86_400
  const purgeIntervalMs = opts.purgeIntervalMs ?? 3_600_000
  let databaseUp = false
  let lastError: string | undefined
  const noteDown = (err: unknown): void => {
    const msg = (err as Error)?.message ?? String(err)
    if (databaseUp || lastError === undefined) log.error({ err: msg }, 'database unreachable: writes refused, searches served from memory; reconnecting')
    databaseUp = false
    lastError = msg
  }
  const noteUp = (): void => {
    if (!databaseUp && lastError !== undefined) log.info({}, 'database reachable again')
    databaseUp = true
    lastError = undefined
  }
  const store: PgStore = createPgStore({ url: opts.url, poolSize: opts.poolSize, onError: noteDown })

  let deliver: ((record: ChangeRecord) => void) | undefined
  let closed = false
  let lastSeq = 0
  /** per index: seqs this process is appending, and when each append resolved */
  const owned = new Map<string, Map<number, number | undefined>>()
  /** per index: head and lag as of the last round */
  const heads = new Map<string, { headSeq: number; lagAgeS: number; measuredAt: number }>()
  const catchUp = { active: false, done: 0, total: 0 }

  /** Smallest seq of `name` the follower must leave to a local writer. */
  function ownedFloor(name: string): number {
    const m = owned.get(name)
    if (!m) return Infinity
    const applied = opts.appliedSeq(name)
    const now = Date.now()
    let floor = Infinity
    for (const [seq, resolvedAt] of m) {
      if (seq <= applied || (resolvedAt !== undefined && now - resolvedAt > OWNED_GRACE_MS)) m.delete(seq)
      else if (seq < floor) floor = seq
    }
    if (m.size === 0) owned.delete(name)
    return floor
  }

  function emit(record: ChangeRecord): boolean {
    if (!deliver || closed) return false
    if (record.seq >= ownedFloor(record.index)) return false
    deliver(record)
    if (record.seq > lastSeq) lastSeq = record.seq
    return true
  }

  function rowsToRecord(index: string, seq: number, rows: ChangeRow[], settings: IndexSettings, lexical: Bm25Settings | undefined, prefix: Change[]): ChangeRecord {
    const changes: Change[] = [...prefix]
    const upserts: DocumentChange[] = []
    const deletes: string[] = []
    for (const r of rows) {
      if (r.deleted || r.vectors === undefined) deletes.push(r.id)
      else {
        const d: DocumentChange = { id: r.id, vectors: r.vectors }
        if (r.metadata !== undefined) d.metadata = r.metadata
        if (r.text !== undefined) d.text = r.text
        upserts.push(d)
      }
    }
    if (upserts.length > 0) {
      changes.push(lexical === undefined
        ? { op: 'upsert', dim: settings.dim, create: settings, documents: upserts }
        : { op: 'upsert', dim: settings.dim, create: settings, lexical, documents: upserts })
    }
    if (deletes.length > 0) changes.push({ op: 'delete', ids: deletes })
    return { index, seq, changes }
  }

  /** Bring one index up to the head seen in `row`; returns the documents delivered. */
  async function syncIndex(row: IndexRow): Promise<number> {
    const name = row.name
    if (row.headSeq <= opts.appliedSeq(name)) {
      heads.set(name, { headSeq: row.headSeq, lagAgeS: 0, measuredAt: Date.now() })
      return 0
    }
    heads.set(name, { headSeq: row.headSeq, lagAgeS: row.headAgeS, measuredAt: Date.now() })
    if (row.dropped || row.settings === undefined) {
      // (when a seq of ours lies below the drop, its writer applies it first; or it times out and is released)
      if (ownedFloor(name) > row.headSeq) emit({ index: name, seq: row.headSeq, changes: [{ op: 'drop' }] })
      return 0
    }
    const settings = row.settings
    // below the incarnation's creation: whatever this replica holds under the name is an earlier incarnation
    let needCreate = opts.appliedSeq(name) < row.createdSeq
    const lexical = row.lexical
    const recreate: Change[] = [{ op: 'drop' }, lexical === undefined ? { op: 'create', settings } : { op: 'create', settings, lexical }]
    /**
     * Ids the database holds live, when this replica may have missed deletes whose tombstones were purged: delivered
     * (as a `retain` change) at the head of the next record emitted, so it applies before anything later.
     */
    let retain: string[] | undefined
    /** purged_seq below which nothing can be missing from what this replica holds (see the page loop) */
    let purgeBaseline = 0
    const emitHere = (record: ChangeRecord): boolean => {
      const ids = retain
      const rec = ids === undefined ? record : { ...record, changes: [{ op: 'retain', ids } as Change, ...record.changes] }
      if (!emit(rec)) return false
      if (ids !== undefined) {
        retain = undefined
        log.info({ index: name, seq: record.seq, live: ids.length }, 'reconciled with the live documents: deletes of purged tombstones this replica had not applied')
      }
      return true
    }
    /**
     * Every row at or below `target` has been delivered: step the applied seq there (creates, deletes of absent ids
     * and appends that changed nothing have no rows of their own).
     */
    const stepTo = (target: number): void => {
      if (needCreate && row.createdSeq <= target) {
        if (!emitHere({ index: name, seq: row.createdSeq, changes: recreate })) return
        needCreate = false
      }
      if (!needCreate && opts.appliedSeq(name) < target) emitHere({ index: name, seq: target, changes: [] })
    }
    let from = needCreate ? row.createdSeq - 1 : opts.appliedSeq(name)
    let delivered = 0
    let firstPage = true
    for (;;) {
      if (closed) return delivered
      let page = await store.readPage(name, row.incarnation, from, pageDocs, false)
      if (!page.present) return delivered // the index was dropped or re-created meanwhile: next round
      if (needCreate) {
        // built from nothing: tombstones purged before this snapshot were never needed
        purgeBaseline = page.purgedSeq
      } else if (page.purgedSeq > from && page.purgedSeq > purgeBaseline) {
        // Tombstones above what this replica has applied were purged (it was behind by more than the retention, or
        // started from an old snapshot, or a purge ran during this scan): their deletes cannot be seen row by row.
        // Re-read the page with the live ids of the same snapshot; every local id not among them was deleted.
        page = await store.readPage(name, row.incarnation, from, pageDocs, true)
        if (!page.present) return delivered
        retain = page.live
        purgeBaseline = page.purgedSeq
      }
      const end = page.end
      if (end === undefined) break
      const rows = page.rows
      if (firstPage) {
        heads.set(name, { headSeq: Math.max(row.headSeq, end), lagAgeS: rows[0].ageS, measuredAt: Date.now() })
        firstPage = false
      }
      let i = 0
      while (i < rows.length) {
        let j = i
        while (j < rows.length && rows[j].seq === rows[i].seq) j++
        const seq = rows[i].seq
        const floor = ownedFloor(name)
        if (seq >= floor) {
          // a seq this process is appending: its writer applies it. Rows below it were all in this read (they
          // committed before it was assigned), so step up to just below it.
          stepTo(floor - 1)
          return delivered
        }
        if (needCreate && seq > row.createdSeq) stepTo(row.createdSeq)
        const rec = rowsToRecord(name, seq, rows.slice(i, j), settings, lexical, needCreate && seq === row.createdSeq ? recreate : [])
        if (!emitHere(rec)) return delivered
        needCreate = false
        delivered += j - i
        if (catchUp.active) catchUp.done += j - i
        i = j
      }
      from = end
    }
    // drained: every row at or below the head seen before the scan is delivered
    stepTo(Math.min(row.headSeq, ownedFloor(name) - 1))
    if (opts.appliedSeq(name) >= row.headSeq) heads.set(name, { headSeq: row.headSeq, lagAgeS: 0, measuredAt: Date.now() })
    return delivered
  }

  let roundPromise: Promise<boolean> | undefined
  let again = false
  /** One pass over every index; true when it succeeded. Concurrent callers share it (and ask for one more pass). */
  function round(): Promise<boolean> {
    if (roundPromise) {
      again = true
      return roundPromise
    }
    roundPromise = (async () => {
      let ok = true
      do {
        again = false
        try {
          const rows = await store.listIndexes()
          noteUp()
          for (const row of rows) {
            if (row.headSeq > lastSeq) lastSeq = row.headSeq
            await syncIndex(row)
          }
          for (const name of [...heads.keys()]) if (!rows.some((r) => r.name === name)) heads.delete(name)
          ok = true
        } catch (err) {
          ok = false
          if (isConnectionError(err)) noteDown(err)
          else log.error({ err }, 'catch-up round failed; retrying')
        }
      } while (again && ok && !closed)
      return ok
    })().finally(() => {
      roundPromise = undefined
      // asked for after the last pass had read the database: that caller must not wait for the next timer
      if (again && !closed) void round()
    })
    return roundPromise
  }

  // periodic rounds, with backoff while the database is unreachable
  let timer: NodeJS.Timeout | undefined
  let backoff = BACKOFF_MIN_MS
  function schedule(ms: number): void {
    if (closed) return
    if (timer) clearTimeout(timer)
    timer = setTimeout(() => {
      timer = undefined
      void round().then((ok) => {
        if (ok) backoff = BACKOFF_MIN_MS
        else backoff = Math.min(BACKOFF_MAX_MS, backoff * 2)
        schedule(ok ? pollMs : backoff * (0.5 + Math.random() / 2))
      })
    }, ms)
    timer.unref()
  }

  // LISTEN on a dedicated connection, re-established with backoff
  let listener: pg.Client | undefined
  let listenBackoff = BACKOFF_MIN_MS
  async function listen(): Promise<void> {
    if (closed) return
    const client = new pg.Client({ connectionString: opts.url, connectionTimeoutMillis: 5000, application_name: 'jacolbert-server-listen' })
    let gone = false
    const lost = (err?: unknown): void => {
      if (gone) return
      gone = true
      if (listener === client) listener = undefined
      client.end().catch(() => {})
      if (closed) return
      if (err) noteDown(err)
      setTimeout(() => void listen(), listenBackoff).unref()
      listenBackoff = Math.min(BACKOFF_MAX_MS, listenBackoff * 2)
    }
    client.on('error', lost)
    client.on('end', () => lost(new Error('notification connection closed')))
    client.on('notification', () => void round())
    try {
      await client.connect()
      await client.query(`LISTEN ${NOTIFY_CHANNEL}`)
      listener = client
      listenBackoff = BACKOFF_MIN_MS
      void round() // whatever committed while we were not listening
    } catch (err) {
      lost(err)
    }
  }

  // Tombstone purge: every replica runs it (the index row lock serialises them with each other and with writers; a
  // second one finds nothing left). Cost per round: per index, the tombstones older than the retention, by the partial
  // index on tombstones, in batches of PURGE_BATCH.
  let purgeTimer: NodeJS.Timeout | undefined
  let purging: Promise<number> | undefined
  function purgeRound(): Promise<number> {
    if (purging) return purging
    purging = (async () => {
      let all = 0
      for (const r of await store.listIndexes()) {
        if (r.dropped) continue
        let n = 0
        let purgedSeq = r.purgedSeq
        for (;;) {
          if (closed) break
          const p = await store.purgeTombstones(r.name, retentionS, PURGE_BATCH)
          n += p.purged
          purgedSeq = p.purgedSeq
          if (p.purged < PURGE_BATCH) break
        }
        if (n > 0) log.info({ index: r.name, tombstones: n, purgedSeq, retentionS }, 'purged tombstones older than the retention')
        all += n
      }
      return all
    })().finally(() => {
      purging = undefined
    })
    return purging
  }
  function schedulePurge(): void {
    if (closed || purgeIntervalMs <= 0) return
    purgeTimer = setTimeout(() => {
      purgeTimer = undefined
      purgeRound()
        .catch((err: unknown) => {
          if (isConnectionError(err)) noteDown(err)
          else log.warn({ err }, 'tombstone purge failed; retrying at the next interval')
        })
        .finally(schedulePurge)
    }, purgeIntervalMs)
    purgeTimer.unref()
  }

  async function waitApplied(name: string, seq: number, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms
    let kicked = 0
    while (opts.appliedSeq(name) < seq) {
      if (closed || Date.now() > deadline) return false
      if (Date.now() - kicked > 200) {
        kicked = Date.now()
        void round()
      }
      await sleep(3)
    }
    return true
  }

  return {
    kind: 'postgres',

    async replay(snapshots, onRecord): Promise<ReplayInfo> {
      // the database may still be starting (a fresh cluster, a failover): keep trying, NOT_READY meanwhile
      for (let attempt = 1; ; attempt++) {
        try {
          await store.migrate()
          noteUp()
          break
        } catch (err) {
          if (!isConnectionError(err) || closed) throw err
          noteDown(err)
          await sleep(Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(attempt, 6)))
        }
      }
      const rows = await store.listIndexes()
      const known = new Map(rows.map((r) => [r.name, r]))
      for (const [name, seq] of snapshots) {
        const r = known.get(name)
        if (r === undefined) {
          // a snapshot of a name the database never had: the database is the store of record, so the index goes,
          // and the name's counter starts above the snapshot's seq (seqs are never reused)
          log.warn({ index: name, seq }, 'local snapshot of an index the database does not have: it will be dropped')
          await store.adoptName(name, seq + 1)
        } else if (r.headSeq < seq) {
          throw new AppError('SNAPSHOT_INVALID', `the local snapshot of index "${name}" covers seq ${seq} but the database's head is ${r.headSeq}: ` +
            'the database was restored to an earlier point or replaced. Delete the snapshot folder so this replica rebuilds from the database.', { index: name })
        }
      }
      let records = 0
      deliver = (rec) => {
        records++
        onRecord(rec)
      }
      catchUp.active = true
      catchUp.done = 0
      catchUp.total = 0
      for (const r of await store.listIndexes()) {
        if (r.dropped) continue
        const applied = opts.appliedSeq(r.name)
        catchUp.total += await store.countAfter(r.name, applied < r.createdSeq ? r.createdSeq - 1 : applied)
      }
      log.info({ documents: catchUp.total }, 'catching up with the database')
      const started = Date.now()
      const progress = setInterval(() => {
        log.info({ done: catchUp.done, total: catchUp.total, s: Math.round((Date.now() - started) / 1000) }, 'catch-up progress')
      }, 5000)
      progress.unref()
      try {
        for (;;) {
          if (closed) break
          if (await round()) break
          await sleep(backoff)
          backoff = Math.min(BACKOFF_MAX_MS, backoff * 2)
        }
      } finally {
        clearInterval(progress)
        catchUp.active = false
      }
      backoff = BACKOFF_MIN_MS
      log.info({ documents: catchUp.done, records, ms: Date.now() - started }, 'caught up with the database')
      void listen()
      schedule(pollMs)
      schedulePurge()
      return { records, bytes: 0, tornBytes: 0 }
    },

    async append(index, changes) {
      if (closed) throw new AppError('CHANGE_LOG_UNAVAILABLE', 'the change log is closed (shutting down)', { retryAfterS: 1 })
      let seq = 0
      try {
        await store.append(index, changes, (s) => {
          seq = s
          // looked up now, not before the transaction: the follower drops an index's map once it is empty
          let mine = owned.get(index)
          if (!mine) owned.set(index, (mine = new Map()))
          mine.set(s, undefined)
        })
        noteUp()
        if (seq > lastSeq) lastSeq = seq
      } catch (err) {
        if (seq > 0) owned.get(index)?.delete(seq)
        if (isConnectionError(err)) noteDown(err)
        throw err
      }
      // the writer applies this record itself: first this replica must hold every earlier seq of the index
      if (!(await waitApplied(index, seq - 1, applyWaitMs))) {
        owned.get(index)?.delete(seq)
        void round()
        throw new AppError('REPLICA_LAGGING', `the write is stored (seq ${seq}) but this replica could not apply the changes before it within ` +
          `${applyWaitMs} ms; it will appear shortly (retrying the write is safe)`, { seq, retryAfterS: 1 })
      }
      owned.get(index)?.set(seq, Date.now())
      return seq
    },

    async truncate() {
      // nothing to forget here: the documents table holds one row per document (the current version); tombstones are
      // purged by age (purgeTombstones), and a replica behind the purge reconciles (see syncIndex)
    },

    lastSeq: () => lastSeq,

    status() {
      const now = Date.now()
      const indexes: IndexReplicationStatus[] = []
      for (const [name, h] of heads) {
        const appliedSeq = opts.appliedSeq(name)
        // every applied change came from the database, so its head is at least appliedSeq; the head last polled can be
        // older than this replica's own commits since (CI saw head 78 reported beside applied 80)
        const headSeq = Math.max(h.headSeq, appliedSeq)
        const lagChanges = headSeq - appliedSeq
        indexes.push({ name, appliedSeq, headSeq, lagChanges, lagSeconds: lagChanges > 0 ? h.lagAgeS + (now - h.measuredAt) / 1000 : 0 })
      }
      return { databaseUp, lastError, catchUp: { ...catchUp }, indexes }
    },

    wake() {
      void round()
    },

    purgeTombstones: () => purgeRound(),

    async close() {
      closed = true
      if (timer) clearTimeout(timer)
      if (purgeTimer) clearTimeout(purgeTimer)
      await purging?.catch(() => {})
      const l = listener
      listener = undefined
      await l?.end().catch(() => {})
      await roundPromise?.catch(() => {})
      await store.close().catch(() => {})
    },
  }
}
