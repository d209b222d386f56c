/**
 * Documents' codes handed to the SIMD kernels that walk them (simd-kernels.ts approx and best_codes): the codes of
 * a list of documents, copied into the kernels' arena in runs of consecutive documents, so that the arena's scratch
 * stays bounded (it never shrinks) however many documents a search passes. The exact stage splits its documents'
 * vectors into runs the same way (a document has as many vectors as codes).
 */

/**
 * The runs of `slots` holding at most `limit` codes each (a longer document is a run alone): run r is
 * slots[bounds[r] .. bounds[r + 1]) with totals[r] codes. maxDocs and maxCodes size the scratch for the largest run.
 */
export function codeRuns(
  docLen: Uint32Array, slots: Uint32Array, limit: number,
): { bounds: number[]; totals: number[]; maxDocs: number; maxCodes: number } {
  const bounds = [0], totals: number[] = []
  let maxDocs = 0, maxCodes = 0
  for (let i0 = 0; i0 < slots.length;) {
    let i1 = i0, total = 0
    while (i1 < slots.length && (i1 === i0 || total + docLen[slots[i1]] <= limit)) total += docLen[slots[i1++]]
    maxDocs = Math.max(maxDocs, i1 - i0)
    maxCodes = Math.max(maxCodes, total)
    bounds.push(i1)
    totals.push(total)
    i0 = i1
  }
  return { bounds, totals, maxDocs, maxCodes }
}

/** The codes of slots[i0 .. i1) back to back into `into`, and each document's cumulative end into ends[i − i0]. */
export function copyRunCodes(
  codes: Uint16Array, docStart: Uint32Array, docLen: Uint32Array, slots: Uint32Array, i0: number, i1: number, into: Uint16Array, ends: Int32Array,
): void {
  for (let i = i0, at = 0; i < i1; i++) {
    const a = docStart[slots[i]], len = docLen[slots[i]]
    into.set(codes.subarray(a, a + len), at)
    at += len
    ends[i - i0] = at
  }
}
