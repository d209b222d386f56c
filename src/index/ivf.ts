/**
 * Inverted file: for each centroid, the ascending positions of the stored vectors with that code, gap-coded (not documents:
 * search scores the vectors of the probed cells one by one, WARP-style, see probe-scores.ts). A vector's document is
 * found from its position (slotOfVector: slots own ascending, contiguous position ranges; a table of the slot at
 * every 64th position, 1/16 byte per vector, keeps that O(1) for documents of a few vectors or more).
 * A compressed-sparse-row base (offsets K+1, positions) built in one O(vectors + K) pass from the doc-major codes,
 * plus a small delta CSR for documents added since, rebuilt per upsert batch in O(delta + K). Deleted and replaced
 * documents stay listed until the next rebuild; search skips them through its live/allowed bitset, so a list may be
 * stale but never wrong about a live document.
 */
export interface Ivf {
  readonly k: number
  /** K+1 offsets into baseGaps */
  baseOffsets: Uint32Array
  /** per cell, its vectors' ascending positions as gaps (see readPositions) */
  baseGaps: Uint16Array
  deltaOffsets: Uint32Array
  deltaGaps: Uint16Array
  /** blockSlot[v >> BLOCK_SHIFT]: the slot owning the first position of each block of 2^BLOCK_SHIFT positions */
  blockSlot: Uint32Array
  /**
   * Live vectors per cell in the base and the delta lists (the lists themselves keep deleted vectors until the next
   * rebuild; these do not, so they depend only on the live documents: a loaded snapshot counts the same)
   */
  baseCounts: Uint32Array
  /** empty until the first delta (K × 4 bytes each: 0.05 B/vec on the bench's 10k sets) */
  deltaCounts: Uint32Array
  /** slots below baseSlots are in the base lists; below countedSlots, in the base or the delta */
  baseSlots: number
  countedSlots: number
  /**
   * Where the packed residuals are (residual-rows.ts): the base lists' vectors in list order, so that a probe reads a
   * cell's residuals as one run, then the vectors appended since. Cell c's base entries are rows
   * [baseRowStart[c], baseRowStart[c + 1]) (K+1 entries, fixed at the build); a vector at position ≥ tailFrom (the
   * vectors stored when the base was built) is row baseRowStart[k] + (v − tailFrom).
   */
  baseRowStart: Uint32Array
  tailFrom: number
  /**
   * The row of each vector below tailFrom (residual-rows.ts searchRowsOf), made on the first need of an index whose
   * exact stage reads residuals by vector (no original vectors) and kept with the base it maps: 4 bytes per vector, on
   * shared memory, so that search workers get it with each version instead of rebuilding it.
   */
  baseRows?: Uint32Array
  /**
   * Entry points into the base lists every 2^ROW_SKIP_SHIFT rows (the rows of all cells in cell order): for skip point
   * s (row s·64), its entry's offset in baseGaps and its position, interleaved. residual-rows.ts residualRows finds a
   * vector's row from the nearest point in its cell in at most 63 gap steps, at 0.125 B/vector instead of a 4 B/vector map (the approximate
   * stage's refinement reads a few thousand rows per search, unprobed-refine.ts). Fixed at the rebuild, on shared memory.
   */
  baseSkips: Uint32Array
}

/** Rows per entry point of Ivf.baseSkips. */
export const ROW_SKIP_SHIFT = 6

/** Positions per block of Ivf.blockSlot: 64, so a lookup walks at most 64 / (shortest document) slots. */
export const BLOCK_SHIFT = 6

/**
 * The slot owning the first position of each block; slots own ascending, non-empty ranges. `prev`: the table of this
 * layout before slots were appended (blocks already there keep their slot), so an upsert batch costs O(new blocks)
 * instead of O(nSlots + positions / 64).
 */
