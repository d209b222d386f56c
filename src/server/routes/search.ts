/** POST /search, POST /search/batch, POST /rerank. */
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { Static } from 'typebox'
import { AppError } from '../../errors.js'
import type { ServerContext } from '../context.js'
import type { IndexPort, Metadata, MetadataFilter, SearchParams } from '../ports.js'
import { rerankTexts } from '../rerank.js'
import { TEXT_KEY, checkBatch, checkIndexName, checkText, dynamicQueries, publicMetadata } from '../request-checks.js'
import type { Hit } from '../schemas/common.js'
import { RerankBody, RerankResponse, SearchBatchBody, SearchBatchResponse, SearchBody, SearchResponse } from '../schemas/search.js'
import { waitForMinSeq } from '../read-your-writes.js'
import { decodeEmbeddings } from '../vectors.js'

type HitT = Static<typeof Hit>

interface PreparedSearch {
  index: IndexPort
  params: SearchParams
  includeMetadata: boolean
  includeText: boolean
}

function prepare(
  ctx: ServerContext,
  body: { index?: string; k?: number; filter?: unknown; params?: { ncells?: number; centroid_score_threshold?: number; ndocs?: number }; include?: string[] },
): PreparedSearch {
  const name = checkIndexName(body.index ?? 'default')
  const index = ctx.parts().indexStore.getOrThrow(name)
  const k = body.k ?? 10
  const params: SearchParams = { k }
  if (body.params?.ncells !== undefined) params.ncells = body.params.ncells
  if (body.params?.centroid_score_threshold !== undefined) params.centroidScoreThreshold = body.params.centroid_score_threshold
  if (body.params?.ndocs !== undefined) {
    if (body.params.ndocs < k) throw new AppError('INVALID_SEARCH_PARAMS', `params.ndocs (${body.params.ndocs}) must be at least k (${k})`, { field: 'params.ndocs' })
    params.ndocs = body.params.ndocs
  }
  if (body.filter !== undefined && body.filter !== null) {
    const filter: MetadataFilter = ctx.compileFilter(body.filter)
    params.filter = filter
  }
  const include = body.include ?? ['metadata']
  return { index, params, includeMetadata: include.includes('metadata'), includeText: include.includes('text') }
}

function run(ctx: ServerContext, p: PreparedSearch, query: Float32Array): HitT[] {
  const t0 = performance.now()
  const { hits, timingsMs } = p.index.search(query, p.params)
  ctx.metrics.observeSearch(timingsMs, performance.now() - t0)
  return hits.map((h) => {
    const out: HitT = { id: h.id, score: h.score }
    if (p.includeMetadata || p.includeText) {
      const meta: Metadata | undefined = h.metadata ?? p.index.get(h.id)?.metadata
      if (p.includeMetadata) {
        const pub = publicMetadata(meta)
        if (pub) out.metadata = pub
      }
      if (p.includeText && typeof meta?.[TEXT_KEY] === 'string') out.text = meta[TEXT_KEY] as string
    }
    return out
  })
}

export function registerSearchRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>()

  r.post(
    '/search',
    {
      schema: {
        summary: 'Search an index with a text query or precomputed query vectors',
        tags: ['search'],
        body: SearchBody,
        response: { 200: SearchResponse },
      },
    },
    async (request) => {
      const body = request.body
      if ((body.query === undefined) === (body.query_embeddings === undefined)) {
        throw new AppError('VALIDATION_ERROR', 'give exactly one of query (text) or query_embeddings', { field: 'query' })
      }
      if (body.query !== undefined) checkText(body.query, 'query', ctx.config.maxTextChars)
      if (body.min_seq !== undefined) await waitForMinSeq(ctx, checkIndexName(body.index ?? 'default'), body.min_seq)
      const p = prepare(ctx, body)
      let q: Float32Array
      if (body.query !== undefined) {
        const [enc] = await ctx.parts().encoder.encodeQueries([body.query], { dynamicLength: dynamicQueries(body.query_length, ctx.config.queryLength) })
        q = enc.vectors.subarray(0, enc.n * enc.dim)
        if (enc.dim !== p.index.settings.dim) {
          throw new AppError('DIMENSION_MISMATCH', `the index has dimension ${p.index.settings.dim} but the model encodes ${enc.dim}`)
        }
      } else {
        q = decodeEmbeddings(body.query_embeddings as number[][] | string, body.query_shape, p.index.settings.dim, 'query_embeddings').vectors
      }
      return { results: run(ctx, p, q) }
    },
  )

  r.post(
    '/search/batch',
    {
      schema: {
        summary: 'Search one index with several text queries (encoded together)',
        tags: ['search'],
        body: SearchBatchBody,
        response: { 200: SearchBatchResponse },
      },
    },
    async (request) => {
      const body = request.body
      checkBatch(body.queries.length, 'queries', ctx.config.maxBatchTexts)
      for (let i = 0; i < body.queries.length; i++) checkText(body.queries[i], `queries[${i}]`, ctx.config.maxTextChars)
      if (body.min_seq !== undefined) await waitForMinSeq(ctx, checkIndexName(body.index ?? 'default'), body.min_seq)
      const p = prepare(ctx, body)
      const encoded = await ctx.parts().encoder.encodeQueries(body.queries, { dynamicLength: dynamicQueries(body.query_length, ctx.config.queryLength) })
      return { results: encoded.map((e) => run(ctx, p, e.vectors.subarray(0, e.n * e.dim))) }
    },
  )

  r.post(
    '/rerank',
    {
      schema: {
        summary: 'Rerank candidate texts against a query by ColBERT MaxSim',
        description: 'Same shape as common reranker APIs: {query, documents, top_n} -> {results: [{index, relevance_score}]}, best first.',
        tags: ['search'],
        body: RerankBody,
        response: { 200: RerankResponse },
      },
    },
    async (request) => {
      const { query, documents, top_n, return_documents = false, query_length } = request.body
      const { model, results } = await rerankTexts(ctx, {
        query, documents, topN: top_n, dynamicLength: dynamicQueries(query_length, ctx.config.queryLength),
      })
      return { model, results: results.map((s) => (return_documents ? { ...s, document: { text: documents[s.index] } } : s)) }
    },
  )
}
