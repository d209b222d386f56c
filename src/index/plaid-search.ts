/**
 * The 4-stage PLAID search over an index's arrays (read-only here):
 *  1. centroids:  S = C·Qᵀ, K×qlen (cost K·qlen·dim).
 *  2. candidates: union of the IVF lists of each query token's top-ncells centroids, restricted to allowed slots.
 *     approx:     pruned centroid-interaction score (codes whose best S is below the threshold are skipped; a query
 *                 token reached by no kept code adds −9999, as in PLAID), top ndocs; then a refined score over those: the vectors in the probed cells decompressed and scored
 *                 exactly, every other vector by its centroid score (cost: pool vectors × qlen + probed vectors ×
 *                 qlen·dim).
 *  4. exact:      MaxSim of the best ndocs/4 by refined score (only their unprobed vectors are decompressed: the probed
 *                 maxima are reused), growing in steps while refined + the largest error seen (exact − refined) can
 *                 still reach the k-th exact score, at most 2·ndocs/4 documents; top k (see adaptiveExact).
 * Stage-by-stage survivors for a diagnostic: SearchParams.trace (bench/index-stages.ts).
 * A filter is applied first (an allowed bitset over live slots); when it leaves no more documents than stage 4
 * would score anyway, those documents are scored exactly, and when the candidates that pass it are too few, ncells
 * grows ×4 until enough are found (up to every centroid), so a filtered search returns k hits when k exist.
 * Hot loops run in WebAssembly SIMD kernels (simd-kernels.ts) with TypeScript fallbacks: the int16 centroid-score
 * tile, a row-max kernel, the stage-2/3 max-accumulation kernel, and decode + int16 tile for stage 4. Per query on
 * the bench's 1.8 M-vector set (K = 16384, k = 10 defaults), before the refinement: centroids 4.3 ms, candidates 0.1,
 * approx 1.1, exact 3.4. The refinement's per-token centroid maxima run in a TypeScript loop (no kernel yet).
 */
import { AppError } from '../errors.js'
import { dotTile } from './dense-kernels.js'
import type { Ivf } from './ivf.js'
import { CENTROID_SCALE, type CentroidArena, type CentroidSet, centroidArena, centroidsF32, installDecodeTable, quantizeRows } from './kmeans.js'
import { maxSim } from './maxsim.js'
import { decodeVector, type ResidualCodec } from './residual-codec.js'
import { topIndices } from './top-k.js'
import type { Metadata, SearchHit, SearchParams, SearchStage, SearchTrace } from './types.js'

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
}

export interface ResolvedParams { k: number; ncells: number; threshold: number; ndocs: number }

const NO_MATCH = -9999

/**
 * Our defaults by k, chosen from curves measured with `bench/index-profile.ts --sweep` on two 10k-document synthetic
 * sets (1.8 M vectors, K = 16384, nbits 2, 500 queries; p50 one query at a time on the 2-core dev VM, same runs):
 * on the bench's set (exact MaxSim success@10 0.953), with the Lloyd–Max codec:
 *   k=10  reference (ncells 1, thr 0.5, ndocs 256): success@10 0.926, 10.3 ms;  ncells 1–8, thr 0.4, ndocs 128: 0.940,
 *         7.7 ms; ndocs 256: 0.948, 10.7 ms (before the int16 exact stage); thr 0.5 costs 0.02–0.03, 0.55 collapses
 *   k=100 reference (2, 0.45, 1024): 0.948, 26 ms;  (8, 0.45, 400): 0.948, 13.9 ms
 * ncells hardly matters (a document's vectors share few codes, so IVF lists are short and candidates cheap); the
 * exact stage (ndocs/4 documents) dominates the cost and the threshold the quality.
 * Issue 9 (skewed data, BENCHMARKS.md "Index search stages under skew"): these values lost the target at the cut to
 * the exact stage; the refined cut and the adaptive exact stage fixed that without changing them. They have not yet
 * been re-chosen across the bench:gen presets; ncells now also sets how many vectors the refinement decompresses.
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
  mark: Uint32Array; epoch: number; S: Float32Array; maxS: Float32Array; kept: Uint8Array
  /** byte offset of S in the centroid arena, −1 when S lives in `S` */
  sPtr: number
}

