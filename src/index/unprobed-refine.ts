/**
 * Refinement of the approximate scores: for the best documents by approximate score, each query token with flat
 * centroid scores is scored against one vector of the document from its packed residual: the vector whose centroid
 * scores best for that token among the cells the token did not probe.
 *
 * Why (issue 9, BENCHMARKS.md § Held-out data models): a query token that nearly copies a document vector but lies far
 * from every centroid (a noisy copy) has flat centroid scores; the copied vector sat in the token's 19th–698th cell
 * while the probe reaches ~11, so the approximate stage credited it the floor or a centroid score (0.32–0.43) where
 * exact MaxSim gives 0.55–0.65. On held-out models with steep skew, tight topics and noisy copies (drawn-7, drawn-11)
 * that ranked targets 70th–171st and lost them before the exact stage. Within one document the copied vector's cell is
 * nearly always the best cell the token did not probe, so one residual score per (document, token) finds the match.
 *
 * Which pairs:
 *  - documents: the best `m` by approximate score (plaid-search.ts passes ndocs, the size of the pruned set); fewer
 *    (ndocs/2, 3·ndocs/4) lost 2–9 more targets of 500 on drawn-7 and drawn-11;
 *  - tokens: those whose centroid ranking the probe cannot trust, the `flat` ones of probe-depth.ts (their first
 *    ncells cells lie within residual noise of the best): a token with a clear best cell has its matches there.
 *    Skipping also the tokens whose probe found a standout vector lost 6 more targets on drawn-11;
 *  - pairs: not those whose credit (below) exceeds their centroid part by more than z·σ_j, σ_j the token's residual
 *    spread and z the probe-depth rule's (probe-depth.ts: the same allowance by which a cell's centroid score may
 *    trail the best and still be probed). Such a vector gains only if its residual scores beyond z·σ_j, where the
 *    document's probe already found a better vector for the token. 23–54 % of the pairs are skipped; before the skip
 *    existed they held 0.1–1 % of the pairs that gained and 0–0.5 % of the total gain (60 queries each of zipf-steep,
 *    many-topics, drawn-7, drawn-11), and success@10 is unchanged on the 24 data models of BENCHMARKS.md
 *    § Refinement pairs bounded by residual noise.
 * The credit the approximate stage gave a pair is at most max(its probe score or floor, centroidWeight · the best
 * unprobed centroid score), the kept codes being unprobed ones; the gain added is the residual score above that, so a
 * document's score rises only where one of its vectors scores higher, and by no more than the stage left out.
 *
 * Cost per search: up to m · (flat tokens) pairs (~3.8 k on drawn-7 at ndocs 192, before the noise bound). The best codes: one pass over the m
 * documents' codes, 4 tokens per SIMD compare (simd-kernels.ts best_codes; O(m · document length · qlen / 4),
 * ~0.4 ms). Per pair, the residual row (residual-rows.ts residualRows: the IVF's entry points, then ≤ 63 gap steps), its 32 bytes, and two lookups per
 * byte into the token's nibble scores: ~0.45 µs a pair measured in the search, nearly all of it cache and TLB misses
 * (the residuals, 32 bytes a vector, lie in cell order, and the probe has just swept the caches), so each step runs as a pass over
 * all pairs, whose loads do not wait on one another. In a search worker with an idle sibling, the sibling scores
 * the second half of the pairs (RefineOffload, search-workers/search-share.ts).
 * Deterministic: the documents are the approximate ranking's first m (ties by slot) and each step depends only on the
 * index and the query.
 */
import { codeRuns, copyRunCodes } from './document-codes.js'
import { hideProbed, type ProbedCells, restoreProbed } from './probed-cells.js'
import { LITTLE_ENDIAN, nibbleScores } from './probe-scores.js'
import { residualRows, rowCopier } from './residual-rows.js'
import type { SimdArena } from './simd-kernels.js'
import type { SearchView } from './plaid-search.js'
import { topIndices } from './top-k.js'

/** Where the kernels may run: the centroid arena, S at sPtr (K × qlen floats), free memory from `at`. */
export interface RefineArena { kernels: SimdArena; sPtr: number; at: number }

