/**
 * Search sharing: a search worker hands about half of four of one search's stages to an idle sibling worker, so
 * that one query at a time uses two cores:
 *  - the centroid scores: the second half of the centroids (plaid-search.ts CentroidOffload);
 *  - the probe: a suffix of the query tokens (probe-scores.ts ProbeOffload);
 *  - the refinement of the approximate scores: the second half of its (vector, token) pairs (unprobed-refine.ts
 *    RefineOffload);
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
 *
 * Lingering: a request travels owner → main thread → helper, and the helper started ~0.3 ms late on every part
 * (BENCHMARKS.md § Search sharing). So an idle helper also lingers on the owner's control word (Atomics.wait, no CPU)
 * for the rest of the search: invited by the pool when it dispatches a shared search (before the owner has posted
 * anything), and after each job it was asked for. It claims each job the moment it is posted; the owner asks the pool
 * only when nobody lingers. A lingering helper stops at the owner's end of search, after LINGER_MS without a job, or at
 * once when the pool sends it anything (its inbox word counts messages not yet handled, and the pool wakes it), so its
 * own searches and index versions never wait on another search. Whoever lingers is named in the control block, and a
 * helper that stops there is cleared by the pool, together with its claims.
 */
import { centroidArena } from '../index/kmeans.js'
import { type CentroidOffload, centroidScoreRows, exactScores, type ExactOffload, probeArenaOf, type SearchView } from '../index/plaid-search.js'
import {
  createProbeScratch, type ProbeJob, type ProbeLists, type ProbeOffload, type ProbeScratch, type ProbeSource, scanTokensInto,
} from '../index/probe-scores.js'
import { type PairBatch, type RefineOffload, scorePairs } from '../index/unprobed-refine.js'

const POSTED = 1, CLAIMED = 2, DONE = 3, FAILED = 4, OWNER = 5, ENDED = 6
/** The control block's words: the job state (seq << 3 | state), the lingering helper's threadId (0: none), the buffer's generation. */
const STATE = 0, LINGERER = 1, GEN = 2
const HELPER_WAIT_MS = 30_000
/** How long a lingering helper waits for the next job of a search (the gaps between parts are 0.1–4 ms). */
const LINGER_MS = 50
/**
 * u32 header. probe: task, qlen, dim, stride, from, stopMin (NO_STOP: none), cap, and at FILTER_WORD the length of a
 * filter's allowed flags (0: the view's live flags); exact and refine: task, qlen, dim, n;
 * centroids: task, qlen, dim, from, k. Word 7 of every job: the index version it runs on.
 */
const HEADER = 10
const NO_STOP = 0xffffffff
const PROBE = 1, EXACT = 2, CENTROIDS = 3, REFINE = 4
const KEY_WORD = 7
/** A probe job's word: how many allowed flags (bytes, last in the buffer) it carries, 0 when none (the live flags). */
const FILTER_WORD = 8

/** An owner's control block and job buffer as a helper reaches them; gen: the buffer's generation. */
export interface ShareChannel { ctrl: Int32Array; buf: SharedArrayBuffer; gen: number }
/**
 * What the owner's worker sends (through the pool) to a helper for one job; linger: then stay for the search's next
 * jobs; delayMsForTests: the helper sleeps after claiming.
 */
export interface ShareRequest extends ShareChannel { type: 'share-help'; seq: number; linger?: boolean; delayMsForTests?: number }
/** The pool's invitation to linger on an owner's channel for the search it has just dispatched there. */
export interface LingerRequest extends ShareChannel { type: 'share-linger'; delayMsForTests?: number }

/** Whether the request's job may still be done by a helper (posted, or claimed and not finished). */
export function shareRequestOpen(m: ShareRequest): boolean {
  const v = Atomics.load(m.ctrl, STATE)
  return v === ((m.seq << 3) | POSTED) || v === ((m.seq << 3) | CLAIMED)
}

