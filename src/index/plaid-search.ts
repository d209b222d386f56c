/**
 * The PLAID search over an index's arrays (read-only here), with WARP-style probe scores in place of PLAID's
 * centroid-only candidate ranking:
 *  1. centroids:  S = C·Qᵀ, K×qlen (cost K·qlen·dim); each token's top-ncells centroids are its probed cells, or
 *                 with the default ncells, up to 4·ncells where its scores are flat and its cells small
 *                 (probe-depth.ts).
 *  2. candidates: probe scores (probe-scores.ts): every vector of a token's probed cells scored against that token
 *                 from its packed residual (lookup tables, no decompression); the candidates are the documents they
 *                 reach (cost: Σ probed cell sizes × bytes/vector lookups, plus qlen tables of bytes/vector × 256).
 *  3. approx:     the best 4·ndocs candidates by probe scores alone, then per token the best of the probe score and
 *                 the centroid scores of the document's codes that token did not probe (those whose best S ≥
 *                 threshold), centroid scores weighted as in decoding (SIMD kernel: one f32x4.max per 4 tokens per
 *                 code; the probed (cell, token) pairs hidden as −∞ in S meanwhile). Then the best ndocs are
 *                 refined: each token with flat centroid scores is scored on the document's vector in its best unprobed
 *                 cell, from the residual (unprobed-refine.ts; ndocs · flat tokens pairs).
 *  4. exact:      MaxSim over the decompressed vectors of the best ndocs/4 by the approximate score, growing in steps
 *                 while approx + the largest error seen (exact − approx) can still reach the k-th exact score, at
 *                 most 2·ndocs/4 documents; then up to ndocs/8 more by approx + a per-query credit for the tokens no
 *                 probed vector reaches (unreached-credit.ts); top k (see adaptiveExact).
 * Stage-by-stage survivors for a diagnostic: SearchParams.trace (bench/index-stages.ts, bench/index-matrix.ts --stages).
 * A filter is applied first (an allowed bitset over live slots); when it leaves no more documents than stage 4
 * would score anyway, those documents are scored exactly, and when the candidates that pass it are too few, ncells
 * grows ×4 until enough are found (up to every centroid), so a filtered search returns k hits when k exist.
 * Why probe scores (issue 9, BENCHMARKS.md § Index quality matrix): on skewed data the target's matches are carried
 * by residuals (its centroids are shared with many documents of popular topics); PLAID's centroid-only cut lost
 * 27–43 of 76–81 targets on the skewed presets before they could be scored exactly.
 */
import { AppError } from '../errors.js'
import { dotTile } from './dense-kernels.js'
import { float32Below } from './float32.js'
import { type Ivf, liveVectorsInCell } from './ivf.js'
import { rowCopier, searchRowsOf } from './residual-rows.js'
import { CENTROID_SCALE, type CentroidArena, type CentroidSet, centroidArena, centroidsF32, installDecodeTable, quantizeRows } from './kmeans.js'
import { maxSim } from './maxsim.js'
import { hideProbed, type ProbedCells, restoreProbed } from './probed-cells.js'
import { dequantizeOriginalRow, type OriginalRowsReader } from './original-rows.js'
import { defaultProbeDepthRule, flatTokens, gateScores, probeDepths, type ProbeDepthRule, residualVariance, widenChosen } from './probe-depth.js'
import type { ProbeArena } from './probe-arena.js'
import { codeRuns, copyRunCodes } from './document-codes.js'
import { createProbeScratch, type ProbeOffload, probeRows, probeRowSums, probeScores, type ProbeScratch, type ProbeStop } from './probe-scores.js'
import { decodeVector, type ResidualCodec } from './residual-codec.js'
import { blockMaxima, rankThresholds, rowsAboveScratch, visitRowsAbove } from './rows-above.js'
import { type RefineOffload, refineUnprobed } from './unprobed-refine.js'
import { centroidQ15, decodeUnitStride } from './simd-kernels.js'
import { bestIndices, topIndices } from './top-k.js'
import type { Metadata, SearchHit, SearchParams, SearchStage, SearchTrace } from './types.js'
import { adaptiveThreshold } from './score-threshold.js'
import { type ProbeRows, unreachedCount, unreachedCredit } from './unreached-credit.js'

/** The parts of an index that search reads. */
export interface SearchView {
  dim: number
  nSlots: number
  docStart: Uint32Array
  docLen: Uint32Array
  live: Uint8Array
  ids: string[]
  metadata: Array<Metadata | undefined>
  trained: boolean
  raw: Float32Array
  codes: Uint16Array | Uint32Array
  residuals: Uint8Array
  cset: CentroidSet | null
  codec: ResidualCodec | null
  ivf: Ivf | null
  /** the original vectors (original-rows.ts), by which the exact stage ranks when present */
  originals: OriginalRowsReader | null
}

export interface ResolvedParams { k: number; ncells: number; threshold: number; ndocs: number }


/**
 * Our defaults by k. With probe scores (BENCHMARKS.md § Index quality matrix, "Probe scores"), measured on the seven
 * bench:gen presets (10k documents, nbits 2, 100 queries each, against exact MaxSim over the original vectors):
 *   ncells  how many cells each token probes at least: the probe stage's cost is proportional to it. 8 holds on
 *           every preset but single-topic (4 loses 0.21 there); a fixed 16 or 32 gains 0.04–0.09 there and nothing
 *           elsewhere at 1.5–3× the probe time, so tokens go deeper one by one instead (probe-depth.ts, BENCHMARKS.md
 *           § Probe depth per token).
 *   threshold  which codes' centroid scores count for the tokens a document's probed vectors do not reach (0.4); left
 *           unset, raised per query to its mean centroid score + 0.25 where that is higher, as it is for vectors that
 *           all lean one way (score-threshold.ts).
 *   ndocs   4·ndocs candidates by probe score go to the centroid pass, ndocs/4 (up to ndocs/2, and ndocs/8 more by
 *           the unreached-token credit) to the exact stage;
 *           384 instead of 192 gains 0–0.04 (single-topic) at twice the exact stage.
 * The remaining gap to exact MaxSim (0.012–0.056 at k=10 on 500 queries per preset) is mostly the 2-bit codec's:
 * targets scored exactly on their decompressed vectors and outranked (6–18 of ~400 per preset), which also bounds the
 * reference parameters; before the exact stage only single-topic still loses a few (10 of 437). The same defaults
 * on nbits-4 indexes lose 0–2 there (BENCHMARKS.md § Codec fidelity and the final ranking). Per-request parameters
 * override these.
 */
