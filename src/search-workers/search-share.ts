/**
 * Search sharing: a search worker hands about half of three of one search's stages to an idle sibling worker, so
 * that one query at a time uses two cores:
 *  - the centroid scores: the second half of the centroids (plaid-search.ts CentroidOffload);
 *  - the probe: a suffix of the query tokens (probe-scores.ts ProbeOffload);
 *  - the exact stage: the second half of a batch of documents (plaid-search.ts ExactOffload).
 *
 * Protocol, over one SharedArrayBuffer per owner (the job and the answer) and a control word:
 *  - the owner writes the job, sets the word to (seq, POSTED) and asks the pool to forward a help request to an idle
 *    worker; then it does its own part;
 *  - a helper that receives the request claims the job with compare-and-swap (POSTED → CLAIMED), does it into the
 *    buffer and sets DONE (or FAILED), then notifies;
 *  - when the owner has done its part it tries the same swap (POSTED → OWNER): if no helper has claimed the job, it
 *    does the job itself (late or dropped requests then find the word changed and do nothing); otherwise it waits for
 *    DONE.
 * The sequence number in the word makes a request that arrives after its job has ended match nothing. Nothing waits on
 * a thread that has not claimed the job, and a claimed job is bounded work, so no search waits for another search; a
 * helper that dies mid-job is waited for at most HELPER_WAIT_MS, then the owner does the job itself. Both parts are
 * computed by the same functions whichever thread runs them, and merged in the same order, so a search's hits do not
 * depend on sharing.
 */
import { centroidArena } from '../index/kmeans.js'
import { type CentroidOffload, centroidScoreRows, exactScores, type ExactOffload, type SearchView } from '../index/plaid-search.js'
import {
  createProbeScratch, type ProbeJob, type ProbeLists, type ProbeOffload, type ProbeScratch, type ProbeSource, scanTokensInto,
} from '../index/probe-scores.js'

const POSTED = 1, CLAIMED = 2, DONE = 3, FAILED = 4, OWNER = 5
const HELPER_WAIT_MS = 30_000
/**
 * u32 header. probe: task, qlen, dim, stride, from, stopMin (NO_STOP: none), cap; exact: task, qlen, dim, n;
 * centroids: task, qlen, dim, from, k
 */
const HEADER = 8
const NO_STOP = 0xffffffff
const PROBE = 1, EXACT = 2, CENTROIDS = 3

/** What the owner's worker sends (through the pool) to a helper; delayMsForTests: the helper sleeps after claiming. */
export interface ShareRequest { type: 'share-help'; key: number; ctrl: Int32Array; buf: SharedArrayBuffer; seq: number; delayMsForTests?: number }

/** Whether the request's job may still be done by a helper (posted, or claimed and not finished). */
export function shareRequestOpen(m: ShareRequest): boolean {
  const v = Atomics.load(m.ctrl, 0)
  return v === ((m.seq << 3) | POSTED) || v === ((m.seq << 3) | CLAIMED)
}

/**
 * For the pool, when the worker a request went to has stopped: a job it had claimed is marked FAILED, so that its
 * owner does the job itself at once instead of waiting for a thread that is gone.
 */
export function abandonShareRequest(m: ShareRequest): void {
  const tag = m.seq << 3
  if (Atomics.compareExchange(m.ctrl, 0, tag | CLAIMED, tag | FAILED) === (tag | CLAIMED)) Atomics.notify(m.ctrl, 0)
}

/** Byte offsets of a probe job's parts in its buffer (8-byte aligned regions first). */
function probeLayout(qlen: number, dim: number, stride: number, from: number, cap: number) {
  const bases = HEADER * 4
  const stopAt = bases + qlen * stride * 8
  const chosen = stopAt + qlen * 8
  const counts = chosen + qlen * stride * 4
  const query = counts + qlen * 4
  const start = query + qlen * dim * 4
  const outCounts = start + (qlen - from + 1) * 4
  const slots = outCounts + (qlen - from) * 4
  const bests = slots + cap * 4
  return { bases, stopAt, chosen, counts, query, start, outCounts, slots, bests, end: bests + cap * 4 }
}

function readProbeJob(buf: SharedArrayBuffer): { job: ProbeJob; lists: ProbeLists } {
  const [, qlen, dim, stride, from, stopMin, cap] = new Uint32Array(buf, 0, HEADER) as unknown as number[]
  const L = probeLayout(qlen, dim, stride, from, cap)
  const job: ProbeJob = {
    qlen, stride, from, room: cap,
    query: new Float32Array(buf, L.query, qlen * dim),
    chosen: new Uint32Array(buf, L.chosen, qlen * stride),
    counts: new Uint32Array(buf, L.counts, qlen),
    bases: new Float64Array(buf, L.bases, qlen * stride),
    stop: stopMin === NO_STOP ? undefined : { min: stopMin, at: new Float64Array(buf, L.stopAt, qlen) },
  }
  const lists: ProbeLists = {
    start: new Uint32Array(buf, L.start, qlen - from + 1),
    counts: new Uint32Array(buf, L.outCounts, qlen - from),
    slots: new Uint32Array(buf, L.slots, cap),
    bests: new Float32Array(buf, L.bests, cap),
  }
  return { job, lists }
}

