/**
 * A pool of search worker threads (SEARCH_WORKERS) over shared memory, so searches use every core and never block the
 * event loop.
 *
 * Consistency: a search runs on the version of its index that was current when it started. Writes happen on the main
 * thread, synchronously, between searches; the first search after a write publishes the index's new version
 * (shared-view.ts: O(nSlots) bytes for the live flags plus the data appended since the last version, never a copy per
 * query) to every worker, in message order before the search itself. A superseded version stays in the workers until
 * its last search has answered, then is released. So a search sees a whole write or none of it, and hits of deleted
 * documents can only come from searches that started before the delete.
 *
 * Main-thread work per search: a filter is evaluated here (metadata lives here) into an allowed-slot bitset, O(nSlots)
 * filter calls, transferred to the worker; the k hits' slots are mapped to ids and metadata of the same version.
 * A worker that dies fails only the searches it was running (INTERNAL_ERROR, "search worker stopped") and is replaced.
 */
import { Worker } from 'node:worker_threads'
import { AppError, type ErrorCode } from '../errors.js'
import type { SearchView } from '../index/plaid-search.js'
import type { Metadata, SearchHit, SearchParams, SearchStage } from '../index/types.js'
import type { SearchWorkerMessage, SearchWorkerReply, WorkerSearchParams } from './protocol.js'
import { abandonHelper, endOwner, type LingerRequest, type ShareChannel, type ShareRequest, wakeLingerer } from './search-share.js'
import { createViewPublisher, type SharedViewMessage } from './shared-view.js'

/** What the pool needs of an index (PlaidIndex has it). */
export interface SearchSource { searchState(): { view: SearchView; version: number } }
export interface SearchResult {
  hits: SearchHit[]
  timingsMs: Partial<Record<SearchStage, number>>
  /** the search's time inside its worker (the rest of the round trip is messaging, queueing and the slot mapping) */
  workerMs?: number
  /** how many parts of the search (centroid scores, probe, exact batches) a sibling worker did (search-share.ts) */
  helped?: number
}
export interface SearchPoolLogger { warn(o: object, msg?: string): void }

export interface SearchPool {
  readonly size: number
  /**
   * opts.sharing, opts.linger: this search's own settings (default: the pool's), for A/B measurements on the same
   * workers
   */
  search(index: SearchSource, query: Float32Array, params: SearchParams, opts?: { sharing?: boolean; linger?: boolean }): Promise<SearchResult>
  /** Versions still held by the workers (current ones plus superseded ones with searches running). */
  versionsHeld(): number
  close(): Promise<void>
  /** Test hook: kill worker i now (Worker.terminate, whatever it is running), as a crash would end it. */
  killWorkerForTests(i: number): void
  /** Help requests the pool has forwarded from owners to helpers (tests, diagnostics: lingering helpers need none). */
  readonly requestsForwarded: number
}

interface Published {
  key: number
  msg: SharedViewMessage
  ids: string[]
  metadata: Array<Metadata | undefined>
  running: number
  superseded: boolean
}

interface Pending { resolve(r: SearchResult): void; reject(e: Error): void; pub: Published }

/**
 * inbox: messages sent and not yet taken up by the worker (it decrements), which a lingering helper watches; channel:
 * its control block and latest job buffer as an owner; helping: the owners' control blocks it was sent to help on
 */
interface PoolWorker {
  worker: Worker; threadId: number; pending: Map<number, Pending>; closing: boolean; inbox: Int32Array; channel: ShareChannel | null; helping: Set<Int32Array>
}

function workerUrl(): string {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js'
  return new URL(`./search-worker${ext}`, import.meta.url).href
}

