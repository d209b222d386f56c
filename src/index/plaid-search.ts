/**
 * The 4-stage PLAID search over an index's arrays (read-only here):
 *  1. centroids:  S = C·Qᵀ, K×qlen (cost K·qlen·dim).
 *  2. candidates: union of the IVF lists of each query token's top-ncells centroids, restricted to allowed slots.
 *     approx:     pruned centroid-interaction score (codes whose best S is below the threshold are skipped; a query
 *                 token matched by no kept code adds −9999), top ndocs; then the unpruned score over those, top
 *                 max(k, ndocs/4). Cost Σ doc lengths × qlen per pass (pruned codes skip the qlen loop).
 *  4. exact:      MaxSim over the decompressed vectors of the survivors, top k. Decompression is never materialised:
 *                 q·normalise(C[c] + r) = (S[c,q] + q·r) / ‖C[c] + r‖, and q·r is a sum of table lookups, one per
 *                 packed byte (per query token, per byte position, 256 precomputed partial dot products). Cost per
 *                 vector: qlen·dim·nbits/8 lookups + dim for the norm, against qlen·dim multiply-adds decompressed.
 * A filter is applied first (an allowed bitset over live slots); when it leaves no more documents than stage 4
 * would score anyway, those documents are scored exactly, so a filtered search returns k hits when k exist.
 */