function exactLayout(qlen: number, dim: number, n: number) {
  const query = HEADER * 4
  const slots = query + qlen * dim * 4
  const scores = slots + n * 4
  return { query, slots, scores, end: scores + n * 4 }
}

function readExactJob(buf: SharedArrayBuffer): { query: Float32Array; qlen: number; slots: Uint32Array; scores: Float32Array } {
  const [, qlen, dim, n] = new Uint32Array(buf, 0, HEADER) as unknown as number[]
  const L = exactLayout(qlen, dim, n)
  return { qlen, query: new Float32Array(buf, L.query, qlen * dim), slots: new Uint32Array(buf, L.slots, n), scores: new Float32Array(buf, L.scores, n) }
}

function readCentroidJob(buf: SharedArrayBuffer): { query: Float32Array; qlen: number; from: number; k: number; scores: Float32Array } {
  const [, qlen, dim, from, k] = new Uint32Array(buf, 0, HEADER) as unknown as number[]
  const query = HEADER * 4
  const scores = query + qlen * dim * 4
  return { qlen, from, k, query: new Float32Array(buf, query, qlen * dim), scores: new Float32Array(buf, scores, (k - from) * qlen) }
}

/** Centroid scores of rows [from, k) computed in view's centroid arena: a view of them there (valid until it grows). */
function centroidRows(view: SearchView, query: Float32Array, qlen: number, from: number, k: number): Float32Array {
  const sPtr = centroidScoreRows(view.cset!, query, qlen, from, k)
  return centroidArena(view.cset!)!.arena.f32(sPtr + from * qlen * 4, (k - from) * qlen)
}

function sourceOf(view: SearchView): ProbeSource {
  return { ivf: view.ivf!, codec: view.codec!, residuals: view.residuals, docStart: view.docStart, nSlots: view.nSlots, allowed: view.live }
}

/** One unfiltered search's offloads (its allowed documents are the view's live ones). */
export interface SearchOffloads { centroids: CentroidOffload; probe: ProbeOffload; exact: ExactOffload }

export interface SearchShare {
  /** claimWaitMs (tests): how long the owner first waits for a helper to claim each job, so that one does */
  offloadsFor(key: number, view: SearchView, claimWaitMs?: number): SearchOffloads
  /** How many jobs of the current search a helper did (tests, diagnostics); reset by offloadsFor. */
  readonly helped: number
  /**
   * After a search that threw between an offer and its collect: a job still posted is withdrawn, and one a helper
   * holds keeps its buffer (the next job gets a fresh one), so no late write lands in a later job.
   */
  settle(): void
}

