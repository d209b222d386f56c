/**
 * Where bulk indexing writes: an index folder under DATA_DIR (the snapshot `serve` restores) or a running server.
 *
 * - Folder: the index store of the service itself (restoreAll / apply / saveAll), so the folder is written exactly as
 *   the service writes it (atomic snapshot replace), both engines included: the lexical (BM25) side gets each
 *   document's text, as POST /index gives it, and keeps what the snapshot held. DATA_DIR's write-ahead log is part of
 *   the state: records of the index that its snapshot does not cover (acknowledged writes of a service that was killed,
 *   or stopped before its next snapshot) are applied first, read-only, exactly as the service's start-up would, so the
 *   bulk run starts from what the service last acknowledged; the snapshots then record the log position they cover
 *   (at least the index's last record in the log), so the next start-up does not replay those records over the bulk
 *   result. Other indexes are left as they are. Refused (SHARED_MODE_DATA_DIR) with DATABASE_URL set or on a DATA_DIR a
 *   shared-mode replica opened: there PostgreSQL is the store of record, and a local snapshot would be dropped or
 *   silently diverge from the other replicas. One process per DATA_DIR: do not point this at a running server's folder.
 * - Server: POST /index with `wait: true` (batches above the server's MAX_BATCH_TEXTS run as its indexing jobs and the
 *   request waits for them); 503 (OVERLOADED, NOT_READY) and 429 are retried after Retry-After. Which ids are already
 *   in the server is remembered in a local progress file (one id per line, appended after each acknowledged batch),
 *   since the API has no bulk "which of these ids exist" call.
 */
import { appendFile, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createApplier } from '../change-log/applier.js'
import { readWal } from '../change-log/file-wal.js'
import { readSharedModeMarker, SHARED_MODE_MARKER, walDir } from '../change-log/open-change-log.js'
import { AppError } from '../errors.js'
import { createIndexStore, type IndexStore } from '../index/index-store.js'
import type { Encoder } from '../encoder/index.js'
import type { LexicalAnalyzer } from '../lexical/analyzer.js'
import type { BulkDocument } from './document-rows.js'

export interface BulkSink {
  /** ids already indexed (skipped on resume) */
  has(id: string): boolean
  /** Indexes one batch; resolves when it is durable enough to count (folder: in memory until save; server: acknowledged). */
  write(docs: BulkDocument[]): Promise<void>
  /** Makes everything written so far durable (folder: snapshot). */
  save(): Promise<void>
  close(): Promise<void>
  readonly documents: () => number
}

export interface FolderSinkLogger {
  info(o: object, msg?: string): void
  warn(o: object, msg?: string): void
}

function sharedModeRefusal(why: string): AppError {
  return new AppError('SHARED_MODE_DATA_DIR', `${why}: in shared mode PostgreSQL is the store of record, so an index folder written here ` +
    'would be dropped or diverge from the other replicas. Index through a running replica instead: jacolbert index FILE --url http://<replica>:8080 ' +
    '(it writes to the database, and every replica follows)', { reason: why })
}