function blockSlots(docStart: Uint32Array, docLen: Uint32Array, nSlots: number, prev?: Uint32Array): Uint32Array {
  const nVectors = nSlots === 0 ? 0 : docStart[nSlots - 1] + docLen[nSlots - 1]
  const blocks = Math.max(1, (nVectors + (1 << BLOCK_SHIFT) - 1) >>> BLOCK_SHIFT)
  if (prev !== undefined && prev.length === blocks) return prev
  const out = new Uint32Array(blocks)
  let from = 0
  if (prev !== undefined && prev.length < blocks) {
    out.set(prev)
    from = prev.length
  }
  let s = from === 0 ? 0 : out[from - 1]
  for (let b = from; b < blocks; b++) {
    const v = b << BLOCK_SHIFT
    while (s + 1 < nSlots && docStart[s + 1] <= v) s++
    out[b] = s
  }
  return out
}

/**
 * A cell's positions p0 < p1 < … are stored as gaps from the previous one (from −1 for the first), one uint16 each;
 * a gap that does not fit (≥ 65536) is written as 0, then the position's high and low 16 bits. Every vector of an
 * index is in exactly one list, so the lists cost ~2 bytes per vector instead of 4 (on the bench's 10k sets:
 * positions spread over 1.8 M, ~110 per cell, typical gaps ~16 k).
 */
function gapUnits(gap: number): number {
  return gap < 65536 ? 1 : 3
}

/** Walks cell c's list: calls visit(position) for each, ascending. (Inlined by hand in probe-scores.ts's hot loop.) */
export function forEachPosition(offsets: Uint32Array, gaps: Uint16Array, c: number, visit: (v: number) => void): void {
  let v = -1
  for (let e = offsets[c], end = offsets[c + 1]; e < end;) {
    const g = gaps[e++]
    if (g !== 0) v += g
    else { v = gaps[e] * 65536 + gaps[e + 1]; e += 2 }
    visit(v)
  }
}

function shared32(n: number): Uint32Array {
  return new Uint32Array(new SharedArrayBuffer(Math.max(4, n * 4)), 0, n)
}

/** Gap-coded lists of the vectors of the given (ascending) slots, by code; on shared memory (search workers read them in place). */
function buildCsr(
  k: number, codes: ArrayLike<number>, docStart: Uint32Array, docLen: Uint32Array, slots: ArrayLike<number>, nSlots: number,
): { offsets: Uint32Array; gaps: Uint16Array; counts: Uint32Array } {
  const offsets = shared32(k + 1)
  const counts = shared32(k)
  const last = new Float64Array(k).fill(-1)
  for (let i = 0; i < nSlots; i++) {
    const s = slots[i], a = docStart[s], b = a + docLen[s]
    for (let v = a; v < b; v++) {
      const c = codes[v]
      counts[c]++
      offsets[c + 1] += gapUnits(v - last[c])
      last[c] = v
    }
  }
  for (let c = 0; c < k; c++) offsets[c + 1] += offsets[c]
  const gaps = new Uint16Array(new SharedArrayBuffer(Math.max(2, offsets[k] * 2)), 0, offsets[k])
  const fill = offsets.slice(0, k)
  last.fill(-1)
  for (let i = 0; i < nSlots; i++) {
    const s = slots[i], a = docStart[s], b = a + docLen[s]
    for (let v = a; v < b; v++) {
      const c = codes[v]
      const gap = v - last[c]
      last[c] = v
      if (gap < 65536) gaps[fill[c]++] = gap
      else {
        gaps[fill[c]++] = 0
        gaps[fill[c]++] = v >>> 16
        gaps[fill[c]++] = v & 0xffff
      }
    }
  }
  return { offsets, gaps, counts }
}

/** Full rebuild over the live slots (ascending); nSlots: all slots, live or not. */
export function buildIvf(k: number, codes: ArrayLike<number>, docStart: Uint32Array, docLen: Uint32Array, liveSlots: Uint32Array, nSlots: number): Ivf {
  const { offsets, gaps, counts } = buildCsr(k, codes, docStart, docLen, liveSlots, liveSlots.length)
  const baseRowStart = shared32(k + 1)
  for (let c = 0; c < k; c++) baseRowStart[c + 1] = baseRowStart[c] + counts[c]
  const baseSkips = rowSkips(k, offsets, gaps, baseRowStart[k])
  return {
    k, baseOffsets: offsets, baseGaps: gaps, deltaOffsets: new Uint32Array(k + 1), deltaGaps: new Uint16Array(0),
    blockSlot: blockSlots(docStart, docLen, nSlots), baseCounts: counts, deltaCounts: new Uint32Array(0),
    baseSlots: nSlots, countedSlots: nSlots, baseRowStart, baseSkips, tailFrom: nSlots === 0 ? 0 : docStart[nSlots - 1] + docLen[nSlots - 1],
  }
}