/** What the approximate stage hands over: its pool, scores (raised in place) and per-token probe scores. */
export interface RefineInput {
  query: Float32Array
  qlen: number
  /** the centroid scores, K × qlen (a function: the arena may grow, detaching earlier views) */
  S: () => Float32Array
  cells: ProbedCells
  /** the tokens to refine (1) */
  flat: Uint8Array
  pool: Uint32Array
  approx: Float32Array
  /** pool.length × qlen: each document's probe score per token, the floor where no probed vector reached it */
  init: Float32Array
  /** how many of the pool's best to refine */
  m: number
  /**
   * each token's residual spread σ_j and the probe-depth rule's z (probe-depth.ts): a pair whose credit exceeds its
   * centroid part by more than z·σ_j is not scored (none set: every pair is)
   */
  noise?: { sigma: Float64Array; z: number }
  arena: RefineArena | null
  /** another thread that may score half of the pairs (search workers set it per search) */
  offload?: RefineOffload
}

/** Codes per kernel call: bounds the arena's scratch (it never shrinks). */
const CHUNK_CODES = 1 << 15

const align = (x: number): number => (x + 15) & ~15

/** Raises the approximate scores as described above; returns how many (document, token) pairs were scored. */
export function refineUnprobed(view: SearchView, r: RefineInput): number {
  const { qlen, flat, pool, approx, init, arena } = r
  const n = Math.min(pool.length, r.m)
  const tokens: number[] = []
  for (let j = 0; j < qlen; j++) if (flat[j] === 1) tokens.push(j)
  if (n === 0 || tokens.length === 0) return 0
  const order = topIndices(approx, pool, pool.length, n, new Uint32Array(pool.length))
  const slots = new Uint32Array(n)
  for (let i = 0; i < n; i++) slots[i] = pool[order[i]]
  const useKernel = arena !== null && view.codes instanceof Uint16Array && qlen % 4 === 0
  // the probed (cell, token) pairs are hidden from the search for the best code: their vectors were scored already
  const hidden = hideProbed(r.S(), qlen, r.cells)
  let best: Float32Array, pos: Int32Array
  try {
    ;({ best, pos } = useKernel ? bestCodesInArena(view, slots, qlen, arena) : bestCodes(view, slots, qlen, r.S()))
  } finally {
    restoreProbed(r.S(), qlen, r.cells, hidden)
  }
  const w = view.codec!.centroidWeight
  const { docStart } = view
  // the pairs, token by token (each token's table stays in cache while its pairs are scored)
  const cap = n * tokens.length
  const pairDoc = new Uint32Array(cap), pairTok = new Uint32Array(cap), pairVec = new Uint32Array(cap), parts = new Float32Array(cap)
  let np = 0
  const sigma = r.noise?.sigma, z = r.noise?.z ?? 0
  for (const j of tokens) {
    const reach = sigma === undefined ? Infinity : z * sigma[j]
    for (let o = 0; o < n; o++) {
      const at = pos[o * qlen + j]
      if (at < 0) continue
      const part = w * best[o * qlen + j]
      if (init[order[o] * qlen + j] - part > reach) continue
      pairDoc[np] = o
      pairTok[np] = j
      pairVec[np] = docStart[slots[o]] + at
      parts[np++] = part
    }
  }
  const pairs: PairBatch = { query: r.query, qlen, toks: pairTok.subarray(0, np), vecs: pairVec.subarray(0, np), parts: parts.subarray(0, np) }
  const scores = scoreShared(view, pairs, r.offload)
  const gains = new Float64Array(n)
  for (let x = 0; x < np; x++) {
    const o = pairDoc[x], j = pairTok[x]
    const credit = Math.max(init[order[o] * qlen + j], parts[x])
    if (scores[x] > credit) gains[o] += scores[x] - credit
  }
  for (let o = 0; o < n; o++) approx[order[o]] += gains[o]
  return np
}

/** (vector, token) pairs to score: vector vecs[x] against query token toks[x], its centroid part parts[x]. */
export interface PairBatch { query: Float32Array; qlen: number; toks: Uint32Array; vecs: Uint32Array; parts: Float32Array }

/**
 * Another thread that can score the second half of a batch of pairs while this one scores the first
 * (search-workers/search-share.ts). Each pair's score depends only on the pair, so not on which thread scores it.
 */
export interface RefineOffload {
  /** Offers the pairs; false when no other thread can take them (they are scored here). */
  offer(pairs: PairBatch): boolean
  /** Their scores (valid until the next offer): waits for the thread that took them, or scores them here. */
  collect(): Float32Array
}

