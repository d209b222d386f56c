/**
 * Probe depth: how many of its best cells each query token probes, chosen per token from what the query and the
 * index show instead of one constant for every token and every collection.
 *
 * Why (issue 9, BENCHMARKS.md § Probe depth per token): a fixed ncells 8 lost 7–10 of 86 targets on single-topic
 * before the exact stage. There most query tokens are noisy copies: their centroid scores are flat (best − 8th
 * ≈ 0.03), and the target vector a token copies lies beyond centroid rank 8 for ~46 % of the strong matches (against
 * ~17 % on uniform, ~6 % on zipf-quarter, where the profile is sharp). A fixed ncells 32 recovers them but costs 2–3×
 * the probe everywhere, most on skewed collections whose popular cells hold thousands of vectors.
 *
 * The rule, per token j (cells in descending centroid score s_1 ≥ s_2 ≥ …): the first `min` cells always; then cell i
 * while all of
 *  - i < max;
 *  - s_i ≥ s_1 − z · σ_j / centroidWeight: a vector of cell i whose residual scores z standard deviations above its
 *    centroid would still reach the best cell's centroid score (both weighted as in decoding). σ_j is the residual's score spread for this token,
 *    √(Σ_d q_jd² σ_d²), with σ_d the codec's per-dimension residual spread (residualSpread), so the gate follows
 *    how far the index's vectors actually lie from their centroids;
 *  - the token's probed vectors stay within budget · min · (mean list length): small cells are cheap to probe, a
 *    popular cell of thousands of vectors is not, so a token in a dense popular region keeps its `min` cells.
 * And a token stops at `min` cells when they already hold a vector that stands out: a probe score ≥ centroidWeight·s_1
 * + standout·σ_j, more than residual noise around the best centroid explains (the token has found what it copies).
 * Deeper cells serve the tokens that found nothing of the kind: on uniform this stop ends the deeper probe of most
 * tokens (p50 back to that of 8 cells), on single-topic it keeps 36 of its 38 gained targets of 500. Such a token
 * keeps the floor of its planned depth (plaid-search.ts).
 * Cells are taken in order, so each token probes a prefix of its ranking and its last probed cell bounds what its
 * unprobed cells can score (the floor in plaid-search.ts stays valid). Deterministic for a given index and query.
 * Cost: one more pass over S (widenChosen) and O(qlen · (dim + max)); choosing each token's top max cells outright
 * instead cost ~1 ms per query more than its top min at 16,384 centroids (the insertion scan's lists grow with max).
 */
import { float32Below } from './float32.js'
import type { CentroidArena } from './kmeans.js'
import type { ResidualCodec } from './residual-codec.js'
import { blockMaxima, rankThresholds, rowsAboveScratch, visitRowsAbove } from './rows-above.js'

export interface ProbeDepthRule {
  /** cells every token probes */
  min: number
  /** cells a token may probe at most */
  max: number
  /** residual standard deviations a cell's centroid score may lie below the token's best */
  z: number
  /** a token's probed vectors may reach budget × min × the mean list length */
  budget: number
  /**
   * a token whose first `min` cells already hold a vector scoring ≥ its best cell's centroid score + standout · σ_j
   * (in decoded units) has found its match and probes no further
   */
  standout: number
}

