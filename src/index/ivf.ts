/**
 * Inverted file: for each centroid, the ascending unique document slots having a vector with that code.
 * A compressed-sparse-row base (offsets K+1, slots) built in one O(vectors + K) pass from the doc-major codes,
 * plus a small delta CSR for documents added since, rebuilt per upsert batch in O(delta + K). Deleted and replaced
 * documents stay listed until the next rebuild; search skips them through its live/allowed bitset, so a list may be
 * stale but never wrong about a live document.
 */
export interface Ivf {
  readonly k: number
  baseOffsets: Uint32Array
  baseSlots: Uint32Array
  deltaOffsets: Uint32Array
  deltaSlots: Uint32Array
}

/** CSR lists from doc-major codes of the given (ascending) slots. */
function buildCsr(
  k: number, codes: ArrayLike<number>, docStart: Uint32Array, docLen: Uint32Array, slots: ArrayLike<number>, nSlots: number,
): { offsets: Uint32Array; list: Uint32Array } {
  const last = new Int32Array(k).fill(-1)
  const offsets = new Uint32Array(k + 1)
  for (let i = 0; i < nSlots; i++) {
    const s = slots[i], a = docStart[s], b = a + docLen[s]
    for (let v = a; v < b; v++) {
      const c = codes[v]
      if (last[c] !== s) { last[c] = s; offsets[c + 1]++ }
    }
  }
  for (let c = 0; c < k; c++) offsets[c + 1] += offsets[c]
  const list = new Uint32Array(offsets[k])
  const fill = offsets.slice(0, k)
  last.fill(-1)
  for (let i = 0; i < nSlots; i++) {
    const s = slots[i], a = docStart[s], b = a + docLen[s]
    for (let v = a; v < b; v++) {
      const c = codes[v]
      if (last[c] !== s) { last[c] = s; list[fill[c]++] = s }
    }
  }
  return { offsets, list }
}

export function emptyIvf(k: number): Ivf {
  return { k, baseOffsets: new Uint32Array(k + 1), baseSlots: new Uint32Array(0), deltaOffsets: new Uint32Array(k + 1), deltaSlots: new Uint32Array(0) }
}

/** Full rebuild over the live slots (ascending). */
export function buildIvf(k: number, codes: ArrayLike<number>, docStart: Uint32Array, docLen: Uint32Array, liveSlots: Uint32Array): Ivf {
  const { offsets, list } = buildCsr(k, codes, docStart, docLen, liveSlots, liveSlots.length)
  return { k, baseOffsets: offsets, baseSlots: list, deltaOffsets: new Uint32Array(k + 1), deltaSlots: new Uint32Array(0) }
}

/** Rebuilds the delta lists for the slots added since the base was built (ascending). */
export function setIvfDelta(ivf: Ivf, codes: ArrayLike<number>, docStart: Uint32Array, docLen: Uint32Array, deltaSlots: Uint32Array): void {
  const { offsets, list } = buildCsr(ivf.k, codes, docStart, docLen, deltaSlots, deltaSlots.length)
  ivf.deltaOffsets = offsets
  ivf.deltaSlots = list
}

export function ivfBytes(ivf: Ivf): number {
  return ivf.baseOffsets.byteLength + ivf.baseSlots.byteLength + ivf.deltaOffsets.byteLength + ivf.deltaSlots.byteLength
}
