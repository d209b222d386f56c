/**
 * Probe sharing: a search worker hands about half of one search's probe (a suffix of the query tokens, see
 * probe-scores.ts ProbeOffload) to an idle sibling worker, so that one query at a time uses two cores where the probe,
 * the largest stage on skewed data, dominates.
 *
 * Protocol, over one SharedArrayBuffer per owner (the job and the answer) and a control word:
 *  - the owner writes the job, sets the word to (seq, POSTED) and asks the pool to forward a help request to an idle
 *    worker; then it scans its own tokens;
 *  - a helper that receives the request claims the job with compare-and-swap (POSTED → CLAIMED), scans the tokens into
 *    the buffer and sets DONE (or FAILED), then notifies;
 *  - when the owner has merged its own tokens it tries the same swap (POSTED → OWNER): if no helper has claimed the
 *    job, it scans the tokens itself (late or dropped requests then find the word changed and do nothing); otherwise
 *    it waits for DONE.
 * The sequence number in the word makes a request that arrives after its search has ended match nothing. Nothing
 * waits on a thread that has not claimed the job, and a claimed job is a bounded scan, so no search waits for another
 * search; a helper that dies mid-job is waited for at most HELPER_WAIT_MS, then the owner scans the tokens itself.
 * The merged result is the same whoever scans a token (probe-scores.ts), so a search's hits do not depend on sharing.
 */
import type { SearchView } from '../index/plaid-search.js'
import {
  createProbeScratch, type ProbeJob, type ProbeLists, type ProbeOffload, type ProbeScratch, type ProbeSource, scanTokensInto, tokenListBound,
} from '../index/probe-scores.js'

const POSTED = 1, CLAIMED = 2, DONE = 3, FAILED = 4, OWNER = 5
const HELPER_WAIT_MS = 30_000
const HEADER = 8 // u32: qlen, dim, stride, from, stopMin (NO_STOP: none), cap

const NO_STOP = 0xffffffff

/** What the owner's worker sends (through the pool) to a helper. */
export interface ProbeHelpRequest { type: 'probe-help'; key: number; ctrl: Int32Array; buf: SharedArrayBuffer; seq: number }

