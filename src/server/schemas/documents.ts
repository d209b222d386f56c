/** POST /index, document deletion, GET /jobs/:id. */
import { Type, type Static } from 'typebox'
import { EmbeddingsInput, IndexNameField, MetadataInput, ShapeField } from './common.js'

export const DocumentInput = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: 512 }),
    text: Type.Optional(Type.String({ description: 'encoded unless `embeddings` is given; kept for include: ["text"]' })),
    embeddings: Type.Optional(EmbeddingsInput),
    shape: Type.Optional(ShapeField),
    metadata: Type.Optional(MetadataInput),
  },
  { additionalProperties: false },
)
export type DocumentInputT = Static<typeof DocumentInput>

export const IndexBody = Type.Object(
  {
    index: Type.Optional(IndexNameField),
    documents: Type.Array(DocumentInput, { minItems: 1, description: 'upserted by id (at most MAX_INDEX_DOCUMENTS)' }),
    async: Type.Optional(Type.Boolean({ description: 'run as a job and answer 202 at once' })),
    wait: Type.Optional(Type.Boolean({ description: 'wait for large batches instead of answering 202' })),
    store_text: Type.Optional(
      Type.Boolean({ default: false, description: 'keep each document text (at most 4096 characters) for search include: ["text"]' }),
    ),
  },
  { additionalProperties: false },
)
export type IndexBodyT = Static<typeof IndexBody>

export const SeqField = Type.Integer({
  minimum: 0,
  description: "the change-log sequence number of this write (strictly increasing per index); durable when the response is sent",
})

export const IndexResult = Type.Object({
  index: Type.String(),
  added: Type.Array(Type.String()),
  updated: Type.Array(Type.String()),
  seq: SeqField,
})

export const JobState = Type.Union([Type.Literal('queued'), Type.Literal('running'), Type.Literal('succeeded'), Type.Literal('failed')])

export const JobInfo = Type.Object({
  job_id: Type.String(),
  state: JobState,
  index: Type.String(),
  done: Type.Integer({ description: 'documents processed' }),
  total: Type.Integer(),
  added: Type.Integer(),
  updated: Type.Integer(),
  seq: Type.Integer({ minimum: 0, description: 'seq of the last batch made durable (0 before the first); `done` counts durable documents' }),
  error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() })),
  created_at: Type.String(),
  finished_at: Type.Optional(Type.String()),
})
export type JobInfoT = Static<typeof JobInfo>

export const JobParams = Type.Object({ id: Type.String() })

export const DeleteDocumentsBody = Type.Object(
  { ids: Type.Array(Type.String({ minLength: 1, maxLength: 512 }), { minItems: 1 }) },
  { additionalProperties: false },
)

export const DeleteDocumentsResult = Type.Object({
  index: Type.String(),
  deleted: Type.Array(Type.String()),
  missing: Type.Array(Type.String()),
  seq: SeqField,
})

export const DocumentParams = Type.Object({ name: Type.String(), id: Type.String() })
