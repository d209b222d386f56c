/**
 * Purging deletes' tombstones from the PostgreSQL change log, with the real applier, index stores (one with snapshots
 * on disk) and a real PostgreSQL: a writer replica deletes while another replica is down with an older snapshot; the
 * tombstones are purged (the documents table shrinks); the lagging replica restarts from its snapshot, below the
 * purge, and must end with exactly the writer's documents (it reconciles with the live ids, since the deletes have
 * no rows any more). Also: the retention is respected, a replica built from scratch after a purge is exact, and a
 * replica that is running but behind (its follower paused) converges the same way.
 */
import t from 'tap'
import pg from 'pg'
import { createApplier } from '../../src/change-log/applier.js'
import { createChangeWriter, type ChangeWriter } from '../../src/change-log/change-writer.js'
import { createPostgresChangeLog, type PostgresChangeLog, type PostgresLogger } from '../../src/change-log/postgres/postgres-change-log.js'
import { createIndexStore, type IndexStore } from '../../src/index/index-store.js'
import { postgresOnly, startPostgres } from '../helpers/postgres.js'
import { contents, until } from '../helpers/replica-state.js'
import { unitVectors } from '../helpers/unit-vectors.js'

const DIM = 8
let seed = 4242
const rnd = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32)
const vectors = (n: number): Float32Array => unitVectors(n, DIM, rnd)

interface Replica { store: IndexStore; log: PostgresChangeLog; writer: ChangeWriter; messages: string[] }

async function replica(url: string, opts: { dataDir?: string; retentionS?: number } = {}): Promise<Replica> {
  const store = createIndexStore({ ...(opts.dataDir ? { dataDir: opts.dataDir } : {}), defaultSettings: { dim: DIM, nbits: 2 } })
  await store.restoreAll()
  const applier = createApplier(store)
  const messages: string[] = []
  const logger: PostgresLogger = { info: (_o, m) => void messages.push(m ?? ''), warn: (_o, m) => void messages.push(m ?? ''), error: (_o, m) => void messages.push(m ?? '') }
  const log = createPostgresChangeLog({
    url, appliedSeq: (n) => applier.appliedSeq(n), pollIntervalMs: 200, logger, tombstoneRetentionS: opts.retentionS ?? 0, purgeIntervalMs: 0,
  })
  await log.replay(store.snapshotSeqs(), (r) => void applier.apply(r, { replay: true }))
  return { store, log, writer: createChangeWriter(log, applier), messages }
}



