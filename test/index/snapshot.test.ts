import t from 'tap'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AppError } from '../../src/errors.js'
import { createPlaidIndex, type PlaidIndex } from '../../src/index/plaid-index.js'
import { loadIndexSnapshot, saveIndexSnapshot } from '../../src/index/snapshot.js'
import { spawn } from 'node:child_process'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomUnitVectors, realIndex, sameState } from './snapshot-fake-state.js'

const CHILD = resolve(dirname(fileURLToPath(import.meta.url)), 'snapshot-crash-child.ts')

const DIM = 32
const base = await mkdtemp(join(tmpdir(), 'snapshot-'))
t.teardown(() => rm(base, { recursive: true, force: true }))

/** 240 documents of 8–20 vectors with metadata, trained (minTrainVectors is low), then updated and partly deleted. */
function buildIndex(trained: boolean): PlaidIndex {
  const index = createPlaidIndex({ dim: DIM, nbits: 2, minTrainVectors: trained ? 1000 : 1e9, seed: 3 })
  const docs = []
  for (let d = 0; d < 240; d++) {
    const n = 8 + (d % 13)
    docs.push({ id: `doc-${d}`, vectors: randomUnitVectors(n, DIM, d + 1), metadata: d % 4 === 0 ? undefined : { group: d % 3, tag: `t${d % 5}` } })
  }
  index.upsert(docs)
  index.upsert([{ id: 'doc-7', vectors: randomUnitVectors(9, DIM, 999), metadata: { group: 9 } }])
  index.delete(['doc-3', 'doc-100', 'doc-101'])
  return index
}

const queries = Array.from({ length: 15 }, (_, i) => randomUnitVectors(32, DIM, 5000 + i))

for (const trained of [true, false]) {
  t.test(`${trained ? 'trained' : 'untrained'} index: save + load is bit-identical and searches identically`, async (t) => {
    const index = buildIndex(trained)
    t.equal(index.stats().trained, trained)
    const dir = join(base, trained ? 'trained' : 'raw')
    const before = index.exportState()
    const info = await saveIndexSnapshot(index, dir)
    t.ok(info.bytes > 0 && info.durationMs >= 0)
    const loaded = await loadIndexSnapshot(dir)
    sameState(t, loaded.exportState(), before, 'exportState after load')
    // bytes differ by design: the live index has growth slack in its arrays (and an IVF delta), a loaded one is
    // exactly sized; what is stored is the same
    const a = loaded.stats(), b = index.stats()
    t.same({ ...a, bytes: 0, memory: undefined }, { ...b, bytes: 0, memory: undefined }, 'stats')
    t.same([a.memory!.vectors, a.memory!.centroids, a.memory!.documents], [b.memory!.vectors, b.memory!.centroids, b.memory!.documents], 'same stored bytes')
    t.equal(a.memory!.slack, 0, 'a loaded index has no spare capacity')
    t.ok(loaded.stats().bytes <= index.stats().bytes, 'no more memory after load')
    t.same(loaded.ids().sort(), index.ids().sort(), 'ids')
    for (const [i, q] of queries.entries()) {
      for (const params of [{ k: 10 }, { k: 50, ndocs: 4096 }, { k: 5, filter: (m: unknown) => (m as { group?: number } | undefined)?.group === 1 }]) {
        t.same(loaded.search(q, params).hits, index.search(q, params).hits, `query ${i} k=${params.k} same hits and scores`)
      }
    }
    // the loaded index keeps working: updates after load behave like on the original
    for (const ix of [index, loaded]) ix.upsert([{ id: 'new', vectors: randomUnitVectors(12, DIM, 77) }])
    t.same(loaded.search(queries[0], { k: 10 }).hits, index.search(queries[0], { k: 10 }).hits, 'same after a further upsert')
  })
}

t.test('refuses corrupt snapshots and inconsistent states with SNAPSHOT_INVALID', async (t) => {
  const dir = join(base, 'corrupt')
  await saveIndexSnapshot(buildIndex(true), dir)
  const expectInvalid = async (msg: RegExp): Promise<void> => {
    try {
      await loadIndexSnapshot(dir)
      t.fail('expected SNAPSHOT_INVALID')
    } catch (err) {
      t.ok(err instanceof AppError && err.code === 'SNAPSHOT_INVALID', String(err))
      t.match((err as Error).message, msg)
    }
  }
  // checksums pass but the state is inconsistent: the index's own validation is reported as SNAPSHOT_INVALID
  const mf = join(dir, 'manifest.json')
  const m = JSON.parse(await readFile(mf, 'utf8'))
  await writeFile(mf, JSON.stringify({ ...m, index: { ...m.index, scalars: { ...m.index.scalars, nSlots: 5 } } }))
  await expectInvalid(/docStart/)
  await writeFile(mf, JSON.stringify({ ...m, index: { ...m.index, formatVersion: 99 } }))
  await expectInvalid(/version 99/)
  await writeFile(mf, JSON.stringify(m))
  const codes = join(dir, 'codes.bin')
  const buf = await readFile(codes)
  buf[buf.length - 1] ^= 1
  await writeFile(codes, buf)
  await expectInvalid(/codes\.bin: CRC-32 mismatch/)
  await expectInvalid(/codes\.bin/)
  await rm(dir, { recursive: true })
  await expectInvalid(/no snapshot at/)
})

t.test('a process killed while saving a real index leaves the previous or the new index loadable', async (t) => {
  const run = (dir: string, killAt: string): Promise<NodeJS.Signals | null> => new Promise((res, rej) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, '2', '0', killAt], { stdio: 'ignore' })
    child.on('error', rej)
    child.on('exit', (_code, signal) => res(signal))
  })
  for (const [killAt, want] of [['file:codes.bin', 1], ['step:old-moved-away', 1], ['step:new-in-place', 2]] as const) {
    const dir = join(base, `crash-${killAt.replace(/[^a-z]/g, '')}`)
    await saveIndexSnapshot(realIndex(1), dir)
    t.equal(await run(dir, killAt), 'SIGKILL', `${killAt}: killed`)
    const loaded = await loadIndexSnapshot(dir)
    sameState(t, loaded.exportState(), realIndex(want).exportState(), `${killAt}: index ${want}`)
  }
})