/** Same bootstrap as the encoder's workers: under tsx/tap (.ts) the worker registers tsx's hooks itself. */
function spawn(inbox: Int32Array): Worker {
  const url = workerUrl()
  const load = url.endsWith('.ts')
    ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(url)}) })`
    : `import(${JSON.stringify(url)})`
  return new Worker(`${load}.catch((e) => { console.error(e); process.exit(70) })`, { eval: true, execArgv: process.execArgv, workerData: { inbox } })
}

/**
 * SEARCH_WORKERS when unset: the cores the encoder leaves free. A CUDA encoder leaves all but one (the event loop's);
 * a CPU encoder uses ORT_THREADS × ENCODER_WORKERS cores (all of them when ORT_THREADS is unset), so the rest, possibly
 * none, in which case searches stay on the event loop.
 */
export function defaultSearchWorkers(opts: { cores: number; provider: string; ortThreads: number | undefined; encoderWorkers: number }): number {
  if (opts.provider !== 'cpu') return Math.max(0, opts.cores - 1)
  return Math.max(0, opts.cores - (opts.ortThreads ?? opts.cores) * opts.encoderWorkers)
}

/**
 * sharing (default true): a search may hand part of its centroid scores, probe and exact stage to a worker that is
 * idle when it asks (search-share.ts); with one worker, or every worker busy, each search runs on its own worker alone.
 * linger (default true): the idle worker invited to a shared search waits on the owner for each part instead of being
 * asked for it through this thread (search-share.ts). shareWaitMsForTests: the owner first waits up to this long for
 * a helper to claim each part (on small test indexes the owner would otherwise finish before a helper hears of it);
 * helperDelayMsForTests: per forwarded request or invitation, how long its helper sleeps after claiming (to kill it
 * mid-job).
 */
export async function createSearchPool(opts: {
  workers: number; logger?: SearchPoolLogger; sharing?: boolean; linger?: boolean; shareWaitMsForTests?: number; helperDelayMsForTests?: () => number
}): Promise<SearchPool> {
  const n = Math.max(1, Math.floor(opts.workers))
  const publisher = createViewPublisher()
  const states = new WeakMap<SearchSource, { version: number; current: Published; holder: { key: number } }>()
  const held = new Map<number, Published>()
  // An index dropped from the store (and collected) releases its last version from the workers too.
  const finalizer = new FinalizationRegistry<{ key: number }>((h) => {
    const p = held.get(h.key)
    if (p) {
      p.superseded = true
      maybeRelease(p)
    }
  })
  const workers: PoolWorker[] = []
  let nextKey = 1
  let nextId = 1
  let closed = false
  let requestsForwarded = 0

  /** Every message to a worker: counted in its inbox first, then a lingering wait of it is cut short. */
  const send = (w: PoolWorker, m: SearchWorkerMessage, transfer: ArrayBuffer[] = []): void => {
    Atomics.add(w.inbox, 0, 1)
    wakeLingerer(w.helping)
    w.worker.postMessage(m, transfer)
  }
  const postAll = (m: SearchWorkerMessage): void => {
    for (const w of workers) send(w, m)
  }
  /** A worker other than `w` with no search of its own (it answers at once), if any. */
  const idleBesides = (w: PoolWorker): PoolWorker | undefined => workers.find((x) => x !== w && x.pending.size === 0 && !x.closing)
  /** A help request or invitation to `helper` for the owner whose control block is `ctrl` (which it may then hold). */
  const sendHelp = (helper: PoolWorker, ctrl: Int32Array, m: ShareRequest | LingerRequest): void => {
    const delay = opts.helperDelayMsForTests?.() ?? 0
    helper.helping.add(ctrl)
    send(helper, delay > 0 ? { ...m, delayMsForTests: delay } : m)
  }

  function maybeRelease(p: Published): void {
    if (!p.superseded || p.running > 0 || !held.has(p.key)) return
    held.delete(p.key)
    postAll({ type: 'release', keys: [p.key] })
  }

  async function start(): Promise<PoolWorker> {
    const inbox = new Int32Array(new SharedArrayBuffer(4))
    const worker = spawn(inbox)
    // threadId now: it reads -1 once the thread has stopped, when the pool still needs it to clear the helper's marks
    const pw: PoolWorker = { worker, threadId: worker.threadId, pending: new Map(), closing: false, inbox, channel: null, helping: new Set() }
    await new Promise<void>((resolve, reject) => {
      const onMsg = (m: SearchWorkerReply): void => {
        if (m.type === 'ready') { pw.channel = m.share; worker.off('error', reject); resolve() }
      }
      worker.once('message', onMsg)
      worker.once('error', reject)
    })
    worker.on('message', (m: SearchWorkerReply) => {
      if (m.type === 'ready') return
      if (m.type === 'share-help') {
        pw.channel = { ctrl: m.ctrl, buf: m.buf, gen: m.gen }
        // to an idle worker; none idle: the owner does the part itself
        const idle = idleBesides(pw)
        if (idle !== undefined) {
          requestsForwarded++
          sendHelp(idle, m.ctrl, m)
        }
        return
      }
      const p = pw.pending.get(m.id)
      if (!p) return
      pw.pending.delete(m.id)
      p.pub.running--
      if (m.type === 'result') {
        const hits: SearchHit[] = new Array(m.slots.length)
        for (let i = 0; i < m.slots.length; i++) {
          const s = m.slots[i]!
          const hit: SearchHit = { id: p.pub.ids[s]!, score: m.scores[i]! }
          const md = p.pub.metadata[s]
          if (md !== undefined) hit.metadata = md
          hits[i] = hit
        }
        p.resolve({ hits, timingsMs: m.timingsMs, workerMs: m.workerMs, helped: m.helped })
      } else {
        p.reject(new AppError(m.code as ErrorCode, m.message, m.details))
      }
      maybeRelease(p.pub)
    })
    const fail = (why: string): void => {
      // jobs it had claimed for other searches: their owners do them now; a helper lingering on it goes back
      abandonHelper(pw.helping, pw.threadId)
      pw.helping.clear()
      if (pw.channel !== null) {
        endOwner(pw.channel.ctrl)
        for (const x of workers) x.helping.delete(pw.channel.ctrl)
      }
      for (const p of pw.pending.values()) {
        p.pub.running--
        p.reject(new AppError('INTERNAL_ERROR', `search worker stopped: ${why}`))
        maybeRelease(p.pub)
      }
      pw.pending.clear()
      const i = workers.indexOf(pw)
      if (i >= 0) workers.splice(i, 1)
      if (pw.closing || closed) return
      opts.logger?.warn({ reason: why }, 'search worker stopped; starting a new one')
      start().then((nw) => {
        if (closed) { void nw.worker.terminate(); return }
        // the versions new searches may name: every one not superseded
        for (const p of held.values()) if (!p.superseded) send(nw, p.msg)
        workers.push(nw)
      }, (e: Error) => opts.logger?.warn({ err: e.message }, 'could not restart a search worker'))
    }
    worker.on('error', (e) => fail(e.message))
    worker.on('exit', (code) => { if (!pw.closing || pw.pending.size) fail(`exited with code ${code}`) })
    return pw
  }

  for (let i = 0; i < n; i++) workers.push(await start())

  function currentVersion(index: SearchSource): Published {
    const { view, version } = index.searchState()
    const st = states.get(index)
    if (st && st.version === version) return st.current
    const key = nextKey++
    const msg = publisher.publish(view, key)
    const pub: Published = { key, msg, ids: view.ids, metadata: view.metadata, running: 0, superseded: false }
    held.set(key, pub)
    postAll(msg)
    if (st) {
      st.current.superseded = true
      maybeRelease(st.current)
      st.version = version
      st.current = pub
      st.holder.key = key
    } else {
      const holder = { key }
      finalizer.register(index, holder)
      states.set(index, { version, current: pub, holder })
    }
    return pub
  }

  return {
    get size() { return workers.length },
    search(index, query, params, searchOpts) {
      if (closed) return Promise.reject(new AppError('NOT_READY', 'the search pool is closed'))
      if (!workers.length) return Promise.reject(new AppError('INTERNAL_ERROR', 'no search worker is running (restarting)'))
      const pub = currentVersion(index)
      const { filter, ...rest } = params
      let allowed: Uint8Array | undefined
      if (filter) {
        // evaluated against this version: the view is unchanged since currentVersion() (no write in between)
        const { view } = index.searchState()
        allowed = new Uint8Array(pub.msg.nSlots)
        for (let s = 0; s < pub.msg.nSlots; s++) if (view.live[s] && filter(pub.metadata[s], pub.ids[s]!)) allowed[s] = 1
      }
      // least busy worker; a tie goes to the first
      let w = workers[0]!
      for (const x of workers) if (x.pending.size < w.pending.size) w = x
      const id = nextId++
      pub.running++
      return new Promise<SearchResult>((resolve, reject) => {
        w.pending.set(id, { resolve, reject, pub })
        // structured clone copies a typed array's whole buffer: a query that is a view of a larger one (a batch's
        // embeddings) is sliced first (on a 500-query set's buffer, 8 MB, the copy took ~2 ms per search)
        const sent = query.byteLength === query.buffer.byteLength ? query : query.slice()
        // sharing only where some other worker is idle now (it may not be by the time the probe asks: then none helps)
        const helper = (searchOpts?.sharing ?? opts.sharing) !== false ? idleBesides(w) : undefined
        const share = helper !== undefined
        const linger = (searchOpts?.linger ?? opts.linger) !== false
        if (helper !== undefined && linger && w.channel !== null) {
          // invited before the search is sent, so that it waits on the owner's first part already
          sendHelp(helper, w.channel.ctrl, { type: 'share-linger', ...w.channel })
        }
        const req: SearchWorkerMessage = {
          type: 'search', id, key: pub.key, query: sent, params: rest as WorkerSearchParams, ...(allowed ? { allowed } : {}),
          ...(share ? { share, shareWaitMs: opts.shareWaitMsForTests ?? 0, ...(linger ? {} : { linger: false }) } : {}),
        }
        send(w, req, allowed ? [allowed.buffer as ArrayBuffer] : [])
      })
    },
    versionsHeld: () => held.size,
    async close() {
      closed = true
      await Promise.all(workers.splice(0).map(async (w) => {
        w.closing = true
        const exited = new Promise<void>((r) => w.worker.once('exit', () => r()))
        await w.worker.terminate()
        await exited.catch(() => undefined)
      }))
    },
    killWorkerForTests(i) {
      void workers[i]?.worker.terminate()
    },
    get requestsForwarded() { return requestsForwarded },
  }
}
