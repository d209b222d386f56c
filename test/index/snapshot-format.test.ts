import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, readdir, rename, rm, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { crc32 } from 'node:zlib'
import { AppError } from '../../src/errors.js'
import type { IndexState } from '../../src/index/types.js'
import { recoverSnapshotDir, replaceDirAtomically, removeSnapshotDir, type SnapshotStep } from '../../src/index/snapshot-atomic.js'
import { setReadPieceForTests } from '../../src/index/read-in-pieces.js'
import { readSnapshotFiles, readStateFiles, writeStateFiles } from '../../src/index/snapshot-format.js'
import { fakeState, sameState } from './snapshot-fake-state.js'

const HERE = dirname(fileURLToPath(import.meta.url))
const CHILD = resolve(HERE, 'snapshot-crash-child.ts')

async function save(state: IndexState, dir: string): Promise<void> {
  await replaceDirAtomically(dir, async (tmp) => {
    await writeStateFiles(state, tmp)
  })
}

async function load(dir: string): Promise<IndexState> {
  const { present } = await recoverSnapshotDir(dir)
  if (!present) throw new Error(`no snapshot at ${dir}`)
  return readStateFiles(dir)
}

async function rejects(t: Test, p: Promise<unknown>, file: string, msg: RegExp): Promise<void> {
  try {
    await p
    t.fail('expected SNAPSHOT_INVALID')
  } catch (err) {
    t.ok(err instanceof AppError && err.code === 'SNAPSHOT_INVALID', `SNAPSHOT_INVALID (${(err as Error).message})`)
    t.equal((err as AppError).details?.file, file, 'names the file')
    t.match((err as Error).message, msg)
  }
}

const base = await mkdtemp(join(tmpdir(), 'snapshot-format-'))
t.teardown(() => rm(base, { recursive: true, force: true }))
let n = 0
const fresh = (): string => join(base, `s${n++}`, 'idx')

t.test('round trip is bit-identical and files are little-endian with matching CRCs', async (t) => {
  const dir = fresh()
  const state = fakeState(3)
  await save(state, dir)
  sameState(t, await load(dir), state, 'loaded')
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'))
  t.equal(manifest.format, 'jacolbert-plaid-snapshot')
  t.equal(manifest.version, 2)
  t.same(manifest.log, { seq: 0 }, 'version 2 records the change-log position it covers')
  for (const a of manifest.arrays) {
    const bytes = await readFile(join(dir, a.file))
    t.equal(bytes.byteLength, a.bytes, `${a.file} size`)
    t.equal(crc32(bytes), a.crc32, `${a.file} crc`)
  }
  const codes = await readFile(join(dir, 'codes.bin'))
  t.equal(codes.readInt32LE(4), state.arrays.codes[1], 'int32 stored little-endian')
  const small = await readFile(join(dir, 'small.bin'))
  t.equal(small.readUInt16LE(2), 65534, 'uint16 stored little-endian')
  const docs = (await readFile(join(dir, 'documents.jsonl'), 'utf8')).trimEnd().split('\n')
  t.equal(docs.length, state.ids.length, 'one line per document even with newlines and U+2028 inside')
  t.same((await readdir(dirname(dir))).sort(), ['idx'], 'no temp or .old folder left')
})

t.test('arrays read in pieces (readFile stops at 2 GiB): the same state, and the CRC still checks every piece', async (t) => {
  const dir = fresh()
  const state = fakeState(4)
  await save(state, dir)
  const codes = join(dir, 'codes.bin')
  const good = await readFile(codes)
  t.teardown(() => setReadPieceForTests(1 << 30))
  for (const piece of [1, 5, 64]) {
    setReadPieceForTests(piece)
    sameState(t, await load(dir), state, `${piece}-byte pieces`)
    const bad = Buffer.from(good)
    bad[bad.length - 1] ^= 0x10 // in the last piece
    await writeFile(codes, bad)
    await rejects(t, load(dir), codes, /CRC-32 mismatch/)
    await writeFile(codes, good)
  }
})

t.test('an empty state round-trips', async (t) => {
  const dir = fresh()
  const empty: IndexState = { formatVersion: 1, settings: fakeState(0).settings, scalars: {}, arrays: {}, ids: [], metadata: [] }
  await save(empty, dir)
  sameState(t, await load(dir), empty, 'empty')
})

t.test('saving over a snapshot replaces it', async (t) => {
  const dir = fresh()
  await save(fakeState(1), dir)
  await save(fakeState(2), dir)
  sameState(t, await load(dir), fakeState(2), 'second save wins')
  t.same((await readdir(dirname(dir))).sort(), ['idx'])
})

