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

/** The retrieval mode and hybrid fusion fields, shared by /search and /search/batch. */
const ModeFields = {
  mode: Type.Optional(
    Type.Union([Type.Literal('multivector'), Type.Literal('lexical'), Type.Literal('hybrid')], {
      default: 'multivector',
      description: 'multivector: ColBERT/PLAID (default); lexical: BM25 over the MeCab words; hybrid: both, fused',
    }),
  ),
  fusion: Type.Optional(
    Type.Union([Type.Literal('rrf'), Type.Literal('weighted')], {
      default: 'rrf',
      description: 'hybrid: reciprocal rank fusion, or a weighted sum of min-max normalised scores',
    }),
  ),
  rrf_k: Type.Optional(Type.Number({ minimum: 0, maximum: 10000, default: 60, description: 'hybrid, rrf: the rank offset k in 1/(k + rank)' })),
  weights: Type.Optional(
    Type.Object(
      {
        multivector: Type.Optional(Type.Number({ minimum: 0, maximum: 1000, default: 1 })),
        lexical: Type.Optional(Type.Number({ minimum: 0, maximum: 1000, default: 1 })),
      },
      { additionalProperties: false, description: 'hybrid: weight of each engine (both fusions; default 1 and 1)' },
    ),
  ),
  fusion_depth: Type.Optional(
    Type.Integer({ minimum: 1, maximum: 1000, description: 'hybrid: hits taken from each engine before fusion (default max(k, 100), at least k)' }),
  ),
}

export const SearchBody = Type.Object(
  {
    index: Type.Optional(IndexNameField),
    query: Type.Optional(Type.String({ description: 'query text (or give query_embeddings); needed by lexical and hybrid' })),
    query_embeddings: Type.Optional(EmbeddingsInput),
    query_shape: Type.Optional(ShapeField),
    query_length: Type.Optional(QueryLengthField),
    k: Type.Optional(K),
    filter: Type.Optional(Filter),
    params: Type.Optional(SearchParamsInput),
    include: Type.Optional(IncludeInput),
    ...ModeFields,
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
    ...ModeFields,
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