/** Byte offsets of a job's parts in its buffer (8-byte aligned regions first). */
function layout(qlen: number, dim: number, stride: number, from: number, cap: number) {
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

function readJob(buf: SharedArrayBuffer): { job: ProbeJob; lists: ProbeLists } {
  const h = new Uint32Array(buf, 0, HEADER)
  const [qlen, dim, stride, from, stopMin, cap] = h as unknown as number[]
  const L = layout(qlen, dim, stride, from, cap)
  const job: ProbeJob = {
    qlen, stride, from,
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

function sourceOf(view: SearchView): ProbeSource {
  return { ivf: view.ivf!, codec: view.codec!, residuals: view.residuals, docStart: view.docStart, nSlots: view.nSlots, allowed: view.live }
}

export interface ProbeShare {
  /** An offload for one unfiltered search of the version `key` (its allowed documents are the view's live ones). */
  offloadFor(key: number, view: SearchView, claimWaitMs?: number): ProbeOffload
  /** Whether the last collected job was scanned by a helper (tests, diagnostics). */
  readonly lastHelped: boolean
}

/** The owner's side, one per worker: `ask` sends a help request towards the pool. */
export function createProbeShare(ask: (m: ProbeHelpRequest) => void): ProbeShare {
  const ctrl = new Int32Array(new SharedArrayBuffer(4))
  let buf = new SharedArrayBuffer(1 << 16)
  let seq = 0
  let lastHelped = false
  // the scans the owner runs itself use a scratch of their own: the probe's scratch is mid-merge
  const own: ProbeScratch = createProbeScratch()
  let pending: { view: SearchView; job: ProbeJob; lists: ProbeLists } | null = null

  /** claimWaitMs (tests): how long collect() first waits for a helper to claim the job, so that one does */
  function offloadFor(key: number, view: SearchView, claimWaitMs = 0): ProbeOffload {
    return {
      offer(job) {
        const { qlen, stride, from } = job
        const dim = job.query.length / qlen
        let cap = 0
        for (let j = from; j < qlen; j++) cap += tokenListBound(view.ivf!, job, j, view.nSlots)
        const L = layout(qlen, dim, stride, from, cap)
        if (buf.byteLength < L.end) buf = new SharedArrayBuffer(Math.max(L.end, Math.ceil(buf.byteLength * 1.5)))
        new Uint32Array(buf, 0, HEADER).set([qlen, dim, stride, from, job.stop?.min ?? NO_STOP, cap])
        const shared = readJob(buf)
        shared.job.query.set(job.query)
        shared.job.chosen.set(job.chosen.subarray(0, qlen * stride))
        shared.job.counts.set(job.counts.subarray(0, qlen))
        shared.job.bases.set(job.bases.subarray(0, qlen * stride))
        if (job.stop) shared.job.stop!.at.set(job.stop.at.subarray(0, qlen))
        pending = { view, job: shared.job, lists: shared.lists }
        seq = (seq + 1) & 0x0fffffff
        Atomics.store(ctrl, 0, (seq << 3) | POSTED)
        ask({ type: 'probe-help', key, ctrl, buf, seq })
        return true
      },
      collect() {
        const p = pending!
        pending = null
        const tag = seq << 3
        const scanHere = (): ProbeLists => {
          lastHelped = false
          const fresh = readJob(buf) // the shared lists (a helper that gave up or failed no longer writes them)
          scanTokensInto(sourceOf(p.view), fresh.job, own, fresh.lists)
          return fresh.lists
        }
        if (claimWaitMs > 0) Atomics.wait(ctrl, 0, tag | POSTED, claimWaitMs)
        if (Atomics.compareExchange(ctrl, 0, tag | POSTED, tag | OWNER) === (tag | POSTED)) return scanHere()
        const until = performance.now() + HELPER_WAIT_MS
        let v = Atomics.load(ctrl, 0)
        while (v === (tag | CLAIMED) && performance.now() < until) {
          Atomics.wait(ctrl, 0, v, 1000)
          v = Atomics.load(ctrl, 0)
        }
        if (v === (tag | DONE)) {
          lastHelped = true
          return p.lists
        }
        if (v === (tag | CLAIMED)) {
          // a helper that stopped mid-job: scan into a private buffer (it might still write the shared one)
          buf = new SharedArrayBuffer(buf.byteLength)
          new Uint8Array(buf).set(new Uint8Array(p.job.bases.buffer as SharedArrayBuffer))
        }
        return scanHere()
      },
    }
  }

  return {
    offloadFor,
    get lastHelped() { return lastHelped },
  }
}

/**
 * The helper's side: claims the job if it is still posted, scans its tokens on the version `key` (viewOf) with the
 * helper's scratch, and reports DONE, or FAILED when the version is unknown or the scan throws.
 */
export function helpWithProbe(m: ProbeHelpRequest, viewOf: (key: number) => SearchView | undefined, sc: ProbeScratch): boolean {
  const tag = m.seq << 3
  if (Atomics.compareExchange(m.ctrl, 0, tag | POSTED, tag | CLAIMED) !== (tag | POSTED)) return false
  Atomics.notify(m.ctrl, 0) // an owner waiting for the claim (tests)
  let state = FAILED
  try {
    const view = viewOf(m.key)
    if (view !== undefined && view.ivf !== null && view.codec !== null) {
      const { job, lists } = readJob(m.buf)
      scanTokensInto(sourceOf(view), job, sc, lists)
      state = DONE
    }
  } finally {
    Atomics.store(m.ctrl, 0, tag | state)
    Atomics.notify(m.ctrl, 0)
  }
  return state === DONE
}
