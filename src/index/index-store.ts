/**
 * Named indexes of the service, with their snapshots under `<dataDir>/indexes/<name>/`.
 *
 * - Every mutation is followed by `markDirty(name)` (the caller's duty); `saveAll()` snapshots dirty indexes only. An
 *   index changed while its snapshot was being written stays dirty (a version counter tells).
 * - Saves, loads and deletions of one name run one after another (a promise chain per name), so a drop cannot race a
 *   save of the same folder, and a re-created index is never overwritten by its predecessor's late save.
 * - restoreAll() on a corrupt snapshot: by default it throws AppError('SNAPSHOT_INVALID') and the service does not
 *   start: starting without the index would let a later POST /index re-create it empty and its next snapshot would
 *   replace the one an operator could still repair or roll back. Files are never deleted for being unreadable. With
 *   `onCorruptSnapshot: 'skip'` the store starts without that index, logs an error, and refuses to create or save that
 *   name (INDEX_EXISTS) until it is dropped, so the files stay as they were.
 * - Without `dataDir` everything is in memory and saveAll/restoreAll do nothing.
 * - Change log (src/change-log): each index remembers the seq of the last change record applied to it (`appliedSeq`);
 *   a snapshot records that seq as the log position it covers, restoreAll() brings it back, and `coveredSeq(name)`
 *   tells the log what it may forget (Infinity for an index that no longer exists and whose folder is gone).
 * One process per data dir: two services sharing a folder would overwrite each other's snapshots.
 *
 * Each entry holds both engines of an index: the PLAID index and its lexical (BM25) side. `apply(name, change)` is the
 * one way documents change (upsert or delete, both engines, then markDirty), so that whatever replays changes — a
 * write-ahead log, a replica — rebuilds both. The lexical side is saved in the same snapshot folder (sub-folder
 * `lexical/`). A snapshot from before lexical search has no such folder: its lexical side is rebuilt from the
 * documents' stored text (`store_text`) on first use (`lexical(name)`) or before the next save.
 */
import { rmSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { AppError, isAppError } from '../errors.js'
import type { LexicalAnalyzer } from '../lexical/analyzer.js'
import type { Bm25Settings } from '../lexical/bm25.js'
import { createLexicalIndex, type LexicalHit, type LexicalIndex, type LexicalStage, type LexicalStats } from '../lexical/lexical-index.js'
import { lexicalCompanion, loadLexicalSnapshot } from '../lexical/lexical-snapshot.js'
import type { MetadataPredicate } from './metadata-filter.js'
import { createPlaidIndex, DEFAULT_INDEX_SETTINGS, type IndexSettings, type Metadata, type PlaidIndex } from './plaid-index.js'
import { OLD_SUFFIX, removeDeadTempDirs, removeSnapshotDir } from './snapshot-atomic.js'
import { loadSnapshot, originalsDirOf, saveIndexSnapshot, type SnapshotInfo } from './snapshot.js'
import { STORED_TEXT_KEY } from './types.js'

export const INDEX_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/

export interface IndexStoreLogger {
  info(o: object, msg?: string): void
  warn(o: object, msg?: string): void
  error(o: object, msg?: string): void
}

/** A document as both engines take it: vectors for PLAID, text (when there is one) for the lexical side. */
export interface IndexDocument { id: string; vectors: Float32Array; metadata?: Metadata; text?: string }
export interface UpsertChange { op: 'upsert'; documents: IndexDocument[] }
export interface DeleteChange { op: 'delete'; ids: string[] }
export type IndexChange = UpsertChange | DeleteChange

export interface LexicalInfo { settings: Bm25Settings; stats: LexicalStats }

export interface IndexStore {
  list(): Array<{
    name: string; stats: ReturnType<PlaidIndex['stats']>; settings: IndexSettings; dirty: boolean; lastSnapshotAt: number | undefined
    lexical?: LexicalInfo
  }>
  get(name: string): PlaidIndex | undefined
  /** AppError('INDEX_NOT_FOUND') when absent. */
  getOrThrow(name: string): PlaidIndex
  /** AppError('INVALID_INDEX_NAME') for a bad name, AppError('INDEX_EXISTS') when taken. */
  create(name: string, settings?: Partial<IndexSettings>, bm25?: Partial<Bm25Settings>): PlaidIndex
  getOrCreate(name: string): PlaidIndex
  /**
   * The one place documents change: an upsert (creating the index if absent) or a delete (AppError INDEX_NOT_FOUND
   * when absent) applied to the PLAID index and the lexical side, then markDirty. A document without text (or whose
   * text has no terms) has no lexical side; upserting it removes the previous version's terms.
   */
  apply(name: string, change: UpsertChange): { added: string[]; updated: string[] }
  apply(name: string, change: DeleteChange): { deleted: string[]; missing: string[] }
  /**
   * BM25 search of index `name` (see src/lexical/): the query text goes through the same analyser as documents; the
   * metadata filter is applied to each candidate before it is scored. AppError INDEX_NOT_FOUND, or LEXICAL_UNAVAILABLE
   * when the service has no analyser or the index has documents but none with text.
   */
  searchLexical(name: string, query: string, params: { k: number; filter?: MetadataPredicate }):
    { hits: LexicalHit[]; timingsMs: Partial<Record<LexicalStage | 'lexical_analyze', number>> }
  /** Removes the index and (asynchronously, ordered before any later save of the name) its snapshot folder. */
  drop(name: string): boolean
  markDirty(name: string): void
  /** Seq of the last change record applied to the index (from its snapshot after a restore); 0 when absent. */
  appliedSeq(name: string): number
  setAppliedSeq(name: string, seq: number): void
  /** Full settings a new index gets from `settings` and the store's defaults (what create() would use). */
  newIndexSettings(settings?: Partial<IndexSettings>): IndexSettings
  /** Full BM25 settings of index `name`'s lexical side (undefined when absent), or a new index's from `bm25`. */
  lexicalSettings(name: string): Bm25Settings | undefined
  newLexicalSettings(bm25?: Partial<Bm25Settings>): Bm25Settings
  /** The seq each index's snapshot on disk covers (after restoreAll: what was loaded). */
  snapshotSeqs(): Map<string, number>
  /**
   * What the change log may forget of `name`: the seq its durable snapshot covers; Infinity when the index does not
   * exist and no folder of it is left to delete; 0 while unsure (a deletion pending or failed, a snapshot unloadable).
   */
  coveredSeq(name: string): number
  saveAll(): Promise<void>
  restoreAll(): Promise<void>
  startPeriodicSnapshots(intervalMs: number): void
  close(): Promise<void>
}

export interface IndexStoreOptions {
  dataDir?: string
  defaultSettings: { dim: number; nbits?: 1 | 2 | 4 }
  logger?: IndexStoreLogger
  /** What restoreAll does with a snapshot it cannot load (see the module comment). Default 'fail'. */
  onCorruptSnapshot?: 'fail' | 'skip'
  /** Called after each successful snapshot (for metrics). */
  onSnapshot?: (e: { name: string } & SnapshotInfo) => void
  /** Text -> BM25 terms (the encoder's MeCab dictionary); without it there is no lexical side. */
  analyzer?: LexicalAnalyzer
  /** Called after each periodic or closing saveAll (the change log truncates what the snapshots now cover). */
  afterSaveAll?: () => Promise<void>
}

interface Entry {
  index: PlaidIndex
  lexical: LexicalIndex
  /** false after restoring a snapshot without a lexical part, until backfillLexical ran */
  lexicalComplete: boolean
  /** bumped by markDirty; compared with savedVersion */
  version: number
  savedVersion: number
  lastSnapshotAt: number | undefined
  /** seq of the last change record applied */
  seq: number
  /** seq the snapshot on disk covers (0: none) */
  savedSeq: number
}

const silent: IndexStoreLogger = { info() {}, warn() {}, error() {} }

/** Throws AppError('INVALID_INDEX_NAME') unless `name` is a valid index name. */
export function checkIndexName(name: unknown): string {
  if (typeof name !== 'string' || !INDEX_NAME_PATTERN.test(name)) {
    throw new AppError('INVALID_INDEX_NAME', `index name ${JSON.stringify(name)} must match [a-z0-9][a-z0-9_-]{0,63}`, { name })
  }
  return name
}

export function createIndexStore(opts: IndexStoreOptions): IndexStore {
  const log = opts.logger ?? silent
  const root = opts.dataDir === undefined ? undefined : join(opts.dataDir, 'indexes')
  const entries = new Map<string, Entry>()
  /** names whose snapshot failed to load with onCorruptSnapshot 'skip': files kept, name blocked */
  const quarantined = new Map<string, string>()
  /** dropped names whose snapshot folder is not (yet) deleted */
  const removing = new Set<string>()
  /** per-name chain of disk operations */
  const chains = new Map<string, Promise<void>>()
  let timer: NodeJS.Timeout | undefined
  let periodicRunning = false

  const dirOf = (name: string): string => join(root!, name)

  function enqueue<T>(name: string, op: () => Promise<T>): Promise<T> {
    const prev = chains.get(name) ?? Promise.resolve()
    const run = prev.then(op)
    const tail = run.then(() => undefined, () => undefined)
    chains.set(name, tail)
    void tail.then(() => {
      if (chains.get(name) === tail) chains.delete(name)
    })
    return run
  }

  function create(name: string, settings?: Partial<IndexSettings>, bm25?: Partial<Bm25Settings>): PlaidIndex {
    checkIndexName(name)
    if (entries.has(name)) throw new AppError('INDEX_EXISTS', `index "${name}" already exists`, { name })
    const why = quarantined.get(name)
    if (why !== undefined) {
      throw new AppError('INDEX_EXISTS', `index "${name}" has a snapshot on disk that could not be loaded (${why}); repair it or drop the index first`, { name })
    }
    const lexical = createLexicalIndex(newLexicalSettings(bm25))
    const index = createPlaidIndex(newIndexSettings(settings), root === undefined ? undefined : { originalsDir: originalsDirOf(dirOf(name)) })
    // version 1 > savedVersion 0: a new (even empty) index is saved, so it still exists after a restart
    entries.set(name, { index, lexical, lexicalComplete: opts.analyzer !== undefined, version: 1, savedVersion: 0, lastSnapshotAt: undefined, seq: 0, savedSeq: 0 })
    return index
  }

  /** Validated full BM25 settings (AppError VALIDATION_ERROR: out of range, or base forms this dictionary lacks). */
  function newLexicalSettings(bm25?: Partial<Bm25Settings>): Bm25Settings {
    const settings = { ...createLexicalIndex(bm25).settings }
    if (settings.terms === 'base' && opts.analyzer?.hasBaseForm !== true) {
      throw new AppError('VALIDATION_ERROR', 'lexical.terms "base" needs a dictionary with base forms (IPADIC, UniDic, JumanDIC); this one has none', {
        field: 'lexical.terms',
      })
    }
    return settings
  }

  function newIndexSettings(settings?: Partial<IndexSettings>): IndexSettings {
    const defined = Object.fromEntries(Object.entries(settings ?? {}).filter(([, v]) => v !== undefined)) as Partial<IndexSettings>
    return { ...DEFAULT_INDEX_SETTINGS, nbits: opts.defaultSettings.nbits ?? 2, ...defined, dim: settings?.dim ?? opts.defaultSettings.dim }
  }

  function entryOrThrow(name: string): Entry {
    const e = entries.get(name)
    if (e === undefined) throw new AppError('INDEX_NOT_FOUND', `no index named "${name}"`, { name })
    return e
  }

  /**
   * Adds the live documents that the lexical side lacks but that have stored text (an index restored from a snapshot
   * written before lexical search existed). Idempotent: a document already there, or without stored text, is skipped.
   * O(documents) plus analysing the added texts.
   */
  function backfillLexical(name: string, e: Entry): void {
    const analyzer = opts.analyzer
    if (analyzer === undefined || e.lexicalComplete) return
    const started = performance.now()
    const docs: Array<{ id: string; terms: string[] }> = []
    for (const id of e.index.ids()) {
      if (e.lexical.has(id)) continue
      const text = e.index.get(id)?.metadata?.[STORED_TEXT_KEY]
      if (typeof text === 'string') docs.push({ id, terms: analyzer.terms(text, e.lexical.settings.terms) })
    }
    e.lexical.upsert(docs)
    e.lexicalComplete = true
    if (docs.length > 0) e.version++
    log.info({ index: name, documents: docs.length, ms: Math.round(performance.now() - started) }, 'lexical index built from stored text')
  }

  function apply(name: string, change: IndexChange): { added: string[]; updated: string[] } | { deleted: string[]; missing: string[] } {
    if (change.op === 'upsert') {
      // analysed first: a text the analyser refuses must leave both engines unchanged
      const analyzer = opts.analyzer
      const form = entries.get(name)?.lexical.settings.terms
      const lexDocs = analyzer === undefined ? undefined : change.documents.map((d) => ({ id: d.id, terms: d.text === undefined ? [] : analyzer.terms(d.text, form) }))
      if (!entries.has(name)) create(name)
      const e = entries.get(name)!
      const items = change.documents.map((d) => (d.metadata === undefined ? { id: d.id, vectors: d.vectors } : { id: d.id, vectors: d.vectors, metadata: d.metadata }))
      const result = e.index.upsert(items)
      if (lexDocs !== undefined) e.lexical.upsert(lexDocs)
      e.version++
      return result
    }
    const e = entryOrThrow(name)
    const result = e.index.delete(change.ids)
    e.lexical.delete(result.deleted)
    if (result.deleted.length > 0) e.version++
    return result
  }

  function searchLexical(name: string, query: string, params: { k: number; filter?: MetadataPredicate }) {
    const e = entryOrThrow(name)
    const analyzer = opts.analyzer
    if (analyzer === undefined) {
      throw new AppError('LEXICAL_UNAVAILABLE', 'this service has no text analyser, so lexical and hybrid search are unavailable', { index: name })
    }
    backfillLexical(name, e)
    if (e.lexical.size() === 0 && e.index.stats().documents > 0) {
      throw new AppError(
        'LEXICAL_UNAVAILABLE',
        `index "${name}" has no document with text: lexical and hybrid search need documents indexed with text ` +
          '(send text with the embeddings, or re-index; indexes made before lexical search need "store_text": true)',
        { index: name, reason: 'no_text' },
      )
    }
    const t0 = performance.now()
    const terms = analyzer.terms(query, e.lexical.settings.terms)
    const analyzeMs = performance.now() - t0
    const filter = params.filter
    const index = e.index
    const r = e.lexical.search(terms, filter === undefined ? { k: params.k } : { k: params.k, filter: (id) => filter(index.get(id)?.metadata, id) })
    return { hits: r.hits, timingsMs: { lexical_analyze: analyzeMs, ...r.timingsMs } }
  }

  async function saveOne(name: string, entry: Entry): Promise<void> {
    if (root === undefined) return
    await enqueue(name, async () => {
      // the entry may have been dropped (and maybe re-created) while queued: only save what is current
      if (entries.get(name) !== entry) return
      // a restored pre-lexical index gets its lexical side before it is saved, so the snapshot holds a complete one
      backfillLexical(name, entry)
      if (entry.version === entry.savedVersion) return
      const version = entry.version
      // without an analyser the lexical side is not kept up to date, so none is saved (a later start rebuilds it)
      const companions = opts.analyzer === undefined ? [] : [lexicalCompanion(entry.lexical)]
      const seq = entry.seq // read in the same tick as the engines' exportState(), so they agree
      const info = await saveIndexSnapshot(entry.index, dirOf(name), { seq, companions })
      entry.savedVersion = version
      entry.savedSeq = seq
      entry.lastSnapshotAt = Date.now()
      log.info({ index: name, bytes: info.bytes, ms: Math.round(info.durationMs) }, 'snapshot saved')
      opts.onSnapshot?.({ name, ...info })
    })
  }

  async function saveAll(): Promise<void> {
    // one index at a time: each save holds a copy of its index's arrays, so parallel saves would multiply peak memory
    let first: unknown
    for (const [name, entry] of [...entries]) {
      try {
        await saveOne(name, entry)
      } catch (err) {
        log.error({ index: name, err }, 'snapshot failed')
        first ??= err
      }
    }
    if (first !== undefined) throw first
  }

  async function restoreAll(): Promise<void> {
    if (root === undefined) return
    let names: string[]
    try {
      names = await readdir(root)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
      throw err
    }
    const present = new Set(names)
    const candidates = new Set<string>()
    for (const entry of names) {
      if (INDEX_NAME_PATTERN.test(entry)) candidates.add(entry)
      // a crash between the two renames of a save leaves only `<name>.old`: loadIndexSnapshot renames it back
      else if (entry.endsWith(OLD_SUFFIX)) {
        const base = entry.slice(0, -OLD_SUFFIX.length)
        if (INDEX_NAME_PATTERN.test(base) && !present.has(base)) candidates.add(base)
      }
    }
    for (const name of [...candidates].sort()) {
      if (entries.has(name)) {
        log.warn({ index: name }, 'index already in memory; its snapshot was not loaded')
        continue
      }
      const dir = dirOf(name)
      const started = performance.now()
      try {
        // nothing of this process is saving yet, so every temp folder is a crashed save's leftover
        await enqueue(name, () => removeDeadTempDirs(dir, { includeOwnPid: true }))
        const { index, seq } = await enqueue(name, () => loadSnapshot(dir))
        const lexical = await enqueue(name, () => loadLexicalSnapshot(dir))
        entries.set(name, {
          index, lexical: lexical ?? createLexicalIndex(), lexicalComplete: lexical !== undefined && opts.analyzer !== undefined,
          version: 0, savedVersion: 0, lastSnapshotAt: Date.now(), seq, savedSeq: seq,
        })
        const s = index.stats()
        log.info({ index: name, documents: s.documents, vectors: s.vectors, seq, ms: Math.round(performance.now() - started) }, 'index restored')
      } catch (err) {
        const reason = isAppError(err) ? err.message : String(err)
        if (opts.onCorruptSnapshot === 'skip') {
          quarantined.set(name, reason)
          log.error({ index: name, dir, err }, 'snapshot could not be loaded; index skipped, files kept')
          continue
        }
        throw new AppError('SNAPSHOT_INVALID', `index "${name}" could not be restored from ${dir}: ${reason}. ` +
          'Nothing was deleted; move the folder away (or restore a backup) to start without it.', { index: name, dir }, { cause: err })
      }
    }
  }

  return {
    list() {
      return [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, e]) => ({
        name, stats: e.index.stats(), settings: e.index.settings, dirty: e.version !== e.savedVersion, lastSnapshotAt: e.lastSnapshotAt,
        ...(opts.analyzer === undefined ? {} : { lexical: { settings: e.lexical.settings, stats: e.lexical.stats() } }),
      }))
    },
    get: (name) => entries.get(name)?.index,
    getOrThrow(name) {
      const e = entries.get(name)
      if (e === undefined) throw new AppError('INDEX_NOT_FOUND', `no index named "${name}"`, { name })
      return e.index
    },
    create,
    getOrCreate: (name) => entries.get(name)?.index ?? create(name),
    apply: apply as IndexStore['apply'],
    searchLexical,
    drop(name) {
      entries.get(name)?.index.dispose({ removeFiles: true })
      // a quarantined index has no index object to remove its original vectors' files: the folder goes now,
      // synchronously, so that an index re-created under the name afterwards keeps its own
      if (root !== undefined && quarantined.has(name)) rmSync(originalsDirOf(dirOf(name)), { recursive: true, force: true })
      const existed = entries.delete(name) || quarantined.delete(name)
      if (existed && root !== undefined) {
        removing.add(name)
        enqueue(name, () => removeSnapshotDir(dirOf(name))).then(
          () => removing.delete(name),
          (err: unknown) => log.error({ index: name, err }, 'could not delete snapshot folder'),
        )
      }
      return existed
    },
    markDirty(name) {
      const e = entries.get(name)
      if (e !== undefined) e.version++
    },
    appliedSeq: (name) => entries.get(name)?.seq ?? 0,
    setAppliedSeq(name, seq) {
      const e = entries.get(name)
      if (e !== undefined) e.seq = seq
    },
    newIndexSettings,
    lexicalSettings: (name) => {
      const e = entries.get(name)
      return e === undefined ? undefined : { ...e.lexical.settings }
    },
    newLexicalSettings,
    snapshotSeqs() {
      const out = new Map<string, number>()
      for (const [name, e] of entries) if (e.savedSeq > 0) out.set(name, e.savedSeq)
      return out
    },
    coveredSeq(name) {
      const e = entries.get(name)
      if (e !== undefined) return e.savedSeq
      if (removing.has(name) || quarantined.has(name) || chains.has(name)) return 0
      return Infinity
    },
    saveAll,
    restoreAll,
    startPeriodicSnapshots(intervalMs) {
      if (timer !== undefined) clearInterval(timer)
      timer = setInterval(() => {
        if (periodicRunning) return
        periodicRunning = true
        saveAll()
          .catch(() => { /* logged per index in saveAll */ })
          .then(() => opts.afterSaveAll?.())
          .catch((err: unknown) => log.error({ err }, 'after-snapshot step failed'))
          .finally(() => { periodicRunning = false })
      }, intervalMs)
      timer.unref()
    },
    async close() {
      if (timer !== undefined) clearInterval(timer)
      timer = undefined
      try {
        await saveAll()
      } finally {
        // let queued deletions finish too
        await Promise.all([...chains.values()])
      }
      await opts.afterSaveAll?.()
    },
  }
}