t.test('tombstone purge with a lagging replica', postgresOnly(), async (t) => {
  const server = await startPostgres()
  t.teardown(() => server.close())
  const url = await server.createDatabase('purge')
  const db = new pg.Client({ connectionString: url })
  await db.connect()
  t.teardown(() => db.end())
  const rows = async (where = ''): Promise<number> =>
    Number((await db.query(`SELECT count(*)::int AS n FROM jacolbert_documents WHERE index_name = 'x' ${where}`)).rows[0].n)

  const settings = createIndexStore({ defaultSettings: { dim: DIM, nbits: 2 } }).newIndexSettings()
  const upsert = (w: ChangeWriter, ids: string[], v: string) =>
    w.commit('x', [{ op: 'upsert', dim: DIM, create: settings, documents: ids.map((id) => ({ id, vectors: vectors(2 + (id.length % 3)), metadata: { v } })) }])
  const del = (w: ChangeWriter, ids: string[]) => w.commit('x', [{ op: 'delete', ids }])
  const range = (a: number, b: number): string[] => Array.from({ length: b - a }, (_, i) => `d${a + i}`)

  const a = await replica(url)
  t.teardown(() => a.log.close())
  const bDir = t.testdir()
  let b = await replica(url, { dataDir: bDir })

  // 1. both replicas hold d0..d39; b snapshots and goes down
  for (let i = 0; i < 40; i += 10) await upsert(a.writer, range(i, i + 10), 'v1')
  await until(() => JSON.stringify(contents(b.store, 'x')) === JSON.stringify(contents(a.store, 'x')))
  await b.store.saveAll()
  const bSnapshotSeq = b.store.snapshotSeqs().get('x')!
  await b.log.close()
  t.ok(bSnapshotSeq > 0, `b's snapshot covers seq ${bSnapshotSeq}`)

  // 2. while b is down: deletes, a delete then re-add, an add then delete, updates
  for (let i = 0; i < 20; i += 5) await del(a.writer, range(i, i + 5))
  await upsert(a.writer, ['d5', 'd30'], 'v2') // d5 deleted above, back with a new version; d30 updated
  await upsert(a.writer, range(40, 45), 'v2')
  await del(a.writer, ['d40', 'd31', 'no-such-id'])
  const want = contents(a.store, 'x')!
  t.equal(Object.keys(want).length, 40 - 20 + 1 + 5 - 2, 'the writer holds what it should')
  t.equal(want.d5, 'v2')

  // 3. purge: a retention longer than the tombstones' age purges nothing; retention 0 purges them all
  const tombstones = await rows('AND deleted')
  const before = await rows()
  t.equal(tombstones, 20 - 1 + 2, 'one tombstone per deleted id still deleted (d5 was re-added)')
  const keep = await replica(url, { retentionS: 3600 })
  t.equal(await keep.log.purgeTombstones(), 0, 'tombstones younger than the retention are kept')
  await keep.log.close()
  t.equal(await rows('AND deleted'), tombstones)
  t.equal(await a.log.purgeTombstones(), tombstones, 'every tombstone purged')
  t.equal(await rows('AND deleted'), 0, 'no tombstone left')
  t.equal(await rows(), before - tombstones, `the table shrank from ${before} to ${before - tombstones} rows`)
  const purgedSeq = Number((await db.query(`SELECT purged_seq FROM jacolbert_indexes WHERE name = 'x'`)).rows[0].purged_seq)
  t.ok(purgedSeq > bSnapshotSeq, `purged_seq ${purgedSeq} is above b's snapshot (${bSnapshotSeq})`)
  t.equal(await a.log.purgeTombstones(), 0, 'a second purge finds nothing')

  // 4. b restarts from its snapshot: below the purge, so it reconciles, and ends with exactly the writer's documents
  const restored = createIndexStore({ dataDir: bDir, defaultSettings: { dim: DIM, nbits: 2 } })
  await restored.restoreAll()
  t.same(Object.keys(contents(restored, 'x')!).length, 40, 'the snapshot alone still holds the deleted documents')
  b = await replica(url, { dataDir: bDir })
  t.teardown(() => b.log.close())
  t.same(contents(b.store, 'x'), want, 'the lagging replica has exactly the writer\'s documents')
  t.ok(b.messages.some((m) => /reconciled/.test(m)), 'and says it reconciled')
  t.equal(b.store.appliedSeq('x'), a.store.appliedSeq('x'), 'at the same seq')

  // 5. a replica built from nothing after the purge
  const fresh = await replica(url)
  t.same(contents(fresh.store, 'x'), want, 'a new replica builds the same documents')
  t.notOk(fresh.messages.some((m) => /reconciled/.test(m)), 'without needing to reconcile')
  await fresh.log.close()

  // 6. a replica that is running but behind (its follower is closed while the writer deletes and purges; a new follower
  //    on the same store resumes from what it applied, as after a network partition)
  const cDir = t.testdir()
  let c = await replica(url, { dataDir: cDir })
  const cStore = c.store
  await until(() => JSON.stringify(contents(cStore, 'x')) === JSON.stringify(contents(a.store, 'x')))
  await c.log.close()
  await del(a.writer, ['d20', 'd21'])
  await upsert(a.writer, ['d20'], 'v3')
  await del(a.writer, ['d22'])
  t.equal(await a.log.purgeTombstones(), 2, 'the new tombstones purged (d21, d22)')
  const applier = createApplier(cStore)
  const cLog = createPostgresChangeLog({ url, appliedSeq: (n) => applier.appliedSeq(n), pollIntervalMs: 200, tombstoneRetentionS: 0, purgeIntervalMs: 0 })
  t.teardown(() => cLog.close())
  await cLog.replay(new Map(), (r) => void applier.apply(r, { replay: true }))
  c = { ...c, log: cLog }
  t.same(contents(cStore, 'x'), contents(a.store, 'x'), 'the running replica that fell behind converges too')
  t.equal(contents(cStore, 'x')!.d20, 'v3')

  // 7. and everyone keeps following new writes
  await del(a.writer, ['d23'])
  await upsert(a.writer, ['d99'], 'v4')
  await until(() => JSON.stringify(contents(b.store, 'x')) === JSON.stringify(contents(a.store, 'x')) &&
    JSON.stringify(contents(cStore, 'x')) === JSON.stringify(contents(a.store, 'x')))
  t.pass('both replicas follow the writer after the purge')

  // 8. a database written by the previous version (no purged_seq column, no tombstone index) is upgraded at start-up
  const oldUrl = await server.createDatabase('previous')
  const w = await replica(oldUrl)
  await upsert(w.writer, ['o1', 'o2'], 'v1')
  await del(w.writer, ['o1'])
  await w.log.close()
  const oldDb = new pg.Client({ connectionString: oldUrl })
  await oldDb.connect()
  t.teardown(() => oldDb.end())
  await oldDb.query('DROP INDEX jacolbert_tombstones')
  await oldDb.query('ALTER TABLE jacolbert_indexes DROP COLUMN purged_seq')
  const upgraded = await replica(oldUrl)
  t.teardown(() => upgraded.log.close())
  t.same(contents(upgraded.store, 'x'), { o2: 'v1' }, 'the upgraded database serves its documents')
  const cols = await oldDb.query(`SELECT 1 FROM information_schema.columns WHERE table_name = 'jacolbert_indexes' AND column_name = 'purged_seq'`)
  t.equal(cols.rows.length, 1, 'purged_seq added')
  const idx = await oldDb.query(`SELECT 1 FROM pg_indexes WHERE indexname = 'jacolbert_tombstones'`)
  t.equal(idx.rows.length, 1, 'tombstone index added')
  t.equal(await upgraded.log.purgeTombstones(), 1, 'and its tombstone can be purged')
  t.equal((await oldDb.query(`SELECT value FROM jacolbert_meta WHERE key = 'schema_version'`)).rows[0].value, '1', 'schema version unchanged (additive)')
})
