/** POST /encode. */
import { Type, type Static } from 'typebox'
import { QueryLengthField } from './common.js'

export const EncodeBody = Type.Object(
  {
    texts: Type.Array(Type.String(), { minItems: 1, description: 'texts to encode (at most MAX_BATCH_TEXTS)' }),
    kind: Type.Optional(Type.Union([Type.Literal('query'), Type.Literal('document')], { default: 'document' })),
    encoding_format: Type.Optional(Type.Union([Type.Literal('float'), Type.Literal('base64')], { default: 'float' })),
    return_tokens: Type.Optional(Type.Boolean({ default: false })),
    query_length: Type.Optional(QueryLengthField),
  },
  { additionalProperties: false },
)
export type EncodeBodyT = Static<typeof EncodeBody>

export const EncodeResponse = Type.Object({
  model: Type.String(),
  dim: Type.Integer(),
  data: Type.Array(
    Type.Object({
      index: Type.Integer({ description: 'position in `texts`' }),
      shape: Type.Array(Type.Integer(), { description: '[n, dim]' }),
      embeddings: Type.Union([
        Type.Array(Type.Array(Type.Number())),
        Type.String({ description: 'base64 of little-endian float32, row-major' }),
      ]),
      tokens: Type.Optional(Type.Array(Type.String())),
    }),
  ),
})
export type EncodeResponseT = Static<typeof EncodeResponse>