export function defaultSearchParams(k: number): { ncells: number; centroidScoreThreshold: number; ndocs: number } {
  if (k <= 10) return { ncells: 8, centroidScoreThreshold: 0.4, ndocs: 192 }
  if (k <= 100) return { ncells: 8, centroidScoreThreshold: 0.45, ndocs: Math.max(4 * k, 192) }
  return { ncells: 8, centroidScoreThreshold: 0.4, ndocs: 4 * k }
}

function positiveInt(name: string, v: unknown, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) {
    throw new AppError('INVALID_SEARCH_PARAMS', `${name} must be an integer between 1 and ${max}, got ${String(v)}`)
  }
  return v
}

export function resolveParams(params: SearchParams): ResolvedParams {
  const k = positiveInt('k', params.k, 100_000)
  const d = defaultSearchParams(k)
  const ncells = params.ncells === undefined ? d.ncells : positiveInt('ncells', params.ncells, 1 << 24)
  const ndocs = params.ndocs === undefined ? d.ndocs : positiveInt('ndocs', params.ndocs, 1 << 30)
  const threshold = params.centroidScoreThreshold ?? d.centroidScoreThreshold
  if (typeof threshold !== 'number' || !Number.isFinite(threshold)) {
    throw new AppError('INVALID_SEARCH_PARAMS', `centroid_score_threshold must be a finite number, got ${String(threshold)}`)
  }
  return { k, ncells, threshold, ndocs }
}

/** Per-index scratch reused across searches (searches are synchronous, so one set per index suffices). */
export interface SearchScratch {
  S: Float32Array; kept: Uint8Array; probe: ProbeScratch
  /** byte offset of S in the centroid arena, −1 when S lives in `S` */
  sPtr: number
  /** another thread that may do part of a search's stages (search workers set it per search) */
  offload?: { centroids: CentroidOffload; probe: ProbeOffload; exact: ExactOffload; refine: RefineOffload }
}

/**
 * Another thread that can compute the centroid scores of rows [from, K) while this one computes the others
 * (search-workers/search-share.ts): integer dot products over the same int16 rows and query, so the same values.
 */
export interface CentroidOffload {
  offer(query: Float32Array, qlen: number, from: number): boolean
  /** (K − from) × qlen scores (valid until the next offer): waits for the thread that took them, or computes them here */
  collect(): Float32Array
}

/**
 * Another thread that can score a batch's second half exactly while this one scores the first (search-workers/
 * search-share.ts). Each document's score is computed alone (decoded rows, their products, its own maxima), so it does
 * not depend on which thread or batch scores it.
 */
export interface ExactOffload {
  /** Offers the documents `slots`; false when no other thread can take them (they are scored here). */
  offer(query: Float32Array, qlen: number, slots: Uint32Array): boolean
  /** Their scores (valid until the next offer): waits for the thread that took them, or scores them here. */
  collect(): Float32Array
}

export function createSearchScratch(): SearchScratch {
  return { S: new Float32Array(0), kept: new Uint8Array(0), probe: createProbeScratch(), sPtr: -1 }
}


