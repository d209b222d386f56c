/**
 * The embedded write-ahead log on real files: round trip of every change kind (vectors bit-exact), group commit,
 * torn tails dropped, damage before the tail refused with file and offset, truncation by snapshot coverage, seqs that
 * never go back. The service-level checks (start-up replay and refusal) are at the end.
 */
import { existsSync, readdirSync, readFileSync, truncateSync, writeFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { Change, ChangeRecord } from '../../src/change-log/change-log.js'
import { createFileWal, FRAME_HEADER_BYTES, readWal, SEGMENT_HEADER_BYTES } from '../../src/change-log/file-wal.js'
import { encodeRecord } from '../../src/change-log/record-codec.js'
import { loadConfig } from '../../src/config.js'
import { runServer } from '../../src/main.js'
import { IPADIC_DIR, TINY_MODEL_DIR, sharedOnly } from '../helpers/shared.js'

const settings = { dim: 4, nbits: 2 as const, seed: 1, minTrainVectors: 1000, kmeansIters: 2 }

function upsert(id: string, x: number, dim = 4): Change {
  const vectors = new Float32Array(dim * 2).map((_, i) => Math.fround(Math.sin(x * 7 + i) / 3))
  return { op: 'upsert', dim, create: { ...settings, dim }, documents: [{ id, vectors, metadata: { x, s: 'メタ' }, text: `本文 ${x}` }] }
}

async function replayAll(dir: string, snapshots = new Map<string, number>()) {
  const wal = createFileWal({ dir })
  const records: ChangeRecord[] = []
  const info = await wal.replay(snapshots, (r) => records.push(r))
  return { wal, records, info }
}

function segments(dir: string): string[] {
  return readdirSync(dir).filter((n) => n.endsWith('.wal')).sort()
}

/** Byte offsets of each frame in a segment file. */
function frameOffsets(path: string): number[] {
  const buf = readFileSync(path)
  const out: number[] = []
  for (let o = SEGMENT_HEADER_BYTES; o < buf.byteLength; o += FRAME_HEADER_BYTES + buf.readUInt32LE(o)) out.push(o)
  return out
}

t.test('round trip of every change kind; concurrent appends share fsyncs (group commit)', async (t) => {
  const dir = t.testdir()
  let syncs = 0
  let synced = 0
  const wal = createFileWal({ dir, observer: { synced: (e) => { syncs++; synced += e.records } } })
  await wal.replay(new Map(), () => t.fail('empty log has no records'))
  const written: Array<{ index: string; changes: Change[] }> = [
    { index: 'a', changes: [{ op: 'create', settings }] },
    { index: 'a', changes: [upsert('d1', 1), upsert('d2', 2)] },
    { index: 'a', changes: [{ op: 'delete', ids: ['d1', 'なし'] }] },
    { index: 'b', changes: [upsert('x', 3, 8)] },
    { index: 'b', changes: [{ op: 'drop' }] },
  ]
  for (let i = 0; i < 59; i++) written.push({ index: 'c', changes: [upsert(`c${i}`, i)] })
  const seqs = await Promise.all(written.map((w) => wal.append(w.index, w.changes)))
  t.same(seqs, written.map((_, i) => i + 1), 'seqs 1..n in append order')
  t.equal(synced, written.length, 'every record was fsynced')
  t.ok(syncs < written.length / 4, `${written.length} concurrent appends needed ${syncs} fsyncs`)
  await wal.close()

  const { records, info, wal: w1 } = await replayAll(dir)
  await w1.close()
  t.equal(info.records, written.length)
  t.same(records, written.map((w, i) => ({ index: w.index, seq: i + 1, changes: w.changes })), 'replay gives the same records, vectors bit-exact')
  const snap = await replayAll(dir, new Map([['c', 40], ['a', 2]]))
  t.same(snap.records.map((r) => r.seq), [3, 4, 5, ...Array.from({ length: 64 - 40 }, (_, i) => 41 + i)], 'only records above what snapshots cover')
  t.equal(await snap.wal.append('a', [{ op: 'delete', ids: ['d2'] }]), 65, 'appends continue after the last seq')
  await snap.wal.close()
})

t.test('seqs continue above what snapshots cover, even with an empty log', async (t) => {
  const dir = t.testdir()
  const { wal } = await replayAll(dir, new Map([['x', 100], ['y', 7]]))
  t.equal(await wal.append('x', [{ op: 'delete', ids: ['a'] }]), 101)
  await wal.close()
})

t.test('a record cut in half at the end of the log is dropped, and the log goes on', async (t) => {
  for (const cut of ['payload', 'header'] as const) {
    const dir = t.testdir()
    const { wal } = await replayAll(dir)
    for (let i = 0; i < 3; i++) await wal.append('a', [upsert(`d${i}`, i)])
    await wal.close()
    const [seg] = segments(dir)
    const path = join(dir, seg)
    const offs = frameOffsets(path)
    const size = statSync(path).size
    const keep = cut === 'payload' ? offs[2] + Math.floor((size - offs[2]) / 2) : offs[2] + 5
    truncateSync(path, keep)
    const r = await replayAll(dir)
    t.same(r.records.map((x) => x.seq), [1, 2], `${cut}: the two whole records replay`)
    t.equal(r.info.tornBytes, keep - offs[2], `${cut}: the torn bytes are reported`)
    t.equal(statSync(path).size, offs[2], `${cut}: the torn tail is cut off the file`)
    t.equal(await r.wal.append('a', [upsert('d9', 9)]), 3, `${cut}: the unacknowledged seq is reused`)
    await r.wal.close()
    const again = await replayAll(dir)
    t.same(again.records.map((x) => x.seq), [1, 2, 3])
    await again.wal.close()
  }
})

t.test('readWal (bulk indexing) reads without changing anything: torn tail left, one index, covered seqs', async (t) => {
  const dir = t.testdir()
  const { wal } = await replayAll(dir)
  await wal.append('a', [upsert('a1', 1)])
  await wal.append('b', [upsert('b1', 2)])
  await wal.append('a', [{ op: 'delete', ids: ['a1'] }])
  await wal.append('a', [{ op: 'drop' }])
  await wal.close()
  const [seg] = segments(dir)
  const path = join(dir, seg)
  const whole = statSync(path).size
  const firstFrame = frameOffsets(path)[0]
  writeFileSync(path, Buffer.concat([readFileSync(path), Buffer.from([9, 9, 9])])) // a torn tail
  const before = readdirSync(dir).sort()
  const seen: ChangeRecord[] = []
  const r = await readWal(dir, new Map([['a', 1]]), (x) => seen.push(x), { index: 'a' })
  t.same(seen.map((x) => [x.index, x.seq, x.changes[0].op]), [['a', 3, 'delete'], ['a', 4, 'drop']], 'records of "a" above its snapshot, in order')
  t.same([...r.maxSeq], [['a', 4], ['b', 2]], 'highest seq per index, covered records included')
  t.equal(r.lastSeq, 4)
  t.equal(r.tornBytes, 3)
  t.equal(statSync(path).size, whole + 3, 'the torn tail is left in place')
  t.same(readdirSync(dir).sort(), before, 'no file created or deleted')
  const all: string[] = []
  await readWal(dir, new Map(), (x) => all.push(`${x.index}${x.seq}`))
  t.same(all, ['a1', 'b2', 'a3', 'a4'], 'without index: every record')
  t.same(await readWal(join(dir, 'absent'), new Map(), () => t.fail('no records')), { records: 0, maxSeq: new Map(), lastSeq: 0, tornBytes: 0 }, 'no folder: an empty log')
  // damage before the tail is refused, as by replay
  const buf = readFileSync(path)
  buf[firstFrame + FRAME_HEADER_BYTES + 3] ^= 0xff
  writeFileSync(path, buf)
  await t.rejects(readWal(dir, new Map(), () => {}), { code: 'CHANGE_LOG_CORRUPT' })
})

t.test('damage before the tail refuses to load, naming the file and byte offset', async (t) => {
  const make = async () => {
    const dir = t.testdir()
    const { wal } = await replayAll(dir)
    for (let i = 0; i < 3; i++) await wal.append('a', [upsert(`d${i}`, i)])
    await wal.close()
    const path = join(dir, segments(dir)[0])
    return { dir, path, offs: frameOffsets(path) }
  }
  const expectCorrupt = async (dir: string, path: string, offset: number, why: RegExp) => {
    const wal = createFileWal({ dir })
    const err = await wal.replay(new Map(), () => {}).then(() => undefined, (e: unknown) => e)
    t.match(err, { code: 'CHANGE_LOG_CORRUPT', details: { file: path, offset } }, `error names ${path} @ ${offset}`)
    t.match((err as Error).message, why)
    t.match((err as Error).message, `${path} is damaged at byte ${offset}`)
  }

  let { dir, path, offs } = await make()
  let buf = readFileSync(path)
  buf[offs[1] + FRAME_HEADER_BYTES + 20] ^= 0x40 // one bit of the middle record's payload
  writeFileSync(path, buf)
  await expectCorrupt(dir, path, offs[1], /record checksum mismatch/)

  ;({ dir, path, offs } = await make())
  buf = readFileSync(path)
  buf[offs[1]] ^= 0x01 // its length field
  writeFileSync(path, buf)
  await expectCorrupt(dir, path, offs[1], /frame header checksum mismatch/)

  ;({ dir, path, offs } = await make())
  buf = readFileSync(path)
  buf[offs[2] + FRAME_HEADER_BYTES + 3] ^= 0xff // the last record, whole but wrong: not a torn write, so refused too
  writeFileSync(path, buf)
  await expectCorrupt(dir, path, offs[2], /record checksum mismatch/)

  // a record cut short in a segment that is not the last one is damage, not a crash's tail
  dir = t.testdir()
  const wal = createFileWal({ dir, segmentBytes: 1024 })
  await wal.replay(new Map(), () => {})
  for (let i = 0; i < 40; i++) await wal.append('a', [upsert(`d${i}`, i)])
  await wal.close()
  const segs = segments(dir)
  t.ok(segs.length >= 3, `${segs.length} segments`)
  path = join(dir, segs[0])
  offs = frameOffsets(path)
  truncateSync(path, offs[offs.length - 1] + 7)
  await expectCorrupt(dir, path, offs[offs.length - 1], /cut short .* not the last one/)
})

t.test('truncate deletes whole segments from the oldest while snapshots cover them', async (t) => {
  const dir = t.testdir()
  const wal = createFileWal({ dir, segmentBytes: 512 })
  await wal.replay(new Map(), () => {})
  for (let i = 1; i <= 30; i++) await wal.append(i % 2 ? 'odd' : 'even', [upsert(`d${i}`, i)])
  const before = segments(dir)
  t.ok(before.length >= 4, `${before.length} segments`)
  // 'even' covered up to 10, 'odd' fully: segments whose even records are all ≤ 10 go, and nothing after one that stays
  await wal.truncate((name) => (name === 'odd' ? Infinity : 10))
  const mid = segments(dir)
  t.ok(mid.length < before.length && mid.length > 1, `${before.length} → ${mid.length} segments`)
  await wal.close()
  let r = await replayAll(dir, new Map([['even', 10], ['odd', 29]]))
  t.same(r.records.map((x) => x.seq), [12, 14, 16, 18, 20, 22, 24, 26, 28, 30], 'every record above the coverage is still there')
  await r.wal.truncate(() => Infinity)
  t.equal(segments(dir).length, 1, 'fully covered: one fresh segment left')
  t.equal(await r.wal.append('even', [{ op: 'delete', ids: ['d2'] }]), 31, 'seqs do not go back after truncation')
  await r.wal.close()
  r = await replayAll(dir)
  t.same(r.records.map((x) => x.seq), [31])
  await r.wal.close()
})

t.test('encoding: an id, text or metadata in any script survives; sizes match', async (t) => {
  const rec: ChangeRecord = { index: 'x', seq: 2 ** 40 + 3, changes: [upsert('𠮷野家-🍣', 5)] }
  const buf = encodeRecord(rec)
  const { decodeRecord } = await import('../../src/change-log/record-codec.js')
  t.same(decodeRecord(buf), rec, 'seq above 2^32 and astral characters round-trip')
})

t.test('service: start-up replays the log after the snapshots; a torn tail is dropped, a damaged record refuses to start', sharedOnly(), async (t) => {
  const dataDir = t.testdir()
  const walDir = join(dataDir, 'wal')
  const wal = createFileWal({ dir: walDir })
  await wal.replay(new Map(), () => {})
  for (let i = 0; i < 5; i++) await wal.append('logged', [upsert(`doc${i}`, i, 16)])
  await wal.close()
  const env = {
    MODEL: TINY_MODEL_DIR, MECAB_DICDIR: IPADIC_DIR, HOST: '127.0.0.1', PORT: '0', DATA_DIR: dataDir, ORT_PROVIDERS: 'cpu',
    ORT_THREADS: '1', LOG_LEVEL: 'silent', SNAPSHOT_INTERVAL_S: '0',
  }
  const path = join(walDir, segments(walDir)[0])
  const offs = frameOffsets(path)
  truncateSync(path, statSync(path).size - 10) // the fifth record, cut by a "crash"

  const s1 = await runServer(loadConfig(env))
  await s1.loaded
  const info = (await (await fetch(`${s1.url}/indexes/logged`)).json()) as { documents: number; applied_seq: number }
  t.equal(info.documents, 4, 'the four whole records were replayed; the torn fifth was dropped')
  t.equal(info.applied_seq, 4)
  const r = await fetch(`${s1.url}/index`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ index: 'logged', documents: [{ id: 'new', embeddings: [Array(16).fill(0.25)] }] }) })
  t.same(((await r.json()) as { seq: number }).seq, 5, 'new writes continue the sequence')
  await s1.shutdown('test')

  // records the snapshots do not cover, then a start with the log switched off: they are folded into snapshots first
  const w1 = createFileWal({ dir: walDir })
  await w1.replay(new Map([['logged', 5]]), () => {})
  for (let i = 0; i < 3; i++) await w1.append('logged', [upsert(`more${i}`, i, 16)])
  await w1.close()
  const off = await runServer(loadConfig({ ...env, DURABILITY: 'snapshot' }))
  await off.loaded
  const offInfo = (await (await fetch(`${off.url}/indexes/logged`)).json()) as { documents: number; applied_seq: number }
  t.same([offInfo.documents, offInfo.applied_seq], [8, 8], 'DURABILITY=snapshot first replays what the log holds')
  await off.shutdown('test')
  t.notOk(existsSync(walDir), 'and removes the log once snapshots hold it')

  // damage a record in the middle of the log (the shutdown snapshot covers them, so replay must still verify them)
  const segs = [1]
  const w2 = createFileWal({ dir: walDir })
  await w2.replay(new Map([['logged', 8]]), () => {})
  for (let i = 0; i < 3; i++) await w2.append('logged', [upsert(`more${i}`, i, 16)])
  await w2.close()
  const last = join(walDir, segments(walDir).at(-1)!)
  const o = frameOffsets(last)
  const buf = readFileSync(last)
  buf[o[1] + FRAME_HEADER_BYTES + 30] ^= 0x10
  writeFileSync(last, buf)
  t.ok(segs.length >= 1)
  const s2 = await runServer(loadConfig(env))
  t.teardown(() => s2.shutdown('test'))
  await t.rejects(s2.loaded, { code: 'CHANGE_LOG_CORRUPT', message: new RegExp(`${last.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is damaged at byte ${o[1]}`) })
})

t.test('segments rotate under concurrent appends without a record landing below its segment base', async (t) => {
  // regression (found by the SIGKILL test): a rotation took its base from seqs already handed to queued appends
  const dir = t.testdir()
  const wal = createFileWal({ dir, segmentBytes: 64 }) // rotate after every group
  await wal.replay(new Map(), () => {})
  const seqs = await Promise.all(Array.from({ length: 100 }, (_, i) => wal.append('a', [upsert(`d${i}`, i)])))
  await wal.truncate(() => 0) // nothing covered: nothing deleted
  await wal.close()
  t.ok(segments(dir).length >= 2, `${segments(dir).length} segments`)
  const r = await replayAll(dir)
  t.same(r.records.map((x) => x.seq), seqs, 'every record replays, in order')
  await r.wal.close()
})
