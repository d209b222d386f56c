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
 */
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { AppError, isAppError } from '../errors.js'
import { createPlaidIndex, DEFAULT_INDEX_SETTINGS, type IndexSettings, type PlaidIndex } from './plaid-index.js'
import { OLD_SUFFIX, removeDeadTempDirs, removeSnapshotDir } from './snapshot-atomic.js'
import { loadSnapshot, saveIndexSnapshot, type SnapshotInfo } from './snapshot.js'

export const INDEX_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/

export interface IndexStoreLogger {
  info(o: object, msg?: string): void
  warn(o: object, msg?: string): void
  error(o: object, msg?: string): void
}

export interface IndexStore {
  list(): Array<{ name: string; stats: ReturnType<PlaidIndex['stats']>; settings: IndexSettings; dirty: boolean; lastSnapshotAt: number | undefined }>
  get(name: string): PlaidIndex | undefined
  /** AppError('INDEX_NOT_FOUND') when absent. */
  getOrThrow(name: string): PlaidIndex
  /** AppError('INVALID_INDEX_NAME') for a bad name, AppError('INDEX_EXISTS') when taken. */
  create(name: string, settings?: Partial<IndexSettings>): PlaidIndex
  getOrCreate(name: string): PlaidIndex
  /** Removes the index and (asynchronously, ordered before any later save of the name) its snapshot folder. */
  drop(name: string): boolean
  markDirty(name: string): void
  /** Seq of the last change record applied to the index (from its snapshot after a restore); 0 when absent. */
  appliedSeq(name: string): number
  setAppliedSeq(name: string, seq: number): void
  /** Full settings a new index gets from `settings` and the store's defaults (what create() would use). */
  newIndexSettings(settings?: Partial<IndexSettings>): IndexSettings
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
  /** Called after each periodic or closing saveAll (the change log truncates what the snapshots now cover). */
  afterSaveAll?: () => Promise<void>
}

interface Entry {
  index: PlaidIndex
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

  function create(name: string, settings?: Partial<IndexSettings>): PlaidIndex {
    checkIndexName(name)
    if (entries.has(name)) throw new AppError('INDEX_EXISTS', `index "${name}" already exists`, { name })
    const why = quarantined.get(name)
    if (why !== undefined) {
      throw new AppError('INDEX_EXISTS', `index "${name}" has a snapshot on disk that could not be loaded (${why}); repair it or drop the index first`, { name })
    }
    const index = createPlaidIndex(newIndexSettings(settings))
    // version 1 > savedVersion 0: a new (even empty) index is saved, so it still exists after a restart
    entries.set(name, { index, version: 1, savedVersion: 0, lastSnapshotAt: undefined, seq: 0, savedSeq: 0 })
    return index
  }

  function newIndexSettings(settings?: Partial<IndexSettings>): IndexSettings {
    const defined = Object.fromEntries(Object.entries(settings ?? {}).filter(([, v]) => v !== undefined)) as Partial<IndexSettings>
    return { ...DEFAULT_INDEX_SETTINGS, nbits: opts.defaultSettings.nbits ?? 2, ...defined, dim: settings?.dim ?? opts.defaultSettings.dim }
  }

  async function saveOne(name: string, entry: Entry): Promise<void> {
    if (root === undefined) return
    await enqueue(name, async () => {
      // the entry may have been dropped (and maybe re-created) while queued: only save what is current
      if (entries.get(name) !== entry || entry.version === entry.savedVersion) return
      const version = entry.version
      const seq = entry.seq // read in the same tick as saveIndexSnapshot's exportState(), so they agree
      const info = await saveIndexSnapshot(entry.index, dirOf(name), { seq })
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
        entries.set(name, { index, version: 0, savedVersion: 0, lastSnapshotAt: Date.now(), seq, savedSeq: seq })
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
    drop(name) {
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
