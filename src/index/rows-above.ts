/**
 * The rows-above kernel over the centroid scores S (K × qlen floats in the centroid arena at sPtr): its scratch layout,
 * the walk over the (row, token) pairs it lists, and the per-token bounds from block maxima that keep those lists short
 * (a token's rank-th best row scores at least its rank-th best block maximum). scanScores (plaid-search.ts) and
 * widenChosen (probe-depth.ts) share all three, so the layout is written down once.
 */
import { float32Below } from './float32.js'
import type { CentroidArena } from './kmeans.js'
import { nthSmallest } from './top-k.js'

export interface RowsAbove {
  /** qlen float thresholds, right after S */
  thrPtr: number
  /** the kernel's list: per row, the row then `words` int32 of token bits */
  listPtr: number
  words: number
  /** the thresholds as a view (valid until the arena next grows) */
  thr: Float32Array
  /** S as a fresh view (reserving the scratch may have grown the arena) */
  S: Float32Array
  /** where blockMaxima puts the block maxima (and kept flags), after the list */
  blockPtr: number
}

/** Reserves the scratch after S for a pass over all K rows. */
export function rowsAboveScratch(ca: CentroidArena, sPtr: number, K: number, qlen: number): RowsAbove {
  const words = Math.ceil(qlen / 32)
  const thrPtr = sPtr + K * qlen * 4
  const listPtr = thrPtr + Math.ceil(qlen / 4) * 16
  const blockPtr = listPtr + Math.ceil(K * (1 + words) / 4) * 16
  ca.arena.reserve(blockPtr + Math.min(K, MAX_BLOCKS) * qlen * 4 + K)
  return { thrPtr, listPtr, words, thr: ca.arena.f32(thrPtr, qlen), S: ca.arena.f32(sPtr, K * qlen), blockPtr }
}

/** The most blocks blockMaxima deals the rows into (32 KB of maxima at 32 tokens: the L1 cache). */
const MAX_BLOCKS = 256

/** Up to this rank rankThresholds keeps the best values by insertion, above it selects. */
const INSERTION_RANKS = 16

/** Block maxima of S in r's scratch (see blockMaxima): how many blocks hold them. */
export type BlockMaxima = { blocks: number }

/**
 * Deals the K rows of S into min(K, 256) blocks by residue (row r to block r % blocks) and keeps per block and token
 * the block's best score, for rankThresholds. Dealt by residue, neighbouring rows (centroids close in the order, often
 * close in space) fall in different blocks. With `kept`, also kept[r] = 1 where some token scores row r ≥ kept.threshold,
 * else 0, in the same pass. One kernel pass over S.
 */
export function blockMaxima(ca: CentroidArena, r: RowsAbove, sPtr: number, K: number, qlen: number, kept?: { threshold: number; into: Uint8Array }): BlockMaxima {
  const blocks = Math.min(K, MAX_BLOCKS)
  const keptPtr = kept === undefined ? 0 : r.blockPtr + blocks * qlen * 4
  ca.arena.blockMax(sPtr, K, qlen, blocks, r.blockPtr, keptPtr, kept === undefined ? 0 : float32Below(kept.threshold))
  if (kept !== undefined) kept.into.set(ca.arena.u8(keptPtr, K))
  return { blocks }
}

/**
 * Per token j (where `tokens` is absent or tokens[j] ≠ 0; else −∞), a score T_j that S's rank-th best row for j
 * reaches: the rank-th best of the block maxima. The rank blocks with maxima ≥ T_j hold rank rows scoring ≥ T_j, so
 * the rank best rows all score ≥ T_j, and a pass listing only the rows ≥ T_j finds them: a few rows per rank where the
 * maxima are spread, against ~rank · ln(K / rank) plus the stale thresholds' extra for chunks growing ×4 from a sample
 * (zipf-steep: 258 listed pairs a query instead of 15,500). qlen selections of 256 values. −∞ where rank > blocks.
 */
export function rankThresholds(ca: CentroidArena, r: RowsAbove, m: BlockMaxima, qlen: number, rank: number, tokens?: Uint8Array): Float64Array {
  const { blocks } = m
  const out = new Float64Array(qlen).fill(-Infinity)
  if (rank < 1 || rank > blocks) return out
  const maxima = ca.arena.f32(r.blockPtr, blocks * qlen)
  // a few ranks: insertion into the best `rank`, most values turned away by one comparison; more: a selection, whose
  // cost does not grow with the rank (on zipf-steep's maxima 27 against 69 µs a query at rank 8, 104 against 77 at 32)
  const column = new Float32Array(rank <= INSERTION_RANKS ? rank : blocks)
  for (let j = 0; j < qlen; j++) {
    if (tokens !== undefined && tokens[j] === 0) continue
    if (rank <= INSERTION_RANKS) {
      column.fill(-Infinity)
      for (let b = 0, o = j; b < blocks; b++, o += qlen) {
        const v = maxima[o]
        if (v <= column[rank - 1]) continue
        let i = rank - 1
        while (i > 0 && column[i - 1] < v) { column[i] = column[i - 1]; i-- }
        column[i] = v
      }
      out[j] = column[rank - 1]
    } else {
      for (let b = 0, o = j; b < blocks; b++, o += qlen) column[b] = maxima[o]
      out[j] = nthSmallest(column, blocks - rank)
    }
  }
  return out
}

/**
 * Runs the kernel over rows [from, to) against the thresholds in r.thr and calls visit(row, token) for every pair
 * with S[row·qlen + token] > thr[token], rows ascending, tokens ascending within a row.
 */
export function visitRowsAbove(
  ca: CentroidArena, r: RowsAbove, sPtr: number, qlen: number, from: number, to: number, visit: (row: number, token: number) => unknown,
): void {
  const { words } = r
  const n = ca.arena.rowsAboveMask(sPtr + from * qlen * 4, to - from, qlen, r.thrPtr, r.listPtr, words)
  const list = ca.arena.i32(r.listPtr, n * (1 + words))
  for (let i = 0, o = 0; i < n; i++, o += 1 + words) {
    const c = from + list[o]
    for (let w = 0; w < words; w++) {
      for (let bits = list[o + 1 + w]; bits !== 0; bits &= bits - 1) visit(c, w * 32 + (31 - Math.clz32(bits & -bits)))
    }
  }
}

