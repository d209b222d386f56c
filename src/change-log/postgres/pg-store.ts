/**
 * PostgreSQL as the store of record for every index (DATABASE_URL). Two tables:
 *
 * - `jacolbert_indexes`: one row per index name: settings (dim, nbits), `incarnation` (new value each time the name is
 *   (re)created, so a replica can tell a dropped-and-recreated index from the one it holds), `head_seq` (the index's
 *   change counter) and `dropped`.
 * - `jacolbert_documents`: the current version of every document, keyed (index, id): vectors as float16 bytea, metadata
 *   jsonb, stored text, and `seq`, the change that wrote it. A delete leaves a tombstone row (deleted, no vectors) with
 *   the delete's seq, so "everything after seq N" is one range scan that also yields deletes.
 *
 * Ordering: every write transaction first locks its index row (`SELECT … FOR UPDATE`) and takes seq = head_seq + 1
 * there, so writers of one index are serialised and seq order is commit order: a reader that has applied everything up
 * to N and reads `seq > N` can never miss a row that commits later with a smaller seq (a plain SEQUENCE would allow
 * that). Different indexes do not wait for each other. Each document row appears once, at its latest seq, so catching
 * up after N applies only the newest version of each document changed since.
 *
 * Tombstones are purged (purgeTombstones) once older than a retention: a document's row is overwritten in place by
 * every later upsert, so tombstones are the only rows that outlive their document. Each purge raises the index's
 * `purged_seq` (schema: an additive column, so replicas of the previous version keep running on the same tables): a
 * replica whose applied seq is below it may have missed deletes whose tombstones are gone, and reconciles with the
 * live ids instead (readPage reads them in the same snapshot as the page; see postgres-change-log.ts).
 *
 * A write commits, then NOTIFYs `jacolbert_changes` (delivered at commit) with the index name, waking the replicas.
 * Connection failures become AppError('CHANGE_LOG_UNAVAILABLE') (503, details.reason 'database_unreachable'): the write was not acknowledged, and since upserts
 * and deletes are idempotent a client can simply retry it.
 */
import pg from 'pg'
import { AppError, isAppError } from '../../errors.js'
import type { IndexSettings, Metadata } from '../../index/types.js'
import type { Bm25Settings } from '../../lexical/bm25.js'
import { settingsJson, splitSettings } from '../record-codec.js'
import type { Change, ChangeResult, DocumentChange } from '../change-log.js'
import { decodeFloat16, encodeFloat16, roundToFloat16 } from './float16.js'

export const NOTIFY_CHANNEL = 'jacolbert_changes'
export const SCHEMA_VERSION = 1
/** pg_advisory_xact_lock key for schema migration (any constant unlikely to collide: "jaco" in ASCII). */
const MIGRATION_LOCK = 0x6a61636f

/** Per statement, so one huge request does not build one huge query string (hex bytea doubles the size). */
const MAX_STATEMENT_BYTES = 8 * 1024 * 1024

export interface IndexRow {
  name: string
  incarnation: number
  /** seq of the write that (re)created the index: every row of this incarnation has a seq at or above it */
  createdSeq: number
  settings: IndexSettings | undefined
  /** BM25 settings of the lexical side (absent for an index created before lexical search: the defaults) */
  lexical?: Bm25Settings
  headSeq: number
  dropped: boolean
  /** seconds since the last write to this index (database clock) */
  headAgeS: number
  /** highest seq of a purged tombstone: deletes at or below it may have no row any more (0: none purged) */
  purgedSeq: number
}

/** One page of changes read in one database snapshot (readPage). */
export interface ChangePage {
  /** false when the index is dropped or has another incarnation now (rows are then empty) */
  present: boolean
  /** highest seq of the page (undefined: no rows after `after`) */
  end: number | undefined
  rows: ChangeRow[]
  purgedSeq: number
  /** ids of every live document of the index, in the same snapshot (when asked for) */
  live?: string[]
}

/** One document row read back: an upsert (vectors present) or a tombstone. */
export interface ChangeRow {
  id: string
  seq: number
  deleted: boolean
  /** n × dim float32 (decoded from float16) */
  vectors: Float32Array | undefined
  metadata: Metadata | undefined
  text: string | undefined
  /** seconds since this row was written (database clock) */
  ageS: number
}

