/** Index management: list, create (nbits, dim check), stats, drop. */
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { Static } from 'typebox'
import { AppError } from '../../errors.js'
import type { ServerContext } from '../context.js'
import type { IndexSettings, IndexStats, LexicalInfo } from '../ports.js'
import { checkIndexName } from '../request-checks.js'
import { CreateIndexBody, DropIndexResult, IndexInfo, IndexList, IndexParams } from '../schemas/indexes.js'

function info(
  e: { name: string; stats: IndexStats; settings: IndexSettings; dirty: boolean; lastSnapshotAt: number | undefined; lexical?: LexicalInfo },
  appliedSeq: number,
): Static<typeof IndexInfo> {
  const out: Static<typeof IndexInfo> = {
    name: e.name,
    dim: e.settings.dim,
    nbits: e.settings.nbits,
    documents: e.stats.documents,
    vectors: e.stats.vectors,
    tombstones: e.stats.tombstones,
    bytes: e.stats.bytes,
    trained: e.stats.trained,
    centroids: e.stats.centroids,
    dirty: e.dirty,
    last_snapshot_at: e.lastSnapshotAt === undefined ? null : new Date(e.lastSnapshotAt).toISOString(),
    applied_seq: appliedSeq,
  }
  const o = e.stats.originals
  if (o !== undefined) {
    out.originals = {
      kept: e.settings.keepOriginals !== false, home: o.home, vectors: o.vectors, bytes_on_disk: o.bytesOnDisk,
      ...(o.unavailable === undefined ? {} : { unavailable: o.unavailable }),
    }
  }
  if (e.lexical) {
    const l = e.lexical
    out.lexical = { documents: l.stats.documents, terms: l.stats.terms, postings: l.stats.postings, bytes: l.stats.bytes, k1: l.settings.k1, b: l.settings.b, term_form: l.settings.terms }
  }
  return out
}

export function registerIndexRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>()
  const describe = (name: string): Static<typeof IndexInfo> => {
    const { indexStore } = ctx.parts()
    const entry = indexStore.list().find((e) => e.name === name)
    if (!entry) throw new AppError('INDEX_NOT_FOUND', `no index named ${name}`)
    return info(entry, indexStore.appliedSeq(name))
  }

  r.get('/indexes', { schema: { summary: 'List indexes with their sizes', tags: ['indexes'], response: { 200: IndexList } } }, async () => {
    const { indexStore } = ctx.parts()
    return { indexes: indexStore.list().map((e) => info(e, indexStore.appliedSeq(e.name))) }
  })

  r.post(
    '/indexes',
    {
      schema: {
        summary: 'Create an empty index',
        description: "dim, if given, must equal the model's dimension; nbits defaults to INDEX_NBITS.",
        tags: ['indexes'],
        body: CreateIndexBody,
        response: { 201: IndexInfo },
      },
    },
    async (request, reply) => {
      const name = checkIndexName(request.body.name)
      const { encoder, indexStore, writer } = ctx.parts()
      const dim = request.body.dim ?? encoder.dim
      if (dim !== encoder.dim) {
        throw new AppError('DIMENSION_MISMATCH', `dim ${dim} does not match the model's dimension ${encoder.dim}`, { field: 'dim', expected: encoder.dim, got: dim })
      }
      if (indexStore.get(name) !== undefined) throw new AppError('INDEX_EXISTS', `index "${name}" already exists`, { name })
      const settings = indexStore.newIndexSettings({
        dim, nbits: request.body.nbits ?? ctx.config.indexNbits, ...(request.body.keep_originals === false ? { keepOriginals: false } : {}),
      })
      const lx = request.body.lexical
      // validated (and completed with the defaults) before the append: whatever is appended is replayed at every start
      const lexical = indexStore.newLexicalSettings(
        lx === undefined ? undefined : { ...(lx.k1 !== undefined ? { k1: lx.k1 } : {}), ...(lx.b !== undefined ? { b: lx.b } : {}), ...(lx.term_form !== undefined ? { terms: lx.term_form } : {}) },
      )
      const { results } = await writer.commit(name, [{ op: 'create', settings, lexical }])
      // created by a concurrent request between the check and the apply
      if (results[0]?.op !== 'create' || !results[0].created) throw new AppError('INDEX_EXISTS', `index "${name}" already exists`, { name })
      reply.code(201)
      return describe(name)
    },
  )

  r.get(
    '/indexes/:name',
    { schema: { summary: 'Index settings and statistics', tags: ['indexes'], params: IndexParams, response: { 200: IndexInfo } } },
    async (request) => describe(checkIndexName(request.params.name)),
  )

  r.delete(
    '/indexes/:name',
    { schema: { summary: 'Drop an index and its snapshot', tags: ['indexes'], params: IndexParams, response: { 200: DropIndexResult } } },
    async (request) => {
      const name = checkIndexName(request.params.name)
      const { indexStore, writer } = ctx.parts()
      if (indexStore.get(name) === undefined) throw new AppError('INDEX_NOT_FOUND', `no index named ${name}`)
      const { seq, results } = await writer.commit(name, [{ op: 'drop' }])
      if (results[0]?.op !== 'drop' || !results[0].dropped) throw new AppError('INDEX_NOT_FOUND', `no index named ${name}`)
      return { name, dropped: true, seq }
    },
  )
}
