/**
 * Fusion of ranked lists from the two engines of an index (multivector PLAID and lexical BM25) into one ranking.
 * It lives here, in the search layer, so neither engine knows about the other.
 *
 * - Reciprocal rank fusion (Cormack et al. 2009): score(d) = Σ_side w_side / (rrf_k + rank_side(d)), rank from 1; a
 *   document absent from a side's list gets nothing from that side. Scale-free: only ranks matter.
 * - Weighted sum of normalised scores: each side's scores are min-max normalised over the list it returned
 *   ((s − min) / (max − min), all 1 when max = min), absent = 0; score(d) = Σ_side w_side · norm_side(d). MaxSim sums
 *   and BM25 scores live on unrelated scales, so raw scores cannot be added.
 * Ties rank by id (code unit order). Cost: O(n log n) for n = the two lists' total length.
 */
export type FusionSide = 'multivector' | 'lexical'
export type FusionMethod = 'rrf' | 'weighted'

export interface RankedHit { id: string; score: number }

export interface FusionOptions {
  method: FusionMethod
  /** RRF's rank offset (default 60, as in the paper) */
  rrfK: number
  weights: Record<FusionSide, number>
  /** hits to return */
  k: number
}

export interface ComponentScore { score: number; rank: number }
export interface FusedHit { id: string; score: number; components: Partial<Record<FusionSide, ComponentScore>> }

export const DEFAULT_RRF_K = 60

export function fuseRankings(lists: Record<FusionSide, RankedHit[]>, opts: FusionOptions): FusedHit[] {
  const byId = new Map<string, FusedHit>()
  for (const side of ['multivector', 'lexical'] as const) {
    const list = lists[side]
    const w = opts.weights[side]
    let min = Infinity, max = -Infinity
    for (const h of list) {
      if (h.score < min) min = h.score
      if (h.score > max) max = h.score
    }
    for (let i = 0; i < list.length; i++) {
      const h = list[i]
      const rank = i + 1
      let contribution: number
      if (opts.method === 'rrf') contribution = w / (opts.rrfK + rank)
      else contribution = w * (max > min ? (h.score - min) / (max - min) : 1)
      let f = byId.get(h.id)
      if (f === undefined) {
        f = { id: h.id, score: 0, components: {} }
        byId.set(h.id, f)
      }
      f.score += contribution
      f.components[side] = { score: h.score, rank }
    }
  }
  const all = [...byId.values()]
  all.sort((a, b) => (b.score - a.score) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  return all.slice(0, opts.k)
}
