/**
 * POST /v1/rerank and /v2/rerank: Cohere's rerank request and response, so clients written for Cohere (the cohere-ai
 * SDK, LangChain's CohereRerank, LlamaIndex, gateways) work when pointed at this server. One request schema serves both
 * versions: the union of the fields of Cohere's v1 and v2 rerank, so a client of either version is accepted.
 */
import { Type, type Static, type TSchema } from 'typebox'
import { QueryLengthField } from './common.js'

/** Cohere's SDKs send `null` for options left unset (LangChain's CohereRerank sends max_chunks_per_doc: null): null = absent. */
const nullable = <T extends TSchema>(schema: T) => Type.Optional(Type.Union([schema, Type.Null()]))

const CohereDocument = Type.Union([
  Type.String(),
  Type.Record(Type.String(), Type.String(), {
    description: 'an object of string fields: `text` is ranked unless rank_fields names others; returned as given',
  }),
])

export const CohereRerankBody = Type.Object(
  {
    model: nullable(Type.String({ description: "ignored: the served model ranks (its name is in GET /readyz)" })),
    query: Type.String(),
    documents: Type.Array(CohereDocument, { minItems: 1, description: 'candidate texts or {text, ...} objects (at most MAX_BATCH_TEXTS)' }),
    top_n: nullable(Type.Integer({ minimum: 1, description: 'return only the best top_n' })),
    rank_fields: nullable(
      Type.Array(Type.String(), { minItems: 1, description: 'object documents: rank on these fields, in order, as "field: value" lines' }),
    ),
    return_documents: nullable(Type.Boolean({ description: 'add each document to its result (default false)' })),
    max_tokens_per_doc: nullable(
      Type.Integer({ minimum: 1, description: "cut documents to this many tokens (the model's doc_maxlen is the most)" }),
    ),
    max_chunks_per_doc: nullable(Type.Integer({ minimum: 1, description: 'ignored: documents are not chunked, only cut at doc_maxlen' })),
    priority: nullable(Type.Integer({ description: 'ignored: requests are served in arrival order' })),
    query_length: nullable(QueryLengthField),
  },
  { additionalProperties: false },
)
export type CohereRerankBodyT = Static<typeof CohereRerankBody>

export const CohereRerankResponse = Type.Object({
  id: Type.String({ description: 'a fresh UUID per response' }),
  results: Type.Array(
    Type.Object({
      index: Type.Integer({ description: 'position in `documents`' }),
      relevance_score: Type.Number({ description: 'ColBERT MaxSim score (a sum over query tokens, not a 0..1 probability)' }),
      document: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'with return_documents: the document as sent ({text} for a string)' })),
    }),
    { description: 'best first' },
  ),
  meta: Type.Object({
    api_version: Type.Object({ version: Type.String({ description: "'1' or '2', the route's version" }) }),
    warnings: Type.Optional(Type.Array(Type.String(), { description: 'request fields that were accepted but have no effect here' })),
  }),
})
export type CohereRerankResponseT = Static<typeof CohereRerankResponse>
