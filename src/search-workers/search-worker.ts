/**
 * A search worker thread: holds the published versions of indexes (shared memory, see shared-view.ts) and runs the
 * same `searchIndex` the main thread runs, on the version each search names. Hits go back as slot numbers (in the
 * `id` field) with their scores; the pool maps slots to ids and metadata.
 */
import { parentPort, threadId, workerData } from 'node:worker_threads'
import { createCentroidSet, type CentroidSet } from '../index/kmeans.js'
import { createSearchScratch, searchIndex, type SearchView } from '../index/plaid-search.js'
import { makeCodec, type ResidualCodec } from '../index/residual-codec.js'
import { createSearchShare, type HelperContext, helpWithSearch, lingerOn } from './search-share.js'
import type { SearchRequest, SearchWorkerMessage, SearchWorkerReply } from './protocol.js'
import { readerOf } from '../index/original-rows.js'
import type { SharedViewMessage } from './shared-view.js'

const port = parentPort
if (!port) throw new Error('search-worker must run in a worker thread')

const views = new Map<number, SearchView>()
// A centroid set owns a WebAssembly arena with a decode table for one codec: one per (centroids, codec) pair.
const csets = new Map<string, CentroidSet>()
const codecs = new Map<number, ResidualCodec>()
const scratch = createSearchScratch()
const share = createSearchShare((m) => port.postMessage(m satisfies SearchWorkerReply))
/** Messages the pool has sent and this thread has not yet taken up: a lingering helper leaves when it is not 0. */
const inbox = (workerData as { inbox: Int32Array }).inbox
const helper: HelperContext = { viewOf: (key) => views.get(key), sc: scratch.probe, threadId, inbox }
/** Slot numbers stand in for ids: `view.ids[s]` is the string of s (property keys are strings already). */
const slotIds = new Proxy([] as string[], { get: (target, p) => (p === 'length' ? target.length : typeof p === 'string' ? p : undefined) })
/** Metadata stays on the main thread: filters arrive as allowed-slot bitsets. */
const noMetadata = new Proxy([] as undefined[], { get: () => undefined })

function buildView(m: SharedViewMessage): SearchView {
  let codec: ResidualCodec | null = null
  if (m.codec) {
    codec = codecs.get(m.codec.id) ?? null
    if (codec === null) {
      const c = m.codec
      codec = makeCodec(c.nbits, c.dim, c.cutoffs, c.weights, c.radialFree ? { centroidWeight: c.centroidWeight } : undefined)
      codecs.set(c.id, codec)
    }
  }
  let cset: CentroidSet | null = null
  if (m.cset) {
    const key = `${m.cset.id}:${m.codec?.id ?? 0}`
    cset = csets.get(key) ?? null
    if (cset === null) {
      const c = m.cset
      // createCentroidSet adopts int16 rows (or copies them into its arena): a private copy, the arena's scratch is ours
      cset = createCentroidSet(c.k, c.dim, c.rows.slice(), c.coarse, c.groupOffsets)
      csets.set(key, cset)
    }
  }
  return {
    dim: m.dim, nSlots: m.nSlots, docStart: m.docStart, docLen: m.docLen, live: m.live, ids: slotIds, metadata: noMetadata,
    trained: m.trained, raw: m.raw, codes: m.codes, residuals: m.residuals, cset, codec, ivf: m.ivf,
    originals: m.originals === null ? null : readerOf(m.originals),
  }
}

function runSearch(req: SearchRequest): SearchWorkerReply {
  const view = views.get(req.key)
  if (!view) return { type: 'error', id: req.id, code: 'INTERNAL_ERROR', message: `search worker: version ${req.key} not published` }
  const t0 = performance.now()
  try {
    const allowed = req.allowed
    const params = allowed ? { ...req.params, allowedSlots: allowed } : req.params
    scratch.offload = req.share === true ? share.offloadsFor(req.key, view, req.shareWaitMs, req.linger !== false) : undefined
    let helped = 0
    let found: ReturnType<typeof searchIndex>
    try {
      found = searchIndex(view, req.query, params, scratch)
      helped = scratch.offload !== undefined ? share.helped : 0
    } catch (e) {
      if (scratch.offload !== undefined) share.settle()
      throw e
    } finally {
      if (scratch.offload !== undefined) share.end()
      scratch.offload = undefined
    }
    const { hits, timingsMs } = found
    const slots = new Uint32Array(hits.length)
    const scores = new Float64Array(hits.length)
    for (let i = 0; i < hits.length; i++) {
      slots[i] = Number(hits[i]!.id)
      scores[i] = hits[i]!.score
    }
    return { type: 'result', id: req.id, slots, scores, timingsMs, workerMs: performance.now() - t0, helped }
  } catch (err) {
    const e = err as Error & { code?: string; details?: Record<string, unknown> }
    return { type: 'error', id: req.id, code: e.code ?? 'INTERNAL_ERROR', message: e.message, ...(e.details ? { details: e.details } : {}) }
  }
}

port.on('message', (msg: SearchWorkerMessage) => {
  Atomics.sub(inbox, 0, 1)
  if (msg.type === 'view') views.set(msg.key, buildView(msg))
  else if (msg.type === 'release') {
    for (const k of msg.keys) views.delete(k)
    // centroid sets no live version uses any more
    const used = new Set<string>()
    for (const v of views.values()) if (v.cset) for (const [key, c] of csets) if (c === v.cset) used.add(key)
    for (const key of [...csets.keys()]) if (!used.has(key)) csets.delete(key)
  } else if (msg.type === 'search') {
    const reply = runSearch(msg)
    port.postMessage(reply)
  } else if (msg.type === 'share-help') helpWithSearch(msg, helper)
  else if (msg.type === 'share-linger') lingerOn(msg, helper, undefined, msg.delayMsForTests)
  else if (msg.type === 'close') port.close()
})
port.postMessage({ type: 'ready', share: share.channel() } satisfies SearchWorkerReply)
