/** Index management: GET/POST /indexes, GET/DELETE /indexes/:name. */
import { Type } from 'typebox'
import { IndexNameField } from './common.js'
import { SeqField } from './documents.js'

export const IndexInfo = Type.Object({
  name: Type.String(),
  dim: Type.Integer(),
  nbits: Type.Integer(),
  documents: Type.Integer(),
  vectors: Type.Integer(),
  tombstones: Type.Integer(),
  bytes: Type.Integer(),
  trained: Type.Boolean(),
  centroids: Type.Integer(),
  dirty: Type.Boolean({ description: 'changed since the last snapshot' }),
  last_snapshot_at: Type.Union([Type.String(), Type.Null()]),
  applied_seq: Type.Integer({ minimum: 0, description: 'seq of the last change applied to this index (0: none)' }),
})

export const IndexList = Type.Object({ indexes: Type.Array(IndexInfo) })

export const CreateIndexBody = Type.Object(
  {
    name: IndexNameField,
    nbits: Type.Optional(Type.Union([Type.Literal(1), Type.Literal(2), Type.Literal(4)], { description: 'residual bits (default INDEX_NBITS)' })),
    dim: Type.Optional(Type.Integer({ minimum: 1, description: "must equal the model's dimension" })),
  },
  { additionalProperties: false },
)

export const IndexParams = Type.Object({ name: Type.String() })

export const DropIndexResult = Type.Object({ name: Type.String(), dropped: Type.Boolean(), seq: SeqField })