export interface AppendOutcome {
  seq: number
  results: ChangeResult[]
}

export interface PgStore {
  readonly pool: pg.Pool
  migrate(): Promise<void>
  /**
   * Writes all `changes` to `index` in one transaction under one new seq, with the index row locked (see the module
   * comment). `onSeq` is called once the seq is known, before COMMIT (the adapter marks it as its own). Refuses with a
   * 4xx AppError, writing nothing, what cannot apply: a create of an existing index (INDEX_EXISTS), an upsert whose
   * dim differs from the index's (DIMENSION_MISMATCH). Connection failures: AppError('CHANGE_LOG_UNAVAILABLE').
   */
  append(index: string, changes: Change[], onSeq?: (seq: number) => void): Promise<AppendOutcome>
  listIndexes(): Promise<IndexRow[]>
  /** Rows of `index` with seq in (after, upTo], while it still has `incarnation`, in (seq, id) order. */
  readRange(index: string, incarnation: number, after: number, upTo: number): Promise<ChangeRow[]>
  /** The highest seq among the first `limit` rows after `after` (undefined when there are none): a page boundary that never splits a seq. */
  pageEnd(index: string, after: number, limit: number): Promise<number | undefined>
  /**
   * The next page (as pageEnd + readRange) and the index's purged_seq, all in one snapshot (REPEATABLE READ), with the
   * live ids too when `withLive`: a page whose purged_seq is above `after` may lack deletes, and the live ids of the
   * same snapshot tell which.
   */
  readPage(index: string, incarnation: number, after: number, limit: number, withLive: boolean): Promise<ChangePage>
  /**
   * Deletes up to `limit` tombstones of `index` written more than `olderThanS` seconds ago, oldest seq first, under the
   * index's row lock (writers of the index wait for it, briefly), and raises purged_seq to the highest seq deleted.
   */
  purgeTombstones(index: string, olderThanS: number, limit: number): Promise<{ purged: number; purgedSeq: number }>
  /** Tombstone rows of `index` (for tests and status). */
  countTombstones(index: string): Promise<number>
  /** Rows of `index` after `after` (for progress reports). */
  countAfter(index: string, after: number): Promise<number>
  /** A name the database does not know yet gets a dropped row whose counter starts at `seq` (seqs are never reused). */
  adoptName(index: string, seq: number): Promise<void>
  close(): Promise<void>
}

/** Network-level and server-availability failures (as opposed to a statement's own errors). */
export function isConnectionError(err: unknown): boolean {
  if (isAppError(err)) return err.code === 'CHANGE_LOG_UNAVAILABLE'
  const e = err as { code?: unknown; message?: unknown } | undefined
  const code = typeof e?.code === 'string' ? e.code : ''
  // SQLSTATE classes 08 (connection exception), 57P01-57P03 (shutdown, crash, cannot connect now), 53300 (too many connections)
  if (/^08/.test(code) || /^57P0[1-3]$/.test(code) || code === '53300') return true
  if (/^E[A-Z]+$/.test(code)) return true // ECONNREFUSED, ECONNRESET, ETIMEDOUT, EPIPE, EHOSTUNREACH, ENOTFOUND …
  const msg = typeof e?.message === 'string' ? e.message : ''
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|connection .*closed|not queryable/i.test(msg)
}

export function unavailable(err: unknown): AppError {
  const reason = (err as Error)?.message ?? String(err)
  return new AppError('CHANGE_LOG_UNAVAILABLE', `the database cannot be reached (${reason}); the write was not acknowledged, retry it`, {
    retryAfterS: 2,
    reason: 'database_unreachable',
  }, { cause: err })
}

const INDEX_COLUMNS = `name, incarnation, created_seq, settings, head_seq, dropped, purged_seq`