export function searchIndex(
  view: SearchView, query: Float32Array, params: SearchParams, scratch: SearchScratch,
): { hits: SearchHit[]; timingsMs: Partial<Record<SearchStage, number>> } {
  const p = resolveParams(params)
  const { dim } = view
  if (!(query instanceof Float32Array) || query.length === 0 || query.length % dim !== 0) {
    throw new AppError('DIMENSION_MISMATCH', `query must be a non-empty Float32Array of qlen×${dim} values, got ${query?.length}`)
  }
  const qlen = query.length / dim
  const timingsMs: Partial<Record<SearchStage, number>> = {}

  // allowed slots: live and passing the filter (evaluated here, or already by the caller)
  let allowed = view.live
  if (params.allowedSlots) {
    allowed = params.allowedSlots
    if (allowed.length < view.nSlots) throw new AppError('INVALID_SEARCH_PARAMS', `allowedSlots must have a flag for each of the ${view.nSlots} slots, got ${allowed.length}`)
  } else if (params.filter) {
    const f = params.filter
    allowed = new Uint8Array(view.nSlots)
    for (let s = 0; s < view.nSlots; s++) if (view.live[s] && f(view.metadata[s], view.ids[s])) allowed[s] = 1
  }
  let nAllowed = 0
  for (let s = 0; s < view.nSlots; s++) nAllowed += allowed[s]
  if (nAllowed === 0) return { hits: [], timingsMs }

  const need = Math.max(p.k, Math.floor(p.ndocs / 4))
  if (!view.trained) {
    const t0 = performance.now()
    const slots = listAllowed(allowed, view.nSlots, nAllowed)
    const scores = new Float32Array(slots.length)
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i]
      scores[i] = maxSim(query, qlen, view.raw, view.docStart[s] * dim, view.docLen[s], dim)
    }
    const hits = pickHits(view, slots, scores, p.k)
    timingsMs.exact = performance.now() - t0
    traceExact(params.trace, view, slots, hits)
    return { hits, timingsMs }
  }

  const cset = view.cset!
  const K = cset.k
  if (nAllowed <= need) {
    // the filter leaves few documents: score them all exactly (centroid scores only for the codes they use)
    const t0 = performance.now()
    const slots = listAllowed(allowed, view.nSlots, nAllowed)
    const scores = exactScores(view, query, qlen, slots)
    const hits = pickHits(view, slots, scores, p.k)
    timingsMs.exact = performance.now() - t0
    traceExact(params.trace, view, slots, hits)
    return { hits, timingsMs }
  }

  let t = performance.now()
  // part of the stages may run on another thread, with the same results (a probe part carries the allowed flags)
  const offload = scratch.offload
  const S = centroidScores(cset, query, qlen, scratch, offload?.centroids)
  const sPtr = scratch.sPtr
  if (scratch.kept.length < K) scratch.kept = new Uint8Array(K)
  const kept = scratch.kept
  let ncells = Math.min(p.ncells, K)
  // each token probes at least ncells cells; with the default ncells, more where its scores are flat and its cells
  // small (probe-depth.ts); an explicit ncells probes exactly that many
  const depth = params.ncells === undefined ? defaultProbeDepthRule(ncells, K) : null
  let stride = ncells
  // unset, the threshold rises where this query's centroid scores all sit high (score-threshold.ts)
  const threshold = params.centroidScoreThreshold === undefined ? adaptiveThreshold(sView(view, S, sPtr, K, qlen), K, qlen, p.threshold) : p.threshold
  // each token's top-ncells centroids, and which centroids some token scores ≥ threshold (kept, for pruning)
  let chosen = scanScores(S, qlen, K, ncells, threshold, kept, cset.arena, sPtr)
  let counts: Uint32Array = new Uint32Array(qlen).fill(ncells)
  let stop: ProbeStop | undefined
  // the tokens whose first ncells cells are within residual noise of their best (probe-depth.ts flatTokens)
  let flat: Uint8Array
  // each token's residual spread σ_j (probe-depth.ts gateScores) and the rule's z: the refinement skips the pairs that
  // would need a residual beyond z·σ_j to gain anything
  const rule = depth ?? defaultProbeDepthRule(ncells, K)
  let sigma: Float64Array
  if (depth !== null) {
    const deeper = deeperCells(view, depth, sView(view, S, sPtr, K, qlen), sPtr, qlen, chosen, query)
    chosen = deeper.cells
    counts = deeper.counts
    stop = deeper.stop
    flat = deeper.flat
    sigma = deeper.sigma
    stride = depth.max
  } else {
    const Snow = sView(view, S, sPtr, K, qlen)
    const gates = tokenGates(view, rule, Snow, qlen, chosen, ncells, query)
    flat = flatTokens(Snow, qlen, chosen, ncells, ncells, gates.gate)
    sigma = gates.sigma
  }
  // S re-taken: scanScores and deeperCells may grow the arena (detaching views), and so may each probe
  let Sv = sView(view, S, sPtr, K, qlen)
  let now = performance.now()
  timingsMs.centroids = now - t
  t = now

  // Probe scores (probe-scores.ts) for every vector of each token's probed cells; a document no probed vector of
  // token j reaches starts token j at the floor. Too few documents (a narrow filter): probe more cells.
  const codec = view.codec!
  const w = codec.centroidWeight
  // A token that neither a probed vector nor a kept code of the document reaches is credited what its vectors could
  // still score: they lie in cells this token did not probe (centroid score ≤ its last probed cell's) whose codes are
  // not kept (best score < threshold), so about centroidWeight · min(threshold, last probed score). Per token: a noisy
  // token far from every centroid credits little, one in a dense popular region up to the threshold. Measured on the
  // seven presets (BENCHMARKS.md § Probe scores): crediting 0 lost targets ranked below documents that match many
  // tokens moderately (zipf-quarter 0.77, uneven-tail 0.74); crediting the threshold alone lost documents matching
  // few tokens well (single-topic 0.76 -> 0.42, many-topics 0.80 -> 0.69); this floor: 0.81, 0.78, 0.75, 0.80.
  const floor = new Float32Array(qlen)
  const setFloor = (): void => {
    for (let j = 0; j < qlen; j++) floor[j] = w * Math.min(threshold, Sv[chosen[j * stride + counts[j] - 1] * qlen + j])
  }
  setFloor()
  const arena = probeArenaOf(cset, qlen)
  const probeCells = (): ReturnType<typeof probeScores> => {
    const r = probeScores(view.ivf!, codec, view.residuals, view.docStart, view.nSlots, allowed, query, qlen, Sv, chosen, stride, counts, floor, scratch.probe, stop, offload?.probe, arena)
    // the probe lays out its arrays past S in the arena, which may grow it (detaching views)
    Sv = sView(view, Sv, sPtr, K, qlen)
    return r
  }
  // A token the probe stops early (probe-depth.ts) keeps the floor of its planned depth: it has found its match, and a
  // document none of its first cells reach gets no more credit than its planned last cell. (Lifting that floor to the
  // shallower last cell loosened the approximation: uniform's exact stage then scored its maximum of 96 documents on
  // the median query instead of 64, at the same success@10.)
  let probe = probeCells()
  while (probe.slots.length < need && ncells < K) {
    stop = undefined
    ncells = Math.min(K, Math.max(stride, ncells * 4))
    stride = ncells
    counts = new Uint32Array(qlen).fill(ncells)
    chosen = topCentroidsPerToken(Sv, qlen, K, ncells)
    setFloor()
    probe = probeCells()
  }
  const cands = probe.slots
  now = performance.now()
  timingsMs.candidates = now - t
  t = now
  const trace = params.trace
  if (trace !== undefined) {
    trace.candidates = slotIds(view, cands)
    let cells = 0
    for (let j = 0; j < qlen; j++) cells += counts[j]
    trace.budgets = { ncells, cells: cells / qlen, threshold, ndocs: p.ndocs, exact: need, candidates: cands.length }
  }

  // Approximate score of every candidate: per token, the best of its probe score and the centroid scores of its
  // other vectors (codes with a best score ≥ threshold in cells this token did not probe: probed-cells.ts), centroid
  // scores weighted by centroidWeight like the probe scores' centroid part, so that both estimate the same
  // undecompressed vector score. (Unweighted, a centroid score overstates a vector's by ~1/centroidWeight ≈ 1.3 and the
  // ranking favours long documents of popular topics over the one whose vectors the query matches.)
  // The candidates beyond the best 4·ndocs by probe scores alone are dropped before the centroid pass (on skewed
  // data nearly every document is a candidate: a function-word cell is probed by some token).
  let pool = cands
  let init: Float32Array
  const M = 4 * p.ndocs
  if (cands.length > M) {
    const probeOnly = probeRowSums(probe, qlen)
    // the set of the M best, unsorted: nothing after depends on the pool's order (the exact stage ranks it by
    // approximate score, ties by slot), and sorting M of them cost 0.2 ms
    const order = bestIndices(probeOnly, cands, cands.length, M, new Uint32Array(cands.length))
    pool = new Uint32Array(order.length)
    for (let i = 0; i < order.length; i++) pool[i] = cands[order[i]]
    init = probeRows(probe, qlen, order)
  } else init = probeRows(probe, qlen)
  const probeInit = Float32Array.from(init)
  for (let i = 0; i < init.length; i++) init[i] /= w
  const probed: ProbedCells = { chosen, stride, counts }
  const approx = approxUnprobed(view, Sv, sPtr, qlen, pool, kept, floor, init, probed)
  Sv = sView(view, Sv, sPtr, K, qlen)
  for (let i = 0; i < approx.length; i++) approx[i] *= w
  // the best ndocs by approximate score: each flat token is scored on one more vector of the document, from its
  // residual (unprobed-refine.ts); the arena's memory past S is free again (the approximate stage is done)
  const refineArena = sPtr >= 0 && cset.arena !== null ? { kernels: cset.arena.arena, sPtr, at: probeArenaOf(cset, qlen)!.at } : null
  refineUnprobed(view, {
    query, qlen, S: () => (Sv = sView(view, Sv, sPtr, K, qlen)), cells: probed, flat,
    pool, approx, init: probeInit, m: p.ndocs, noise: { sigma, z: rule.z }, arena: refineArena, offload: offload?.refine,
  })
  if (trace !== undefined) {
    // one ranking of the pool (score, then slot, as topIndices ranks any prefix): the pruned cut is its first ndocs
    const order = topIndices(approx, pool, pool.length, pool.length, new Uint32Array(pool.length))
    trace.approx = { ids: Array.from(order, (i) => view.ids[pool[i]]), scores: Array.from(order, (i) => approx[i]) }
    if (pool.length > p.ndocs) trace.pruned = trace.approx.ids.slice(0, p.ndocs)
  }
  now = performance.now()
  timingsMs.approx = now - t
  t = now
  const { scored, scores } = adaptiveExact(view, query, qlen, pool, approx, { rows: probeInit, floor, qlen }, need, p.k, offload?.exact)
  if (trace !== undefined) {
    trace.unpruned = slotIds(view, scored)
    trace.budgets!.exact = scored.length
  }
  const hits = pickHits(view, scored, scores, p.k)
  timingsMs.exact = performance.now() - t
  if (trace !== undefined) trace.final = hits.map((h) => h.id)
  return { hits, timingsMs }
}

