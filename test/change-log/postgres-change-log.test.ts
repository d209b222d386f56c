/**
 * The postgres change-log adapter with the real applier and index store, against a real PostgreSQL: replicas in one
 * process (each its own store, applier, writer and adapter), concurrent writers on overlapping ids, a replica built
 * from scratch, drop and re-create, and the database going away and coming back.
 */
import t from 'tap'
import { createApplier } from '../../src/change-log/applier.js'
import { createChangeWriter, type ChangeWriter } from '../../src/change-log/change-writer.js'
import { createPostgresChangeLog, type PostgresChangeLog } from '../../src/change-log/postgres/postgres-change-log.js'
import { createIndexStore, type IndexStore } from '../../src/index/index-store.js'
import { postgresOnly, startPostgres } from '../helpers/postgres.js'
import { contents, until } from '../helpers/replica-state.js'
import { unitVectors } from '../helpers/unit-vectors.js'

const DIM = 8
let seed = 99
const rnd = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32)
const vectors = (n: number): Float32Array => unitVectors(n, DIM, rnd)

interface Replica { store: IndexStore; log: PostgresChangeLog; writer: ChangeWriter }

async function replica(url: string, opts: { applyWaitMs?: number } = {}): Promise<Replica> {
  const store = createIndexStore({ defaultSettings: { dim: DIM, nbits: 2 } })
  const applier = createApplier(store)
  const log = createPostgresChangeLog({ url, appliedSeq: (n) => applier.appliedSeq(n), pollIntervalMs: 200, applyWaitMs: opts.applyWaitMs ?? 10_000 })
  await log.replay(store.snapshotSeqs(), (r) => void applier.apply(r, { replay: true }))
  return { store, log, writer: createChangeWriter(log, applier) }
}



t.test('postgres change log', postgresOnly(), async (t) => {
  const pg = await startPostgres()
  t.teardown(() => pg.close())
  const url = await pg.createDatabase('adapter')
  const settings = createIndexStore({ defaultSettings: { dim: DIM, nbits: 2 } }).newIndexSettings()
  const a = await replica(url)
  const b = await replica(url)
  t.teardown(() => Promise.all([a.log.close(), b.log.close()]))

  t.test('concurrent writers on two replicas, overlapping ids: both converge on the same documents and versions', async (t) => {
    const acked = new Map<string, { seq: number; v: string | null }>()
    const note = (id: string, seq: number, v: string | null): void => {
      const cur = acked.get(id)
      if (!cur || seq > cur.seq) acked.set(id, { seq, v })
    }
    await Promise.all([a, b].map(async (r, w) => {
      for (let i = 0; i < 40; i++) {
        const ids = [...new Set([0, 1, 2].map(() => `d${Math.floor(rnd() * 30)}`))]
        if (i % 4 === 3) {
          const { seq, results } = await r.writer.commit('x', [{ op: 'delete', ids }])
          t.equal(results.length, 1)
          for (const id of ids) note(id, seq, null)
        } else {
          const v = `${w}-${i}`
          const documents = ids.map((id) => ({ id, vectors: vectors(2 + (i % 3)), metadata: { v } }))
          const { seq } = await r.writer.commit('x', [{ op: 'upsert', dim: DIM, create: settings, documents }])
          for (const id of ids) note(id, seq, v)
        }
      }
    }))
    const head = Math.max(...[...acked.values()].map((x) => x.seq))
    await until(() => a.store.appliedSeq('x') >= head && b.store.appliedSeq('x') >= head)
    const expected = Object.fromEntries([...acked].filter(([, x]) => x.v !== null).map(([id, x]) => [id, x.v]).sort())
    t.same(contents(a.store, 'x'), expected, 'replica a = the acknowledged state')
    t.same(contents(b.store, 'x'), expected, 'replica b = the acknowledged state')
    t.equal(a.store.appliedSeq('x'), 80, 'every commit took one seq: 80 writes, seqs 1..80')
    await until(() => a.log.status().indexes.some((s) => s.name === 'x' && s.lagChanges === 0))
    t.match(a.log.status(), { databaseUp: true, indexes: [{ name: 'x', appliedSeq: 80, headSeq: 80, lagChanges: 0, lagSeconds: 0 }] })
  })

  t.test('a new replica without snapshots builds every index from the database', async (t) => {
    const c = await replica(url)
    t.teardown(() => c.log.close())
    t.same(contents(c.store, 'x'), contents(a.store, 'x'), 'same documents as the others')
    t.equal(c.store.appliedSeq('x'), a.store.appliedSeq('x'))
    const st = c.log.status()
    t.equal(st.catchUp.active, false)
    t.equal(st.catchUp.done, st.catchUp.total, 'catch-up progress complete')
    t.ok(st.catchUp.total >= Object.keys(contents(a.store, 'x')!).length, 'tombstones and documents counted')
  })

  t.test('drop and re-create on one replica: the other follows, with only the new documents', async (t) => {
    const d = await a.writer.commit('x', [{ op: 'drop' }])
    await until(() => b.store.get('x') === undefined)
    const { seq } = await a.writer.commit('x', [{ op: 'upsert', dim: DIM, create: settings, documents: [{ id: 'fresh', vectors: vectors(3), metadata: { v: 'new' } }] }])
    t.ok(seq > d.seq, 'seqs keep increasing across drop and re-create')
    await until(() => b.store.appliedSeq('x') >= seq)
    t.same(contents(b.store, 'x'), { fresh: 'new' })
    // a write on b right after a's: b must first hold a's change, then apply its own
    const r2 = await b.writer.commit('x', [{ op: 'upsert', dim: DIM, create: settings, documents: [{ id: 'fresh', vectors: vectors(3), metadata: { v: 'newer' } }] }])
    t.same(r2.results, [{ op: 'upsert', added: [], updated: ['fresh'] }])
    await until(() => a.store.appliedSeq('x') >= r2.seq)
    t.same(contents(a.store, 'x'), { fresh: 'newer' })
  })

  t.test('database down: commits refused with CHANGE_LOG_UNAVAILABLE, memory still searchable, then everything resumes', async (t) => {
    await pg.stop('immediate')
    await t.rejects(a.writer.commit('x', [{ op: 'delete', ids: ['fresh'] }]), { code: 'CHANGE_LOG_UNAVAILABLE', statusCode: 503 })
    t.equal(a.log.status().databaseUp, false, 'status says the database is down')
    t.same(contents(a.store, 'x'), { fresh: 'newer' }, 'the index is untouched and still readable')
    const q = a.store.get('x')!.search(vectors(2), { k: 5, centroidScoreThreshold: -1 })
    t.same(q.hits.map((h) => h.id), ['fresh'], 'search served from memory')
    await pg.start()
    const { seq } = await a.writer.commit('x', [{ op: 'delete', ids: ['fresh'] }])
    t.equal(a.log.status().databaseUp, true)
    await until(() => b.store.appliedSeq('x') >= seq && b.log.status().databaseUp)
    t.same(contents(b.store, 'x'), {}, 'the other replica reconnected and applied the delete')
  })
})