/** The rule for a search with `ncells` cells per token by default (measured in BENCHMARKS.md § Probe depth per token). */
export function defaultProbeDepthRule(ncells: number, centroids: number): ProbeDepthRule {
  return { min: ncells, max: Math.min(centroids, 4 * ncells), z: 2, budget: 3, standout: 2.5 }
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
 * Per token j (chosen: qlen × stride, best first; s_1 its best centroid score, σ_j its residual score spread):
 *  - gate[j] = s_1 − z·σ_j / centroidWeight, the lowest centroid score a cell beyond the first `min` may have and
 *    still be probed;
 *  - stopAt[j] = centroidWeight·s_1 + standout·σ_j, the probe score (decoded units) that, found in the first `min`
 *    cells, ends the token's probe there;
 *  - sigma[j] = σ_j itself (unprobed-refine.ts skips the pairs that would need a residual beyond z·σ_j).
 */
export function gateScores(
  rule: ProbeDepthRule, S: Float32Array, qlen: number, chosen: Uint32Array, stride: number,
  query: Float32Array, dim: number, variance: Float32Array, centroidWeight: number,
): { gate: Float64Array; stopAt: Float64Array; sigma: Float64Array } {
  const gate = new Float64Array(qlen), stopAt = new Float64Array(qlen), sigma = new Float64Array(qlen)
  for (let j = 0; j < qlen; j++) {
    let v = 0
    for (let d = 0, o = j * dim; d < dim; d++) v += query[o + d] * query[o + d] * variance[d]
    sigma[j] = Math.sqrt(v)
    const best = S[chosen[j * stride] * qlen + j]
    gate[j] = best - (rule.z * sigma[j]) / centroidWeight
    stopAt[j] = centroidWeight * best + rule.standout * sigma[j]
  }
  return { gate, stopAt, sigma }
}

/**
 * The tokens (1) whose n-th best cell (chosen: qlen × stride, best first) still passes the gate: their first n cells
 * all lie within z residual spreads of the best, so the centroid ranking cannot tell where their matches are (the
 * tokens widenChosen may take deeper, and those unprobed-refine.ts scores from residuals).
 */
export function flatTokens(S: Float32Array, qlen: number, chosen: Uint32Array, stride: number, n: number, gate: Float64Array): Uint8Array {
  const out = new Uint8Array(qlen)
  for (let j = 0; j < qlen; j++) out[j] = S[chosen[j * stride + n - 1] * qlen + j] >= gate[j] ? 1 : 0
  return out
}

/**
 * Widens each token's `min` best cells (chosen: qlen × min, best first, as scanScores orders them: by score, ties by
 * the lower cell) to up to `max`: the cells beyond them that score ≥ gate[j], in the same order. Only tokens whose
 * min-th cell passes the gate can go deeper; their candidates come from one pass over S (with the arena: the rows-above
 * kernel, listing only rows at or above both the gate and a bound the token's max-th best row reaches, rows-above.ts
 * rankThresholds; else a loop), so choosing the depth costs about what choosing `min` cells did.
 * Returns the cells (qlen × max) and per token how many of them are valid (min … max).
 */
export function widenChosen(
  S: Float32Array, qlen: number, K: number, chosen: Uint32Array, min: number, max: number, gate: Float64Array,
  ca: CentroidArena | null, sPtr: number,
): { cells: Uint32Array; available: Uint32Array } {
  const extra = max - min
  const cells = new Uint32Array(qlen * max)
  const available = new Uint32Array(qlen).fill(min)
  const best = new Float32Array(qlen * Math.max(1, extra)).fill(-Infinity)
  const deeper = new Uint8Array(qlen)
  let any = false
  for (let j = 0; j < qlen; j++) {
    for (let i = 0; i < min; i++) cells[j * max + i] = chosen[j * min + i]
    if (extra > 0 && S[chosen[j * min + min - 1] * qlen + j] >= gate[j]) { deeper[j] = 1; any = true }
  }
  if (!any) return { cells, available }
  const insert = (c: number, j: number): void => {
    const s = S[c * qlen + j]
    if (s < gate[j]) return
    const o = j * extra, n = available[j] - min
    if (n === extra && s <= best[o + extra - 1]) return
    for (let i = 0; i < min; i++) if (chosen[j * min + i] === c) return
    let i = n === extra ? extra - 1 : n
    while (i > 0 && best[o + i - 1] < s) { best[o + i] = best[o + i - 1]; cells[j * max + min + i] = cells[j * max + min + i - 1]; i-- }
    best[o + i] = s
    cells[j * max + min + i] = c
    if (n < extra) available[j]++
  }
  if (ca !== null && sPtr >= 0 && qlen % 4 === 0) {
    const ra = rowsAboveScratch(ca, sPtr, K, qlen)
    S = ra.S
    // one pass listing, per deeper token, the rows at or above both its gate and a bound its max-th best row reaches
    // (its widened cells rank min+1 … max among all its rows)
    const bound = rankThresholds(ca, ra, blockMaxima(ca, ra, sPtr, K, qlen), qlen, max, deeper)
    for (let j = 0; j < qlen; j++) ra.thr[j] = !deeper[j] ? Infinity : float32Below(Math.max(gate[j], bound[j]))
    visitRowsAbove(ca, ra, sPtr, qlen, 0, K, insert)
  } else {
    for (let c = 0; c < K; c++) for (let j = 0; j < qlen; j++) if (deeper[j]) insert(c, j)
  }
  return { cells, available }
}

/**
 * Per token, how many of its ranked cells to probe (see the header). cells: qlen × stride, best first per token, of
 * which available[j] are valid; gate: gateScores; S: K × qlen centroid scores; listSize(c): live vectors in cell c;
 * meanList: live vectors / K.
 */
export function probeDepths(
  rule: ProbeDepthRule, S: Float32Array, qlen: number, cells: Uint32Array, stride: number, available: Uint32Array,
  gate: Float64Array, listSize: (c: number) => number, meanList: number,
): Uint32Array {
  const min = Math.min(rule.min, stride)
  const out = new Uint32Array(qlen).fill(min)
  const budget = rule.budget * min * meanList
  for (let j = 0; j < qlen; j++) {
    const o = j * stride
    const max = Math.min(rule.max, stride, available[j])
    if (max <= min) continue
    let vectors = 0
    for (let i = 0; i < min; i++) vectors += listSize(cells[o + i])
    let n = min
    while (n < max) {
      const c = cells[o + n]
      if (S[c * qlen + j] < gate[j]) break
      const size = listSize(c)
      if (vectors + size > budget) break
      vectors += size
      n++
    }
    out[j] = n
  }
  return out
}
