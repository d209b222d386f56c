/**
 * The "embedding set" folder used by the index bench and the generator: precomputed document and query vectors.
 *   manifest.json  {"dim", "n_docs", "n_tokens", "n_queries", "query_len", "files": {"docs": {"path"}, "doclens": {"path"},
 *                   "queries": {"path"}, "qrels"?: {"path"}}}
 *   docs.f32       n_tokens × dim float32 LE (all documents' vectors, concatenated in document order)
 *   doclens.i32    n_docs int32 LE (vectors per document)
 *   queries.f32    n_queries × query_len × dim float32 LE
 *   qrels.i32      n_queries int32 LE: the relevant document's index (optional)
 * Reading checks every size against the manifest and the doclens against n_tokens, so a bench never runs on a
 * truncated set.
 */
import { type FileHandle, mkdir, open, readFile, rm } from 'node:fs/promises'
import { endianness } from 'node:os'
import { join, resolve, sep } from 'node:path'
import { AppError } from '../errors.js'
import { readInPieces } from './read-in-pieces.js'

export interface EmbeddingSet {
  dim: number
  nDocs: number
  nTokens: number
  nQueries: number
  queryLen: number
  docs: Float32Array
  doclens: Int32Array
  /** prefix sums of doclens: document d's vectors are rows docOffsets[d] .. docOffsets[d] + doclens[d] − 1 */
  docOffsets: Float64Array
  queries: Float32Array
  qrels: Int32Array | undefined
}

interface ManifestFile { path: string }
interface EmbeddingSetManifest {
  dim: number; n_docs: number; n_tokens: number; n_queries: number; query_len: number
  files: { docs: ManifestFile; doclens: ManifestFile; queries: ManifestFile; qrels?: ManifestFile }
}

function bad(file: string, problem: string): never {
  // Reuses the snapshot code: an embedding set is a data folder on disk that failed verification.
  throw new AppError('SNAPSHOT_INVALID', `embedding set ${file}: ${problem}`, { file })
}

function checkLE(): void {
  if (endianness() !== 'LE') throw new AppError('SNAPSHOT_INVALID', 'embedding sets need a little-endian host')
}

async function readTyped<T extends Float32Array | Int32Array>(
  dir: string, spec: ManifestFile | undefined, key: string, Ctor: { new(buf: ArrayBuffer, off: number, len: number): T; new(len: number): T; BYTES_PER_ELEMENT: number },
  length: number,
): Promise<T> {
  if (typeof spec !== 'object' || spec === null || typeof spec.path !== 'string') bad(join(dir, 'manifest.json'), `files.${key}.path missing`)
  const path = resolve(dir, spec.path)
  if (!path.startsWith(resolve(dir) + sep)) bad(join(dir, 'manifest.json'), `files.${key}.path leaves the folder`)
  const want = length * Ctor.BYTES_PER_ELEMENT
  let fh: FileHandle
  try {
    fh = await open(path, 'r')
  } catch (err) {
    return bad(path, `unreadable (${(err as NodeJS.ErrnoException).code ?? String(err)})`)
  }
  try {
    const { size } = await fh.stat()
    if (size !== want) bad(path, `${size} bytes, the manifest implies ${want}`)
    const out = new Ctor(length)
    const got = await readInPieces(fh, out.buffer, out.byteOffset, want)
    if (got < want) bad(path, `ended at byte ${got} of ${want}`)
    return out
  } catch (err) {
    if (err instanceof AppError) throw err
    return bad(path, `unreadable (${(err as NodeJS.ErrnoException).code ?? String(err)})`)
  } finally {
    await fh.close()
  }
}