/** Per-codec residual variances, computed once per codec (read by every adaptive search). */
const varianceOf = new WeakMap<ResidualCodec, Float32Array>()

function deeperCells(
  view: SearchView, rule: ProbeDepthRule, S: Float32Array, sPtr: number, qlen: number, chosen: Uint32Array, query: Float32Array,
): { cells: Uint32Array; counts: Uint32Array; stop: ProbeStop; flat: Uint8Array; sigma: Float64Array } {
  const cset = view.cset!
  const { gate, stopAt, sigma } = tokenGates(view, rule, S, qlen, chosen, rule.min, query)
  const flat = flatTokens(S, qlen, chosen, rule.min, rule.min, gate)
  const { cells, available } = widenChosen(S, qlen, cset.k, chosen, rule.min, rule.max, gate, cset.arena, sPtr)
  S = sView(view, S, sPtr, cset.k, qlen) // widenChosen may have grown the arena
  // live vectors per cell (not the lists' entries, which keep deleted vectors until a rebuild): the same for a live
  // index and its loaded snapshot, so the depths and results are too
  const ivf = view.ivf!, k = ivf.k
  const listSize = (c: number): number => liveVectorsInCell(ivf, c)
  let total = 0
  for (let c = 0; c < k; c++) total += listSize(c)
  return { cells, counts: probeDepths(rule, S, qlen, cells, rule.max, available, gate, listSize, total / k), stop: { min: rule.min, at: stopAt }, flat, sigma }
}

/** probe-depth.ts gateScores with the codec's residual variances (computed once per codec). */
function tokenGates(
  view: SearchView, rule: ProbeDepthRule, S: Float32Array, qlen: number, chosen: Uint32Array, stride: number, query: Float32Array,
): { gate: Float64Array; stopAt: Float64Array; sigma: Float64Array } {
  const codec = view.codec!
  let variance = varianceOf.get(codec)
  if (variance === undefined) {
    variance = residualVariance(codec)
    varianceOf.set(codec, variance)
  }
  return gateScores(rule, S, qlen, chosen, stride, query, view.dim, variance, codec.centroidWeight)
}

/**
 * The exact stage with a size chosen from the approximate scores. The pool's best `need` documents by approximate
 * score are scored exactly first; their errors e = exact − approx tell how far the approximation can understate a
 * document for this query and index. A document not yet scored can still enter the top k only if approx + max e
 * reaches the current k-th exact score, so the next documents in approximate order are scored, in batches of need/2,
 * while that holds (at most 2·need documents, which bounds the stage at twice its former cost). Where the
 * approximation separates the top k clearly this stops at `need`; where it is loose (skewed data, noisy queries) the
 * stage grows instead of losing the target.
 * Then, where the first batch shows that tokens no probed vector reaches scored above their floor (unreached-credit.ts),
 * up to need/2 more documents: those the approximate order passed over whose approx + credit × unreached tokens, plus
 * the largest error of that estimate seen, still reaches the k-th exact score, best estimate first. Only documents are
 * added, so the top k can only move toward exact MaxSim's.
 * Deterministic: the orders are by score with ties by slot, and the bound and credit use only the scored set.
 */
function adaptiveExact(
  view: SearchView, query: Float32Array, qlen: number, pool: Uint32Array, approx: Float32Array, probe: ProbeRows, need: number, k: number,
  offload?: ExactOffload,
): { scored: Uint32Array; scores: Float32Array } {
  const n = Math.min(pool.length, 2 * need)
  const extra = Math.min(pool.length - n, Math.ceil(need / 2))
  const order = new Uint32Array(n + extra)
  order.set(topIndices(approx, pool, pool.length, n, new Uint32Array(pool.length)))
  const slots = new Uint32Array(n + extra)
  for (let i = 0; i < n; i++) slots[i] = pool[order[i]]
  const scores = new Float32Array(n + extra)
  const kth = new Float32Array(k).fill(-Infinity) // the k best exact scores so far, descending
  let errMax = -Infinity
  let done = 0
  let next = Math.min(n, need)
  const step = Math.max(k, Math.ceil(need / 2))
  while (done < n) {
    scoreBatch(view, query, qlen, slots, done, next, scores, offload)
    for (let i = done; i < next; i++) {
      const e = scores[i] - approx[order[i]]
      if (e > errMax) errMax = e
      const x = scores[i]
      if (x > kth[k - 1]) {
        let j = k - 1
        while (j > 0 && kth[j - 1] < x) { kth[j] = kth[j - 1]; j-- }
        kth[j] = x
      }
    }
    done = next
    let end = done
    const limit = Math.min(n, done + step)
    while (end < limit && approx[order[end]] + errMax >= kth[k - 1]) end++
    if (end === done) break
    next = end
  }
  if (extra === 0) return { scored: slots.subarray(0, done), scores: scores.subarray(0, done) }

  const first = Math.min(done, need)
  const counts = new Uint16Array(first)
  const errors = new Float64Array(first)
  for (let i = 0; i < first; i++) {
    counts[i] = unreachedCount(probe, order[i])
    errors[i] = scores[i] - approx[order[i]]
  }
  const credit = unreachedCredit(errors, counts, first)
  if (credit === 0) return { scored: slots.subarray(0, done), scores: scores.subarray(0, done) }
  const estimate = new Float32Array(pool.length)
  for (let i = 0; i < pool.length; i++) estimate[i] = approx[i] + credit * unreachedCount(probe, i)
  // the largest error of the estimate among the scored, which then drop out of its ranking
  let estErrMax = -Infinity
  for (let i = 0; i < done; i++) {
    estErrMax = Math.max(estErrMax, scores[i] - estimate[order[i]])
    estimate[order[i]] = -Infinity
  }
  const more = topIndices(estimate, pool, pool.length, extra, new Uint32Array(pool.length))
  let end = done
  for (let i = 0; i < extra && estimate[more[i]] + estErrMax >= kth[k - 1]; i++, end++) {
    order[end] = more[i]
    slots[end] = pool[more[i]]
  }
  scoreBatch(view, query, qlen, slots, done, end, scores, offload)
  return { scored: slots.subarray(0, end), scores: scores.subarray(0, end) }
}

