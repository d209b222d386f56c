/** POST /index (upsert; large batches as jobs), GET /jobs/:id, document deletion. */
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { AppError } from '../../errors.js'
import type { ServerContext } from '../context.js'
import { indexingJob, prepareDocuments, upsertDocuments } from '../indexing.js'
import type { Job } from '../jobs.js'
import { checkBatch, checkIndexName } from '../request-checks.js'
import { DeleteDocumentsBody, DeleteDocumentsResult, DocumentParams, IndexBody, IndexResult, JobInfo, JobParams, type JobInfoT } from '../schemas/documents.js'
import { IndexParams } from '../schemas/indexes.js'

/** Most unfinished jobs before /index answers 503 OVERLOADED (each holds its decoded documents in memory). */
const MAX_PENDING_JOBS = 16

export function jobInfo(job: Job): JobInfoT {
  const info: JobInfoT = {
    job_id: job.id,
    state: job.state,
    index: job.index,
    done: job.done,
    total: job.total,
    added: job.added,
    updated: job.updated,
    seq: job.seq,
    created_at: new Date(job.createdAt).toISOString(),
  }
  if (job.error) info.error = job.error
  if (job.finishedAt !== undefined) info.finished_at = new Date(job.finishedAt).toISOString()
  return info
}

export function registerDocumentRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>()

  r.post(
    '/index',
    {
      schema: {
        summary: 'Upsert documents (text and/or precomputed embeddings, metadata) into an index',
        description:
          'Creates the index with default settings if absent. Up to MAX_BATCH_TEXTS documents are indexed before the ' +
          'response (200); larger batches, or async: true, run as a job (202 with job_id; poll GET /jobs/{id}) unless wait: true.',
        tags: ['documents'],
        body: IndexBody,
        response: { 200: IndexResult, 202: JobInfo },
      },
    },
    async (request, reply) => {
      const body = request.body
      const name = checkIndexName(body.index ?? 'default')
      checkBatch(body.documents.length, 'documents', ctx.config.maxIndexDocuments, 'MAX_INDEX_DOCUMENTS')
      const { encoder, indexStore } = ctx.parts()
      const dim = indexStore.get(name)?.settings.dim ?? encoder.dim
      const docs = prepareDocuments(body.documents, dim, ctx, body.store_text ?? false)
      const asJob = body.async === true || (docs.length > ctx.config.maxBatchTexts && body.wait !== true)
      if (!asJob && docs.length <= ctx.config.maxBatchTexts) {
        const result = await upsertDocuments(ctx, name, docs)
        return { index: name, ...result }
      }
      if (ctx.jobs.pending() >= MAX_PENDING_JOBS) {
        throw new AppError('OVERLOADED', `${MAX_PENDING_JOBS} indexing jobs are already pending; retry later`, { retryAfterS: 5, reason: 'job_queue' })
      }
      const collect = asJob ? undefined : { added: [] as string[], updated: [] as string[], seq: 0 }
      const job = ctx.jobs.submit(name, docs.length, indexingJob(ctx, name, docs, collect))
      if (asJob) {
        reply.header('location', `/jobs/${job.id}`)
        return reply.code(202).send(jobInfo(job))
      }
      // wait: true on a large batch: run it through the job queue (ordered, bounded) and answer when done.
      await ctx.jobs.wait(job)
      if (job.state === 'failed') {
        const e = job.error ?? { code: 'INTERNAL_ERROR', message: 'indexing failed' }
        throw new AppError(e.code as AppError['code'], `${e.message} (after ${job.done} of ${job.total} documents)`, { job_id: job.id, done: job.done })
      }
      return { index: name, added: collect?.added ?? [], updated: collect?.updated ?? [], seq: collect?.seq ?? 0 }
    },
  )

  r.get(
    '/jobs/:id',
    { schema: { summary: 'Progress of an indexing job', tags: ['documents'], params: JobParams, response: { 200: JobInfo } } },
    async (request) => {
      const job = ctx.jobs.get(request.params.id)
      if (!job) throw new AppError('JOB_NOT_FOUND', `no job ${JSON.stringify(request.params.id.slice(0, 80))} (finished jobs are kept for an hour)`)
      return jobInfo(job)
    },
  )

  r.post(
    '/indexes/:name/delete',
    {
      schema: {
        summary: 'Delete documents by id',
        tags: ['documents'],
        params: IndexParams,
        body: DeleteDocumentsBody,
        response: { 200: DeleteDocumentsResult },
      },
    },
    async (request) => {
      const name = checkIndexName(request.params.name)
      checkBatch(request.body.ids.length, 'ids', ctx.config.maxIndexDocuments, 'MAX_INDEX_DOCUMENTS')
      const { indexStore, writer } = ctx.parts()
      indexStore.getOrThrow(name)
      const { seq, results } = await writer.commit(name, [{ op: 'delete', ids: request.body.ids }])
      const r = results[0]
      const result = r?.op === 'delete' ? r : { deleted: [], missing: request.body.ids }
      return { index: name, deleted: result.deleted, missing: result.missing, seq }
    },
  )

  r.delete(
    '/indexes/:name/documents/:id',
    {
      schema: {
        summary: 'Delete one document',
        tags: ['documents'],
        params: DocumentParams,
        response: { 200: DeleteDocumentsResult },
      },
    },
    async (request) => {
      const name = checkIndexName(request.params.name)
      const { indexStore, writer } = ctx.parts()
      const notFound = () =>
        new AppError('DOCUMENT_NOT_FOUND', `index ${name} has no document ${JSON.stringify(request.params.id.slice(0, 200))}`)
      if (indexStore.getOrThrow(name).get(request.params.id) === undefined) throw notFound()
      const { seq, results } = await writer.commit(name, [{ op: 'delete', ids: [request.params.id] }])
      const r = results[0]
      // deleted by a concurrent request between the check and the apply: that one reported it
      if (r?.op !== 'delete' || r.deleted.length === 0) throw notFound()
      return { index: name, deleted: r.deleted, missing: r.missing, seq }
    },
  )
}
