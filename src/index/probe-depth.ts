/**
 * Probe depth: how many of its best cells each query token probes, chosen per token from what the query and the
 * index show instead of one constant for every token and every collection.
 *
 * Why (issue 9, BENCHMARKS.md § Probe depth per token): a fixed ncells 8 lost 7–10 of 86 targets on single-topic
 * before the exact stage. There most query tokens are noisy copies: their centroid scores are flat (best − 8th
 * ≈ 0.03), and the target vector a token copies lies at centroid rank 8–64 for ~45 % of the strong matches (against
 * ~17 % on uniform, ~6 % on zipf-quarter, where the profile is sharp). A fixed ncells 32 recovers them but costs 2–3×
 * the probe everywhere, most on skewed collections whose popular cells hold thousands of vectors.
 *
 * The rule, per token j (cells in descending centroid score s_1 ≥ s_2 ≥ …): the first `min` cells always; then cell i
 * while all of
 *  - i < max;
 *  - centroidWeight · (s_1 − s_i) ≤ z · σ_j: a vector of cell i whose residual scores z standard deviations above its
 *    centroid would still reach the best cell's centroid score. σ_j is the residual's score spread for this token,
 *    √(Σ_d q_jd² σ_d²), with σ_d the codec's per-dimension residual spread (residualSpread), so the gate follows
 *    how far the index's vectors actually lie from their centroids;
 *  - the token's probed vectors stay within budget · min · (mean list length): small cells are cheap to probe, a
 *    popular cell of thousands of vectors is not, so a token in a dense popular region keeps its `min` cells.
 * Cells are taken in order, so each token probes a prefix of its ranking and its last probed cell bounds what its
 * unprobed cells can score (the floor in plaid-search.ts stays valid). Deterministic for a given index and query.
 * Cost: O(qlen · (dim + max)) on top of choosing max cells per token instead of min.
 */
import type { ResidualCodec } from './residual-codec.js'

export interface ProbeDepthRule {
  /** cells every token probes */
  min: number
  /** cells a token may probe at most */
  max: number
  /** residual standard deviations a cell's centroid score may lie below the token's best */
  z: number
  /** a token's probed vectors may reach budget × min × the mean list length */
  budget: number
}

/** The rule for a search with `ncells` cells per token by default (measured in BENCHMARKS.md § Probe depth per token). */
export function defaultProbeDepthRule(ncells: number, centroids: number): ProbeDepthRule {
  return { min: ncells, max: Math.min(centroids, 4 * ncells), z: 2, budget: 3 }
}

/** Outer reconstruction level of the Gaussian Lloyd–Max quantizer, in standard deviations, by bits. */
const GAUSSIAN_OUTER_LEVEL: Record<1 | 2 | 4, number> = { 1: 0.798, 2: 1.510, 4: 2.733 }

/**
 * Per dimension, the squared spread of the stored residuals, read from the codec's levels as if each dimension were
 * Gaussian (the outer levels of a Lloyd–Max quantizer lie at ± GAUSSIAN_OUTER_LEVEL σ); a pooled codec gives every
 * dimension the same value.
 */
export function residualVariance(codec: ResidualCodec): Float32Array {
  const { dim, nbits, weights } = codec
  const levels = 1 << nbits
  const perDimension = weights.length === dim * levels
  const out = new Float32Array(dim)
  for (let d = 0; d < dim; d++) {
    const o = perDimension ? d * levels : 0
    let lo = Infinity, hi = -Infinity
    for (let l = 0; l < levels; l++) {
      if (weights[o + l] < lo) lo = weights[o + l]
      if (weights[o + l] > hi) hi = weights[o + l]
    }
    const sigma = (hi - lo) / (2 * GAUSSIAN_OUTER_LEVEL[nbits])
    out[d] = sigma * sigma
  }
  return out
}

/**
 * Per token, how many of its ranked cells to probe (see the header). chosen: qlen × stride cells, best first per
 * token; S: K × qlen centroid scores; listSize(c): vectors in cell c's lists; meanList: vectors / K.
 */
export function probeDepths(
  rule: ProbeDepthRule, S: Float32Array, qlen: number, chosen: Uint32Array, stride: number,
  query: Float32Array, dim: number, variance: Float32Array, centroidWeight: number,
  listSize: (c: number) => number, meanList: number,
): Uint32Array {
  const min = Math.min(rule.min, stride)
  const max = Math.min(rule.max, stride)
  const out = new Uint32Array(qlen).fill(min)
  if (max <= min) return out
  const budget = rule.budget * min * meanList
  for (let j = 0; j < qlen; j++) {
    let v = 0
    for (let d = 0, o = j * dim; d < dim; d++) v += query[o + d] * query[o + d] * variance[d]
    const reach = rule.z * Math.sqrt(v)
    const o = j * stride
    const best = S[chosen[o] * qlen + j]
    let vectors = 0
    for (let i = 0; i < min; i++) vectors += listSize(chosen[o + i])
    let n = min
    while (n < max) {
      const c = chosen[o + n]
      if (centroidWeight * (best - S[c * qlen + j]) > reach) break
      const size = listSize(c)
      if (vectors + size > budget) break
      vectors += size
      n++
    }
    out[j] = n
  }
  return out
}