/**
 * Exact scores of slots[from..to) into scores[from..to). With an offload and a batch worth splitting, the documents
 * after the one where the batch's vectors reach half are offered to another thread (same scores either way).
 */
function scoreBatch(
  view: SearchView, query: Float32Array, qlen: number, slots: Uint32Array, from: number, to: number, scores: Float32Array, offload?: ExactOffload,
): void {
  if (offload !== undefined && to - from >= MIN_SHARED_BATCH) {
    let total = 0
    for (let i = from; i < to; i++) total += view.docLen[slots[i]]
    let mid = from, half = 0
    while (mid < to - 1 && 2 * (half + view.docLen[slots[mid]]) <= total) half += view.docLen[slots[mid++]]
    if (mid > from && offload.offer(query, qlen, slots.subarray(mid, to))) {
      scores.set(exactScores(view, query, qlen, slots.subarray(from, mid)), from)
      scores.set(offload.collect(), mid)
      return
    }
  }
  scores.set(exactScores(view, query, qlen, slots.subarray(from, to)), from)
}

/** Below this many documents a batch is scored on one thread (the hand-over would cost about what it saves). */
const MIN_SHARED_BATCH = 16

function slotIds(view: SearchView, slots: Uint32Array): string[] {
  return Array.from(slots, (s) => view.ids[s])
}

/** Exact paths (untrained index, or a filter leaving few documents): every allowed document is a candidate. */
function traceExact(trace: SearchTrace | undefined, view: SearchView, slots: Uint32Array, hits: SearchHit[]): void {
  if (trace === undefined) return
  trace.candidates = trace.unpruned = slotIds(view, slots)
  trace.final = hits.map((h) => h.id)
}

/**
 * S[c·qlen + j] = C_c · q_j (int16 centroids × int16-rounded query, int32 sums), computed in the centroid arena and
 * returned as a view of it: valid until the arena next grows (the exact stage may grow it, and runs last).
 * TypeScript loop into scratch without SIMD.
 */
function centroidScores(cset: CentroidSet, query: Float32Array, qlen: number, sc: SearchScratch, offload?: CentroidOffload): Float32Array {
  const ca = centroidArena(cset)
  const n = cset.k * qlen
  if (ca === null) {
    if (sc.S.length < n) sc.S = new Float32Array(n)
    dotTile(centroidsF32(cset), 0, cset.k, query, 0, qlen, cset.dim, sc.S, 0)
    sc.sPtr = -1
    return sc.S
  }
  // with an offload, rows [K/2, K) are offered to another thread and copied in when collected
  const half = offload !== undefined && cset.k >= MIN_SHARED_CENTROIDS ? cset.k >> 1 : cset.k
  const shared = half < cset.k && offload!.offer(query, qlen, half)
  const sPtr = centroidScoreRows(cset, query, qlen, 0, shared ? half : cset.k)
  const { arena } = ca
  if (shared) {
    const rest = offload!.collect()
    arena.reserve(sPtr + n * 4)
    arena.f32(sPtr + half * qlen * 4, (cset.k - half) * qlen).set(rest)
  }
  sc.sPtr = sPtr
  return arena.f32(sPtr, n)
}

/** Below this many centroids the scores are computed on one thread (the hand-over would cost about what it saves). */
const MIN_SHARED_CENTROIDS = 2048

/**
 * Centroid scores of rows [from, to) (int16 centroids × int16-rounded query, int32 sums) into the arena's scratch; returns
 * the byte offset of the whole K × qlen score matrix there (rows outside [from, to) not written). Needs the arena.
 */
export function centroidScoreRows(cset: CentroidSet, query: Float32Array, qlen: number, from: number, to: number): number {
  const { arena, scratch } = centroidArena(cset)!
  const q16 = new Int16Array(qlen * cset.dim)
  const qs = quantizeRows(query, 0, qlen, cset.dim, q16)
  const qBytes = qlen * cset.dim * 2
  arena.reserve(scratch + qBytes + cset.k * qlen * 4) // S (scanScores reserves its own scratch after it)
  arena.i16(scratch, qlen * cset.dim).set(q16)
  const sPtr = scratch + qBytes
  arena.dotTileI16(from * cset.dim * 2, to - from, scratch, qlen, cset.dim, sPtr + from * qlen * 4, CENTROID_SCALE / qs)
  return sPtr
}

/**
 * Per token j its top-ncells centroids (qlen·ncells entries, best first), and kept[c] = 1 when some token scores
 * centroid c at least `threshold` (its codes count in the approximate scores), else 0.
 * With the arena (kernels over S in place): one kernel pass deals the rows into blocks and keeps each block's best
 * score per token, and kept, in the same pass (rows-above.ts blockMaxima); per token the ncells-th best block maximum
 * bounds its ncells-th best row from below, and one rows-above pass lists only the (row, token) pairs at or above that
 * bound, which are inserted: on zipf-steep (16384 centroids × 32 tokens) 258 insertions a query instead of the 15,500
 * that chunks growing ×4 from a 256-row sample inserted (0.50 → 0.23 ms; BENCHMARKS § Centroid, probe and approximate
 * stages in fewer steps). Without the arena: row maxima, then a row is skipped in one comparison when its maximum is
 * not above the lowest of the tokens' ncells-th best (`gate`). Both insert each token's rows in ascending order with
 * the same strict comparisons (a row below the bound or the gate is one that could not stay among the best), so they
 * choose the same cells.
 */
