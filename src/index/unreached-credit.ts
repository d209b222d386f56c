/**
 * How much a query token that no probed vector of a document reaches is worth, learned per query from the exact
 * stage's first batch, so that the exact stage can also score the documents the approximate order undervalued.
 *
 * Why: the approximate score credits such a token with a floor, w·min(threshold, the token's last probed centroid
 * score) (plaid-search.ts). The floor is one guess for every document, collection and model, and the guess that fits
 * one collection misfits another (BENCHMARKS.md § The floor for unreached tokens): a floor from a shallower cell gains
 * 0.01–0.02 success@10 on real Japanese text through BERT-base-shaped encoders (whose padded [MASK] query tokens,
 * we read, score many passages alike), and loses up to 0.04 on the many-topics preset, where a document that matches
 * few tokens well should rank below one that matches many. So the exact stage measures it: over the documents it scores first (the
 * best `need` by approximate score), the least-squares slope of the error (exact − approximate) on the count of
 * unreached tokens is what each such token scored above its floor on average, for this query and index. Where that
 * slope is positive, the exact stage adds documents by approximate score + slope × unreached count (plaid-search.ts
 * adaptiveExact); where it is 0 or negative, nothing changes.
 *
 * Cost: qlen compares per document of the first batch, and where the credit is positive, per document of the pool
 * (4·ndocs × qlen); O(need) for the slope. Deterministic: the counts come from the probe rows, the slope from the
 * first batch's exact scores.
 */

/** The probe rows of the pool's documents: n × qlen, row-major, each the token's probe score or its floor. */
export interface ProbeRows { rows: Float32Array; floor: Float32Array; qlen: number }

/** How many of document i's tokens no probed vector reached: those whose probe row holds the token's floor. */
export function unreachedCount(p: ProbeRows, i: number): number {
  const { rows, floor, qlen } = p
  const at = i * qlen
  let u = 0
  for (let j = 0; j < qlen; j++) if (rows[at + j] <= floor[j]) u++
  return u
}

/**
 * The least-squares slope of errors[i] on counts[i] over i < n, or 0 where it is not positive or the counts do not
 * vary (then they tell nothing about the errors).
 */
export function unreachedCredit(errors: Float64Array, counts: Uint16Array, n: number): number {
  if (n < 2) return 0
  let su = 0, se = 0
  for (let i = 0; i < n; i++) {
    su += counts[i]
    se += errors[i]
  }
  const mu = su / n, me = se / n
  let cov = 0, vu = 0
  for (let i = 0; i < n; i++) {
    const du = counts[i] - mu
    cov += du * (errors[i] - me)
    vu += du * du
  }
  if (vu < 1e-9) return 0
  const slope = cov / vu
  return slope > 0 ? slope : 0
}
