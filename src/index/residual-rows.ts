/**
 * Where a stored vector's packed residual is. The residuals are kept in the IVF's base-list order (ivf.ts
 * baseRowStart, tailFrom): the probe (probe-scores.ts) reads each probed cell's residuals as one contiguous run instead
 * of one scattered read per vector. In vector order, a probe on skewed data spent ~4.4 ms of its ~10 gathering 85 k
 * residuals from all over the index (a cache and TLB miss each; measured on zipf-quarter, BENCHMARKS.md § Residuals in
 * cell order). The vectors appended since the base was built follow it in vector order; the next IVF rebuild (a
 * batch of upserts past IVF_DELTA_FRACTION, a compaction, a training, a load) puts them in their cells.
 *
 * Readers by vector (a document's rows for the exact stage without original vectors, a compaction, an export, a
 * re-training without originals) go through rowsOf: the base lists walked once, 4 bytes per vector, cached per base.
 * Residuals and results are the same bytes and scores as in vector order; only their addresses move.
 */
import { forEachPosition, type Ivf } from './ivf.js'

/** The row of a vector that has none: its document was deleted before the base was built (it is never read). */
export const NO_ROW = 0xffffffff

/** Rows the layout holds: the base's entries and the vectors appended since (nVectors: stored vectors now). */
export function storedRows(ivf: Ivf | null, nVectors: number): number {
  return ivf === null ? nVectors : ivf.baseRowStart[ivf.k] + (nVectors - ivf.tailFrom)
}

/** Row of vector v ≥ ivf.tailFrom (appended since the base), or of any v when the residuals are in vector order. */
export function tailRow(ivf: Ivf | null, v: number): number {
  return ivf === null ? v : ivf.baseRowStart[ivf.k] + (v - ivf.tailFrom)
}

const baseRowsOf = new WeakMap<Uint32Array, Uint32Array>()

/**
 * Row of every vector below ivf.tailFrom (NO_ROW for those not in the base lists), from one walk of the base lists;
 * cached per base (its baseRowStart array is fixed at the build, delta updates leave it alone).
 */
function baseRows(ivf: Ivf): Uint32Array {
  let rows = baseRowsOf.get(ivf.baseRowStart)
  if (rows !== undefined) return rows
  const out = new Uint32Array(ivf.tailFrom).fill(NO_ROW)
  let row = 0
  for (let c = 0; c < ivf.k; c++) forEachPosition(ivf.baseOffsets, ivf.baseGaps, c, (v) => { out[v] = row++ })
  baseRowsOf.set(ivf.baseRowStart, out)
  return out
}

/** A function from vector position to row (null ivf: vector order). */
export function rowsOf(ivf: Ivf | null): (v: number) => number {
  if (ivf === null) return (v) => v
  const base = baseRows(ivf), tail = ivf.baseRowStart[ivf.k] - ivf.tailFrom
  return (v) => (v < base.length ? base[v] : v + tail)
}

/**
 * The residuals of `to`'s base lists in list order, on shared memory (search workers read them in place), with room
 * for `capacity` rows. `residuals` are in the order of `from` (null: vector order). A new array: searches still
 * running on the previous version keep reading the old one.
 */
export function reorderResiduals(residuals: Uint8Array, bpv: number, from: Ivf | null, to: Ivf, capacity: number): Uint8Array {
  const rowOf = rowsOf(from)
  const out = new Uint8Array(new SharedArrayBuffer(Math.max(4, capacity * bpv)), 0, capacity * bpv)
  const copy = rowCopier(residuals, out, bpv)
  let o = 0
  for (let c = 0; c < to.k; c++) forEachPosition(to.baseOffsets, to.baseGaps, c, (v) => copy(rowOf(v), o++))
  return out
}

/**
 * copy(srcRow, dstRow): one row of bpv bytes from src to dst, a word at a time when rows and arrays are 4-byte
 * aligned (no subarray per row: a reorder moves millions of them).
 */
export function rowCopier(src: Uint8Array, dst: Uint8Array, bpv: number): (srcRow: number, dstRow: number) => void {
  if ((bpv & 3) === 0 && (src.byteOffset & 3) === 0 && (dst.byteOffset & 3) === 0) {
    const s = new Uint32Array(src.buffer, src.byteOffset, src.length >>> 2), d = new Uint32Array(dst.buffer, dst.byteOffset, dst.length >>> 2)
    const w = bpv >>> 2
    return (a, b) => {
      for (let i = a * w, j = b * w, end = i + w; i < end;) d[j++] = s[i++]
    }
  }
  return (a, b) => {
    for (let i = a * bpv, j = b * bpv, end = i + bpv; i < end;) dst[j++] = src[i++]
  }
}