/** Reads and validates an embedding set folder. */
export async function readEmbeddingSet(dir: string, opts?: { skipQueries?: boolean }): Promise<EmbeddingSet> {
  checkLE()
  const mpath = join(dir, 'manifest.json')
  let m: EmbeddingSetManifest
  try {
    m = JSON.parse(await readFile(mpath, 'utf8')) as EmbeddingSetManifest
  } catch (err) {
    return bad(mpath, err instanceof SyntaxError ? 'not valid JSON' : `unreadable (${(err as NodeJS.ErrnoException).code})`)
  }
  for (const k of ['dim', 'n_docs', 'n_tokens', 'n_queries', 'query_len'] as const) {
    if (!Number.isSafeInteger(m[k]) || m[k] < 0) bad(mpath, `${k} must be a non-negative integer`)
  }
  if (m.dim === 0) bad(mpath, 'dim must be positive')
  if (typeof m.files !== 'object' || m.files === null) bad(mpath, 'files missing')
  const doclens = await readTyped(dir, m.files.doclens, 'doclens', Int32Array, m.n_docs)
  const docOffsets = new Float64Array(m.n_docs + 1)
  for (let d = 0; d < m.n_docs; d++) {
    if (doclens[d] < 0) bad(join(dir, m.files.doclens.path), `document ${d} has a negative length`)
    docOffsets[d + 1] = docOffsets[d] + doclens[d]
  }
  if (docOffsets[m.n_docs] !== m.n_tokens) bad(join(dir, m.files.doclens.path), `lengths sum to ${docOffsets[m.n_docs]}, n_tokens is ${m.n_tokens}`)
  const docs = await readTyped(dir, m.files.docs, 'docs', Float32Array, m.n_tokens * m.dim)
  const skipQ = opts?.skipQueries === true
  const queries = skipQ ? new Float32Array(0) : await readTyped(dir, m.files.queries, 'queries', Float32Array, m.n_queries * m.query_len * m.dim)
  let qrels: Int32Array | undefined
  if (m.files.qrels !== undefined && !skipQ) {
    qrels = await readTyped(dir, m.files.qrels, 'qrels', Int32Array, m.n_queries)
    for (let q = 0; q < m.n_queries; q++) {
      if (qrels[q] < 0 || qrels[q] >= m.n_docs) bad(join(dir, m.files.qrels.path), `query ${q} points at document ${qrels[q]}, outside 0..${m.n_docs - 1}`)
    }
  }
  return { dim: m.dim, nDocs: m.n_docs, nTokens: m.n_tokens, nQueries: m.n_queries, queryLen: m.query_len, docs, doclens, docOffsets, queries, qrels }
}

async function writeAll(path: string, arr: Float32Array | Int32Array): Promise<void> {
  const fh = await open(path, 'w')
  try {
    await fh.writeFile(Buffer.from(arr.buffer, arr.byteOffset, arr.byteLength))
  } finally {
    await fh.close()
  }
}

/**
 * Writes an embedding set folder (creating it). `docs` may be an iterable of chunks (e.g. a generator), so that a
 * producer never holds every vector at once; chunk boundaries need not align with documents. The manifest is written
 * last, so a failed write leaves a folder that readEmbeddingSet refuses.
 */
export async function writeEmbeddingSet(dir: string, set: {
  dim: number; doclens: Int32Array; docs: Float32Array | Iterable<Float32Array>; queryLen: number; queries: Float32Array; qrels?: Int32Array
}): Promise<void> {
  checkLE()
  const { dim, doclens, queryLen, queries, qrels } = set
  const chunks: Iterable<Float32Array> = set.docs instanceof Float32Array ? [set.docs] : set.docs
  let nTokens = 0
  for (let d = 0; d < doclens.length; d++) nTokens += doclens[d]
  if (queryLen <= 0 ? queries.length !== 0 : queries.length % (queryLen * dim) !== 0) throw new RangeError('queries length is not a multiple of query_len × dim')
  const nQueries = queryLen > 0 ? queries.length / (queryLen * dim) : 0
  if (qrels !== undefined && qrels.length !== nQueries) throw new RangeError(`qrels has ${qrels.length} entries for ${nQueries} queries`)
  await mkdir(dir, { recursive: true })
  await rm(join(dir, 'manifest.json'), { force: true })
  const fh = await open(join(dir, 'docs.f32'), 'w')
  let floats = 0
  try {
    for (const c of chunks) {
      const buf = Buffer.from(c.buffer, c.byteOffset, c.byteLength)
      // write() may stop short; loop until the chunk is on disk
      for (let off = 0; off < buf.byteLength;) off += (await fh.write(buf, off, buf.byteLength - off)).bytesWritten
      floats += c.length
    }
  } finally {
    await fh.close()
  }
  if (floats !== nTokens * dim) throw new RangeError(`docs hold ${floats} floats, doclens imply ${nTokens * dim}`)
  await writeAll(join(dir, 'doclens.i32'), doclens)
  await writeAll(join(dir, 'queries.f32'), queries)
  if (qrels !== undefined) await writeAll(join(dir, 'qrels.i32'), qrels)
  const manifest: EmbeddingSetManifest = {
    dim, n_docs: doclens.length, n_tokens: nTokens, n_queries: nQueries, query_len: queryLen,
    files: {
      docs: { path: 'docs.f32' }, doclens: { path: 'doclens.i32' }, queries: { path: 'queries.f32' },
      ...(qrels !== undefined ? { qrels: { path: 'qrels.i32' } } : {}),
    },
  }
  const mf = await open(join(dir, 'manifest.json'), 'w')
  try {
    await mf.writeFile(JSON.stringify(manifest, null, 2) + '\n')
  } finally {
    await mf.close()
  }
}
