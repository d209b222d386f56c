/**
 * The cells each query token probed, and hiding those (cell, token) pairs from the centroid scores while a pass looks
 * for what the probe did not score: a document's vector in a cell token j probed already has its probe score for j,
 * but for every other token it is a vector like any other, whose centroid score counts.
 *
 * The pairs are hidden per token, not per cell: on skewed data several query tokens fall in the same popular topic and
 * probe neighbouring cells, so a cell one token probed holds another token's best match in many documents (uneven-tail
 * q32: eight tokens whose matches scored 0.58–0.71 sat in cells other tokens had probed, each credited the 0.31 floor;
 * BENCHMARKS.md § Probed cells hidden per token).
 */

/** The probe's cells per token: token j probed chosen[j·stride .. j·stride + counts[j]). */
export interface ProbedCells { chosen: Uint32Array; stride: number; counts: Uint32Array }

/**
 * Sets S[c·qlen + j] to −∞ for every cell c token j probed (S: K × qlen centroid scores, changed in place) and returns
 * the values it replaced, for restoreProbed. Cost: the probed pairs, qlen · stride at most.
 */
export function hideProbed(S: Float32Array, qlen: number, cells: ProbedCells): Float32Array {
  const { chosen, stride, counts } = cells
  const saved = new Float32Array(qlen * stride)
  for (let j = 0; j < qlen; j++) {
    for (let i = 0; i < counts[j]; i++) {
      const at = chosen[j * stride + i] * qlen + j
      saved[j * stride + i] = S[at]
      S[at] = -Infinity
    }
  }
  return saved
}

/** Puts back what hideProbed replaced (S may be a fresh view of the same memory). */
export function restoreProbed(S: Float32Array, qlen: number, cells: ProbedCells, saved: Float32Array): void {
  const { chosen, stride, counts } = cells
  for (let j = 0; j < qlen; j++) for (let i = 0; i < counts[j]; i++) S[chosen[j * stride + i] * qlen + j] = saved[j * stride + i]
}
