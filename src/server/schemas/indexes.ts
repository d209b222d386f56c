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
  lexical: Type.Optional(
    Type.Object(
      {
        documents: Type.Integer({ description: 'documents with text, searchable by lexical and hybrid search' }),
        terms: Type.Integer({ description: 'distinct terms' }),
        postings: Type.Integer(),
        bytes: Type.Integer({ description: 'approximate in-memory bytes of the lexical side' }),
        k1: Type.Number(),
        b: Type.Number(),
        term_form: Type.Union([Type.Literal('surface'), Type.Literal('base')]),
      },
      { description: 'the BM25 side of the index (absent when the service has no analyser)' },
    ),
  ),
  applied_seq: Type.Integer({ minimum: 0, description: 'seq of the last change applied to this index (0: none)' }),
  originals: Type.Optional(
    Type.Object(
      {
        kept: Type.Boolean({ description: 'the index keeps original vectors for the final ranking (keep_originals)' }),
        home: Type.Union([Type.Literal('memory'), Type.Literal('file'), Type.Literal('none')]),
        vectors: Type.Integer(),
        bytes_on_disk: Type.Integer(),
        unavailable: Type.Optional(Type.String({ description: 'why an index set to keep them has none; it ranks by decompressed vectors' })),
      },
      { description: 'the original vectors (int8, dim + 4 bytes each) the exact stage ranks by; on disk beside the snapshot' },
    ),
  ),
})

export const IndexList = Type.Object({ indexes: Type.Array(IndexInfo) })

export const CreateIndexBody = Type.Object(
  {
    name: IndexNameField,
    nbits: Type.Optional(Type.Union([Type.Literal(1), Type.Literal(2), Type.Literal(4)], { description: 'residual bits (default INDEX_NBITS)' })),
    dim: Type.Optional(Type.Integer({ minimum: 1, description: "must equal the model's dimension" })),
    keep_originals: Type.Optional(
      Type.Boolean({
        default: true,
        description: 'keep each vector (int8, dim + 4 bytes, on disk) for the final ranking; false ranks by the decompressed vectors',
      }),
    ),
    lexical: Type.Optional(
      Type.Object(
        {
          k1: Type.Optional(Type.Number({ minimum: 0, maximum: 100, default: 1.2, description: 'BM25 term frequency saturation' })),
          b: Type.Optional(Type.Number({ minimum: 0, maximum: 1, default: 0.75, description: 'BM25 document length normalisation' })),
          term_form: Type.Optional(
            Type.Union([Type.Literal('surface'), Type.Literal('base')], {
              default: 'surface',
              description: "term = the word's surface form (NFKC, lower case), or the dictionary's base form where it has one",
            }),
          ),
        },
        { additionalProperties: false, description: 'settings of the lexical (BM25, Lucene BM25Similarity) side' },
      ),
    ),
  },
  { additionalProperties: false },
)

export const IndexParams = Type.Object({ name: Type.String() })

export const DropIndexResult = Type.Object({ name: Type.String(), dropped: Type.Boolean(), seq: SeqField })
