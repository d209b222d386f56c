import t from 'tap'
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AppError } from '../../src/errors.js'
import { readEmbeddingSet, writeEmbeddingSet } from '../../src/index/embedding-set.js'
import { setReadPieceForTests } from '../../src/index/read-in-pieces.js'

const base = await mkdtemp(join(tmpdir(), 'embedding-set-'))
t.teardown(() => rm(base, { recursive: true, force: true }))

const dim = 4
const doclens = Int32Array.from([2, 0, 3])
const docs = Float32Array.from({ length: 5 * dim }, (_, i) => i / 7 - 1)
const queries = Float32Array.from({ length: 2 * 3 * dim }, (_, i) => -i / 3)
const qrels = Int32Array.from([2, 0])

t.test('round trip, with documents written in chunks that straddle documents', async (t) => {
  const dir = join(base, 'a')
  await writeEmbeddingSet(dir, { dim, doclens, docs: [docs.subarray(0, 6), docs.subarray(6)], queryLen: 3, queries, qrels })
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'))
  t.same(manifest, {
    dim: 4, n_docs: 3, n_tokens: 5, n_queries: 2, query_len: 3,
    files: { docs: { path: 'docs.f32' }, doclens: { path: 'doclens.i32' }, queries: { path: 'queries.f32' }, qrels: { path: 'qrels.i32' } },
  })
  t.equal((await readFile(join(dir, 'docs.f32'))).readFloatLE(4 * 5), docs[5], 'little-endian float32')
  const set = await readEmbeddingSet(dir)
  t.same([set.dim, set.nDocs, set.nTokens, set.nQueries, set.queryLen], [4, 3, 5, 2, 3])
  t.same(Array.from(set.docs), Array.from(docs))
  t.same(Array.from(set.doclens), [2, 0, 3])
  t.same(Array.from(set.docOffsets), [0, 2, 2, 5])
  t.same(Array.from(set.queries), Array.from(queries))
  t.same(Array.from(set.qrels ?? []), [2, 0])
})

t.test('files are read in pieces (readFile stops at 2 GiB): pieces not aligned to floats give the same arrays', async (t) => {
  const dir = join(base, 'pieces')
  await writeEmbeddingSet(dir, { dim, doclens, docs, queryLen: 3, queries, qrels })
  for (const piece of [1, 7, 13]) {
    setReadPieceForTests(piece)
    const set = await readEmbeddingSet(dir)
    t.same(Array.from(set.docs), Array.from(docs), `docs in ${piece}-byte pieces`)
    t.same(Array.from(set.queries), Array.from(queries), `queries in ${piece}-byte pieces`)
    t.same(Array.from(set.qrels ?? []), [2, 0])
  }
  setReadPieceForTests(1 << 30)
})

t.test('qrels are optional', async (t) => {
  const dir = join(base, 'b')
  await writeEmbeddingSet(dir, { dim, doclens, docs, queryLen: 3, queries })
  t.equal((await readEmbeddingSet(dir)).qrels, undefined)
})

t.test('writer refuses inconsistent inputs', async (t) => {
  await t.rejects(writeEmbeddingSet(join(base, 'c'), { dim, doclens, docs: docs.subarray(1), queryLen: 3, queries }), /doclens imply/)
  await t.rejects(writeEmbeddingSet(join(base, 'c'), { dim, doclens, docs, queryLen: 3, queries, qrels: Int32Array.from([1]) }), /qrels has 1/)
})

t.test('reader refuses truncated or inconsistent sets, naming the file', async (t) => {
  const expectBad = async (dir: string, file: string, msg: RegExp): Promise<void> => {
    try {
      await readEmbeddingSet(dir)
      t.fail('expected an error')
    } catch (err) {
      t.ok(err instanceof AppError, String(err))
      t.equal((err as AppError).details?.file, join(dir, file))
      t.match((err as Error).message, msg)
    }
  }
  const make = async (name: string): Promise<string> => {
    const dir = join(base, name)
    await writeEmbeddingSet(dir, { dim, doclens, docs, queryLen: 3, queries, qrels })
    return dir
  }
  let dir = await make('d1')
  await truncate(join(dir, 'docs.f32'), 12)
  await expectBad(dir, 'docs.f32', /12 bytes, the manifest implies 80/)
  dir = await make('d2')
  await writeFile(join(dir, 'doclens.i32'), Buffer.from(Int32Array.from([2, 1, 3]).buffer))
  await expectBad(dir, 'doclens.i32', /sum to 6, n_tokens is 5/)
  dir = await make('d3')
  await writeFile(join(dir, 'qrels.i32'), Buffer.from(Int32Array.from([3, 0]).buffer))
  await expectBad(dir, 'qrels.i32', /outside 0..2/)
  dir = await make('d4')
  const m = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'))
  await writeFile(join(dir, 'manifest.json'), JSON.stringify({ ...m, n_docs: -1 }))
  await expectBad(dir, 'manifest.json', /n_docs must be a non-negative integer/)
  await writeFile(join(dir, 'manifest.json'), JSON.stringify({ ...m, files: { ...m.files, docs: { path: '../a/docs.f32' } } }))
  await expectBad(dir, 'manifest.json', /leaves the folder/)
  await writeFile(join(dir, 'manifest.json'), '{')
  await expectBad(dir, 'manifest.json', /not valid JSON/)
})