function toRow(r: Record<string, unknown>): IndexRow {
  // the settings column holds the PLAID settings plus the lexical ones under `lexical` (same JSON as the WAL records)
  const split = r.settings === null || r.settings === undefined ? undefined : splitSettings(r.settings as IndexSettings)
  const row: IndexRow = {
    name: r.name as string,
    incarnation: Number(r.incarnation),
    createdSeq: Number(r.created_seq),
    settings: split?.settings,
    headSeq: Number(r.head_seq),
    dropped: r.dropped as boolean,
    headAgeS: Number(r.head_age_s ?? 0),
    purgedSeq: Number(r.purged_seq ?? 0),
  }
  if (split?.lexical !== undefined) row.lexical = split.lexical
  return row
}

function toChangeRow(x: Record<string, unknown>): ChangeRow {
  return {
    id: x.id as string,
    seq: Number(x.seq),
    deleted: x.deleted as boolean,
    vectors: x.vectors ? decodeFloat16(x.vectors as Buffer) : undefined,
    metadata: (x.metadata ?? undefined) as Metadata | undefined,
    text: (x.text ?? undefined) as string | undefined,
    ageS: Number(x.age_s),
  }
}

export function createPgStore(opts: { url: string; poolSize?: number; connectTimeoutMs?: number; statementTimeoutMs?: number; onError?: (err: Error) => void }): PgStore {
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.poolSize ?? 8,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000,
    idleTimeoutMillis: 30_000,
    // a dead server must fail statements, not hang writes forever
    query_timeout: opts.statementTimeoutMs ?? 60_000,
    application_name: 'jacolbert-server',
  })
  // an idle client whose server went away emits here; without a listener Node would crash the process
  pool.on('error', (err) => opts.onError?.(err))

  async function tx<T>(fn: (c: pg.PoolClient) => Promise<T>, begin = 'BEGIN'): Promise<T> {
    let client: pg.PoolClient
    try {
      client = await pool.connect()
    } catch (err) {
      throw unavailable(err)
    }
    let broken = false
    // a checked-out client has no error listener of the pool's: without this, the server going away mid-transaction
    // would be an unhandled 'error' event and take the process down (the failing query rejects anyway)
    const onError = (): void => { broken = true }
    client.on('error', onError)
    try {
      await client.query(begin)
      const out = await fn(client)
      await client.query('COMMIT')
      return out
    } catch (err) {
      if (isConnectionError(err)) {
        broken = true
        throw unavailable(err)
      }
      await client.query('ROLLBACK').catch(() => { broken = true })
      throw err
    } finally {
      client.removeListener('error', onError)
      client.release(broken)
    }
  }

  async function query(sql: string, params?: unknown[]): Promise<pg.QueryResult> {
    try {
      return await pool.query(sql, params)
    } catch (err) {
      throw isConnectionError(err) ? unavailable(err) : err
    }
  }

  /** Locks the index's row, inserting a dropped one first for a new name (concurrent first writers: one inserts, the rest wait on its lock). */
  async function lockRow(c: pg.PoolClient, index: string): Promise<IndexRow> {
    await c.query(
      `INSERT INTO jacolbert_indexes (name, incarnation, created_seq, dropped) VALUES ($1, 0, 0, true) ON CONFLICT (name) DO NOTHING`,
      [index],
    )
    const r = await c.query(`SELECT ${INDEX_COLUMNS} FROM jacolbert_indexes WHERE name = $1 FOR UPDATE`, [index])
    return toRow(r.rows[0])
  }

  async function writeUpserts(c: pg.PoolClient, index: string, seq: number, dim: number, docs: DocumentChange[]): Promise<{ added: string[]; updated: string[] }> {
    const ids = docs.map((d) => d.id)
    // writers of this index are serialised by the row lock, so this read cannot race another write
    const live = await c.query(`SELECT id FROM jacolbert_documents WHERE index_name = $1 AND id = ANY($2::text[]) AND NOT deleted`, [index, ids])
    const existing = new Set<string>(live.rows.map((r) => r.id as string))
    let start = 0
    while (start < docs.length) {
      let end = start
      let bytes = 0
      while (end < docs.length && (end === start || bytes + docs[end].vectors.length * 4 < MAX_STATEMENT_BYTES)) bytes += docs[end++].vectors.length * 4
      const part = docs.slice(start, end)
      await c.query(
        `INSERT INTO jacolbert_documents (index_name, id, seq, deleted, n_vectors, vectors, metadata, text, written_at)
         SELECT $1, u.id, $2, false, u.n, u.v, u.m::jsonb, u.t, clock_timestamp()
         FROM unnest($3::text[], $4::int[], $5::bytea[], $6::text[], $7::text[]) AS u(id, n, v, m, t)
         ON CONFLICT (index_name, id) DO UPDATE SET seq = excluded.seq, deleted = false, n_vectors = excluded.n_vectors,
           vectors = excluded.vectors, metadata = excluded.metadata, text = excluded.text, written_at = excluded.written_at`,
        [
          index,
          seq,
          part.map((d) => d.id),
          part.map((d) => d.vectors.length / dim),
          part.map((d) => encodeFloat16(d.vectors)),
          part.map((d) => (d.metadata === undefined ? null : JSON.stringify(d.metadata))),
          part.map((d) => d.text ?? null),
        ],
      )
      start = end
    }
    return { added: ids.filter((id) => !existing.has(id)), updated: ids.filter((id) => existing.has(id)) }
  }

  return {
    pool,

    async migrate() {
      await tx(async (c) => {
        // several replicas starting at once: one migrates, the others wait here and then find nothing to do
        await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK])
        await c.query(`CREATE TABLE IF NOT EXISTS jacolbert_meta (key text PRIMARY KEY, value text NOT NULL)`)
        const v = await c.query(`SELECT value FROM jacolbert_meta WHERE key = 'schema_version'`)
        const current = v.rows.length > 0 ? Number(v.rows[0].value) : 0
        if (current > SCHEMA_VERSION) {
          throw new AppError('CHANGE_LOG_UNAVAILABLE', `the database schema is version ${current}, newer than this build understands (${SCHEMA_VERSION}); run the newer service version`, {
            reason: 'schema_too_new',
          })
        }
        if (current < 1) {
          await c.query(`CREATE SEQUENCE IF NOT EXISTS jacolbert_incarnation`)
          await c.query(`CREATE TABLE IF NOT EXISTS jacolbert_indexes (
            name text PRIMARY KEY,
            incarnation bigint NOT NULL,
            created_seq bigint NOT NULL,
            settings jsonb,
            head_seq bigint NOT NULL DEFAULT 0,
            head_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            dropped boolean NOT NULL DEFAULT false)`)
          await c.query(`CREATE TABLE IF NOT EXISTS jacolbert_documents (
            index_name text NOT NULL REFERENCES jacolbert_indexes (name),
            id text NOT NULL,
            seq bigint NOT NULL,
            deleted boolean NOT NULL DEFAULT false,
            n_vectors integer NOT NULL DEFAULT 0,
            vectors bytea,
            metadata jsonb,
            text text,
            written_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            PRIMARY KEY (index_name, id))`)
          // float16 vectors do not compress: skip TOAST's compression attempt
          await c.query(`ALTER TABLE jacolbert_documents ALTER COLUMN vectors SET STORAGE EXTERNAL`)
          await c.query(`CREATE INDEX IF NOT EXISTS jacolbert_documents_by_seq ON jacolbert_documents (index_name, seq, id)`)
          await c.query(`INSERT INTO jacolbert_meta (key, value) VALUES ('schema_version', $1) ON CONFLICT (key) DO UPDATE SET value = $1`, [String(SCHEMA_VERSION)])
        }
        // tombstone purging (additive: the previous version's replicas ignore the column and the index, so the schema
        // version stays 1 and a rolling upgrade can mix both)
        const purgeCol = await c.query(
          `SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'jacolbert_indexes' AND column_name = 'purged_seq'`,
        )
        if (purgeCol.rows.length === 0) {
          await c.query(`ALTER TABLE jacolbert_indexes ADD COLUMN purged_seq bigint NOT NULL DEFAULT 0`)
          await c.query(`CREATE INDEX IF NOT EXISTS jacolbert_tombstones ON jacolbert_documents (index_name, seq) WHERE deleted`)
        }
      })
    },

    async append(index, changes, onSeq) {
      return tx(async (c) => {
        let row = await lockRow(c, index)
        const seq = row.headSeq + 1
        onSeq?.(seq)
        const results: ChangeResult[] = []
        for (const ch of changes) {
          switch (ch.op) {
            case 'create':
            case 'upsert': {
              const settings = ch.op === 'create' ? ch.settings : ch.create
              if (ch.op === 'create' && !row.dropped) throw new AppError('INDEX_EXISTS', `index "${index}" already exists`, { name: index })
              if (row.dropped) {
                const r = await c.query(
                  `UPDATE jacolbert_indexes SET dropped = false, incarnation = nextval('jacolbert_incarnation'), created_seq = $2, settings = $3::jsonb
                   WHERE name = $1 RETURNING ${INDEX_COLUMNS}`,
                  [index, seq, settingsJson(settings, ch.lexical)],
                )
                row = toRow(r.rows[0])
                if (ch.op === 'create') { results.push({ op: 'create', created: true }); break }
              }
              if (ch.op === 'create') break
              const dim = row.settings?.dim
              if (dim !== ch.dim) {
                throw new AppError('DIMENSION_MISMATCH', `index ${index} has dimension ${dim} but the documents have ${ch.dim}`, { expected: dim, got: ch.dim })
              }
              for (const d of ch.documents) {
                if (d.vectors.length % ch.dim !== 0) throw new AppError('DIMENSION_MISMATCH', `document ${JSON.stringify(d.id)} has vectors that are not rows of ${ch.dim}`)
                // what replicas will load is float16: the writer's own index must hold exactly that too
                d.vectors.set(roundToFloat16(d.vectors))
              }
              results.push({ op: 'upsert', ...(await writeUpserts(c, index, seq, ch.dim, ch.documents)) })
              break
            }
            case 'delete': {
              if (row.dropped) { results.push({ op: 'delete', deleted: [], missing: [...ch.ids] }); break }
              const r = await c.query(
                `UPDATE jacolbert_documents SET deleted = true, seq = $3, n_vectors = 0, vectors = NULL, metadata = NULL, text = NULL, written_at = clock_timestamp()
                 WHERE index_name = $1 AND id = ANY($2::text[]) AND NOT deleted RETURNING id`,
                [index, ch.ids, seq],
              )
              const gone = new Set<string>(r.rows.map((x) => x.id as string))
              results.push({ op: 'delete', deleted: ch.ids.filter((id) => gone.has(id)), missing: ch.ids.filter((id) => !gone.has(id)) })
              break
            }
            case 'retain':
              throw new TypeError('a retain change is delivered by the follower, never appended')
            case 'drop': {
              if (row.dropped) { results.push({ op: 'drop', dropped: false }); break }
              // the name keeps its row and its counter, so seqs keep increasing if it is re-created
              await c.query(`DELETE FROM jacolbert_documents WHERE index_name = $1`, [index])
              await c.query(`UPDATE jacolbert_indexes SET dropped = true WHERE name = $1`, [index])
              row = { ...row, dropped: true }
              results.push({ op: 'drop', dropped: true })
              break
            }
          }
        }
        // every append takes a seq, even one that changed nothing: the writer applies it, and the replicas step past it
        await c.query(`UPDATE jacolbert_indexes SET head_seq = $2, head_at = clock_timestamp() WHERE name = $1`, [index, seq])
        await c.query(`SELECT pg_notify($1, $2)`, [NOTIFY_CHANNEL, index])
        return { seq, results }
      })
    },

    async listIndexes() {
      const r = await query(
        `SELECT ${INDEX_COLUMNS}, extract(epoch FROM clock_timestamp() - head_at)::float8 AS head_age_s FROM jacolbert_indexes ORDER BY name`,
      )
      return r.rows.map(toRow)
    },

    async pageEnd(index, after, limit) {
      const r = await query(
        `SELECT max(seq) AS s FROM (SELECT seq FROM jacolbert_documents WHERE index_name = $1 AND seq > $2 ORDER BY seq LIMIT $3) p`,
        [index, after, limit],
      )
      return r.rows[0].s === null ? undefined : Number(r.rows[0].s)
    },

    async readRange(index, incarnation, after, upTo) {
      // joined with the index row in the same statement (one snapshot): rows of a later incarnation never leak in
      const r = await query(
        `SELECT d.id, d.seq, d.deleted, d.vectors, d.metadata, d.text, extract(epoch FROM clock_timestamp() - d.written_at)::float8 AS age_s
         FROM jacolbert_documents d JOIN jacolbert_indexes i ON i.name = d.index_name
         WHERE d.index_name = $1 AND i.incarnation = $2 AND d.seq > $3 AND d.seq <= $4
         ORDER BY d.seq, d.id`,
        [index, incarnation, after, upTo],
      )
      return r.rows.map(toChangeRow)
    },

    async readPage(index, incarnation, after, limit, withLive) {
      return tx(async (c) => {
        const i = await c.query(`SELECT incarnation, dropped, purged_seq FROM jacolbert_indexes WHERE name = $1`, [index])
        const purgedSeq = i.rows.length > 0 ? Number(i.rows[0].purged_seq) : 0
        if (i.rows.length === 0 || i.rows[0].dropped || Number(i.rows[0].incarnation) !== incarnation) return { present: false, end: undefined, rows: [], purgedSeq }
        const e = await c.query(
          `SELECT max(seq) AS s FROM (SELECT seq FROM jacolbert_documents WHERE index_name = $1 AND seq > $2 ORDER BY seq LIMIT $3) p`,
          [index, after, limit],
        )
        const end = e.rows[0].s === null ? undefined : Number(e.rows[0].s)
        let rows: ChangeRow[] = []
        if (end !== undefined) {
          const r = await c.query(
            `SELECT id, seq, deleted, vectors, metadata, text, extract(epoch FROM clock_timestamp() - written_at)::float8 AS age_s
             FROM jacolbert_documents WHERE index_name = $1 AND seq > $2 AND seq <= $3 ORDER BY seq, id`,
            [index, after, end],
          )
          rows = r.rows.map(toChangeRow)
        }
        const page: ChangePage = { present: true, end, rows, purgedSeq }
        if (withLive) {
          const l = await c.query(`SELECT id FROM jacolbert_documents WHERE index_name = $1 AND NOT deleted`, [index])
          page.live = l.rows.map((x) => x.id as string)
        }
        return page
      }, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
    },

    async purgeTombstones(index, olderThanS, limit) {
      return tx(async (c) => {
        const row = await c.query(`SELECT dropped, purged_seq FROM jacolbert_indexes WHERE name = $1 FOR UPDATE`, [index])
        if (row.rows.length === 0 || row.rows[0].dropped) return { purged: 0, purgedSeq: row.rows.length > 0 ? Number(row.rows[0].purged_seq) : 0 }
        const r = await c.query(
          `DELETE FROM jacolbert_documents WHERE index_name = $1 AND deleted AND id IN (
             SELECT id FROM jacolbert_documents WHERE index_name = $1 AND deleted AND written_at < clock_timestamp() - make_interval(secs => $2)
             ORDER BY seq LIMIT $3)
           RETURNING seq`,
          [index, olderThanS, limit],
        )
        let top = 0
        for (const x of r.rows) top = Math.max(top, Number(x.seq))
        let purgedSeq = Number(row.rows[0].purged_seq)
        if (top > purgedSeq) {
          await c.query(`UPDATE jacolbert_indexes SET purged_seq = $2 WHERE name = $1`, [index, top])
          purgedSeq = top
        }
        return { purged: r.rows.length, purgedSeq }
      })
    },

    async countTombstones(index) {
      const r = await query(`SELECT count(*)::bigint AS n FROM jacolbert_documents WHERE index_name = $1 AND deleted`, [index])
      return Number(r.rows[0].n)
    },

    async countAfter(index, after) {
      const r = await query(`SELECT count(*)::bigint AS n FROM jacolbert_documents WHERE index_name = $1 AND seq > $2`, [index, after])
      return Number(r.rows[0].n)
    },

    async adoptName(index, seq) {
      await query(
        `INSERT INTO jacolbert_indexes (name, incarnation, created_seq, dropped, head_seq) VALUES ($1, 0, 0, true, $2) ON CONFLICT (name) DO NOTHING`,
        [index, seq],
      )
    },

    async close() {
      await pool.end()
    },
  }
}