/**
 * Below this many pairs a batch is scored on one thread: 512 pairs are ~0.2 ms of work (~0.45 µs each), about what a
 * hand-over to a sibling costs (BENCHMARKS.md § Search sharing), the scale of MIN_SHARED_BATCH's 16 exact documents.
 */
const MIN_SHARED_PAIRS = 512

/** The scores of a batch, its second half offered to another thread when there is one and the batch is worth it. */
function scoreShared(view: SearchView, b: PairBatch, offload: RefineOffload | undefined): Float32Array {
  const n = b.vecs.length
  if (offload !== undefined && n >= MIN_SHARED_PAIRS) {
    const mid = n >>> 1
    const part = (from: number, to: number): PairBatch => ({ ...b, toks: b.toks.subarray(from, to), vecs: b.vecs.subarray(from, to), parts: b.parts.subarray(from, to) })
    if (offload.offer(part(mid, n))) {
      const out = new Float32Array(n)
      out.set(scorePairs(view, part(0, mid)))
      out.set(offload.collect(), mid)
      return out
    }
  }
  return scorePairs(view, b)
}

/**
 * Each pair's score in the units of an undecompressed vector (C·centroidWeight + residual): its centroid part plus the
 * residual's dot product with the token (−∞ for a vector with no stored row). Rows, then the residuals gathered, then
 * the lookups (see the file's cost note); the nibble scores are built per run of equal tokens.
 */
export function scorePairs(view: SearchView, b: PairBatch): Float32Array {
  const n = b.vecs.length
  const codec = view.codec!
  const bpv = codec.bytesPerVector
  // a vector is often the best unprobed one of several tokens (16–19 % of the pairs on skewed presets, 45 % on
  // uniform): its row is looked up and gathered once
  const { vecs, of } = distinctVectors(b.vecs)
  const rows = residualRows(view.ivf!, view.codes, vecs, vecs.length)
  const res = gatherRows(view.residuals, bpv, rows, vecs.length)
  const words = (bpv & 3) === 0 && LITTLE_ENDIAN ? new Uint32Array(res.buffer, res.byteOffset, res.length >>> 2) : null
  const out = new Float32Array(n)
  const tables = new Float32Array(bpv * 32)
  let tok = -1
  for (let x = 0; x < n; x++) {
    const u = of[x]
    if (rows[u] < 0) {
      out[x] = -Infinity
      continue
    }
    if (b.toks[x] !== tok) {
      tok = b.toks[x]
      nibbleScores(codec, b.query, tok * codec.dim, tables)
    }
    let s0 = b.parts[x], s1 = 0
    if (words !== null) {
      // the same sums in the same order, a 4-byte word per load
      for (let i = 0, r = u * (bpv >>> 2), off = 0; i < bpv; i += 4, off += 128) {
        const y = words[r + (i >>> 2)]
        s0 += tables[off + (y & 15)]
        s1 += tables[off + 16 + ((y >>> 4) & 15)]
        s0 += tables[off + 32 + ((y >>> 8) & 15)]
        s1 += tables[off + 48 + ((y >>> 12) & 15)]
        s0 += tables[off + 64 + ((y >>> 16) & 15)]
        s1 += tables[off + 80 + ((y >>> 20) & 15)]
        s0 += tables[off + 96 + ((y >>> 24) & 15)]
        s1 += tables[off + 112 + (y >>> 28)]
      }
    } else {
      for (let i = 0, r = u * bpv, off = 0; i < bpv; i++, off += 32) {
        const y = res[r + i]
        s0 += tables[off + (y & 15)]
        s1 += tables[off + 16 + (y >>> 4)]
      }
    }
    out[x] = s0 + s1
  }
  return out
}

/**
 * The distinct values of `all` in order of first appearance, and for each entry the index of its value among them
 * (an open-addressing table of ≥ 2·n entries, a few nanoseconds an entry against ~0.25 µs to find and gather a row).
 */
