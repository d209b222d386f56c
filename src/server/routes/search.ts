/** POST /search, POST /search/batch, POST /rerank. */
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { AppError } from '../../errors.js'
import type { ServerContext } from '../context.js'
import { rerankTexts } from '../rerank.js'
import { checkBatch, checkIndexName, checkText, dynamicQueries } from '../request-checks.js'
import { RerankBody, RerankResponse, SearchBatchBody, SearchBatchResponse, SearchBody, SearchResponse } from '../schemas/search.js'
import { prepareSearch, runSearch } from '../search-modes.js'
import { waitForMinSeq } from '../read-your-writes.js'
import { decodeEmbeddings } from '../vectors.js'

export function registerSearchRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>()

  r.post(
    '/search',
    {
      schema: {
        summary: 'Search an index: multivector (ColBERT), lexical (BM25) or hybrid (both, fused)',
        tags: ['search'],
        body: SearchBody,
        response: { 200: SearchResponse },
      },
    },
    async (request) => {
      const body = request.body
      const mode = body.mode ?? 'multivector'
      if (mode === 'multivector' && (body.query === undefined) === (body.query_embeddings === undefined)) {
        throw new AppError('VALIDATION_ERROR', 'give exactly one of query (text) or query_embeddings', { field: 'query' })
      }
      if (mode !== 'multivector' && body.query === undefined) {
        throw new AppError('VALIDATION_ERROR', `mode "${mode}" needs the query text (query)`, { field: 'query' })
      }
      if (mode === 'lexical' && body.query_embeddings !== undefined) {
        throw new AppError('VALIDATION_ERROR', 'mode "lexical" takes query text only, not query_embeddings', { field: 'query_embeddings' })
      }
      if (body.query_shape !== undefined && body.query_embeddings === undefined) {
        throw new AppError('VALIDATION_ERROR', 'query_shape is given without query_embeddings', { field: 'query_shape' })
      }
      if (body.query !== undefined) checkText(body.query, 'query', ctx.config.maxTextChars)
      if (body.min_seq !== undefined) await waitForMinSeq(ctx, checkIndexName(body.index ?? 'default'), body.min_seq)
      const p = prepareSearch(ctx, body)
      let vectors: Float32Array | undefined
      if (body.query_embeddings !== undefined) {
        vectors = decodeEmbeddings(body.query_embeddings as number[][] | string, body.query_shape, p.index.settings.dim, 'query_embeddings').vectors
      } else if (mode !== 'lexical') {
        const [enc] = await ctx.parts().encoder.encodeQueries([body.query as string], { dynamicLength: dynamicQueries(body.query_length, ctx.config.queryLength) })
        vectors = enc.vectors.subarray(0, enc.n * enc.dim)
        if (enc.dim !== p.index.settings.dim) {
          throw new AppError('DIMENSION_MISMATCH', `the index has dimension ${p.index.settings.dim} but the model encodes ${enc.dim}`)
        }
      }
      return { results: await runSearch(ctx, p, { text: body.query, vectors }) }
    },
  )

  r.post(
    '/search/batch',
    {
      schema: {
        summary: 'Search one index with several text queries (encoded together); same modes as /search',
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
      const p = prepareSearch(ctx, body)
      if (p.mode === 'lexical') return { results: await Promise.all(body.queries.map((text) => runSearch(ctx, p, { text }))) }
      const encoded = await ctx.parts().encoder.encodeQueries(body.queries, { dynamicLength: dynamicQueries(body.query_length, ctx.config.queryLength) })
      return { results: await Promise.all(encoded.map((e, i) => runSearch(ctx, p, { text: body.queries[i], vectors: e.vectors.subarray(0, e.n * e.dim) }))) }
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
