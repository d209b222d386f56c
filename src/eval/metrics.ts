/**
 * Ranking metrics at a cut-off k, for one query at a time, over a ranked list of document ids and the query's
 * graded relevance judgements (qrels: id -> gain; gain > 0 counts as relevant).
 *
 * Definitions (those of trec_eval / pytrec_eval, which BEIR reports):
 * - Recall@k   = |relevant ∩ top k| / |relevant|
 * - success@k  = 1 if any relevant document is in the top k, else 0
 * - MRR@k      = 1 / rank of the first relevant document in the top k (0 if none)
 * - MAP@k      = (Σ over relevant documents at rank r ≤ k of precision@r) / |relevant|   (trec_eval's map_cut)
 * - nDCG@k     = DCG@k / IDCG@k with linear gain and log2(rank + 1) discount; IDCG from all judged gains, best first
 *
 * Ties. A ranking is a list: the caller orders documents by score and breaks equal scores by a fixed rule (the runner:
 * candidate order, i.e. stable sort), and every metric here reads that order ("order" tie policy). scikit-learn's
 * `ndcg_score` instead averages the gain over each group of tied scores; `ndcgAtK(..., { ties: 'average', scores })`
 * implements that rule, so the two agree on any input. Without ties both policies give the same value.
 *
 * Queries without any relevant document have no defined Recall/nDCG/MAP: the caller skips and counts them.
 * Cost: O(k + |qrels|·log|qrels|) per query.
 */

export type MetricName = 'recall' | 'ndcg' | 'mrr' | 'map' | 'success'
export const METRIC_NAMES: readonly MetricName[] = ['recall', 'ndcg', 'mrr', 'map', 'success']

export interface MetricSpec { name: MetricName; k: number }

/** "ndcg@10" -> { name: 'ndcg', k: 10 }; throws with the accepted forms on anything else. */
export function parseMetric(text: string): MetricSpec {
  const m = /^([a-z]+)@(\d+)$/i.exec(text.trim())
  const name = m?.[1]?.toLowerCase()
  const k = Number(m?.[2])
  if (!m || !(METRIC_NAMES as string[]).includes(name!) || !Number.isInteger(k) || k < 1) {
    throw new Error(`metric '${text}' is not one of ${METRIC_NAMES.map((n) => `${n}@K`).join(', ')} (K a positive integer)`)
  }
  return { name: name as MetricName, k }
}

export const metricLabel = (m: MetricSpec): string => `${m.name}@${m.k}`

function relevantCount(qrels: ReadonlyMap<string, number>): number {
  let n = 0
  for (const g of qrels.values()) if (g > 0) n++
  return n
}

export function recallAtK(ranked: readonly string[], qrels: ReadonlyMap<string, number>, k: number): number {
  const nRel = relevantCount(qrels)
  if (nRel === 0) return 0
  let hits = 0
  const seen = new Set<string>()
  for (let i = 0; i < Math.min(k, ranked.length); i++) {
    const id = ranked[i]!
    if (seen.has(id)) continue
    seen.add(id)
    if ((qrels.get(id) ?? 0) > 0) hits++
  }
  return hits / nRel
}

export function successAtK(ranked: readonly string[], qrels: ReadonlyMap<string, number>, k: number): number {
  for (let i = 0; i < Math.min(k, ranked.length); i++) if ((qrels.get(ranked[i]!) ?? 0) > 0) return 1
  return 0
}

export function mrrAtK(ranked: readonly string[], qrels: ReadonlyMap<string, number>, k: number): number {
  for (let i = 0; i < Math.min(k, ranked.length); i++) if ((qrels.get(ranked[i]!) ?? 0) > 0) return 1 / (i + 1)
  return 0
}

export function mapAtK(ranked: readonly string[], qrels: ReadonlyMap<string, number>, k: number): number {
  const nRel = relevantCount(qrels)
  if (nRel === 0) return 0
  let hits = 0
  let sum = 0
  const seen = new Set<string>()
  for (let i = 0; i < Math.min(k, ranked.length); i++) {
    const id = ranked[i]!
    if (seen.has(id)) continue
    seen.add(id)
    if ((qrels.get(id) ?? 0) > 0) {
      hits++
      sum += hits / (i + 1)
    }
  }
  return sum / nRel
}

const discount = (rank0: number): number => 1 / Math.log2(rank0 + 2)

function idealDcg(qrels: ReadonlyMap<string, number>, k: number): number {
  const gains = [...qrels.values()].filter((g) => g > 0).sort((a, b) => b - a)
  let idcg = 0
  for (let i = 0; i < Math.min(k, gains.length); i++) idcg += gains[i]! * discount(i)
  return idcg
}

export interface NdcgOptions {
  /** 'order' (default): the list order decides. 'average': scikit-learn's rule, needs `scores` (same length as ranked). */
  ties?: 'order' | 'average'
  scores?: readonly number[]
}

export function ndcgAtK(ranked: readonly string[], qrels: ReadonlyMap<string, number>, k: number, opts: NdcgOptions = {}): number {
  const idcg = idealDcg(qrels, k)
  if (idcg === 0) return 0
  const n = Math.min(k, ranked.length)
  let dcg = 0
  if (opts.ties === 'average') {
    const scores = opts.scores
    if (!scores || scores.length !== ranked.length) throw new Error("ndcg ties 'average' needs one score per ranked document")
    // groups of equal score (the list must be sorted by score, best first): each member gets the group's mean gain,
    // and the group's ranks inside the cut-off get that gain with their own discounts
    for (let start = 0; start < ranked.length && start < k;) {
      let end = start + 1
      while (end < ranked.length && scores[end] === scores[start]) end++
      let gainSum = 0
      for (let i = start; i < end; i++) gainSum += qrels.get(ranked[i]!) ?? 0
      const mean = gainSum / (end - start)
      for (let i = start; i < Math.min(end, k); i++) dcg += mean * discount(i)
      start = end
    }
  } else {
    const seen = new Set<string>()
    for (let i = 0; i < n; i++) {
      const id = ranked[i]!
      if (seen.has(id)) continue
      seen.add(id)
      dcg += (qrels.get(id) ?? 0) * discount(i)
    }
  }
  return dcg / idcg
}

export function metricValue(m: MetricSpec, ranked: readonly string[], qrels: ReadonlyMap<string, number>, ndcgOpts?: NdcgOptions): number {
  switch (m.name) {
    case 'recall': return recallAtK(ranked, qrels, m.k)
    case 'ndcg': return ndcgAtK(ranked, qrels, m.k, ndcgOpts)
    case 'mrr': return mrrAtK(ranked, qrels, m.k)
    case 'map': return mapAtK(ranked, qrels, m.k)
    case 'success': return successAtK(ranked, qrels, m.k)
  }
}

/** Orders candidates by score, best first; equal scores keep their input order (the "order" tie policy). */
export function rankByScore(ids: readonly string[], scores: ArrayLike<number>): { ids: string[]; scores: number[] } {
  const order = ids.map((_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b)
  return { ids: order.map((i) => ids[i]!), scores: order.map((i) => scores[i]!) }
}