/** Ivf.baseSkips of base lists holding `rows` entries in all: one walk of the gaps. */
function rowSkips(k: number, offsets: Uint32Array, gaps: Uint16Array, rows: number): Uint32Array {
  const n = (rows + (1 << ROW_SKIP_SHIFT) - 1) >>> ROW_SKIP_SHIFT
  const out = shared32(2 * n)
  const mask = (1 << ROW_SKIP_SHIFT) - 1
  let row = 0
  for (let c = 0; c < k; c++) {
    let v = -1
    for (let e = offsets[c], end = offsets[c + 1]; e < end; row++) {
      const at = e
      const g = gaps[e++]
      if (g !== 0) v += g
      else { v = gaps[e] * 65536 + gaps[e + 1]; e += 2 }
      if ((row & mask) === 0) {
        out[2 * (row >>> ROW_SKIP_SHIFT)] = at
        out[2 * (row >>> ROW_SKIP_SHIFT) + 1] = v
      }
    }
  }
  return out
}

/** Rebuilds the delta lists for the slots added since the base was built (ascending); nSlots: all slots now. */
export function setIvfDelta(ivf: Ivf, codes: ArrayLike<number>, docStart: Uint32Array, docLen: Uint32Array, deltaSlots: Uint32Array, nSlots: number): void {
  const { offsets, gaps, counts } = buildCsr(ivf.k, codes, docStart, docLen, deltaSlots, deltaSlots.length)
  ivf.deltaOffsets = offsets
  ivf.deltaGaps = gaps
  ivf.deltaCounts = counts
  ivf.countedSlots = nSlots
  ivf.blockSlot = blockSlots(docStart, docLen, nSlots, ivf.blockSlot)
}

/** A live slot was deleted: its vectors leave the live counts (its list entries stay until the next rebuild). */
export function forgetSlotInIvf(ivf: Ivf, codes: ArrayLike<number>, docStart: Uint32Array, docLen: Uint32Array, slot: number): void {
  if (slot >= ivf.countedSlots) return
  const counts = slot < ivf.baseSlots ? ivf.baseCounts : ivf.deltaCounts
  for (let v = docStart[slot], end = v + docLen[slot]; v < end; v++) counts[codes[v]]--
}

/** Live vectors of cell c: its base list's and, when there is a delta, its delta list's. */
export function liveVectorsInCell(ivf: Ivf, c: number): number {
  return ivf.deltaCounts.length > 0 ? ivf.baseCounts[c] + ivf.deltaCounts[c] : ivf.baseCounts[c]
}

export function ivfBytes(ivf: Ivf): number {
  return ivf.baseOffsets.byteLength + ivf.baseGaps.byteLength + ivf.deltaOffsets.byteLength + ivf.deltaGaps.byteLength + ivf.blockSlot.byteLength +
    ivf.baseCounts.byteLength + ivf.deltaCounts.byteLength + ivf.baseRowStart.byteLength + ivf.baseSkips.byteLength + (ivf.baseRows?.byteLength ?? 0)
}

/**
 * The slot owning stored vector `v`: the last slot whose docStart ≤ v (slots own ascending, non-empty ranges:
 * appends take the next positions, compaction and re-training keep slot order), from the block table and a walk of
 * at most 64 / (shortest document's length) slots.
 */
export function slotOfVector(ivf: Ivf, docStart: Uint32Array, nSlots: number, v: number): number {
  let s = ivf.blockSlot[v >>> BLOCK_SHIFT]
  while (s + 1 < nSlots && docStart[s + 1] <= v) s++
  return s
}
