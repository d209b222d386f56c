/**
 * POST /v1/rerank, POST /v2/rerank: Cohere's rerank API over the shared rerank code (../rerank.ts). Auth is the same
 * bearer token as every route (Cohere clients send `Authorization: Bearer <key>`; their other headers are ignored).
 */
import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { AppError } from '../../errors.js'
import type { ServerContext } from '../context.js'
import { rerankTexts } from '../rerank.js'
import { dynamicQueries } from '../request-checks.js'
import { CohereRerankBody, CohereRerankResponse, type CohereRerankBodyT, type CohereRerankResponseT } from '../schemas/cohere.js'

/** The text ranked for each document: a string as it is; an object's `text`, or its rank_fields as "field: value" lines. */
function textsOf(documents: CohereRerankBodyT['documents'], rankFields: string[] | undefined): string[] {
  return documents.map((d, i) => {
    if (typeof d === 'string') return d
    if (rankFields) {
      const lines = rankFields.filter((f) => d[f] !== undefined).map((f) => `${f}: ${d[f]}`)
      if (!lines.length) {
        throw new AppError('VALIDATION_ERROR', `documents[${i}] has none of the rank_fields (${rankFields.join(', ')})`, { field: `documents[${i}]` })
      }
      return lines.join('\n')
    }
    if (typeof d.text !== 'string') {
      throw new AppError('VALIDATION_ERROR', `documents[${i}] is an object without a "text" field (or name the fields to rank in rank_fields)`, { field: `documents[${i}]` })
    }
    return d.text
  })
}

function warningsFor(body: CohereRerankBodyT, model: string): string[] {
  const out: string[] = []
  if (body.model != null && body.model !== model) out.push(`model "${body.model}" is ignored: ${model} ranks every request`)
  if (body.max_chunks_per_doc != null) out.push("max_chunks_per_doc is ignored: documents are not chunked, they are cut at the model's doc_maxlen")
  if (body.priority != null) out.push('priority is ignored: requests are served in arrival order')
  return out
}

export function registerCohereRerankRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>()
  for (const version of ['1', '2'] as const) {
    r.post(
      `/v${version}/rerank`,
      {
        schema: {
          summary: `Cohere-compatible rerank (v${version} API)`,
          description:
            `Cohere's rerank v${version} request and response, for clients made for Cohere (point their base URL here). ` +
            'Scores are ColBERT MaxSim sums, exactly as POST /rerank; `model` names nothing here (the served model ranks).',
          tags: ['cohere'],
          body: CohereRerankBody,
          response: { 200: CohereRerankResponse },
        },
      },
      async (request): Promise<CohereRerankResponseT> => {
        const body = request.body
        const texts = textsOf(body.documents, body.rank_fields ?? undefined)
        const { model, results } = await rerankTexts(ctx, {
          query: body.query,
          documents: texts,
          topN: body.top_n ?? undefined,
          maxDocTokens: body.max_tokens_per_doc ?? undefined,
          dynamicLength: dynamicQueries(body.query_length ?? undefined, ctx.config.queryLength),
        })
        const warnings = warningsFor(body, model)
        return {
          id: randomUUID(),
          results: results.map((s) => {
            if (!body.return_documents) return s
            const d = body.documents[s.index]
            return { ...s, document: typeof d === 'string' ? { text: d } : d }
          }),
          meta: { api_version: { version }, ...(warnings.length ? { warnings } : {}) },
        }
      },
    )
  }
}