export function distinctVectors(all: Uint32Array): { vecs: Uint32Array; of: Uint32Array } {
  const n = all.length
  const bits = Math.max(4, 32 - Math.clz32(2 * n))
  const mask = (1 << bits) - 1
  const table = new Int32Array(mask + 1).fill(-1)
  const vecs = new Uint32Array(n), of = new Uint32Array(n)
  let u = 0
  for (let x = 0; x < n; x++) {
    const v = all[x]
    let h = Math.imul(v, 0x9e3779b1) >>> (32 - bits)
    while (table[h] >= 0 && vecs[table[h]] !== v) h = (h + 1) & mask
    if (table[h] < 0) {
      table[h] = u
      vecs[u++] = v
    }
    of[x] = table[h]
  }
  return { vecs: vecs.subarray(0, u), of }
}

/**
 * Per slot (row o) and token j: the best score S[c·qlen + j] over the slot's codes and the offset in the document of
 * the first vector reaching it (−1 when all are −∞). TypeScript, for indexes without the kernel.
 */
export function bestCodes(view: SearchView, slots: Uint32Array, qlen: number, S: Float32Array): { best: Float32Array; pos: Int32Array } {
  const n = slots.length
  const best = new Float32Array(n * qlen).fill(-Infinity)
  const pos = new Int32Array(n * qlen).fill(-1)
  const { codes, docStart, docLen } = view
  for (let o = 0; o < n; o++) {
    const a = docStart[slots[o]], len = docLen[slots[o]], out = o * qlen
    for (let x = 0; x < len; x++) {
      const row = codes[a + x] * qlen
      for (let j = 0; j < qlen; j++) {
        const s = S[row + j]
        if (s > best[out + j]) {
          best[out + j] = s
          pos[out + j] = x
        }
      }
    }
  }
  return { best, pos }
}

/** bestCodes in the arena's kernel, the slots' codes copied there in chunks of ≤ CHUNK_CODES. */
export function bestCodesInArena(view: SearchView, slots: Uint32Array, qlen: number, arena: RefineArena): { best: Float32Array; pos: Int32Array } {
  const n = slots.length
  const best = new Float32Array(n * qlen)
  const pos = new Int32Array(n * qlen)
  const { docStart, docLen } = view
  const codes = view.codes as Uint16Array
  const k = arena.kernels
  const { bounds, maxDocs, maxCodes } = codeRuns(docLen, slots, CHUNK_CODES)
  const codesPtr = align(arena.at), endsPtr = align(codesPtr + maxCodes * 2), bestPtr = align(endsPtr + maxDocs * 4)
  const posPtr = align(bestPtr + maxDocs * qlen * 4)
  k.reserve(posPtr + maxDocs * qlen * 4)
  for (let r = 0; r + 1 < bounds.length; r++) {
    const i0 = bounds[r], i1 = bounds[r + 1]
    const ends = k.i32(endsPtr, i1 - i0)
    copyRunCodes(codes, docStart, docLen, slots, i0, i1, k.u16(codesPtr, maxCodes), ends)
    k.bestCodes(codesPtr, endsPtr, i1 - i0, arena.sPtr, qlen, bestPtr, posPtr)
    best.set(k.f32(bestPtr, (i1 - i0) * qlen), i0 * qlen)
    // the kernel counts over the chunk's codes: back to offsets within each document
    const p = k.i32(posPtr, (i1 - i0) * qlen)
    for (let i = i0, first = 0; i < i1; i++) {
      for (let j = 0; j < qlen; j++) {
        const x = p[(i - i0) * qlen + j]
        pos[i * qlen + j] = x < 0 ? -1 : x - first
      }
      first = ends[i - i0]
    }
  }
  return { best, pos }
}

/** Where gatherRows' first pass leaves its loads' value, so that the compiler keeps them. */
let sink = 0

/**
 * The residual rows `rows[0 .. n)` back to back (a row < 0 left zero), copied by residual-rows.ts rowCopier. One load
 * per row first: a tight loop keeps many of the rows' cache and TLB misses in flight, which the copy (a row's words
 * loaded and stored) does not.
 */
function gatherRows(residuals: Uint8Array, bpv: number, rows: Int32Array, n: number): Uint8Array {
  let touched = 0
  for (let x = 0; x < n; x++) {
    const row = rows[x]
    if (row >= 0) touched ^= residuals[row * bpv]
  }
  sink ^= touched
  const dst = new Uint8Array(n * bpv)
  const copy = rowCopier(residuals, dst, bpv)
  for (let x = 0; x < n; x++) if (rows[x] >= 0) copy(rows[x], x)
  return dst
}
