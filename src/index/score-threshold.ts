/**
 * The centroid-score threshold a search uses when the caller sets none: the default (0.4 at k ≤ 10, 0.45 at k ≤ 100),
 * or the mean of this query's centroid scores + 0.25 where that is higher.
 *
 * Why: the threshold decides which of a document's codes count in the approximate score with their centroid score
 * (plaid-search.ts `kept`) and how much a token no probed vector reaches is credited (the floor). A fixed 0.4 assumes
 * the scores of unrelated centroids lie around 0, as they do where embeddings point every way (the generated presets:
 * a query's mean centroid score 0.015–0.06 on the median query). Where every vector leans one way, every centroid
 * scores about as high as the mean, 0.4 or more, and every code counts: the approximate scores fill with credits that
 * tell documents apart by length, not by match. Measured on real Japanese text through a BERT-base-shaped encoder
 * whose vectors lean one way (mean centroid score 0.42; BENCHMARKS.md § Real Japanese text through BERT-base-shaped
 * encoders, 1,000 queries): success@10 0.812 → 0.848 against exact MaxSim's 0.856 at k=10. A centroid score counts
 * when it stands out from the query's typical one, wherever that lies.
 *
 * The mean, not a bound from the scores' spread: on steeply skewed data (zipf-steep) many centroids score high for
 * popular tokens, which widens the spread but leaves the mean near 0; mean + 2.5 deviations rose to ~0.52 there and
 * changed 87 of 200 top-10 lists at 0.93× the speed, for nothing (success@10 0.846 → 0.842 = exact MaxSim).
 *
 * Cost: one pass over every STRIDE-th score (K·qlen / 7: 75 k of a 16,384-centroid, 32-token query's, ~0.1 ms).
 * Deterministic: the same scores give the same threshold. A caller's own threshold is used as given.
 */

/** How far above the query's mean centroid score a centroid score must lie to count (see the header). */
export const MEAN_MARGIN = 0.25
/** Every STRIDE-th score is read (coprime with the token counts in use, so every token is sampled alike). */
const STRIDE = 7

/** max(base, mean + MEAN_MARGIN) over the K × qlen scores S (row-major, K rows of qlen). */
export function adaptiveThreshold(S: Float32Array, K: number, qlen: number, base: number): number {
  const n = K * qlen
  let sum = 0, count = 0
  for (let i = 0; i < n; i += STRIDE) {
    sum += S[i]
    count++
  }
  return count === 0 ? base : Math.max(base, sum / count + MEAN_MARGIN)
}
