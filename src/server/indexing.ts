/**
 * Document upserts: validation of a whole request up front (so a bad document never half-applies a batch), then
 * encode-and-upsert in batches. Text-only documents go through the encoder; documents with embeddings do not.
 * Each batch is one change record: appended to the change log (durable), then applied (src/change-log/change-log.ts).
 */
import type { DocumentChange } from '../change-log/change-log.js'
import { AppError } from '../errors.js'
import type { ServerContext } from './context.js'
import type { JobContext } from './jobs.js'
import type { Metadata } from './ports.js'
import { TEXT_KEY, checkMetadata, checkText } from './request-checks.js'
import type { DocumentInputT } from './schemas/documents.js'
import { decodeEmbeddings } from './vectors.js'

/** Stored text lives in the index metadata, whose strings are capped (METADATA_LIMITS.maxStringLength). */
export const STORED_TEXT_MAX = 4096

export interface PreparedDocument {
  id: string
  text: string | undefined
  vectors: Float32Array | undefined
  metadata: Metadata | undefined
}

/** Validate every document; `dim` is the target index's dimension. O(total input size). */
export function prepareDocuments(docs: DocumentInputT[], dim: number, ctx: ServerContext, storeText: boolean): PreparedDocument[] {
  const seen = new Map<string, number>()
  const out: PreparedDocument[] = new Array(docs.length)
  for (let i = 0; i < docs.length; i++) {
    const d = docs[i]
    const field = `documents[${i}]`
    const prev = seen.get(d.id)
    if (prev !== undefined) {
      throw new AppError('VALIDATION_ERROR', `${field}.id ${JSON.stringify(d.id)} repeats documents[${prev}].id`, { field: `${field}.id` })
    }
    seen.set(d.id, i)
    if (d.text === undefined && d.embeddings === undefined) {
      throw new AppError('VALIDATION_ERROR', `${field} needs text or embeddings`, { field })
    }
    if (d.text !== undefined) checkText(d.text, `${field}.text`, ctx.config.maxTextChars)
    if (d.shape !== undefined && d.embeddings === undefined) {
      throw new AppError('VALIDATION_ERROR', `${field}.shape is given without embeddings`, { field: `${field}.shape` })
    }
    const vectors = d.embeddings !== undefined ? decodeEmbeddings(d.embeddings, d.shape, dim, `${field}.embeddings`).vectors : undefined
    let metadata = d.metadata !== undefined ? checkMetadata(d.metadata, `${field}.metadata`) : undefined
    if (storeText && d.text !== undefined) {
      if (d.text.length > STORED_TEXT_MAX) {
        throw new AppError('TEXT_TOO_LONG', `${field}.text has ${d.text.length} characters; store_text keeps at most ${STORED_TEXT_MAX}`, {
          field: `${field}.text`,
          limit: STORED_TEXT_MAX,
        })
      }
      metadata = { ...metadata, [TEXT_KEY]: d.text }
    }
    out[i] = { id: d.id, text: d.text, vectors, metadata }
  }
  return out
}

/**
 * Encode the text-only documents of `docs` and upsert all of them into index `name` (created if absent): one durable
 * change record, then applied. Resolves with the record's seq once it is durable and searchable.
 */
export async function upsertDocuments(
  ctx: ServerContext,
  name: string,
  docs: PreparedDocument[],
): Promise<{ added: string[]; updated: string[]; seq: number }> {
  const { encoder, indexStore, writer } = ctx.parts()
  const needText = docs.filter((d) => d.vectors === undefined)
  const existing = indexStore.get(name)
  if (needText.length > 0 && existing && existing.settings.dim !== encoder.dim) {
    throw new AppError('DIMENSION_MISMATCH', `index ${name} has dimension ${existing.settings.dim} but the model encodes ${encoder.dim}; give embeddings`, {
      expected: existing.settings.dim,
      got: encoder.dim,
    })
  }
  const encoded = needText.length > 0 ? await encoder.encodeDocuments(needText.map((d) => d.text as string)) : []
  let e = 0
  const documents = docs.map((d): DocumentChange => {
    let vectors = d.vectors
    if (vectors === undefined) {
      const enc = encoded[e++]
      vectors = enc.vectors.subarray(0, enc.n * enc.dim)
    }
    const out: DocumentChange = { id: d.id, vectors }
    if (d.metadata !== undefined) out.metadata = d.metadata
    if (d.text !== undefined) out.text = d.text
    return out
  })
  // The settings (both engines') travel with the record (the index is created only when it applies, after encoding
  // succeeded, so a refused request leaves no empty index behind; and a replay creates it the same way whatever the
  // config says then). The applier upserts through indexStore.apply, so the lexical side gets each document's text.
  const current = indexStore.get(name)
  const create = current ? current.settings : indexStore.newIndexSettings()
  const lexical = indexStore.lexicalSettings(name) ?? indexStore.newLexicalSettings()
  const dim = current?.settings.dim ?? create.dim
  const { seq, results } = await writer.commit(name, [{ op: 'upsert', dim, create, lexical, documents }])
  const r = results[0]
  if (r?.op !== 'upsert') throw new AppError('INTERNAL_ERROR', 'upsert produced no result')
  return { added: r.added, updated: r.updated, seq }
}

/**
 * The job body for a large /index request: batches of MAX_BATCH_TEXTS documents (large, because each upsert that grows
 * the index may retrain its centroids), waiting out encoder backpressure instead of failing.
 */
export function indexingJob(
  ctx: ServerContext,
  name: string,
  docs: PreparedDocument[],
  collect?: { added: string[]; updated: string[]; seq: number },
): (job: JobContext) => Promise<void> {
  // At most half the encoder queue (2048 texts unless ENCODER_MAX_QUEUE says otherwise), so a job's batch fits while
  // interactive requests hold the rest.
  const size = Math.max(1, Math.min(ctx.config.maxBatchTexts, Math.floor((ctx.config.encoderMaxQueue ?? 2048) / 2)))
  return async (job) => {
    for (let start = 0; start < docs.length; start += size) {
      const batch = docs.slice(start, start + size)
      for (;;) {
        job.checkCancelled()
        try {
          const r = await upsertDocuments(ctx, name, batch)
          // a batch counts as done only once its record is durable: that is what a job acknowledges (README § Durability)
          job.progress({ done: batch.length, added: r.added.length, updated: r.updated.length, seq: r.seq })
          if (collect) {
            collect.seq = r.seq
            for (const id of r.added) collect.added.push(id)
            for (const id of r.updated) collect.updated.push(id)
          }
          break
        } catch (err) {
          if (!(err instanceof AppError && err.code === 'OVERLOADED')) throw err
          const waitS = Number(err.details?.retryAfterS) || 1
          await new Promise((res) => setTimeout(res, Math.min(waitS, 5) * 1000))
        }
      }
      docs.fill(undefined as unknown as PreparedDocument, start, start + batch.length) // let processed input be collected
    }
  }
}
