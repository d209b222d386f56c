/**
 * The probe's scan of IVF base lists in WebAssembly (simd-kernels.ts probe_scan): one call per list and token instead
 * of the TypeScript scan's per-vector passes (gap decoding, slot lookup, the allowed check, the table lookups, the
 * token's best per document), with the same values.
 *
 * WebAssembly reads only its own memory, so each probe call copies into the kernel arena what the scan reads: the
 * block table and document starts (4 bytes a block of 64 vectors and a document), the allowed flags, and per list its
 * gaps and residual rows (a base list's rows are one contiguous run, residual-rows.ts). The token's table is built
 * there, and the token's best scores and touched documents live there for the call. zipf-quarter's query copies
 * ~3 MB (87 k probed vectors × 34 bytes), a memcpy of ~0.2 ms. Delta lists (vectors appended since the base, their
 * rows scattered) stay with the TypeScript scan, on the same arrays. Each token's touched documents are merged into
 * the probe's per-document result there too (probe_merge: zipf-steep's ~47 k entries a query 0.42 → ~0.2 ms against
 * the TypeScript merge), and the result is copied out once at the end.
 */
import { BLOCK_SHIFT, type Ivf, liveVectorsInCell } from './ivf.js'
import type { ProbeJob, ProbeScratch, ProbeSource } from './probe-scores.js'
import type { ResidualCodec } from './residual-codec.js'
import type { SimdArena } from './simd-kernels.js'

/** Where a probe may run the WebAssembly scan: a kernel arena and the first byte it may use (grown as needed). */
export interface ProbeArena { kernels: SimdArena; at: number }

/** One probe call's arrays in the arena; the views are valid for the call (nothing else grows the arena meanwhile). */
export interface WasmProbe {
  kernels: SimdArena
  blockPtr: number; docStartPtr: number; allowedPtr: number; markPtr: number; bestPtr: number; touchedPtr: number
  topPtr: number; lutPtr: number; gapsPtr: number; resPtr: number
  /** the codec's nibble table (nibbleTable), one token's values, the table build's scratch */
  tabPtr: number; qPtr: number; scratchPtr: number; half: number; rest: number; bpv: number
  query: Float32Array
  /** the token's best score per slot (epochs in mark), the slots it reached in order, and its top score */
  mark: Uint32Array; best: Float32Array; touched: Uint32Array; top: Float64Array
  lut: Float32Array; gaps: Uint16Array; res: Uint8Array
  /** where the call merges its tokens' lists into a per-document result (probe-scores.ts probeScores), else null */
  result: ProbeResultArrays | null
}

/**
 * The probe's per-document result, merged in the arena token by token (simd-kernels.ts probe_merge): per slot its mark
 * and row, per row its slot and gain (doubles), the entries (row, best) up to entryCap, and [nEntries, nTouched].
 */
export interface ProbeResultArrays {
  docMarkPtr: number; docRowPtr: number; docsPtr: number; gainPtr: number; entryRowPtr: number; entryBestPtr: number; statePtr: number
  entryCap: number
  state: Int32Array
}

const align = (x: number): number => (x + 15) & ~15

/**
 * Lays out and fills the arena for the tokens [from, to) of a probe, or null when the source has no arena or its
 * residuals are not whole 4-byte words per vector (the kernel reads words). With `merge`, also the per-document
 * result's arrays (a search worker's part of a probe hands its lists back unmerged).
 */