import { AppError } from '../errors.js'
import { dotTile } from './dense-kernels.js'
import type { Ivf } from './ivf.js'
import type { CentroidSet } from './kmeans.js'
import { maxSim } from './maxsim.js'
import type { ResidualCodec } from './residual-codec.js'
import { topIndices } from './top-k.js'
import type { Metadata, SearchHit, SearchParams, SearchStage } from './types.js'

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
 * Defaults by k (the reference's, see DESIGN.md §5; ours are chosen in bench/index-profile.ts from measured curves).
 */
export function defaultSearchParams(k: number): { ncells: number; centroidScoreThreshold: number; ndocs: number } {
  if (k <= 10) return { ncells: 1, centroidScoreThreshold: 0.5, ndocs: 256 }
  if (k <= 100) return { ncells: 2, centroidScoreThreshold: 0.45, ndocs: 1024 }
  return { ncells: 4, centroidScoreThreshold: 0.4, ndocs: Math.max(4 * k, 4096) }
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
export interface SearchScratch { mark: Uint32Array; epoch: number }

export function createSearchScratch(): SearchScratch {
  return { mark: new Uint32Array(0), epoch: 0 }
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
    return { hits, timingsMs }
  }

  const cset = view.cset!
  const K = cset.k
  const S = new Float32Array(K * qlen)
  if (nAllowed <= need) {
    // the filter leaves few documents: score them all exactly (centroid scores only for the codes they use)
    const t0 = performance.now()
    const slots = listAllowed(allowed, view.nSlots, nAllowed)
    const done = new Uint8Array(K)
    for (const s of slots) {
      const a = view.docStart[s], b = a + view.docLen[s]
      for (let v = a; v < b; v++) {
        const c = view.codes[v]
        if (!done[c]) { done[c] = 1; dotTile(cset.centroids, c * dim, 1, query, 0, qlen, dim, S, c * qlen) }
      }
    }
    const scores = exactScores(view, query, qlen, S, slots)
    const hits = pickHits(view, slots, scores, p.k)
    timingsMs.exact = performance.now() - t0
    return { hits, timingsMs }
  }

  let t = performance.now()
  dotTile(cset.centroids, 0, K, query, 0, qlen, dim, S, 0)
  const maxS = new Float32Array(K)
  for (let c = 0; c < K; c++) {
    let m = -Infinity
    const row = c * qlen
    for (let j = 0; j < qlen; j++) if (S[row + j] > m) m = S[row + j]
    maxS[c] = m
  }
  let now = performance.now()
  timingsMs.centroids = now - t
  t = now

  let ncells = Math.min(p.ncells, K)
  let cands = candidates(view, S, qlen, K, ncells, allowed, scratch)
  while (cands.length < need && ncells < K) {
    ncells = Math.min(K, ncells * 4)
    cands = candidates(view, S, qlen, K, ncells, allowed, scratch)
  }
  now = performance.now()
  timingsMs.candidates = now - t
  t = now

  let pool = cands
  const keys = new Uint32Array(0)
  if (pool.length > p.ndocs) {
    const kept = new Uint8Array(K)
    for (let c = 0; c < K; c++) kept[c] = maxS[c] >= p.threshold ? 1 : 0
    const approx = approxScores(view, S, qlen, pool, kept)
    pool = selectSlots(pool, approx, p.ndocs, keys)
  }
  if (pool.length > need) {
    const approx = approxScores(view, S, qlen, pool, null)
    pool = selectSlots(pool, approx, need, keys)
  }
  now = performance.now()
  timingsMs.approx = now - t
  t = now

  const scores = exactScores(view, query, qlen, S, pool)
  const hits = pickHits(view, pool, scores, p.k)
  timingsMs.exact = performance.now() - t
  return { hits, timingsMs }
}

function listAllowed(allowed: Uint8Array, nSlots: number, n: number): Uint32Array {
  const out = new Uint32Array(n)
  let i = 0
  for (let s = 0; s < nSlots; s++) if (allowed[s]) out[i++] = s
  return out
}

/** Union of the IVF lists of each query token's top-`ncells` centroids, allowed slots only. O(K·qlen + list sizes). */
function candidates(
  view: SearchView, S: Float32Array, qlen: number, K: number, ncells: number, allowed: Uint8Array, scratch: SearchScratch,
): Uint32Array {
  const ivf = view.ivf!
  const epoch = nextEpoch(scratch, view.nSlots)
  const mark = scratch.mark
  const chosen = topCentroidsPerToken(S, qlen, K, ncells)
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
function topCentroidsPerToken(S: Float32Array, qlen: number, K: number, ncells: number): Uint32Array {
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

/** Centroid-interaction scores Σ_j max over the doc's (kept) codes of S[code, j]. */
function approxScores(view: SearchView, S: Float32Array, qlen: number, slots: Uint32Array, kept: Uint8Array | null): Float32Array {
  const out = new Float32Array(slots.length)
  const acc = new Float32Array(qlen)
  const { codes, docStart, docLen } = view
  for (let i = 0; i < slots.length; i++) {
    const s = slots[i]
    acc.fill(NO_MATCH)
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

/**
 * Exact MaxSim of each slot's decompressed vectors against the query. S must hold q·C[c] for every code used.
 * Builds the per-query lookup table once: lut[(j·B + p)·256 + byte] = Σ_t q_j[p·v + t]·weight(byte, t), built from two
 * nibble tables per byte position (cost qlen·B·(256 + 16·v)).
 */
export function exactScores(view: SearchView, query: Float32Array, qlen: number, S: Float32Array, slots: Uint32Array): Float32Array {
  const codec = view.codec!
  const cents = view.cset!.centroids
  const { dim } = view
  const B = codec.bytesPerVector
  const v = codec.valuesPerByte
  const half = v >> 1
  const nbits = codec.nbits
  const mask = (1 << nbits) - 1
  const w = codec.weights
  const lut = new Float32Array(qlen * B * 256)
  const lo = new Float32Array(16), hi = new Float32Array(16)
  for (let j = 0; j < qlen; j++) {
    for (let p = 0; p < B; p++) {
      const d0 = j * dim + p * v
      // a nibble holds `half` dimensions (the low or high half of the byte's values)
      for (let nib = 0; nib < 16; nib++) {
        let sl = 0, sh = 0
        for (let t = 0; t < half; t++) {
          const bucket = (nib >> (nbits * t)) & mask
          sl += query[d0 + t] * w[bucket]
          sh += query[d0 + half + t] * w[bucket]
        }
        lo[nib] = sl
        hi[nib] = sh
      }
      const o = (j * B + p) * 256
      for (let byte = 0; byte < 256; byte++) lut[o + byte] = lo[byte & 15] + hi[byte >> 4]
    }
  }
  const out = new Float32Array(slots.length)
  const offs = new Int32Array(B)
  const best = new Float32Array(qlen)
  const table = codec.byteTable
  const { codes, residuals, docStart, docLen } = view
  const jStride = B * 256
  for (let i = 0; i < slots.length; i++) {
    const s = slots[i]
    best.fill(-Infinity)
    const a = docStart[s], b = a + docLen[s]
    for (let vi = a; vi < b; vi++) {
      const c = codes[vi]
      const ro = vi * B
      const co = c * dim
      let n2 = 0
      for (let pp = 0, d = 0; pp < B; pp++) {
        const byte = residuals[ro + pp]
        offs[pp] = pp * 256 + byte
        const t = byte * v
        for (let u = 0; u < v; u++, d++) {
          const x = cents[co + d] + table[t + u]
          n2 += x * x
        }
      }
      const inv = n2 > 0 ? 1 / Math.sqrt(n2) : 0
      const srow = c * qlen
      for (let j = 0; j < qlen; j++) {
        const base = j * jStride
        let dot = S[srow + j]
        for (let pp = 0; pp < B; pp++) dot += lut[base + offs[pp]]
        const sim = dot * inv
        if (sim > best[j]) best[j] = sim
      }
    }
    let total = 0
    for (let j = 0; j < qlen; j++) total += best[j]
    out[i] = total
  }
  return out
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
