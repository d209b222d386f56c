import t from 'tap'
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AppError } from '../../src/errors.js'
import { createIndexStore, type IndexStoreLogger } from '../../src/index/index-store.js'
import { randomUnitVectors } from './snapshot-fake-state.js'

const DIM = 16
const base = await mkdtemp(join(tmpdir(), 'index-store-'))
t.teardown(() => rm(base, { recursive: true, force: true }))
let n = 0
const freshDir = (): string => join(base, `d${n++}`)

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (err) {
    return err instanceof AppError ? err.code : `not an AppError: ${String(err)}`
  }
  return undefined
}

function recordingLogger(): IndexStoreLogger & { lines: Array<{ level: string; o: object; msg?: string }> } {
  const lines: Array<{ level: string; o: object; msg?: string }> = []
  return {
    lines,
    info: (o, msg) => lines.push({ level: 'info', o, msg }),
    warn: (o, msg) => lines.push({ level: 'warn', o, msg }),
    error: (o, msg) => lines.push({ level: 'error', o, msg }),
  }
}

/** The original vectors' record files (original-rows.ts) in an index's `<name>.rows` folder; [] when it is gone. */
async function recordFiles(dataDir: string, name: string): Promise<string[]> {
  try {
    return (await readdir(join(dataDir, 'indexes', `${name}.rows`))).filter((f) => /^rows-[0-9a-f]+-\d+\.bin$/.test(f))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
}

const docs = (prefix: string, count: number, seed: number) =>
  Array.from({ length: count }, (_, i) => ({ id: `${prefix}${i}`, vectors: randomUnitVectors(5 + (i % 4), DIM, seed + i), metadata: { i } }))

t.test('names, settings and errors (memory only)', async (t) => {
  const store = createIndexStore({ defaultSettings: { dim: DIM, nbits: 4 } })
  t.equal(codeOf(() => store.create('Bad')), 'INVALID_INDEX_NAME')
  t.equal(codeOf(() => store.create('-x')), 'INVALID_INDEX_NAME')
  t.equal(codeOf(() => store.create('a'.repeat(65))), 'INVALID_INDEX_NAME')
  t.equal(codeOf(() => store.create('a/b')), 'INVALID_INDEX_NAME')
  t.equal(codeOf(() => store.create('x.old')), 'INVALID_INDEX_NAME')
  t.equal(codeOf(() => store.create('a'.repeat(64))), undefined)
  const idx = store.create('docs_v2-ja')
  t.same([idx.settings.dim, idx.settings.nbits], [DIM, 4], 'default settings apply')
  t.equal(store.create('other', { nbits: 1 }).settings.nbits, 1, 'per-index settings override')
  t.equal(codeOf(() => store.create('docs_v2-ja')), 'INDEX_EXISTS')
  t.equal(store.getOrCreate('docs_v2-ja'), idx)
  t.equal(store.get('nope'), undefined)
  t.equal(codeOf(() => store.getOrThrow('nope')), 'INDEX_NOT_FOUND')
  t.equal(codeOf(() => store.getOrCreate('NOPE')), 'INVALID_INDEX_NAME')
  t.same(store.list().map((e) => e.name), ['a'.repeat(64), 'docs_v2-ja', 'other'], 'list is sorted by name')
  t.equal(store.list()[1].stats.documents, 0)
  t.ok(store.drop('other'))
  t.notOk(store.drop('other'))
  t.equal(store.get('other'), undefined)
  await store.saveAll()
  await store.restoreAll()
  await store.close()
})

t.test('saveAll writes dirty indexes only; a new store restores them identically', async (t) => {
  const dataDir = freshDir()
  const saved: string[] = []
  const store = createIndexStore({ dataDir, defaultSettings: { dim: DIM }, onSnapshot: (e) => saved.push(e.name) })
  const a = store.create('alpha', { minTrainVectors: 200 })
  a.upsert(docs('a', 80, 1))
  store.markDirty('alpha')
  store.create('empty')
  t.same(store.list().map((e) => e.dirty), [true, true])
  await store.saveAll()
  t.same(saved.sort(), ['alpha', 'empty'])
  t.same(store.list().map((e) => e.dirty), [false, false])
  t.ok(store.list().every((e) => typeof e.lastSnapshotAt === 'number'))
  // each index's snapshot folder, and beside it the folder of its original vectors' record files
  t.same((await readdir(join(dataDir, 'indexes'))).sort(), ['alpha', 'alpha.rows', 'empty', 'empty.rows'])
  // the training wrote alpha's records to a new file; once the snapshot names it, the file before is deleted
  t.equal((await recordFiles(dataDir, 'alpha')).length, 1, 'one record file per index after a snapshot')
  t.equal((await recordFiles(dataDir, 'empty')).length, 1)

  const manifest = join(dataDir, 'indexes', 'alpha', 'manifest.json')
  const mtime = (await stat(manifest)).mtimeMs
  await store.saveAll()
  t.same(saved.length, 2, 'clean indexes are not saved again')
  t.equal((await stat(manifest)).mtimeMs, mtime)

  a.delete(['a1', 'a2'])
  store.markDirty('alpha')
  await store.saveAll()
  t.same(saved.slice(2), ['alpha'], 'only the changed index is saved')

  const store2 = createIndexStore({ dataDir, defaultSettings: { dim: DIM } })
  await store2.restoreAll()
  t.same(store2.list().map((e) => [e.name, e.stats.documents, e.dirty]), [['alpha', 78, false], ['empty', 0, false]])
  const b = store2.getOrThrow('alpha')
  t.equal(b.settings.minTrainVectors, 200, 'per-index settings survive')
  t.equal(b.stats().trained, a.stats().trained)
  t.ok(b.stats().trained, 'trained index round-tripped')
  // one record per stored vector (tombstoned ones included until a compaction), reopened from the snapshot's file
  t.same(b.stats().originals, { home: 'file', vectors: a.stats().originals!.vectors, bytesOnDisk: a.stats().originals!.vectors * (DIM + 4) }, 'its original vectors reopened from their file')
  t.ok(a.stats().originals!.vectors > a.stats().vectors, 'the deleted documents\' records are still counted')
  const q = randomUnitVectors(32, DIM, 4242)
  t.same(b.search(q, { k: 10 }).hits, a.search(q, { k: 10 }).hits, 'identical search after restart')
  t.equal(b.get('a1'), undefined, 'deleted document stays deleted')
})

t.test('drop deletes the folder; a re-created index starts empty and is saved fresh', async (t) => {
  const dataDir = freshDir()
  const store = createIndexStore({ dataDir, defaultSettings: { dim: DIM } })
  store.create('x').upsert(docs('x', 10, 5))
  store.markDirty('x')
  await store.saveAll()
  t.equal((await recordFiles(dataDir, 'x')).length, 1)
  t.ok(store.drop('x'))
  t.same(await recordFiles(dataDir, 'x'), [], 'the dropped index\'s record files are deleted at once')
  const again = store.create('x')
  again.upsert(docs('y', 3, 9))
  store.markDirty('x')
  await store.saveAll()
  t.equal((await recordFiles(dataDir, 'x')).length, 1, 'the re-created index has a record file of its own')
  const store2 = createIndexStore({ dataDir, defaultSettings: { dim: DIM } })
  await store2.restoreAll()
  t.same(store2.getOrThrow('x').ids().sort(), ['y0', 'y1', 'y2'])
  t.ok(store2.drop('x'))
  await store2.close()
  t.same(await readdir(join(dataDir, 'indexes')), [], 'folder removed by drop (awaited by close), its originals\' folder too')
})

t.test('restoreAll recovers an interrupted save and ignores foreign entries', async (t) => {
  const dataDir = freshDir()
  const store = createIndexStore({ dataDir, defaultSettings: { dim: DIM } })
  store.create('keep').upsert(docs('k', 4, 1))
  await store.close()
  const root = join(dataDir, 'indexes')
  await rename(join(root, 'keep'), join(root, 'keep.old'))
  await mkdir(join(root, 'NotAnIndex'))
  await writeFile(join(root, 'notes.txt'), 'hello')
  await mkdir(join(root, 'keep.tmp-999999999-abcd'))
  await mkdir(join(root, `keep.tmp-${process.pid}-beef`))
  const store2 = createIndexStore({ dataDir, defaultSettings: { dim: DIM } })
  await store2.restoreAll()
  t.same(store2.list().map((e) => [e.name, e.stats.documents]), [['keep', 4]])
  t.same((await readdir(root)).sort(), ['NotAnIndex', 'keep', 'keep.rows', 'notes.txt'], '.old renamed back, dead temp folders (also one with our pid, as after a container restart) removed, foreign entries untouched')
  const keep = store2.getOrThrow('keep').stats()
  t.same(keep.originals, { home: 'file', vectors: keep.vectors, bytesOnDisk: keep.vectors * (DIM + 4) }, 'the recovered snapshot\'s original vectors reopened')
})

t.test('a corrupt snapshot: refuse to start by default, or skip it and keep its files', async (t) => {
  const dataDir = freshDir()
  const store = createIndexStore({ dataDir, defaultSettings: { dim: DIM } })
  store.create('good').upsert(docs('g', 4, 1))
  store.create('bad').upsert(docs('b', 4, 2))
  await store.close()
  const docsFile = join(dataDir, 'indexes', 'bad', 'documents.jsonl')
  await writeFile(docsFile, (await readFile(docsFile, 'utf8')).replace('b0', 'bX'))

  const strict = createIndexStore({ dataDir, defaultSettings: { dim: DIM } })
  try {
    await strict.restoreAll()
    t.fail('expected SNAPSHOT_INVALID')
  } catch (err) {
    t.ok(err instanceof AppError && err.code === 'SNAPSHOT_INVALID')
    t.match((err as Error).message, /index "bad" could not be restored.*documents\.jsonl: CRC-32 mismatch.*Nothing was deleted/)
  }
  t.ok((await stat(docsFile)).isFile(), 'files kept')

  const log = recordingLogger()
  const lenient = createIndexStore({ dataDir, defaultSettings: { dim: DIM }, onCorruptSnapshot: 'skip', logger: log })
  await lenient.restoreAll()
  t.same(lenient.list().map((e) => e.name), ['good'])
  t.ok(log.lines.some((l) => l.level === 'error' && (l.o as { index?: string }).index === 'bad'), 'error logged')
  t.equal(codeOf(() => lenient.create('bad')), 'INDEX_EXISTS', 'the name stays reserved')
  t.equal(codeOf(() => lenient.getOrCreate('bad')), 'INDEX_EXISTS')
  await lenient.saveAll()
  t.ok((await stat(docsFile)).isFile(), 'still kept after saveAll')
  t.equal((await recordFiles(dataDir, 'bad')).length, 1, 'its original vectors\' file kept too')
  t.ok(lenient.drop('bad'), 'an explicit drop releases the name and deletes the files')
  await lenient.close()
  t.same(await recordFiles(dataDir, 'bad'), [], 'the quarantined index\'s original vectors\' files are deleted by the drop')
  t.same((await readdir(join(dataDir, 'indexes'))).sort(), ['good', 'good.rows'], 'of the dropped index, neither its snapshot folder nor its originals\' folder is left')
})

t.test('periodic snapshots save dirty indexes; close saves what is left', async (t) => {
  const dataDir = freshDir()
  let saves = 0
  const store = createIndexStore({ dataDir, defaultSettings: { dim: DIM }, onSnapshot: () => saves++ })
  store.create('p')
  store.startPeriodicSnapshots(10)
  const deadline = Date.now() + 5000
  while (saves === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
  t.equal(saves, 1, 'saved by the timer')
  await new Promise((r) => setTimeout(r, 50))
  t.equal(saves, 1, 'not saved again while clean')
  store.getOrThrow('p').upsert(docs('p', 2, 3))
  store.markDirty('p')
  await store.close()
  t.equal(saves, 2, 'close saved the change')
  const store2 = createIndexStore({ dataDir, defaultSettings: { dim: DIM } })
  await store2.restoreAll()
  t.equal(store2.getOrThrow('p').stats().documents, 2)
})
