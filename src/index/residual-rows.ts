/**
 * Where a stored vector's packed residual is. The residuals are kept in the IVF's base-list order (ivf.ts
 * baseRowStart, tailFrom): the probe (probe-scores.ts) reads each probed cell's residuals as one contiguous run instead
 * of one scattered read per vector. In vector order, a probe on skewed data spent ~5.5 ms of its ~10 gathering 86 k
 * residuals from all over the index (a cache and TLB miss each; measured on zipf-quarter, BENCHMARKS.md § Residuals in
 * cell order). The vectors appended since the base was built follow it in vector order; the next IVF rebuild (a
 * batch of upserts past IVF_DELTA_FRACTION, a compaction, a training, a load) puts them in their cells.
 *
 * Readers by vector (a compaction, an export, a re-training without originals) go through rowsOf: the base lists
 * walked once into a 4-byte-per-vector map, dropped after use. The exact stage without original vectors, which reads
 * by vector on every search, keeps its map in the base (searchRowsOf, Ivf.baseRows).
 * Residuals and results are the same bytes and scores as in vector order; only their addresses move.
 */
import { forEachPosition, type Ivf, ROW_SKIP_SHIFT } from './ivf.js'

/** The row of a vector that has none: its document was deleted before the base was built (it is never read). */
export const NO_ROW = 0xffffffff

/** What a vector appended since the base (v ≥ tailFrom) adds to its position to get its row (0: vector order). */
export function tailShift(ivf: Ivf | null): number {
  return ivf === null ? 0 : ivf.baseRowStart[ivf.k] - ivf.tailFrom
}

/** Rows the layout holds: the base's entries and the vectors appended since (nVectors: stored vectors now). */
export function storedRows(ivf: Ivf | null, nVectors: number): number {
  return nVectors + tailShift(ivf)
}

/** Row of vector v ≥ ivf.tailFrom (appended since the base), or of any v when the residuals are in vector order. */
export function tailRow(ivf: Ivf | null, v: number): number {
  return v + tailShift(ivf)
}

/** Row of every vector below ivf.tailFrom (NO_ROW for those not in the base lists), from one walk of the base lists. */
function baseRows(ivf: Ivf, shared = false): Uint32Array {
  const out = shared ? new Uint32Array(new SharedArrayBuffer(Math.max(4, ivf.tailFrom * 4)), 0, ivf.tailFrom) : new Uint32Array(ivf.tailFrom)
  out.fill(NO_ROW)
  let row = 0
  for (let c = 0; c < ivf.k; c++) forEachPosition(ivf.baseOffsets, ivf.baseGaps, c, (v) => { out[v] = row++ })
  return out
}

function rowFunction(base: Uint32Array, tail: number): (v: number) => number {
  return (v) => (v < base.length ? base[v] : v + tail)
}

/** A function from vector position to row (null ivf: vector order), for one pass: its map goes with it. */
export function rowsOf(ivf: Ivf | null): (v: number) => number {
  if (ivf === null) return (v) => v
  return rowFunction(baseRows(ivf), tailShift(ivf))
}

/**
 * rowsOf for the search's exact stage without original vectors, which reads by vector on every search: the map is made
 * once per base and kept in it (Ivf.baseRows, counted in the index's IVF bytes; delta updates leave the base alone).
 * Only such indexes build it, so the others never hold its 4 bytes per vector.
 */
export function searchRowsOf(ivf: Ivf | null): (v: number) => number {
  if (ivf === null) return (v) => v
  return rowFunction(searchRowMap(ivf), tailShift(ivf))
}

/** The base's row map of searchRowsOf, made on first use (search workers receive it with the version they search). */
export function searchRowMap(ivf: Ivf): Uint32Array {
  ivf.baseRows ??= baseRows(ivf, true)
  return ivf.baseRows
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

/**
 * The residual rows of vectors vs[0 .. n) (−1 for one not in a list): past the base, its position plus the tail shift;
 * in the base, its rank in its cell's list after the earlier cells' rows, found from the last of the IVF's entry points
 * (Ivf.baseSkips) in its cell at or before it, then at most 63 gap steps. In passes over all the vectors (codes; cell bounds; entry point; gap steps): each pass's loads are
 * independent of one another, so the processor overlaps their cache misses. One lookup at a time waited on ~6 misses
 * in a row, ~0.6 µs a pair in the search (the probe has just swept megabytes through the caches).
 */
export function residualRows(ivf: Ivf, codes: Uint16Array | Uint32Array, vs: Uint32Array, n: number): Int32Array {
  const rows = new Int32Array(n)
  const cell = new Uint32Array(n)
  for (let x = 0; x < n; x++) cell[x] = codes[vs[x]]
  const { baseRowStart: rowStart, baseSkips: skips, baseGaps: gaps, baseOffsets: offsets, tailFrom } = ivf
  const tail = tailShift(ivf)
  // the scan state: entry offset, its position, the list's end (0: this vector is settled)
  const at = new Uint32Array(n), posAt = new Float64Array(n), end = new Uint32Array(n)
  for (let x = 0; x < n; x++) {
    const v = vs[x], c = cell[x]
    if (v >= tailFrom) {
      rows[x] = v + tail
      continue
    }
    rows[x] = rowStart[c]
    end[x] = rowStart[c + 1] === rows[x] ? 0 : offsets[c + 1]
    at[x] = offsets[c]
    posAt[x] = -1
    if (end[x] === 0) rows[x] = -1
  }
  for (let x = 0; x < n; x++) {
    if (end[x] === 0) continue
    const v = vs[x], c = cell[x], r0 = rows[x]
    let lo = (r0 + (1 << ROW_SKIP_SHIFT) - 1) >>> ROW_SKIP_SHIFT, hi = (rowStart[c + 1] - 1) >>> ROW_SKIP_SHIFT
    if (lo > hi || skips[2 * lo + 1] > v) continue
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1
      if (skips[2 * mid + 1] <= v) lo = mid
      else hi = mid - 1
    }
    const e = skips[2 * lo], p = skips[2 * lo + 1]
    rows[x] = lo << ROW_SKIP_SHIFT
    if (p === v) {
      end[x] = 0
      continue
    }
    at[x] = e + (gaps[e] === 0 ? 3 : 1)
    posAt[x] = p
    rows[x]++
  }
  for (let x = 0; x < n; x++) {
    const stop = end[x]
    if (stop === 0) continue
    const v = vs[x]
    let e = at[x], p = posAt[x], row = rows[x]
    for (; e < stop; row++) {
      const g = gaps[e]
      if (g === 0) {
        p = gaps[e + 1] * 65536 + gaps[e + 2]
        e += 3
      } else {
        p += g
        e++
      }
      if (p >= v) break
    }
    rows[x] = p === v ? row : -1
  }
  return rows
}
