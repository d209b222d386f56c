/** POST /search, POST /search/batch, POST /rerank. */
import { Type, type Static } from 'typebox'
import { EmbeddingsInput, Hit, IncludeInput, IndexNameField, QueryLengthField, SearchParamsInput, ShapeField } from './common.js'

const K = Type.Integer({ minimum: 1, maximum: 1000, default: 10, description: 'results to return (1..1000)' })
const MinSeq = Type.Integer({
  minimum: 0,
  description: 'read your writes: wait (at most REPLICA_WAIT_MS) until this replica has applied the seq a write of this index returned; 503 REPLICA_LAGGING after that',
})
const Filter = Type.Unknown({
  description: 'metadata filter, e.g. {"lang": "ja"} or {"year": {"$gte": 2020}}; see README for operators',
})

export const SearchBody = Type.Object(
  {
    index: Type.Optional(IndexNameField),
    query: Type.Optional(Type.String({ description: 'query text (or give query_embeddings)' })),
    query_embeddings: Type.Optional(EmbeddingsInput),
    query_shape: Type.Optional(ShapeField),
    query_length: Type.Optional(QueryLengthField),
    k: Type.Optional(K),
    filter: Type.Optional(Filter),
    params: Type.Optional(SearchParamsInput),
    include: Type.Optional(IncludeInput),
    min_seq: Type.Optional(MinSeq),
  },
  { additionalProperties: false },
)
export type SearchBodyT = Static<typeof SearchBody>

export const SearchResponse = Type.Object({
  results: Type.Array(Hit, { description: 'best first' }),
})

export const SearchBatchBody = Type.Object(
  {
    index: Type.Optional(IndexNameField),
    queries: Type.Array(Type.String(), { minItems: 1, description: 'query texts (at most MAX_BATCH_TEXTS)' }),
    query_length: Type.Optional(QueryLengthField),
    k: Type.Optional(K),
    filter: Type.Optional(Filter),
    params: Type.Optional(SearchParamsInput),
    include: Type.Optional(IncludeInput),
    min_seq: Type.Optional(MinSeq),
  },
  { additionalProperties: false },
)
export type SearchBatchBodyT = Static<typeof SearchBatchBody>

export const SearchBatchResponse = Type.Object({
  results: Type.Array(Type.Array(Hit), { description: 'one list per query, in order, each best first' }),
})

export const RerankBody = Type.Object(
  {
    query: Type.String(),
    documents: Type.Array(Type.String(), { minItems: 1, description: 'candidate texts (at most MAX_BATCH_TEXTS)' }),
    top_n: Type.Optional(Type.Integer({ minimum: 1, description: 'return only the best top_n' })),
    return_documents: Type.Optional(Type.Boolean({ default: false })),
    query_length: Type.Optional(QueryLengthField),
    model: Type.Optional(Type.String({ description: 'accepted for client compatibility; the served model is used' })),
  },
  { additionalProperties: false },
)
export type RerankBodyT = Static<typeof RerankBody>

export const RerankResponse = Type.Object({
  model: Type.String(),
  results: Type.Array(
    Type.Object({
      index: Type.Integer({ description: 'position in `documents`' }),
      relevance_score: Type.Number({ description: 'ColBERT MaxSim score' }),
      document: Type.Optional(Type.Object({ text: Type.String() })),
    }),
    { description: 'best first' },
  ),
})
