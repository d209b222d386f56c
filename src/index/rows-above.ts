/**
 * The rows-above kernel over the centroid scores S (K × qlen floats in the centroid arena at sPtr): its scratch layout
 * and the walk over the (row, token) pairs it lists. scanScores (plaid-search.ts) and widenChosen (probe-depth.ts)
 * share both, so the layout is written down once.
 */
import type { CentroidArena } from './kmeans.js'

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
}

/** Reserves the scratch after S for a pass over all K rows. */
export function rowsAboveScratch(ca: CentroidArena, sPtr: number, K: number, qlen: number): RowsAbove {
  const words = Math.ceil(qlen / 32)
  const thrPtr = sPtr + K * qlen * 4
  const listPtr = thrPtr + Math.ceil(qlen / 4) * 16
  ca.arena.reserve(listPtr + K * (1 + words) * 4)
  return { thrPtr, listPtr, words, thr: ca.arena.f32(thrPtr, qlen), S: ca.arena.f32(sPtr, K * qlen) }
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