/** The owner's side, one per worker: `ask` sends a help request towards the pool. */
export function createSearchShare(ask: (m: ShareRequest) => void): SearchShare {
  const ctrl = new Int32Array(new SharedArrayBuffer(4))
  let buf = new SharedArrayBuffer(1 << 16)
  let seq = 0
  let helped = 0
  // the probe jobs the owner runs itself use a scratch of their own: the probe's scratch is mid-merge
  const own: ProbeScratch = createProbeScratch()

  const room = (bytes: number): void => {
    if (buf.byteLength < bytes) buf = new SharedArrayBuffer(Math.max(bytes, Math.ceil(buf.byteLength * 1.5)))
  }
  const post = (key: number): void => {
    seq = (seq + 1) & 0x0fffffff
    Atomics.store(ctrl, 0, (seq << 3) | POSTED)
    ask({ type: 'share-help', key, ctrl, buf, seq })
  }
  /** true: a helper did the posted job; false: the owner must do it (no helper claimed it, or one failed) */
  const awaitHelper = (claimWaitMs: number): boolean => {
    const tag = seq << 3
    if (claimWaitMs > 0) Atomics.wait(ctrl, 0, tag | POSTED, claimWaitMs)
    if (Atomics.compareExchange(ctrl, 0, tag | POSTED, tag | OWNER) === (tag | POSTED)) return false
    const until = performance.now() + HELPER_WAIT_MS
    let v = Atomics.load(ctrl, 0)
    while (v === (tag | CLAIMED) && performance.now() < until) {
      Atomics.wait(ctrl, 0, v, 1000)
      v = Atomics.load(ctrl, 0)
    }
    if (v === (tag | DONE)) {
      helped++
      return true
    }
    if (v === (tag | CLAIMED)) {
      // a helper that stopped mid-job: work on a copy of the job (it might still write the shared buffer)
      const copy = new SharedArrayBuffer(buf.byteLength)
      new Uint8Array(copy).set(new Uint8Array(buf))
      buf = copy
    }
    return false
  }

  function offloadsFor(key: number, view: SearchView, claimWaitMs = 0): SearchOffloads {
    helped = 0
    const probe: ProbeOffload = {
      offer(job) {
        const { qlen, stride, from, room: cap } = job
        const dim = job.query.length / qlen
        room(probeLayout(qlen, dim, stride, from, cap).end)
        new Uint32Array(buf, 0, HEADER).set([PROBE, qlen, dim, stride, from, job.stop?.min ?? NO_STOP, cap])
        const { job: shared } = readProbeJob(buf)
        shared.query.set(job.query)
        shared.chosen.set(job.chosen.subarray(0, qlen * stride))
        shared.counts.set(job.counts.subarray(0, qlen))
        shared.bases.set(job.bases.subarray(0, qlen * stride))
        if (job.stop) shared.stop!.at.set(job.stop.at.subarray(0, qlen))
        post(key)
        return true
      },
      collect() {
        if (awaitHelper(claimWaitMs)) return readProbeJob(buf).lists
        const { job, lists } = readProbeJob(buf)
        scanTokensInto(sourceOf(view), job, own, lists)
        return lists
      },
    }
    const exact: ExactOffload = {
      offer(query, qlen, slots) {
        const dim = query.length / qlen
        room(exactLayout(qlen, dim, slots.length).end)
        new Uint32Array(buf, 0, HEADER).set([EXACT, qlen, dim, slots.length])
        const job = readExactJob(buf)
        job.query.set(query)
        job.slots.set(slots)
        post(key)
        return true
      },
      collect() {
        const byHelper = awaitHelper(claimWaitMs)
        const job = readExactJob(buf)
        if (!byHelper) job.scores.set(exactScores(view, job.query, job.qlen, job.slots))
        return job.scores
      },
    }
    const centroids: CentroidOffload = {
      offer(query, qlen, from) {
        const dim = query.length / qlen, k = view.cset!.k
        room(HEADER * 4 + qlen * dim * 4 + (k - from) * qlen * 4)
        new Uint32Array(buf, 0, HEADER).set([CENTROIDS, qlen, dim, from, k])
        readCentroidJob(buf).query.set(query)
        post(key)
        return true
      },
      collect() {
        const byHelper = awaitHelper(claimWaitMs)
        const job = readCentroidJob(buf)
        return byHelper ? job.scores : centroidRows(view, job.query, job.qlen, job.from, job.k)
      },
    }
    return { centroids, probe, exact }
  }

  return {
    offloadsFor,
    get helped() { return helped },
    settle() {
      const tag = seq << 3
      if (Atomics.compareExchange(ctrl, 0, tag | POSTED, tag | OWNER) === (tag | CLAIMED)) buf = new SharedArrayBuffer(buf.byteLength)
    },
  }
}

/**
 * The helper's side: claims the job if it is still posted, does it on the version `key` (viewOf) with the helper's
 * probe scratch, and reports DONE, or FAILED when the version is unknown or the work throws.
 */
export function helpWithSearch(m: ShareRequest, viewOf: (key: number) => SearchView | undefined, sc: ProbeScratch): boolean {
  const tag = m.seq << 3
  if (Atomics.compareExchange(m.ctrl, 0, tag | POSTED, tag | CLAIMED) !== (tag | POSTED)) return false
  Atomics.notify(m.ctrl, 0) // an owner waiting for the claim (tests)
  if (m.delayMsForTests) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, m.delayMsForTests)
  let state = FAILED
  try {
    const view = viewOf(m.key)
    if (view !== undefined && view.ivf !== null && view.codec !== null && view.cset !== null) {
      const task = new Uint32Array(m.buf, 0, 1)[0]
      if (task === PROBE) {
        const { job, lists } = readProbeJob(m.buf)
        scanTokensInto(sourceOf(view), job, sc, lists)
        state = DONE
      } else if (task === CENTROIDS && centroidArena(view.cset) !== null) {
        const job = readCentroidJob(m.buf)
        job.scores.set(centroidRows(view, job.query, job.qlen, job.from, job.k))
        state = DONE
      } else if (task === EXACT) {
        const job = readExactJob(m.buf)
        job.scores.set(exactScores(view, job.query, job.qlen, job.slots))
        state = DONE
      }
    }
  } finally {
    // a swap, not a store: the word may have moved on to a later job (an owner that settled, or a pool that abandoned
    // this claim), which a late answer must not overwrite
    Atomics.compareExchange(m.ctrl, 0, tag | CLAIMED, tag | state)
    Atomics.notify(m.ctrl, 0)
  }
  return state === DONE
}
