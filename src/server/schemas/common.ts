/** Schema pieces shared by several routes. */
import { Type, type Static } from 'typebox'
import { ERROR_CODES } from '../../errors.js'

/** Every 4xx/5xx body. `details` carries machine-readable specifics (e.g. the field or retryAfterS). */
export const ErrorBody = Type.Object(
  {
    code: Type.Union(Object.keys(ERROR_CODES).map((c) => Type.Literal(c)), { description: 'stable error code' }),
    message: Type.String({ description: 'what went wrong, naming the field or variable at fault' }),
    statusCode: Type.Integer({ description: 'the HTTP status, repeated' }),
    details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { $id: 'ErrorBody' },
)
export type ErrorBodyT = Static<typeof ErrorBody>

/** Per-request query length; the server default is QUERY_LENGTH. */
export const QueryLengthField = Type.Union([Type.Literal('fixed'), Type.Literal('dynamic')], {
  description:
    "query text length: 'fixed' = the model's query_maxlen tokens (32 for JaColBERTv2.5; longer queries are cut), " +
    "'dynamic' = padded with [MASK] to the next multiple of 32 with at least 8 [MASK]s (longer queries keep every " +
    'token, as JaColBERTv2.5 was evaluated). Default: the QUERY_LENGTH setting.',
})

export const IndexNameField = Type.String({
  description: 'index name: [a-z0-9][a-z0-9_-]{0,63}',
  examples: ['default'],
})

/** Precomputed vectors: rows of numbers, or base64 of little-endian float32 row-major bytes (see `shape`). */
export const EmbeddingsInput = Type.Union([
  Type.Array(Type.Array(Type.Number()), { description: 'n rows of dim numbers' }),
  Type.String({ description: 'base64 of n×dim little-endian float32, row-major' }),
])

export const ShapeField = Type.Array(Type.Integer({ minimum: 0 }), {
  minItems: 2,
  maxItems: 2,
  description: '[n, dim]',
})

export const MetadataInput = Type.Record(Type.String(), Type.Unknown(), {
  description: 'flat object of string, number, boolean or null values',
})

export const MetadataOutput = Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()]))

export const SearchParamsInput = Type.Object(
  {
    ncells: Type.Optional(Type.Integer({ minimum: 1, maximum: 65536, description: 'centroid cells each query vector probes (unset: at least 8, more where its best cells score alike and are small; set: exactly this many)' })),
    centroid_score_threshold: Type.Optional(
      Type.Number({ minimum: -1, maximum: 1, description: 'centroids scoring below this are pruned (unset: 0.4 at k ≤ 10, 0.45 at k ≤ 100, raised per query to its mean centroid score + 0.25 where that is higher)' }),
    ),
    ndocs: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'candidates kept for exact scoring' })),
  },
  { additionalProperties: false },
)

export const IncludeInput = Type.Array(Type.Union([Type.Literal('metadata'), Type.Literal('text'), Type.Literal('scores')]), {
  maxItems: 3,
  description: "extra fields per hit (default ['metadata']); 'scores' adds each engine's score and rank",
})

const ComponentScore = Type.Object({
  score: Type.Number({ description: "this engine's own score (MaxSim sum, or BM25)" }),
  rank: Type.Integer({ minimum: 1, description: "1-based rank in this engine's list" }),
})

export const HitScores = Type.Object(
  {
    multivector: Type.Optional(ComponentScore),
    lexical: Type.Optional(ComponentScore),
  },
  { description: "per-engine scores and ranks (include: ['scores']); an engine is absent when the hit was not in its list" },
)

export const Hit = Type.Object({
  id: Type.String(),
  score: Type.Number({ description: 'MaxSim sum (multivector), BM25 (lexical) or the fused score (hybrid)' }),
  metadata: Type.Optional(MetadataOutput),
  text: Type.Optional(Type.String()),
  scores: Type.Optional(HitScores),
})