export function createSearchScratch(): SearchScratch {
  return { mark: new Uint32Array(0), epoch: 0, S: new Float32Array(0), maxS: new Float32Array(0), kept: new Uint8Array(0), sPtr: -1 }
}

function nextEpoch(scratch: SearchScratch, nSlots: number): number {
  if (scratch.mark.length < nSlots) scratch.mark = new Uint32Array(Math.max(nSlots, Math.ceil(scratch.mark.length * 1.25)))
  scratch.epoch = (scratch.epoch + 1) >>> 0
  if (scratch.epoch === 0) { scratch.mark.fill(0); scratch.epoch = 1 }
  return scratch.epoch
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

  // allowed slots: live and passing the filter
  let allowed = view.live
  let nAllowed = 0
  if (params.filter) {
    const f = params.filter
    allowed = new Uint8Array(view.nSlots)
    for (let s = 0; s < view.nSlots; s++) {
      if (view.live[s] && f(view.metadata[s], view.ids[s])) { allowed[s] = 1; nAllowed++ }
    }
  } else {
    for (let s = 0; s < view.nSlots; s++) nAllowed += view.live[s]
  }
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
  const S = centroidScores(cset, query, qlen, scratch)
  const sPtr = scratch.sPtr
  if (scratch.maxS.length < K) scratch.maxS = new Float32Array(K)
  const maxS = scratch.maxS
  let ncells = Math.min(p.ncells, K)
  // one pass over S: each centroid's best query token (for pruning) and each token's top-ncells centroids
  let chosen = scanScores(S, qlen, K, ncells, maxS, cset.arena, sPtr)
  let now = performance.now()
  timingsMs.centroids = now - t
  t = now

  let cands = candidates(view, chosen, K, allowed, scratch)
  while (cands.length < need && ncells < K) {
    ncells = Math.min(K, ncells * 4)
    chosen = topCentroidsPerToken(S, qlen, K, ncells)
    cands = candidates(view, chosen, K, allowed, scratch)
  }
  now = performance.now()
  timingsMs.candidates = now - t
  t = now
  const trace = params.trace
  if (trace !== undefined) {
    trace.candidates = slotIds(view, cands)
    trace.budgets = { ncells, threshold: p.threshold, ndocs: p.ndocs, exact: need, candidates: cands.length }
  }

  // the probed cells (each token's top-ncells centroids)
  const probed = new Uint8Array(K)
  for (let i = 0; i < chosen.length; i++) probed[chosen[i]] = 1
  let pool = cands
  const keys = new Uint32Array(0)
  if (scratch.kept.length < K) scratch.kept = new Uint8Array(K)
  const kept = scratch.kept
  for (let c = 0; c < K; c++) kept[c] = maxS[c] >= p.threshold ? 1 : 0
  // A token that no kept code of a document reaches counts NO_MATCH in the pruned pass, as in PLAID. Imputing the
  // pruning bound min(threshold, the token's best centroid score) instead (WARP-style) was measured on the bench's presets and lost
  // targets at this cut wherever few codes are kept (short documents, ncells 1 / threshold 0.5): uniform at the
  // reference parameters 0.93 -> 0.35 success@10, short-12k 0.49 -> 0.16 (BENCHMARKS.md § Index quality matrix).
  const floor = new Float32Array(qlen).fill(NO_MATCH)
  if (pool.length > p.ndocs) {
    const approx = approxScores(view, S, sPtr, qlen, pool, kept, floor)
    pool = selectSlots(pool, approx, p.ndocs, keys)
    if (trace !== undefined) trace.pruned = slotIds(view, pool)
  }
  let scored: Uint32Array
  let scores: Float32Array
  if (pool.length > need) {
    // Refinement: the vectors in the probed cells (each token's top-ncells centroids, WARP's selection) are
    // decompressed and scored exactly; every other vector counts with its centroid score, so a document's refined
    // score is its centroid-interaction score with the probed matches made exact. (Imputing a constant for the
    // unprobed part, as WARP does, found more targets but drifted from MaxSim's own top 10 on skewed data:
    // overlap@10 0.85 -> 0.51.) The probed maxima are kept, so the exact stage only decompresses the other vectors.
    // Cost: the pool's vectors × qlen maxima, plus decoding the pool's probed vectors (a small share of them).
    const Sv = sPtr >= 0 && cset.arena !== null ? cset.arena.arena.f32(sPtr, K * qlen) : S // re-taken: arena growth detaches views
    const approx = new Float32Array(pool.length)
    const cmax = new Float32Array(pool.length * qlen).fill(NO_MATCH)
    for (let i = 0; i < pool.length; i++) {
      const a = view.docStart[pool[i]], b = a + view.docLen[pool[i]], o = i * qlen
      for (let v = a; v < b; v++) {
        const c = view.codes[v]
        if (probed[c] === 1) continue
        const row = c * qlen
        for (let j = 0; j < qlen; j++) if (Sv[row + j] > cmax[o + j]) cmax[o + j] = Sv[row + j]
      }
    }
    const tokMax = new Float32Array(pool.length * qlen)
    exactScores(view, query, qlen, pool, { keep: probed, want: 1, tokMax })
    for (let i = 0, o = 0; i < pool.length; i++) {
      let sum = 0
      for (let j = 0; j < qlen; j++, o++) sum += tokMax[o] > cmax[o] ? tokMax[o] : cmax[o]
      approx[i] = sum
    }
    now = performance.now()
    timingsMs.approx = now - t
    t = now
    ;({ scored, scores } = adaptiveExact(view, query, qlen, pool, approx, need, p.k, probed, tokMax))
  } else {
    now = performance.now()
    timingsMs.approx = now - t
    t = now
    scored = pool
    scores = exactScores(view, query, qlen, pool)
  }
  if (trace !== undefined) {
    trace.unpruned = slotIds(view, scored)
    trace.budgets!.exact = scored.length
  }
  const hits = pickHits(view, scored, scores, p.k)
  timingsMs.exact = performance.now() - t
  if (trace !== undefined) trace.final = hits.map((h) => h.id)
  return { hits, timingsMs }
}

