/**
 * The three search modes of /search and /search/batch over one index:
 * - multivector: the PLAID index (ColBERT MaxSim), as before;
 * - lexical: BM25 over the analyser's words (IndexStore.searchLexical);
 * - hybrid: both lists, each `fusion_depth` deep (default max(k, 100): deep enough that a document ranked well by one
 *   engine only still reaches the fusion, at a bounded cost), fused by src/search/fusion.ts into the top k.
 * The metadata filter is compiled once and given to both engines, which apply it before scoring.
 */
import { AppError } from '../errors.js'
import { DEFAULT_RRF_K, fuseRankings, type FusedHit, type FusionMethod, type FusionSide } from '../search/fusion.js'
import type { ServerContext } from './context.js'
import type { IndexPort, Metadata, MetadataFilter, SearchParams } from './ports.js'
import { TEXT_KEY, checkIndexName, publicMetadata } from './request-checks.js'
import type { Static } from 'typebox'
import type { Hit } from './schemas/common.js'

type HitT = Static<typeof Hit>
export type SearchMode = 'multivector' | 'lexical' | 'hybrid'

/** Default per-engine list depth before fusion is max(k, this). */
export const DEFAULT_FUSION_DEPTH = 100

export interface SearchRequestFields {
  index?: string
  k?: number
  filter?: unknown
  params?: { ncells?: number; centroid_score_threshold?: number; ndocs?: number }
  include?: string[]
  mode?: SearchMode
  fusion?: FusionMethod
  rrf_k?: number
  weights?: { multivector?: number; lexical?: number }
  fusion_depth?: number
}

export interface PreparedSearch {
  name: string
  index: IndexPort
  mode: SearchMode
  k: number
  /** PLAID parameters (k = the depth the multivector side is asked for) */
  params: SearchParams
  filter: MetadataFilter | undefined
  depth: number
  fusion: FusionMethod
  rrfK: number
  weights: Record<FusionSide, number>
  includeMetadata: boolean
  includeText: boolean
  includeScores: boolean
}

export function prepareSearch(ctx: ServerContext, body: SearchRequestFields): PreparedSearch {
  const name = checkIndexName(body.index ?? 'default')
  const index = ctx.parts().indexStore.getOrThrow(name)
  const mode = body.mode ?? 'multivector'
  const k = body.k ?? 10
  if (mode !== 'hybrid') {
    for (const f of ['fusion', 'rrf_k', 'weights', 'fusion_depth'] as const) {
      if (body[f] !== undefined) throw new AppError('VALIDATION_ERROR', `${f} applies to mode "hybrid" only (mode is "${mode}")`, { field: f })
    }
  }
  if (body.fusion_depth !== undefined && body.fusion_depth < k) {
    throw new AppError('INVALID_SEARCH_PARAMS', `fusion_depth (${body.fusion_depth}) must be at least k (${k})`, { field: 'fusion_depth' })
  }
  const depth = mode === 'hybrid' ? body.fusion_depth ?? Math.max(k, DEFAULT_FUSION_DEPTH) : k
  const params: SearchParams = { k: depth }
  if (body.params?.ncells !== undefined) params.ncells = body.params.ncells
  if (body.params?.centroid_score_threshold !== undefined) params.centroidScoreThreshold = body.params.centroid_score_threshold
  if (body.params?.ndocs !== undefined) {
    if (body.params.ndocs < k) throw new AppError('INVALID_SEARCH_PARAMS', `params.ndocs (${body.params.ndocs}) must be at least k (${k})`, { field: 'params.ndocs' })
    // hybrid asks PLAID for `depth` hits, which needs at least as many candidates
    params.ndocs = Math.max(body.params.ndocs, depth)
  }
  let filter: MetadataFilter | undefined
  if (body.filter !== undefined && body.filter !== null) {
    filter = ctx.compileFilter(body.filter)
    params.filter = filter
  }
  const include = body.include ?? ['metadata']
  return {
    name, index, mode, k, params, filter, depth,
    fusion: body.fusion ?? 'rrf',
    rrfK: body.rrf_k ?? DEFAULT_RRF_K,
    weights: { multivector: body.weights?.multivector ?? 1, lexical: body.weights?.lexical ?? 1 },
    includeMetadata: include.includes('metadata'),
    includeText: include.includes('text'),
    includeScores: include.includes('scores'),
  }
}

/** What one query brings: its text (lexical, hybrid) and/or its vectors (multivector, hybrid). */
export interface QueryInput { text?: string; vectors?: Float32Array }

/** Multivector searches run on the search worker pool when the service has one (SEARCH_WORKERS > 0). */
export async function runSearch(ctx: ServerContext, p: PreparedSearch, q: QueryInput): Promise<HitT[]> {
  let ranked: FusedHit[]
  if (p.mode === 'multivector') {
    ranked = (await multivectorList(ctx, p, q)).map((h, i) => ({ id: h.id, score: h.score, components: { multivector: { score: h.score, rank: i + 1 } } }))
  } else if (p.mode === 'lexical') {
    ranked = lexicalList(ctx, p, q).map((h, i) => ({ id: h.id, score: h.score, components: { lexical: { score: h.score, rank: i + 1 } } }))
  } else {
    // lexical first: it fails fast (LEXICAL_UNAVAILABLE) before the PLAID work is spent
    const lexical = lexicalList(ctx, p, q)
    const multivector = await multivectorList(ctx, p, q)
    const t0 = performance.now()
    ranked = fuseRankings({ multivector, lexical }, { method: p.fusion, rrfK: p.rrfK, weights: p.weights, k: p.k })
    ctx.metrics.observeFusion(performance.now() - t0)
  }
  return ranked.map((h) => {
    const out: HitT = { id: h.id, score: h.score }
    if (p.includeMetadata || p.includeText) {
      const meta: Metadata | undefined = p.index.get(h.id)?.metadata
      if (p.includeMetadata) {
        const pub = publicMetadata(meta)
        if (pub) out.metadata = pub
      }
      if (p.includeText && typeof meta?.[TEXT_KEY] === 'string') out.text = meta[TEXT_KEY] as string
    }
    if (p.includeScores) out.scores = h.components
    return out
  })
}

async function multivectorList(ctx: ServerContext, p: PreparedSearch, q: QueryInput): Promise<Array<{ id: string; score: number }>> {
  if (q.vectors === undefined) throw new AppError('VALIDATION_ERROR', 'this search needs query vectors or query text to encode', { field: 'query' })
  const t0 = performance.now()
  const pool = ctx.parts().searchPool
  const { hits, timingsMs } = pool && p.index.searchState ? await pool.search(p.index as Required<IndexPort>, q.vectors, p.params) : p.index.search(q.vectors, p.params)
  ctx.metrics.observeSearch(timingsMs, performance.now() - t0)
  return hits
}

function lexicalList(ctx: ServerContext, p: PreparedSearch, q: QueryInput): Array<{ id: string; score: number }> {
  if (q.text === undefined) throw new AppError('VALIDATION_ERROR', `mode "${p.mode}" needs the query text (query)`, { field: 'query' })
  const t0 = performance.now()
  const { hits, timingsMs } = ctx.parts().indexStore.searchLexical(p.name, q.text, p.filter === undefined ? { k: p.depth } : { k: p.depth, filter: p.filter })
  ctx.metrics.observeLexicalSearch(timingsMs, performance.now() - t0)
  return hits
}