export function wasmProbe(src: ProbeSource, job: ProbeJob, from: number, to: number, merge: boolean): WasmProbe | null {
  const a = src.arena
  const bpv = src.codec.bytesPerVector
  if (a === undefined || (bpv & 3) !== 0 || from >= to) return null
  const { ivf, nSlots } = src
  // entryCap: each token touches at most the live vectors of its cells and at most every document (probe-scores.ts
  // tokenListBound)
  let maxEntries = 0, maxRows = 0, entryCap = 0
  for (let j = from; j < to; j++) {
    let live = 0
    for (let i = 0; i < job.counts[j]; i++) {
      const c = job.chosen[j * job.stride + i]
      maxEntries = Math.max(maxEntries, ivf.baseOffsets[c + 1] - ivf.baseOffsets[c])
      maxRows = Math.max(maxRows, ivf.baseRowStart[c + 1] - ivf.baseRowStart[c])
      if (merge) live += liveVectorsInCell(ivf, c)
    }
    entryCap += Math.min(live, nSlots)
  }
  let p = align(a.at)
  const take = (bytes: number): number => {
    const at = p
    p = align(p + bytes)
    return at
  }
  // docStart: a sentinel 2^32 − 1 after the last slot (probe_scan steps a slot forward without checking the end)
  const blockPtr = take(ivf.blockSlot.length * 4), docStartPtr = take((nSlots + 1) * 4), allowedPtr = take(nSlots)
  // touched: one entry more than the slots, which the scan writes past its count (probe_scan stores without a branch)
  const markPtr = take(nSlots * 4), bestPtr = take(nSlots * 4), touchedPtr = take((nSlots + 1) * 4), topPtr = take(8)
  const lutPtr = take(bpv * 256 * 4), gapsPtr = take(maxEntries * 2), resPtr = take(maxRows * bpv)
  const tab = nibbleTable(src.codec)
  const dim = src.codec.dim, vpb = src.codec.valuesPerByte
  const tabPtr = take(tab.length * 4), qPtr = take(dim * 4), scratchPtr = take(128)
  const resultPtrs = merge
    ? {
      docMarkPtr: take(nSlots * 4), docRowPtr: take(nSlots * 4), docsPtr: take(nSlots * 4), gainPtr: take(nSlots * 8),
      statePtr: take(8), entryRowPtr: take(entryCap * 4), entryBestPtr: take(entryCap * 4),
    }
    : null
  const k = a.kernels
  k.reserve(p)
  let result: ProbeResultArrays | null = null
  if (resultPtrs !== null) {
    k.u32(resultPtrs.docMarkPtr, nSlots).fill(0)
    result = { ...resultPtrs, entryCap, state: k.i32(resultPtrs.statePtr, 2) }
  }
  k.f32(tabPtr, tab.length).set(tab)
  k.u32(blockPtr, ivf.blockSlot.length).set(ivf.blockSlot)
  k.u32(docStartPtr, nSlots).set(src.docStart.subarray(0, nSlots))
  k.u32(docStartPtr + nSlots * 4, 1)[0] = 0xffffffff
  k.u8(allowedPtr, nSlots).set(src.allowed.subarray(0, nSlots))
  // epochs start at 1 (probe-scores.ts nextEpoch): a zeroed mark matches none
  const mark = k.u32(markPtr, nSlots)
  mark.fill(0)
  return {
    kernels: k, blockPtr, docStartPtr, allowedPtr, markPtr, bestPtr, touchedPtr, topPtr, lutPtr, gapsPtr, resPtr,
    mark, best: k.f32(bestPtr, nSlots), touched: k.u32(touchedPtr, nSlots), top: k.f64(topPtr, 1),
    lut: k.f32(lutPtr, bpv * 256), gaps: k.u16(gapsPtr, maxEntries), res: k.u8(resPtr, maxRows * bpv),
    tabPtr, qPtr, scratchPtr, half: vpb >>> 1, rest: vpb - (vpb >>> 1), bpv, query: k.f32(qPtr, dim), result,
  }
}

const nibbleTables = new WeakMap<ResidualCodec, Float32Array>()

/**
 * The rows of the codec's byte table that a token's probe table is built from (probe-scores.ts buildLut), per
 * residual byte position b: the 16 low-nibble bytes' first vpb/2 values, then the 16 high-nibble bytes' other values
 * (4 KB at dim 128, nbits 2, against the byte table's 128 KB). Kept per codec.
 */
export function nibbleTable(codec: ResidualCodec): Float32Array {
  let tab = nibbleTables.get(codec)
  if (tab !== undefined) return tab
  const { bytesPerVector: bpv, byteTable, valuesPerByte: vpb } = codec
  const half = vpb >>> 1
  tab = new Float32Array(bpv * 16 * vpb)
  let o = 0
  for (let b = 0; b < bpv; b++) {
    for (let n = 0; n < 16; n++) for (let u = 0; u < half; u++) tab[o++] = byteTable[((b << 8) + n) * vpb + u]
    for (let h = 0; h < 16; h++) for (let u = half; u < vpb; u++) tab[o++] = byteTable[((b << 8) + (h << 4)) * vpb + u]
  }
  nibbleTables.set(codec, tab)
  return tab
}

/** Builds token j's probe table (the query's values at qOff) in w.lut. */
export function buildLutInArena(w: WasmProbe, query: Float32Array, qOff: number): void {
  w.query.set(query.subarray(qOff, qOff + w.query.length))
  w.kernels.lutBuild(w.qPtr, w.tabPtr, w.bpv, w.half, w.rest, w.lutPtr, w.scratchPtr)
}

/** Scans base list c for the token whose table is in w.lut (see probe-scores.ts scanCell); returns the new nTok. */
export function scanBaseList(
  w: WasmProbe, ivf: Ivf, c: number, base: number, residuals: Uint8Array, bpv: number, nSlots: number, sc: ProbeScratch, tokEpoch: number, nTok: number,
): number {
  const e0 = ivf.baseOffsets[c], e1 = ivf.baseOffsets[c + 1]
  if (e1 === e0) return nTok
  const r0 = ivf.baseRowStart[c], r1 = ivf.baseRowStart[c + 1]
  w.gaps.set(ivf.baseGaps.subarray(e0, e1))
  w.res.set(residuals.subarray(r0 * bpv, r1 * bpv))
  w.top[0] = sc.tokTop
  const n = w.kernels.probeScan(
    w.gapsPtr, e1 - e0, w.resPtr, bpv >>> 2, w.lutPtr, base, w.blockPtr, BLOCK_SHIFT, w.docStartPtr, nSlots, w.allowedPtr,
    w.markPtr, w.bestPtr, w.touchedPtr, nTok, tokEpoch, w.topPtr,
  )
  sc.tokTop = w.top[0]
  return n
}