export function scanScores(
  S: Float32Array, qlen: number, K: number, ncells: number, threshold: number, kept: Uint8Array, ca: CentroidArena | null, sPtr: number,
  tokenBest?: Float32Array,
): Uint32Array {
  const out = new Uint32Array(qlen * ncells)
  const best = new Float32Array(qlen * ncells).fill(-Infinity)
  const last = ncells - 1
  const insert = (c: number, j: number): boolean => {
    const s = S[c * qlen + j]
    const o = j * ncells
    if (s <= best[o + last]) return false
    let i = last
    while (i > 0 && best[o + i - 1] < s) { best[o + i] = best[o + i - 1]; out[o + i] = out[o + i - 1]; i-- }
    best[o + i] = s
    out[o + i] = c
    return true
  }
  if (ca !== null && sPtr >= 0 && qlen % 4 === 0) {
    const ra = rowsAboveScratch(ca, sPtr, K, qlen)
    const { thr } = ra
    S = ra.S // (re)taken: the reserve may have grown the memory
    // kept, and per token a bound its ncells-th best row reaches; then one pass listing the rows at or above it
    const maxima = blockMaxima(ca, ra, sPtr, K, qlen, { threshold, into: kept })
    const bound = rankThresholds(ca, ra, maxima, qlen, ncells)
    for (let j = 0; j < qlen; j++) thr[j] = bound[j] === -Infinity ? -Infinity : float32Below(bound[j])
    visitRowsAbove(ca, ra, sPtr, qlen, 0, K, insert)
  } else {
    const maxS = new Float32Array(K)
    for (let c = 0; c < K; c++) {
      let m = -Infinity
      for (let j = 0, row = c * qlen; j < qlen; j++) if (S[row + j] > m) m = S[row + j]
      maxS[c] = m
      kept[c] = m >= threshold ? 1 : 0
    }
    let gate = -Infinity
    for (let c = 0; c < K; c++) {
      if (maxS[c] <= gate) continue
      let changed = false
      for (let j = 0; j < qlen; j++) changed = insert(c, j) || changed
      if (changed) {
        gate = Infinity
        for (let j = 0; j < qlen; j++) if (best[j * ncells + last] < gate) gate = best[j * ncells + last]
      }
    }
  }
  if (tokenBest !== undefined) for (let j = 0; j < qlen; j++) tokenBest[j] = best[j * ncells]
  return out
}

/**
 * Where the probe may scan in WebAssembly (probe-arena.ts): the centroid arena past the query and S of a qlen-token
 * search (centroidScoreRows' layout), so that neither is overwritten; none without the arena.
 */
export function probeArenaOf(cset: CentroidSet, qlen: number): ProbeArena | undefined {
  const ca = centroidArena(cset)
  if (ca === null) return undefined
  return { kernels: ca.arena, at: ca.scratch + qlen * cset.dim * 2 + cset.k * qlen * 4 }
}

/** S as a fresh view: in the centroid arena a memory growth detaches earlier views. */
function sView(view: SearchView, S: Float32Array, sPtr: number, K: number, qlen: number): Float32Array {
  const ca = view.cset!.arena
  return sPtr >= 0 && ca !== null ? ca.arena.f32(sPtr, K * qlen) : S
}

function listAllowed(allowed: Uint8Array, nSlots: number, n: number): Uint32Array {
  const out = new Uint32Array(n)
  let i = 0
  for (let s = 0; s < nSlots; s++) if (allowed[s]) out[i++] = s
  return out
}

/** For each query token j, the ncells centroids with the highest S[c, j] (qlen·ncells entries). */
export function topCentroidsPerToken(S: Float32Array, qlen: number, K: number, ncells: number): Uint32Array {
  const out = new Uint32Array(qlen * ncells)
  if (ncells >= K) {
    for (let j = 0; j < qlen; j++) for (let c = 0; c < K; c++) out[j * ncells + c] = c
    return out
  }
  const best = new Float32Array(qlen * ncells).fill(-Infinity)
  for (let c = 0; c < K; c++) {
    const row = c * qlen
    for (let j = 0; j < qlen; j++) {
      const s = S[row + j]
      const o = j * ncells
      if (s <= best[o + ncells - 1]) continue
      let i = ncells - 1
      while (i > 0 && best[o + i - 1] < s) { best[o + i] = best[o + i - 1]; out[o + i] = out[o + i - 1]; i-- }
      best[o + i] = s
      out[o + i] = c
    }
  }
  return out
}

/**
 * approxScores with each token's probed cells hidden (probed-cells.ts): per token j the best of init (the probe score)
 * and the centroid scores of the document's kept codes in cells token j did not probe. S is as it was afterwards (take
 * a fresh view: the kernel's scratch may have grown the arena).
 */
export function approxUnprobed(
  view: SearchView, S: Float32Array, sPtr: number, qlen: number, slots: Uint32Array, kept: Uint8Array, floor: Float32Array, init: Float32Array,
  probed: ProbedCells,
): Float32Array {
  const hidden = hideProbed(S, qlen, probed)
  try {
    return approxScores(view, S, sPtr, qlen, slots, kept, floor, init)
  } finally {
    restoreProbed(sView(view, S, sPtr, view.cset!.k, qlen), qlen, probed, hidden)
  }
}

/**
 * Centroid-interaction scores Σ_j max over the doc's (kept) codes of S[code, j]. In the centroid arena's kernel when S
 * lives there (uint16 codes, qlen % 4 == 0): the candidates' codes are copied in (2 bytes each) and scored there.
 */