/**
 * The exact stage with a size chosen from the approximate scores. The pool's best `need` documents by approximate
 * score are scored exactly first; their errors e = exact − approx tell how far the approximation can understate a
 * document for this query and index. A document not yet scored can still enter the top k only if approx + max e
 * reaches the current k-th exact score, so the next documents in approximate order are scored, in batches of need/2,
 * while that holds (at most 2·need documents, which bounds the stage at twice its former cost). Where the approximation separates the top k clearly this
 * stops at `need`; where it is loose (skewed data, noisy queries) the stage grows instead of losing the target.
 * Deterministic: the order is the approximate ranking with ties by slot, and the bound uses only the scored set.
 */
function adaptiveExact(
  view: SearchView, query: Float32Array, qlen: number, pool: Uint32Array, approx: Float32Array, need: number, k: number,
  kept: Uint8Array, tokMax: Float32Array,
): { scored: Uint32Array; scores: Float32Array } {
  const n = Math.min(pool.length, 2 * need)
  const order = topIndices(approx, pool, pool.length, n, new Uint32Array(pool.length))
  const slots = new Uint32Array(n)
  for (let i = 0; i < n; i++) slots[i] = pool[order[i]]
  const scores = new Float32Array(n)
  const kth = new Float32Array(k).fill(-Infinity) // the k best exact scores so far, descending
  let errMax = -Infinity
  let done = 0
  let next = Math.min(n, need)
  const step = Math.max(k, Math.ceil(need / 2))
  while (done < n) {
    const init = new Float32Array((next - done) * qlen)
    for (let i = done; i < next; i++) init.set(tokMax.subarray(order[i] * qlen, (order[i] + 1) * qlen), (i - done) * qlen)
    scores.set(exactScores(view, query, qlen, slots.subarray(done, next), { keep: kept, want: 0, init }), done)
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
  return { scored: slots.subarray(0, done), scores: scores.subarray(0, done) }
}

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
function centroidScores(cset: CentroidSet, query: Float32Array, qlen: number, sc: SearchScratch): Float32Array {
  const ca = centroidArena(cset)
  const n = cset.k * qlen
  if (ca === null) {
    if (sc.S.length < n) sc.S = new Float32Array(n)
    dotTile(centroidsF32(cset), 0, cset.k, query, 0, qlen, cset.dim, sc.S, 0)
    sc.sPtr = -1
    return sc.S
  }
  const { arena, scratch } = ca
  const q16 = new Int16Array(qlen * cset.dim)
  const qs = quantizeRows(query, 0, qlen, cset.dim, q16)
  const qBytes = qlen * cset.dim * 2
  arena.reserve(scratch + qBytes + n * 4 + cset.k * 4) // S, then the row maxima (scanScores) without a growth
  arena.i16(scratch, qlen * cset.dim).set(q16)
  arena.dotTileI16(0, cset.k, scratch, qlen, cset.dim, scratch + qBytes, CENTROID_SCALE / qs)
  sc.sPtr = scratch + qBytes
  return arena.f32(scratch + qBytes, n)
}

/**
 * maxS[c] = max_j S[c, j] (the SIMD row-max kernel when S is in the arena), and per token j its top-ncells
 * centroids (qlen·ncells entries). The per-token scan skips a centroid in one comparison when its maxS is not above
 * the lowest of the tokens' current ncells-th best (`gate`), which after the first few hundred centroids is most of them.
 */
export function scanScores(
  S: Float32Array, qlen: number, K: number, ncells: number, maxS: Float32Array, ca: CentroidArena | null, sPtr: number,
  tokenBest?: Float32Array,
): Uint32Array {
  const out = new Uint32Array(qlen * ncells)
  const best = new Float32Array(qlen * ncells).fill(-Infinity)
  const last = ncells - 1
  if (ca !== null && sPtr >= 0 && qlen % 4 === 0) {
    const mPtr = sPtr + K * qlen * 4
    ca.arena.reserve(mPtr + K * 4)
    ca.arena.rowMax(sPtr, K, qlen, mPtr)
    maxS.set(ca.arena.f32(mPtr, K))
    S = ca.arena.f32(sPtr, K * qlen) // (re)take the view: reserve may have grown the memory
  } else {
    for (let c = 0; c < K; c++) {
      let m = -Infinity
      for (let j = 0, row = c * qlen; j < qlen; j++) if (S[row + j] > m) m = S[row + j]
      maxS[c] = m
    }
  }
  let gate = -Infinity
  for (let c = 0; c < K; c++) {
    if (maxS[c] <= gate) continue
    const row = c * qlen
    let changed = false
    for (let j = 0; j < qlen; j++) {
      const s = S[row + j]
      const o = j * ncells
      if (s <= best[o + last]) continue
      let i = last
      while (i > 0 && best[o + i - 1] < s) { best[o + i] = best[o + i - 1]; out[o + i] = out[o + i - 1]; i-- }
      best[o + i] = s
      out[o + i] = c
      changed = true
    }
    if (changed) {
      gate = Infinity
      for (let j = 0; j < qlen; j++) if (best[j * ncells + last] < gate) gate = best[j * ncells + last]
    }
  }
  if (tokenBest !== undefined) for (let j = 0; j < qlen; j++) tokenBest[j] = best[j * ncells]
  return out
}

function listAllowed(allowed: Uint8Array, nSlots: number, n: number): Uint32Array {
  const out = new Uint32Array(n)
  let i = 0
  for (let s = 0; s < nSlots; s++) if (allowed[s]) out[i++] = s
  return out
}

/** Union of the IVF lists of each query token's top-`ncells` centroids, allowed slots only. O(K·qlen + list sizes). */
function candidates(view: SearchView, chosen: Uint32Array, K: number, allowed: Uint8Array, scratch: SearchScratch): Uint32Array {
  const ivf = view.ivf!
  const epoch = nextEpoch(scratch, view.nSlots)
  const mark = scratch.mark
  let out = new Uint32Array(1024)
  let n = 0
  const add = (offsets: Uint32Array, list: Uint32Array, c: number): void => {
    for (let i = offsets[c], e = offsets[c + 1]; i < e; i++) {
      const s = list[i]
      if (mark[s] === epoch || !allowed[s]) continue
      mark[s] = epoch
      if (n === out.length) { const b = new Uint32Array(n * 2); b.set(out); out = b }
      out[n++] = s
    }
  }
  const seen = new Uint8Array(K)
  for (let i = 0; i < chosen.length; i++) {
    const c = chosen[i]
    if (seen[c]) continue
    seen[c] = 1
    add(ivf.baseOffsets, ivf.baseSlots, c)
    if (ivf.deltaSlots.length > 0) add(ivf.deltaOffsets, ivf.deltaSlots, c)
  }
  return out.subarray(0, n)
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
 * Centroid-interaction scores Σ_j max over the doc's (kept) codes of S[code, j]. In the centroid arena's kernel when S
 * lives there (uint16 codes, qlen % 4 == 0): the candidates' codes are copied in (2 bytes each) and scored there.
 */
function approxScores(
  view: SearchView, S: Float32Array, sPtr: number, qlen: number, slots: Uint32Array, kept: Uint8Array | null, floor: Float32Array,
): Float32Array {
  const out = new Float32Array(slots.length)
  const ca = view.cset!.arena
  if (sPtr >= 0 && ca !== null && view.codes instanceof Uint16Array && qlen % 4 === 0) {
    const K = view.cset!.k
    const codes = view.codes
    const { arena } = ca
    const keptPtr = sPtr + K * qlen * 4
    const codesPtr = keptPtr + Math.ceil(K / 16) * 16
    // documents go in chunks of ≤ APPROX_CHUNK codes so the arena's scratch stays small (it never shrinks)
    let maxDocs = 0, maxCodes = 0
    for (let i0 = 0; i0 < slots.length;) {
      let i1 = i0, total = 0
      while (i1 < slots.length && (i1 === i0 || total + view.docLen[slots[i1]] <= APPROX_CHUNK)) total += view.docLen[slots[i1++]]
      maxDocs = Math.max(maxDocs, i1 - i0)
      maxCodes = Math.max(maxCodes, total)
      i0 = i1
    }
    const endsPtr = codesPtr + Math.ceil((maxCodes * 2) / 16) * 16
    const accPtr = endsPtr + maxDocs * 4
    const outPtr = accPtr + qlen * 8
    arena.reserve(outPtr + maxDocs * 4)
    if (kept !== null) arena.u8(keptPtr, K).set(kept.subarray(0, K))
    arena.f32(accPtr + qlen * 4, qlen).set(floor)
    for (let i0 = 0; i0 < slots.length;) {
      let i1 = i0, total = 0
      while (i1 < slots.length && (i1 === i0 || total + view.docLen[slots[i1]] <= APPROX_CHUNK)) total += view.docLen[slots[i1++]]
      const codesView = arena.u16(codesPtr, total), ends = arena.i32(endsPtr, i1 - i0)
      for (let i = i0, at = 0; i < i1; i++) {
        const a = view.docStart[slots[i]], len = view.docLen[slots[i]]
        codesView.set(codes.subarray(a, a + len), at)
        at += len
        ends[i - i0] = at
      }
      arena.approx(codesPtr, endsPtr, i1 - i0, sPtr, qlen, kept === null ? 0 : keptPtr, accPtr, outPtr)
      out.set(arena.f32(outPtr, i1 - i0), i0)
      i0 = i1
    }
    return out
  }
  const acc = new Float32Array(qlen)
  const { codes, docStart, docLen } = view
  for (let i = 0; i < slots.length; i++) {
    const s = slots[i]
    acc.set(floor)
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

function selectSlots(slots: Uint32Array, scores: Float32Array, m: number, _keys: Uint32Array): Uint32Array {
  const idx = new Uint32Array(slots.length)
  const top = topIndices(scores, slots, slots.length, m, idx)
  const out = new Uint32Array(top.length)
  for (let i = 0; i < top.length; i++) out[i] = slots[top[i]]
  // keep ascending slot order for memory locality in the next pass
  out.sort()
  return out
}

let decodeScratch = new Float32Array(0)
let simScratch = new Float32Array(0)

/**
 * Exact MaxSim of each slot's decompressed vectors against the query: the survivors' vectors are decompressed into
 * one matrix (WebAssembly decode kernel: a 4-dimension unit per table lookup; O(vectors·dim)), scored against the
 * query tokens as one SIMD tile (vectors·qlen·dim multiply-adds), then reduced per document. Measured on 11.5k
 * vectors (dim 128, nbits 2): decode 20 ms in TypeScript vs 6 ms in the kernel; a per-byte lookup table over the
 * packed residuals (no decompression) was 3–5× slower than decompress + SIMD tile, so it is not used.
 */
export function exactScores(
  view: SearchView, query: Float32Array, qlen: number, slots: Uint32Array, sel?: VectorSelection,
): Float32Array {
  const out = new Float32Array(slots.length)
  let lens: Uint32Array | undefined
  if (sel !== undefined) {
    lens = new Uint32Array(slots.length)
    for (let i = 0; i < slots.length; i++) {
      const a = view.docStart[slots[i]], b = a + view.docLen[slots[i]]
      let n = 0
      for (let v = a; v < b; v++) n += sel.keep[view.codes[v]]
      lens[i] = sel.want === 1 ? n : b - a - n
    }
  }
  const lenOf = (i: number): number => (lens === undefined ? view.docLen[slots[i]] : lens[i])
  // chunks of documents with ≤ EXACT_CHUNK vectors bound the scratch memory (a longer document is a chunk alone)
  for (let i0 = 0; i0 < slots.length;) {
    let i1 = i0, total = 0
    while (i1 < slots.length && (i1 === i0 || total + lenOf(i1) <= EXACT_CHUNK)) total += lenOf(i1++)
    exactChunk(view, query, qlen, slots, i0, i1, total, out, sel, lens)
    i0 = i1
  }
  return out
}

/**
 * A subset of every document's vectors for a partial exact score: only vectors whose code c has
 * keep[c] = want are decompressed. Two uses: scoring only the vectors of kept codes (floor for tokens they miss,
 * tokMax keeps their per-token maxima), then the exact score as the maximum of those and the other vectors.
 */
export interface VectorSelection {
  /** per centroid: 1 or 0; the vectors whose code has keep[code] === want are scored */
  keep: Uint8Array
  want: 0 | 1
  /** qlen values: a token none of the scored vectors (nor `init`) reaches counts floor[j] in the sum */
  floor?: Float32Array
  /** slots.length × qlen: per document and token, a maximum already known (from the other vectors) */
  init?: Float32Array
  /** slots.length × qlen, written: per document and token, the maximum over the scored vectors and `init` */
  tokMax?: Float32Array
}

let EXACT_CHUNK = 2048
let APPROX_CHUNK = 32768

/** Test hook: smaller chunks make the multi-chunk paths run on small data. */
export function setChunkSizesForTests(exact: number, approx: number): void {
  EXACT_CHUNK = exact
  APPROX_CHUNK = approx
}

function exactChunk(
  view: SearchView, query: Float32Array, qlen: number, slots: Uint32Array, i0: number, i1: number, total: number, out: Float32Array,
  sel: VectorSelection | undefined, lens: Uint32Array | undefined,
): void {
  const codec = view.codec!
  const cset = view.cset!
  const { dim, codes, residuals, docStart, docLen } = view
  const bpv = codec.bytesPerVector
  if (simScratch.length < total * qlen) simScratch = new Float32Array(total * qlen)
  let sims: Float32Array = simScratch
  const ca = centroidArena(cset)
  if (total > 0 && ca !== null) {
    const tablePtr = installDecodeTable(ca, codec.nbits, codec.weights)
    const { arena } = ca
    const codesPtr = ca.scratch
    const resPtr = codesPtr + total * 4
    const vPtr = resPtr + Math.ceil((total * bpv) / 16) * 16
    const v16Ptr = vPtr + total * dim * 4
    const qPtr = v16Ptr + total * dim * 2
    const sPtr = qPtr + qlen * dim * 2
    arena.reserve(sPtr + total * qlen * 4)
    const codesView = arena.i32(codesPtr, total), resView = arena.u8(resPtr, total * bpv)
    for (let i = i0, row = 0; i < i1; i++) {
      const a = docStart[slots[i]], len = docLen[slots[i]]
      if (sel === undefined) {
        for (let v = 0; v < len; v++) codesView[row + v] = codes[a + v]
        resView.set(residuals.subarray(a * bpv, (a + len) * bpv), row * bpv)
        row += len
      } else {
        for (let v = a; v < a + len; v++) {
          if (sel.keep[codes[v]] !== sel.want) continue
          codesView[row] = codes[v]
          resView.set(residuals.subarray(v * bpv, (v + 1) * bpv), row * bpv)
          row++
        }
      }
    }
    // decompressed rows as int16 · 2^-14 (rounding ≤ 6·10⁻⁵ per component, far below the 2-bit codec's error) for
    // the int16 dot kernel: 1.6× the float32 tile on the stage's dominant product
    arena.decodeI16(codec.nbits, codesPtr, resPtr, total, 0, tablePtr, dim, vPtr, bpv, CENTROID_SCALE * codec.centroidWeight, v16Ptr)
    const q16 = new Int16Array(qlen * dim)
    const qs = quantizeRows(query, 0, qlen, dim, q16)
    arena.i16(qPtr, qlen * dim).set(q16)
    arena.dotTileI16(v16Ptr, total, qPtr, qlen, dim, sPtr, 1 / (16384 * qs))
    sims = arena.f32(sPtr, total * qlen)
  } else if (total > 0) {
    if (decodeScratch.length < total * dim) decodeScratch = new Float32Array(total * dim)
    const V = decodeScratch
    const cents = cset.centroids
    for (let i = i0, row = 0; i < i1; i++) {
      const a = docStart[slots[i]], b = a + docLen[slots[i]]
      for (let v = a; v < b; v++) {
        if (sel !== undefined && sel.keep[codes[v]] !== sel.want) continue
        decodeVector(codec, cents, codes[v], residuals, v * bpv, V, row * dim, CENTROID_SCALE)
        row++
      }
    }
    dotTile(V, 0, total, query, 0, qlen, dim, sims, 0)
  }
  const best = new Float32Array(qlen)
  for (let i = i0, row = 0; i < i1; i++) {
    const len = lens === undefined ? docLen[slots[i]] : lens[i]
    if (sel?.init !== undefined) best.set(sel.init.subarray(i * qlen, (i + 1) * qlen))
    else best.fill(-Infinity)
    for (let r = 0; r < len; r++, row++) {
      const o = row * qlen
      for (let j = 0; j < qlen; j++) if (sims[o + j] > best[j]) best[j] = sims[o + j]
    }
    if (sel?.tokMax !== undefined) sel.tokMax.set(best, i * qlen)
    let sum = 0
    if (sel?.floor !== undefined) for (let j = 0; j < qlen; j++) sum += best[j] > sel.floor[j] ? best[j] : sel.floor[j]
    else for (let j = 0; j < qlen; j++) sum += best[j]
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