t.test('refuses corrupt, truncated, missing and foreign snapshots, naming the file', async (t) => {
  const setup = async (): Promise<string> => {
    const dir = fresh()
    await save(fakeState(5), dir)
    return dir
  }
  let dir = await setup()
  const codes = join(dir, 'codes.bin')
  const buf = await readFile(codes)
  buf[17] ^= 0x04
  await writeFile(codes, buf)
  await rejects(t, load(dir), codes, /CRC-32 mismatch/)

  dir = await setup()
  await truncate(join(dir, 'vectors.bin'), 100)
  await rejects(t, load(dir), join(dir, 'vectors.bin'), /size 100 bytes, manifest says/)

  dir = await setup()
  await rm(join(dir, 'residuals.bin'))
  await rejects(t, load(dir), join(dir, 'residuals.bin'), /missing/)

  dir = await setup()
  const docs = join(dir, 'documents.jsonl')
  await writeFile(docs, (await readFile(docs, 'utf8')).replace('doc-5-1"', 'doc-5-X"'))
  await rejects(t, load(dir), docs, /CRC-32 mismatch/)

  dir = await setup()
  const mf = join(dir, 'manifest.json')
  const m = JSON.parse(await readFile(mf, 'utf8'))
  await writeFile(mf, JSON.stringify({ ...m, version: 3 }))
  await rejects(t, load(dir), mf, /format version 3 is not supported/)
  // version 1 (before the change log) still loads, covering no log position; version 2 without its log section does not
  const { log: _log, ...v1 } = m
  await writeFile(mf, JSON.stringify({ ...v1, version: 1 }))
  t.equal((await readSnapshotFiles(dir)).seq, 0, 'a version-1 snapshot covers seq 0')
  await writeFile(mf, JSON.stringify({ ...v1, version: 2 }))
  await rejects(t, load(dir), mf, /log section malformed/)
  await writeFile(mf, JSON.stringify({ ...m, log: { seq: 42 } }))
  t.equal((await readSnapshotFiles(dir)).seq, 42, 'the log position comes back')
  await writeFile(mf, JSON.stringify({ ...m, format: 'something-else' }))
  await rejects(t, load(dir), mf, /not a jacolbert-plaid-snapshot manifest/)
  await writeFile(mf, JSON.stringify({ ...m, arrays: [{ ...m.arrays[0], bytes: m.arrays[0].bytes + 4 }] }))
  await rejects(t, load(dir), mf, /malformed/)
  await writeFile(mf, JSON.stringify({ ...m, arrays: [{ ...m.arrays[0], file: '../escape.bin' }] }))
  await rejects(t, load(dir), mf, /malformed/)
  await writeFile(mf, JSON.stringify(m).slice(0, 200))
  await rejects(t, load(dir), mf, /not valid JSON/)
  await rm(mf)
  await rejects(t, load(dir), mf, /missing/)
})

t.test('recovery: a crash between the two renames leaves only <dir>.old, which loads', async (t) => {
  const dir = fresh()
  await save(fakeState(7), dir)
  await rename(dir, dir + '.old')
  t.same(await recoverSnapshotDir(dir), { present: true, recovered: true })
  sameState(t, await readStateFiles(dir), fakeState(7), 'recovered')
  t.same(await recoverSnapshotDir(fresh()), { present: false, recovered: false })
})

t.test('removeSnapshotDir removes the folder and its siblings', async (t) => {
  const dir = fresh()
  await save(fakeState(1), dir)
  await save(fakeState(2), dir + '.old')
  await removeSnapshotDir(dir)
  t.same(await readdir(dirname(dir)), [])
})

function runChild(dir: string, tag: number, scale: number, killAt: string, killAfterMs?: number): Promise<{ signal: NodeJS.Signals | null; out: string; err: string }> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, String(tag), String(scale), killAt], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      if (killAfterMs !== undefined && out.includes('ready')) setTimeout(() => child.kill('SIGKILL'), killAfterMs)
    })
    child.stderr.on('data', (d: Buffer) => (err += d.toString()))
    child.on('error', rej)
    child.on('exit', (_code, signal) => res({ signal, out, err }))
  })
}

t.test('a process killed at each point of a save leaves a loadable snapshot (previous or new)', async (t) => {
  const points: Array<[string, 'old' | 'new']> = [
    ['file:vectors.bin', 'old'],
    ['file:documents.jsonl', 'old'],
    ['step:files-written', 'old'],
    ['step:old-moved-away', 'old'],
    ['step:new-in-place', 'new'],
    ['step:old-removed', 'new'],
  ]
  for (const [killAt, expect] of points) {
    const dir = fresh()
    await save(fakeState(1), dir)
    const r = await runChild(dir, 2, 1, killAt)
    t.equal(r.signal, 'SIGKILL', `${killAt}: child killed (${r.err.trim().slice(0, 200)})`)
    t.notMatch(r.out, /saved/, `${killAt}: child did not finish`)
    sameState(t, await load(dir), fakeState(expect === 'old' ? 1 : 2), `${killAt}: ${expect} snapshot`)
    // The next save by a live process cleans up the dead child's temp folder and any .old.
    await save(fakeState(3), dir)
    t.same(await readdir(dirname(dir)), ['idx'], `${killAt}: leftovers cleaned by the next save`)
    sameState(t, await load(dir), fakeState(3), `${killAt}: later save`)
  }
})

t.test('kills at arbitrary moments of a large save never lose both snapshots', async (t) => {
  // ~60 MB of arrays; the delays spread the kills over the write, fsync and rename phases.
  for (const delay of [5, 15, 25, 40, 60]) {
    const dir = fresh()
    await save(fakeState(1, 2), dir)
    const r = await runChild(dir, 2, 700, 'none', delay)
    const state = await load(dir)
    const which = state.scalars.tag
    t.ok(which === 1 || which === 2, `kill after ${delay} ms (${r.signal ?? 'finished'}): snapshot ${String(which)} loads`)
    sameState(t, state, fakeState(which === 1 ? 1 : 2, which === 1 ? 2 : 700), `kill after ${delay} ms`)
  }
})

t.test('sanity: a child that is not killed completes the save', async (t) => {
  const dir = fresh()
  const r = await runChild(dir, 4, 1, 'none')
  t.match(r.out, /saved/, r.err)
  sameState(t, await load(dir), fakeState(4), 'child save')
})
