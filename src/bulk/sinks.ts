/**
 * Where bulk indexing writes: an index folder under DATA_DIR (the snapshot `serve` restores) or a running server.
 *
 * - Folder: the index store of the service itself (restoreAll / create / markDirty / saveAll), so the folder is written
 *   exactly as the service writes it (atomic snapshot replace). One process per DATA_DIR: do not point this at the
 *   folder of a running server.
 * - Server: POST /index with `wait: true` (batches above the server's MAX_BATCH_TEXTS run as its indexing jobs and the
 *   request waits for them); 503 (OVERLOADED, NOT_READY) and 429 are retried after Retry-After. Which ids are already
 *   in the server is remembered in a local progress file (one id per line, appended after each acknowledged batch),
 *   since the API has no bulk "which of these ids exist" call.
 */
import { appendFile, readFile } from 'node:fs/promises'
import { AppError } from '../errors.js'
import { createIndexStore, type IndexStore } from '../index/index-store.js'
import type { PlaidIndex } from '../index/plaid-index.js'
import type { Encoder } from '../encoder/index.js'
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

export async function createFolderSink(opts: { dataDir: string; index: string; encoder: Encoder; nbits: 1 | 2 | 4 }): Promise<BulkSink> {
  const store: IndexStore = createIndexStore({ dataDir: opts.dataDir, defaultSettings: { dim: opts.encoder.dim, nbits: opts.nbits } })
  await store.restoreAll()
  const index: PlaidIndex = store.get(opts.index) ?? store.create(opts.index, { nbits: opts.nbits })
  if (index.settings.dim !== opts.encoder.dim) {
    throw new AppError('DIMENSION_MISMATCH', `index "${opts.index}" holds ${index.settings.dim}-dim vectors, the model makes ${opts.encoder.dim}`)
  }
  return {
    has: (id) => index.get(id) !== undefined,
    async write(docs) {
      const enc = await opts.encoder.encodeDocuments(docs.map((d) => d.text))
      index.upsert(docs.map((d, i) => ({ id: d.id, vectors: enc[i]!.vectors, ...(d.metadata ? { metadata: d.metadata } : {}) })))
      store.markDirty(opts.index)
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