function approxScores(
  view: SearchView, S: Float32Array, sPtr: number, qlen: number, slots: Uint32Array, kept: Uint8Array | null, floor: Float32Array,
  init?: Float32Array,
): Float32Array {
  const out = new Float32Array(slots.length)
  const ca = view.cset!.arena
  if (sPtr >= 0 && ca !== null && view.codes instanceof Uint16Array && qlen % 4 === 0) {
    const K = view.cset!.k
    const codes = view.codes
    const { arena } = ca
    const keptPtr = sPtr + K * qlen * 4
    const codesPtr = keptPtr + Math.ceil(K / 16) * 16
    // documents go in runs of ≤ APPROX_CHUNK codes so the arena's scratch stays small (it never shrinks)
    const { bounds, maxDocs, maxCodes } = codeRuns(view.docLen, slots, APPROX_CHUNK)
    const endsPtr = codesPtr + Math.ceil((maxCodes * 2) / 16) * 16
    const accPtr = endsPtr + maxDocs * 4
    const outPtr = accPtr + qlen * 8
    const initPtr = outPtr + Math.ceil((maxDocs * 4) / 16) * 16
    arena.reserve(initPtr + (init === undefined ? 0 : maxDocs * qlen * 4))
    if (kept !== null) arena.u8(keptPtr, K).set(kept.subarray(0, K))
    arena.f32(accPtr + qlen * 4, qlen).set(floor)
    for (let r = 0; r + 1 < bounds.length; r++) {
      const i0 = bounds[r], i1 = bounds[r + 1]
      copyRunCodes(codes, view.docStart, view.docLen, slots, i0, i1, arena.u16(codesPtr, maxCodes), arena.i32(endsPtr, i1 - i0))
      if (init !== undefined) arena.f32(initPtr, (i1 - i0) * qlen).set(init.subarray(i0 * qlen, i1 * qlen))
      arena.approx(codesPtr, endsPtr, i1 - i0, sPtr, qlen, kept === null ? 0 : keptPtr, accPtr, outPtr, init === undefined ? 0 : initPtr)
      out.set(arena.f32(outPtr, i1 - i0), i0)
    }
    return out
  }
  const acc = new Float32Array(qlen)
  const { codes, docStart, docLen } = view
  for (let i = 0; i < slots.length; i++) {
    const s = slots[i]
    if (init !== undefined) acc.set(init.subarray(i * qlen, (i + 1) * qlen))
    else acc.set(floor)
    const a = docStart[s], b = a + docLen[s]
    for (let v = a; v < b; v++) {
      const c = codes[v]
      if (kept !== null && kept[c] === 0) continue
      const row = c * qlen
      for (let j = 0; j < qlen; j++) if (S[row + j] > acc[j]) acc[j] = S[row + j]
    }
    let total = 0
    for (let j = 0; j < qlen; j++) total += acc[j]
    out[i] = total
  }
  return out
}


let decodeScratch = new Float32Array(0)
let simScratch = new Float32Array(0)

/**
 * Exact MaxSim of each slot's decompressed vectors against the query: the survivors' vectors are decompressed into
 * one matrix of int16 rows and their 1 / norms (WebAssembly decode kernel: a 4-dimension unit per table lookup;
 * O(vectors·dim)), scored against the query tokens as one SIMD tile (vectors·qlen·dim multiply-adds), then each row
 * scaled by its 1 / norm and reduced per document. Measured on 11.5k
 * vectors (dim 128, nbits 2): decode 20 ms in TypeScript vs 6 ms in the kernel; a per-byte lookup table over the
 * packed residuals (no decompression) was 3–5× slower than decompress + SIMD tile for all qlen tokens, so it is not
 * used here (probe-scores.ts uses one: there each vector meets only the one or two tokens that probed its cell).
 */
export function exactScores(view: SearchView, query: Float32Array, qlen: number, slots: Uint32Array): Float32Array {
  const out = new Float32Array(slots.length)
  // the query in int16 once for all chunks (a k=10 search on skewed data scores ~10 chunks)
  const q = lazyQuantized(query, qlen, view.dim)
  // chunks of documents with ≤ EXACT_CHUNK vectors bound the scratch memory (a longer document is a chunk alone)
  const { bounds, totals } = codeRuns(view.docLen, slots, EXACT_CHUNK)
  for (let r = 0; r + 1 < bounds.length; r++) exactChunk(view, query, q, qlen, slots, bounds[r], bounds[r + 1], totals[r], out)
  return out
}

let EXACT_CHUNK = 2048
let APPROX_CHUNK = 32768

/** Test hook: smaller chunks make the multi-chunk paths run on small data. */
export function setChunkSizesForTests(exact: number, approx: number): void {
  EXACT_CHUNK = exact
  APPROX_CHUNK = approx
}

/** Where the exact stage puts, after `inputBytes` of a chunk's input: the rows' factors, their int16 rows, the query, the sims. */
interface RowsLayout { factorsPtr: number; v16Ptr: number; qPtr: number; sPtr: number }

/** The layout for `total` rows (the arena grown to hold it: take views of the input only after this). */
function rowsLayout(ca: CentroidArena, inputBytes: number, total: number, dim: number, qlen: number): RowsLayout {
  const factorsPtr = ca.scratch + Math.ceil(inputBytes / 16) * 16
  const v16Ptr = factorsPtr + Math.ceil(total / 4) * 16
  const qPtr = v16Ptr + total * dim * 2
  const sPtr = qPtr + qlen * dim * 2
  ca.arena.reserve(sPtr + total * qlen * 4)
  return { factorsPtr, v16Ptr, qPtr, sPtr }
}

/** The query rounded to int16 rows (quantizeRows) and its scale, computed on first use. */
type QuantizedQuery = () => { q16: Int16Array; scale: number }

function lazyQuantized(query: Float32Array, qlen: number, dim: number): QuantizedQuery {
  let q: { q16: Int16Array; scale: number } | undefined
  return () => {
    if (q === undefined) {
      const q16 = new Int16Array(qlen * dim)
      q = { q16, scale: quantizeRows(query, 0, qlen, dim, q16) }
    }
    return q
  }
}

/** The int16 rows against the int16 query: sims at sPtr, total × qlen, not yet × the rows' factors. */
function tileRows(arena: CentroidArena['arena'], at: RowsLayout, total: number, query: QuantizedQuery, qlen: number, dim: number): Float32Array {
  const { q16, scale } = query()
  arena.i16(at.qPtr, qlen * dim).set(q16)
  arena.dotTileI16(at.v16Ptr, total, at.qPtr, qlen, dim, at.sPtr, 1 / scale)
  return arena.f32(at.sPtr, total * qlen)
}

