/**
 * Reranking shared by POST /rerank and the Cohere-compatible /v1/rerank and /v2/rerank: check the texts, encode the
 * query and the candidates together, score each candidate by exact MaxSim (O(query tokens × document tokens × dim)
 * per candidate), best first; ties keep the caller's order.
 */
import type { ServerContext } from './context.js'
import { checkBatch, checkText } from './request-checks.js'
import { maxSim } from './vectors.js'

export interface RerankRequest {
  query: string
  documents: string[]
  topN?: number | undefined
  dynamicLength: boolean
  /** Cut documents to this many tokens (never beyond the model's doc_maxlen). */
  maxDocTokens?: number | undefined
  /** Request field names for error messages (the Cohere routes name the same things alike). */
  fields?: { query: string; documents: string }
}

export interface Scored {
  index: number
  relevance_score: number
}

export async function rerankTexts(ctx: ServerContext, req: RerankRequest): Promise<{ model: string; results: Scored[] }> {
  const qField = req.fields?.query ?? 'query'
  const dField = req.fields?.documents ?? 'documents'
  checkText(req.query, qField, ctx.config.maxTextChars)
  checkBatch(req.documents.length, dField, ctx.config.maxBatchTexts)
  for (let i = 0; i < req.documents.length; i++) checkText(req.documents[i], `${dField}[${i}]`, ctx.config.maxTextChars)
  const { encoder } = ctx.parts()
  const [[q], docs] = await Promise.all([
    encoder.encodeQueries([req.query], { dynamicLength: req.dynamicLength }),
    encoder.encodeDocuments(req.documents, req.maxDocTokens !== undefined ? { maxLength: req.maxDocTokens } : {}),
  ])
  const scored = docs.map((d, index) => ({ index, relevance_score: maxSim(q.vectors, q.n, d.vectors, d.n, q.dim) }))
  scored.sort((a, b) => b.relevance_score - a.relevance_score || a.index - b.index)
  return { model: encoder.modelName, results: req.topN !== undefined ? scored.slice(0, req.topN) : scored }
}