/**
 * For the pool, when a helper has stopped: on each owner's control block it was sent to, a claimed job is marked
 * FAILED (its owner does it itself at once, on a fresh buffer) and its lingering mark is cleared (the owner asks the
 * pool again). A claim held by another, live helper may be failed too; its owner then only repeats that part.
 */
export function abandonHelper(ctrls: Iterable<Int32Array>, threadId: number): void {
  for (const ctrl of ctrls) {
    const v = Atomics.load(ctrl, STATE)
    if ((v & 7) === CLAIMED && Atomics.compareExchange(ctrl, STATE, v, (v & ~7) | FAILED) === v) Atomics.notify(ctrl, STATE)
    Atomics.compareExchange(ctrl, LINGERER, threadId, 0)
  }
}

/** For the pool, when an owner has stopped: whoever lingers on its control block goes back to its own messages. */
export function endOwner(ctrl: Int32Array): void {
  Atomics.store(ctrl, STATE, ENDED)
  Atomics.notify(ctrl, STATE)
}

/** For the pool, after it sent a worker a message: a wait on any of these blocks returns (the inbox word says why). */
export function wakeLingerer(ctrls: Iterable<Int32Array>): void {
  for (const ctrl of ctrls) Atomics.notify(ctrl, STATE)
}

/** Byte offsets of a probe job's parts in its buffer (8-byte aligned regions first). */
function probeLayout(qlen: number, dim: number, stride: number, from: number, cap: number, nAllowed: number) {
  const bases = HEADER * 4
  const stopAt = bases + qlen * stride * 8
  const chosen = stopAt + qlen * 8
  const counts = chosen + qlen * stride * 4
  const query = counts + qlen * 4
  const start = query + qlen * dim * 4
  const outCounts = start + (qlen - from + 1) * 4
  const slots = outCounts + (qlen - from) * 4
  const bests = slots + cap * 4
  const allowed = bests + cap * 4
  return { bases, stopAt, chosen, counts, query, start, outCounts, slots, bests, allowed, end: allowed + nAllowed }
}