function exactChunk(
  view: SearchView, query: Float32Array, q: QuantizedQuery, qlen: number, slots: Uint32Array, i0: number, i1: number, total: number, out: Float32Array,
): void {
  const codec = view.codec!
  const cset = view.cset!
  const { dim, codes, residuals, docStart, docLen } = view
  const bpv = codec.bytesPerVector
  if (simScratch.length < total * qlen) simScratch = new Float32Array(total * qlen)
  let sims: Float32Array = simScratch
  let simsPtr = -1 // where sims sit in the arena, when they do
  let invPtr = -1 // and the rows' 1 / norm, by which their sims are still to be multiplied
  const ca = centroidArena(cset)
  const orig = view.originals
  if (total > 0 && ca !== null && orig !== null && dim % 16 === 0) {
    // the original vectors' records (one read per document), widened to int16 rows with their scales as the rows'
    // factors: the same tile and reduce as decoded rows, scores of the original vectors (to their int8 rounding)
    const { arena } = ca
    const bpr = orig.bytesPerRow
    const recPtr = ca.scratch
    const at = rowsLayout(ca, total * bpr, total, dim, qlen)
    const records = arena.u8(recPtr, total * bpr)
    for (let i = i0, row = 0; i < i1; i++) {
      const len = docLen[slots[i]]
      orig.read(docStart[slots[i]], len, records, row * bpr)
      row += len
    }
    arena.widenRows(recPtr, total, dim, bpr, at.v16Ptr, at.factorsPtr)
    sims = tileRows(arena, at, total, q, qlen, dim)
    simsPtr = at.sPtr
    invPtr = at.factorsPtr
  } else if (total > 0 && ca !== null && orig === null) {
    const tablePtr = installDecodeTable(ca, codec.nbits, codec.weights, codec.perDimension)
    const { arena } = ca
    const codesPtr = ca.scratch
    const resPtr = codesPtr + total * 4
    const at = rowsLayout(ca, total * 4 + total * bpv, total, dim, qlen)
    const codesView = arena.i32(codesPtr, total), resView = arena.u8(resPtr, total * bpv)
    // residuals are stored in cell order (residual-rows.ts): a document's rows are copied one by one
    const rowOf = searchRowsOf(view.ivf), copy = rowCopier(residuals, resView, bpv)
    for (let i = i0, row = 0; i < i1; i++) {
      const a = docStart[slots[i]], len = docLen[slots[i]]
      for (let v = 0; v < len; v++) {
        codesView[row + v] = codes[a + v]
        copy(rowOf(a + v), row + v)
      }
      row += len
    }
    // rows C·centroidWeight + residual in int16 at the centroids' fixed point, and each row's 1 / norm: a decoded
    // (normalised) vector's product with a token is its row's exact integer product × that factor, so the rows need
    // no float pass and no rounding after normalising (the former two-pass decode to normalised int16 rows: 6.3 ms
    // per k=100 search on many-topics where this takes 3.9, BENCHMARKS.md § Exact stage without a float pass). A row's
    // norm is at most 2^14·(centroidWeight + ‖residual‖) < 2^15.3 (a unit vector's residual from its nearest centroid
    // is under √2) and a query row's at most 2^15 (quantizeRows): every int32 partial sum stays below 2^30.3.
    arena.decodeRows(
      codec.nbits, codesPtr, resPtr, total, 0, tablePtr, dim, at.v16Ptr, bpv, decodeUnitStride(codec.nbits, codec.perDimension),
      centroidQ15(codec.centroidWeight), at.factorsPtr,
    )
    sims = tileRows(arena, at, total, q, qlen, dim)
    simsPtr = at.sPtr
    invPtr = at.factorsPtr
  } else if (total > 0) {
    if (decodeScratch.length < total * dim) decodeScratch = new Float32Array(total * dim)
    const V = decodeScratch
    const cents = cset.centroids
    if (orig !== null) {
      const bpr = orig.bytesPerRow
      const records = new Uint8Array(total * bpr)
      for (let i = i0, row = 0; i < i1; i++) {
        const len = docLen[slots[i]]
        orig.read(docStart[slots[i]], len, records, row * bpr)
        row += len
      }
      for (let row = 0; row < total; row++) dequantizeOriginalRow(records, row * bpr, dim, V, row * dim)
    } else {
      const rowOf = searchRowsOf(view.ivf)
      for (let i = i0, row = 0; i < i1; i++) {
        const a = docStart[slots[i]], b = a + docLen[slots[i]]
        for (let v = a; v < b; v++) {
          decodeVector(codec, cents, codes[v], residuals, rowOf(v) * bpv, V, row * dim, CENTROID_SCALE)
          row++
        }
      }
    }
    dotTile(V, 0, total, query, 0, qlen, dim, sims, 0)
  }
  if (simsPtr >= 0 && ca !== null && qlen % 4 === 0) {
    // per document, Σ_j max over its rows, in the kernel (sims already sit in the arena): ~4× the TypeScript loop
    const { arena } = ca
    const endsPtr = simsPtr + total * qlen * 4
    const accPtr = endsPtr + Math.ceil(((i1 - i0) * 4) / 16) * 16
    const outPtr = accPtr + qlen * 4
    arena.reserve(outPtr + (i1 - i0) * 4)
    const ends = arena.i32(endsPtr, i1 - i0)
    for (let i = i0, at = 0; i < i1; i++) {
      at += docLen[slots[i]]
      ends[i - i0] = at
    }
    arena.maxSimReduce(simsPtr, endsPtr, i1 - i0, qlen, accPtr, outPtr, invPtr)
    out.set(arena.f32(outPtr, i1 - i0), i0)
    return
  }
  const best = new Float32Array(qlen)
  const inv = invPtr >= 0 && ca !== null ? ca.arena.f32(invPtr, total) : null
  for (let i = i0, row = 0; i < i1; i++) {
    const len = docLen[slots[i]]
    best.fill(-Infinity)
    for (let r = 0; r < len; r++, row++) {
      const o = row * qlen
      // × 1 leaves a float32 as it is: decoded float rows (no arena) need no factor
      const f = inv === null ? 1 : inv[row]
      for (let j = 0; j < qlen; j++) {
        const x = Math.fround(sims[o + j] * f)
        if (x > best[j]) best[j] = x
      }
    }
    let sum = 0
    for (let j = 0; j < qlen; j++) sum += best[j]
    out[i] = sum
  }
}

function pickHits(view: SearchView, slots: Uint32Array, scores: Float32Array, k: number): SearchHit[] {
  const idx = new Uint32Array(slots.length)
  const top = topIndices(scores, slots, slots.length, k, idx)
  const hits: SearchHit[] = []
  for (let i = 0; i < top.length; i++) {
    const s = slots[top[i]]
    const hit: SearchHit = { id: view.ids[s], score: scores[top[i]] }
    const m = view.metadata[s]
    if (m !== undefined) hit.metadata = m
    hits.push(hit)
  }
  return hits
}