export async function createFolderSink(opts: {
  dataDir: string; index: string; encoder: Encoder; nbits: 1 | 2 | 4
  /** Text -> BM25 terms (the encoder's dictionary), so bulk documents are searchable lexically; without it they are not. */
  analyzer?: LexicalAnalyzer
  /** The DATABASE_URL of the environment: set means shared mode, refused. */
  databaseUrl?: string | undefined
  logger?: FolderSinkLogger
}): Promise<BulkSink> {
  if (opts.databaseUrl) throw sharedModeRefusal('DATABASE_URL is set')
  const marker = readSharedModeMarker(opts.dataDir)
  if (marker !== undefined) {
    throw sharedModeRefusal(`${opts.dataDir} belongs to a shared-mode replica (${join(opts.dataDir, SHARED_MODE_MARKER)}, opened ${marker.openedAt}; ` +
      'delete that file only if the folder is no longer used with DATABASE_URL)')
  }
  const name = opts.index
  const store: IndexStore = createIndexStore({
    dataDir: opts.dataDir, defaultSettings: { dim: opts.encoder.dim, nbits: opts.nbits }, ...(opts.analyzer ? { analyzer: opts.analyzer } : {}),
  })
  await store.restoreAll()
  // the write-ahead log's records of this index above its snapshot, as the service's start-up would apply them
  const applier = createApplier(store, opts.logger ? { logger: opts.logger } : {})
  const wal = await readWal(walDir(opts.dataDir), store.snapshotSeqs(), (record) => void applier.apply(record, { replay: true }), { index: name })
  // the snapshot must cover every record of the name in the log (also a drop of an earlier index of that name, which
  // the applier remembers), or the next start-up replays them over what this run writes
  const covered = Math.max(applier.appliedSeq(name), wal.maxSeq.get(name) ?? 0)
  if (store.get(name) === undefined) store.create(name, { nbits: opts.nbits })
  store.setAppliedSeq(name, Math.max(store.appliedSeq(name), covered))
  if (wal.records > 0) opts.logger?.info({ index: name, records: wal.records, coveredSeq: covered }, 'applied the write-ahead log records the snapshot did not cover')
  const index = store.getOrThrow(name)
  if (index.settings.dim !== opts.encoder.dim) {
    throw new AppError('DIMENSION_MISMATCH', `index "${name}" holds ${index.settings.dim}-dim vectors, the model makes ${opts.encoder.dim}`)
  }
  return {
    has: (id) => index.get(id) !== undefined,
    async write(docs) {
      const enc = await opts.encoder.encodeDocuments(docs.map((d) => d.text))
      store.apply(name, {
        op: 'upsert',
        documents: docs.map((d, i) => ({ id: d.id, vectors: enc[i]!.vectors, text: d.text, ...(d.metadata ? { metadata: d.metadata } : {}) })),
      })
    },
    save: () => store.saveAll(),
    close: () => store.close(),
    documents: () => index.stats().documents,
  }
}

export async function createServerSink(opts: { url: string; index: string; apiKey?: string | undefined; progressFile: string; storeText?: boolean; retries?: number }): Promise<BulkSink> {
  const done = new Set<string>()
  try {
    for (const line of (await readFile(opts.progressFile, 'utf8')).split('\n')) if (line !== '') done.add(JSON.parse(line) as string)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new AppError('VALIDATION_ERROR', `progress file ${opts.progressFile} is unreadable: ${(err as Error).message}`)
  }
  const base = opts.url.replace(/\/+$/, '')
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {}) }
  const post = async (body: object): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      let res: Response
      try {
        res = await fetch(`${base}/index`, { method: 'POST', headers, body: JSON.stringify(body) })
      } catch (err) {
        throw new AppError('VALIDATION_ERROR', `cannot reach ${base}/index: ${(err as Error).message}`)
      }
      if (res.ok) {
        await res.arrayBuffer()
        return
      }
      const text = await res.text()
      if ((res.status === 503 || res.status === 429) && attempt < (opts.retries ?? 20)) {
        const wait = Math.min(30, Number(res.headers.get('retry-after')) || 1)
        await new Promise((r) => setTimeout(r, wait * 1000))
        continue
      }
      let code = 'HTTP_ERROR', message = text.slice(0, 500)
      try {
        const j = JSON.parse(text) as { code?: string; message?: string }
        code = j.code ?? code
        message = j.message ?? message
      } catch { /* not JSON */ }
      throw new AppError('VALIDATION_ERROR', `server answered ${res.status} ${code}: ${message}`, { status: res.status, code })
    }
  }
  return {
    has: (id) => done.has(id),
    async write(docs) {
      await post({ index: opts.index, wait: true, ...(opts.storeText ? { store_text: true } : {}), documents: docs.map((d) => ({ id: d.id, text: d.text, ...(d.metadata ? { metadata: d.metadata } : {}) })) })
      await appendFile(opts.progressFile, docs.map((d) => `${JSON.stringify(d.id)}\n`).join(''))
      for (const d of docs) done.add(d.id)
    },
    save: async () => undefined,
    close: async () => undefined,
    documents: () => done.size,
  }
}