/** The job in buf; its allowed flags are the filter's it carries, else `live` (the reader's view's). */
function readProbeJob(buf: SharedArrayBuffer, live: Uint8Array): { job: ProbeJob; lists: ProbeLists } {
  const head = new Uint32Array(buf, 0, HEADER)
  const [, qlen, dim, stride, from, stopMin, cap] = head as unknown as number[]
  const nAllowed = head[FILTER_WORD]!
  const L = probeLayout(qlen, dim, stride, from, cap, nAllowed)
  const job: ProbeJob = {
    qlen, stride, from, room: cap, allowed: nAllowed === 0 ? live : new Uint8Array(buf, L.allowed, nAllowed),
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

function refineLayout(qlen: number, dim: number, n: number) {
  const query = HEADER * 4
  const toks = query + qlen * dim * 4
  const vecs = toks + n * 4
  const parts = vecs + n * 4
  const scores = parts + n * 4
  return { query, toks, vecs, parts, scores, end: scores + n * 4 }
}

function readRefineJob(buf: SharedArrayBuffer): { pairs: PairBatch; scores: Float32Array } {
  const [, qlen, dim, n] = new Uint32Array(buf, 0, HEADER) as unknown as number[]
  const L = refineLayout(qlen, dim, n)
  return {
    pairs: {
      qlen, query: new Float32Array(buf, L.query, qlen * dim), toks: new Uint32Array(buf, L.toks, n), vecs: new Uint32Array(buf, L.vecs, n),
      parts: new Float32Array(buf, L.parts, n),
    },
    scores: new Float32Array(buf, L.scores, n),
  }
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

/**
 * The probe source of a job's tokens; its arena lies past any qlen-token search's S (probeArenaOf), so the owner's
 * own scan of a part nobody claimed (collect) does not overwrite the search it is part of.
 */
function sourceOf(view: SearchView, allowed: Uint8Array, qlen: number): ProbeSource {
  return {
    ivf: view.ivf!, codec: view.codec!, residuals: view.residuals, docStart: view.docStart, nSlots: view.nSlots, allowed,
    arena: probeArenaOf(view.cset!, qlen),
  }
}

/** One search's offloads (a filtered search's probe jobs carry its allowed flags). */
export interface SearchOffloads { centroids: CentroidOffload; probe: ProbeOffload; exact: ExactOffload; refine: RefineOffload }

export interface SearchShare {
  /**
   * claimWaitMs (tests): how long the owner first waits for a helper to claim each job, so that one does; linger
   * (default true): helpers asked for a job may stay for the search's next ones
   */
  offloadsFor(key: number, view: SearchView, claimWaitMs?: number, linger?: boolean): SearchOffloads
  /** The search that used offloadsFor has ended (or thrown, after settle): a lingering helper leaves. */
  end(): void
  /** The control block and current buffer, for the pool to invite helpers with. */
  channel(): ShareChannel
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
  const ctrl = new Int32Array(new SharedArrayBuffer(12))
  let buf = new SharedArrayBuffer(1 << 16)
  let gen = 0
  let askedGen = -1
  let seq = 0
  let helped = 0
  let lingering = true
  // the probe jobs the owner runs itself use a scratch of their own: the probe's scratch is mid-merge
  const own: ProbeScratch = createProbeScratch()

  /** A new buffer: a helper holding the old one (lingering, or late) sees the generation change and does not claim. */
  const fresh = (bytes: number, keep: boolean): void => {
    const old = buf
    buf = new SharedArrayBuffer(bytes)
    if (keep) new Uint8Array(buf).set(new Uint8Array(old))
    gen = (gen + 1) | 0
    Atomics.store(ctrl, GEN, gen)
  }
  const room = (bytes: number): void => {
    if (buf.byteLength < bytes) fresh(Math.max(bytes, Math.ceil(buf.byteLength * 1.5)), false)
  }
  const post = (key: number): void => {
    new Uint32Array(buf, 0, HEADER)[KEY_WORD] = key
    seq = (seq + 1) & 0x00ffffff
    Atomics.store(ctrl, STATE, (seq << 3) | POSTED)
    Atomics.notify(ctrl, STATE)
    // a lingering helper has seen the job (it claims it, or leaves and the owner does it): no request needed
    if (gen !== askedGen || Atomics.load(ctrl, LINGERER) === 0) {
      askedGen = gen
      ask({ type: 'share-help', ctrl, buf, gen, seq, ...(lingering ? { linger: true } : {}) })
    }
  }
  /** true: a helper did the posted job; false: the owner must do it (no helper claimed it, or one failed) */
  const awaitHelper = (claimWaitMs: number): boolean => {
    const tag = seq << 3
    // (tests) the pool's wake-ups of lingering helpers notify this word too: wait out the time, not one wake-up
    const claimBy = performance.now() + claimWaitMs
    while (Atomics.load(ctrl, STATE) === (tag | POSTED) && performance.now() < claimBy) Atomics.wait(ctrl, STATE, tag | POSTED, claimBy - performance.now())
    if (Atomics.compareExchange(ctrl, STATE, tag | POSTED, tag | OWNER) === (tag | POSTED)) return false
    const until = performance.now() + HELPER_WAIT_MS
    let v = Atomics.load(ctrl, STATE)
    while (v === (tag | CLAIMED) && performance.now() < until) {
      Atomics.wait(ctrl, STATE, v, 1000)
      v = Atomics.load(ctrl, STATE)
    }
    if (v === (tag | DONE)) {
      helped++
      return true
    }
    // a helper that stopped mid-job, or one failed by the pool while another may still write: work on a copy
    fresh(buf.byteLength, true)
    return false
  }

  function offloadsFor(key: number, view: SearchView, claimWaitMs = 0, linger = true): SearchOffloads {
    helped = 0
    lingering = linger
    const probe: ProbeOffload = {
      offer(job) {
        const { qlen, stride, from, room: cap } = job
        const dim = job.query.length / qlen
        const nAllowed = job.allowed === view.live ? 0 : view.nSlots
        room(probeLayout(qlen, dim, stride, from, cap, nAllowed).end)
        const head = new Uint32Array(buf, 0, HEADER)
        head.set([PROBE, qlen, dim, stride, from, job.stop?.min ?? NO_STOP, cap])
        head[FILTER_WORD] = nAllowed
        const { job: shared } = readProbeJob(buf, view.live)
        if (nAllowed > 0) shared.allowed.set(job.allowed.subarray(0, nAllowed))
        shared.query.set(job.query)
        shared.chosen.set(job.chosen.subarray(0, qlen * stride))
        shared.counts.set(job.counts.subarray(0, qlen))
        shared.bases.set(job.bases.subarray(0, qlen * stride))
        if (job.stop) shared.stop!.at.set(job.stop.at.subarray(0, qlen))
        post(key)
        return true
      },
      collect() {
        if (awaitHelper(claimWaitMs)) return readProbeJob(buf, view.live).lists
        const { job, lists } = readProbeJob(buf, view.live)
        scanTokensInto(sourceOf(view, job.allowed, job.qlen), job, own, lists)
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
    const refine: RefineOffload = {
      offer(pairs) {
        const dim = pairs.query.length / pairs.qlen, n = pairs.vecs.length
        room(refineLayout(pairs.qlen, dim, n).end)
        new Uint32Array(buf, 0, HEADER).set([REFINE, pairs.qlen, dim, n])
        const job = readRefineJob(buf).pairs
        job.query.set(pairs.query.subarray(0, pairs.qlen * dim))
        job.toks.set(pairs.toks)
        job.vecs.set(pairs.vecs)
        job.parts.set(pairs.parts)
        post(key)
        return true
      },
      collect() {
        const byHelper = awaitHelper(claimWaitMs)
        const job = readRefineJob(buf)
        if (!byHelper) job.scores.set(scorePairs(view, job.pairs))
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
    return { centroids, probe, exact, refine }
  }

  return {
    offloadsFor,
    get helped() { return helped },
    settle() {
      const tag = seq << 3
      if (Atomics.compareExchange(ctrl, STATE, tag | POSTED, tag | OWNER) === (tag | CLAIMED)) fresh(buf.byteLength, false)
    },
    end() {
      seq = (seq + 1) & 0x00ffffff
      Atomics.store(ctrl, STATE, (seq << 3) | ENDED)
      Atomics.notify(ctrl, STATE)
    },
    channel: () => ({ ctrl, buf, gen }),
  }
}

/** What a helper needs: the versions it holds, its probe scratch, its threadId and its inbox word (see the pool). */
export interface HelperContext { viewOf(key: number): SearchView | undefined; sc: ProbeScratch; threadId: number; inbox: Int32Array }

/** Runs the job in buf on the version its header names: DONE, or FAILED when the version is unknown. */
function runJob(buf: SharedArrayBuffer, ctx: HelperContext): number {
  const head = new Uint32Array(buf, 0, HEADER)
  const view = ctx.viewOf(head[KEY_WORD]!)
  if (view === undefined || view.ivf === null || view.codec === null || view.cset === null) return FAILED
  const task = head[0]
  if (task === PROBE) {
    const { job, lists } = readProbeJob(buf, view.live)
    if (job.allowed.length < view.nSlots) return FAILED // a filter over another version's slots
    scanTokensInto(sourceOf(view, job.allowed, job.qlen), job, ctx.sc, lists)
    return DONE
  }
  if (task === CENTROIDS && centroidArena(view.cset) !== null) {
    const job = readCentroidJob(buf)
    job.scores.set(centroidRows(view, job.query, job.qlen, job.from, job.k))
    return DONE
  }
  if (task === EXACT) {
    const job = readExactJob(buf)
    job.scores.set(exactScores(view, job.query, job.qlen, job.slots))
    return DONE
  }
  if (task === REFINE) {
    const job = readRefineJob(buf)
    job.scores.set(scorePairs(view, job.pairs))
    return DONE
  }
  return FAILED
}

/** Claims the job tagged `tag` if it is still posted and does it: undefined when not claimed, else DONE or FAILED. */
function claimAndRun(ctrl: Int32Array, buf: SharedArrayBuffer, tag: number, ctx: HelperContext, delayMs?: number): number | undefined {
  if (Atomics.compareExchange(ctrl, STATE, tag | POSTED, tag | CLAIMED) !== (tag | POSTED)) return undefined
  Atomics.notify(ctrl, STATE) // an owner waiting for the claim (tests)
  if (delayMs) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, delayMs)
  let state = FAILED
  try {
    state = runJob(buf, ctx)
  } finally {
    // a swap, not a store: the word may have moved on to a later job (an owner that settled, or a pool that abandoned
    // this claim), which a late answer must not overwrite
    Atomics.compareExchange(ctrl, STATE, tag | CLAIMED, tag | state)
    Atomics.notify(ctrl, STATE)
  }
  return state
}

/**
 * The helper's side of a request: claims its job if it is still posted and does it (true: done); then, if asked,
 * lingers for the search's next jobs.
 */
export function helpWithSearch(m: ShareRequest, ctx: HelperContext): boolean {
  const done = claimAndRun(m.ctrl, m.buf, m.seq << 3, ctx, m.delayMsForTests) === DONE
  if (m.linger) lingerOn(m, ctx, LINGER_MS, m.delayMsForTests)
  return done
}

/**
 * Waits on the owner's control block and does each job posted on it, until the owner ends its search, lingerMs pass
 * without a job, a message reaches this helper (its inbox word), a job fails, or the owner's buffer is not the one
 * this helper holds. Only one helper lingers on an owner. Returns the jobs done.
 */
export function lingerOn(ch: ShareChannel, ctx: HelperContext, lingerMs = LINGER_MS, delayMs?: number): number {
  const { ctrl } = ch
  if (Atomics.compareExchange(ctrl, LINGERER, 0, ctx.threadId) !== 0) return 0
  let done = 0
  let interrupted = false
  try {
    const v0 = Atomics.load(ctrl, STATE)
    let until = performance.now() + lingerMs
    for (;;) {
      if (Atomics.load(ctx.inbox, 0) > 0) {
        interrupted = true
        break
      }
      const v = Atomics.load(ctrl, STATE)
      const state = v & 7
      if (state === POSTED) {
        if (Atomics.load(ctrl, GEN) !== ch.gen) break
        const r = claimAndRun(ctrl, ch.buf, v & ~7, ctx, delayMs)
        if (r === FAILED) break
        if (r === DONE) done++
        until = performance.now() + lingerMs
        continue
      }
      if (state === ENDED && v !== v0) break
      const left = until - performance.now()
      if (left <= 0) break
      Atomics.wait(ctrl, STATE, v, left)
    }
  } finally {
    Atomics.compareExchange(ctrl, LINGERER, ctx.threadId, 0)
  }
  // The owner asks the pool only when nobody lingers: a job it posted while this helper was leaving (it saw the mark
  // still set) is seen here, the mark being cleared first (both sides use sequentially consistent atomics).
  if (!interrupted) {
    const v = Atomics.load(ctrl, STATE)
    if ((v & 7) === POSTED && Atomics.load(ctrl, GEN) === ch.gen && claimAndRun(ctrl, ch.buf, v & ~7, ctx, delayMs) === DONE) done++
  }
  return done
}
