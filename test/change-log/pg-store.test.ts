/** The PostgreSQL store against a real server: schema migration under concurrency, seq order = commit order, results. */
import t from 'tap'
import pg from 'pg'
import { roundToFloat16 } from '../../src/change-log/postgres/float16.js'
import { createPgStore } from '../../src/change-log/postgres/pg-store.js'
import { postgresOnly, startPostgres, type PgServer } from '../helpers/postgres.js'

const settings = { dim: 4, nbits: 2 as const, seed: 1, minTrainVectors: 64, kmeansIters: 4 }
const vec = (x: number): Float32Array => Float32Array.from([x, 1 - x, 0.5, -0.25])

t.test('pg store', postgresOnly(), async (t) => {
  const server: PgServer = await startPostgres()
  t.teardown(() => server.close())

  t.test('five replicas migrating at once all succeed, and migrating again is a no-op', async (t) => {
    const url = await server.createDatabase('migrate_race')
    const stores = Array.from({ length: 5 }, () => createPgStore({ url }))
    await Promise.all(stores.map((s) => s.migrate()))
    await stores[0].migrate()
    const c = new pg.Client({ connectionString: url })
    await c.connect()
    const tables = (await c.query(`SELECT tablename FROM pg_tables WHERE tablename LIKE 'jacolbert_%' ORDER BY 1`)).rows.map((r) => r.tablename)
    t.same(tables, ['jacolbert_documents', 'jacolbert_indexes', 'jacolbert_meta'])
    await c.query(`UPDATE jacolbert_meta SET value = '99' WHERE key = 'schema_version'`)
    await c.end()
    await t.rejects(stores[0].migrate(), { code: 'CHANGE_LOG_UNAVAILABLE', message: /version 99, newer/ })
    await Promise.all(stores.map((s) => s.close()))
  })

  t.test('appends: results from the database, float16 rounding in place, tombstones, drop and re-create keep seqs increasing', async (t) => {
    const url = await server.createDatabase('appends')
    const s = createPgStore({ url })
    t.teardown(() => s.close())
    await s.migrate()
    const docs = [{ id: 'a', vectors: vec(0.1), metadata: { lang: 'ja' } }, { id: 'b', vectors: vec(0.2), text: '東京' }]
    const r1 = await s.append('x', [{ op: 'upsert', dim: 4, create: settings, documents: docs }])
    t.same(r1, { seq: 1, results: [{ op: 'upsert', added: ['a', 'b'], updated: [] }] })
    t.not(docs[0].vectors[0], Math.fround(0.1), 'vectors rounded to float16 in place')
    t.equal(docs[0].vectors[0], 0.0999755859375)
    const r2 = await s.append('x', [{ op: 'upsert', dim: 4, create: settings, documents: [{ id: 'b', vectors: vec(0.3) }, { id: 'c', vectors: vec(0.4) }] }])
    t.same(r2.results, [{ op: 'upsert', added: ['c'], updated: ['b'] }])
    const r3 = await s.append('x', [{ op: 'delete', ids: ['a', 'zz'] }])
    t.same(r3, { seq: 3, results: [{ op: 'delete', deleted: ['a'], missing: ['zz'] }] })
    const r4 = await s.append('x', [{ op: 'delete', ids: ['zz'] }])
    t.same(r4, { seq: 4, results: [{ op: 'delete', deleted: [], missing: ['zz'] }] }, 'an append that changes nothing still takes a seq')
    await t.rejects(s.append('x', [{ op: 'upsert', dim: 8, create: { ...settings, dim: 8 }, documents: [{ id: 'q', vectors: new Float32Array(8) }] }]), { code: 'DIMENSION_MISMATCH' })
    await t.rejects(s.append('x', [{ op: 'create', settings }]), { code: 'INDEX_EXISTS' })

    const [row] = await s.listIndexes()
    t.match(row, { name: 'x', headSeq: 4, createdSeq: 1, dropped: false, settings })
    t.equal(row.lexical, undefined, 'created without lexical settings (as before lexical search): none stored')
    const all = await s.readRange('x', row.incarnation, 0, 10)
    t.same(all.map((r) => [r.id, r.seq, r.deleted]), [['b', 2, false], ['c', 2, false], ['a', 3, true]], 'one row per document at its latest seq, in seq order')
    t.same([...all[0].vectors!], [...roundToFloat16(vec(0.3))], 'vectors read back as stored (float16)')
    t.same(all[0].metadata, undefined)
    t.same((await s.readRange('x', row.incarnation, 0, 1)), [], 'nothing at or below seq 1 any more')
    t.equal(all[0].text, undefined)
    t.equal(await s.pageEnd('x', 0, 1), 2, 'a page never splits a seq')
    t.equal(await s.countAfter('x', 2), 1)

    const d = await s.append('x', [{ op: 'drop' }])
    t.same(d, { seq: 5, results: [{ op: 'drop', dropped: true }] })
    t.same(await s.readRange('x', row.incarnation, 0, 10), [], 'documents gone with the drop')
    const lexical = { k1: 0.9, b: 0.3, terms: 'surface' as const }
    const again = await s.append('x', [{ op: 'create', settings, lexical }])
    t.same(again, { seq: 6, results: [{ op: 'create', created: true }] })
    const [row2] = await s.listIndexes()
    t.match(row2, { headSeq: 6, createdSeq: 6, dropped: false })
    t.same(row2.settings, settings, 'the PLAID settings come back without the lexical member')
    t.same(row2.lexical, lexical, 'the lexical settings of the create come back')
    t.not(row2.incarnation, row.incarnation, 'a new incarnation')
    await s.append('x', [{ op: 'upsert', dim: 4, create: settings, documents: [{ id: 'n', vectors: vec(0.5) }] }])
    t.same(await s.readRange('x', row.incarnation, 0, 100), [], 'rows are read only for the incarnation asked for')
    t.same((await s.readRange('x', row2.incarnation, 0, 100)).map((r) => r.id), ['n'])
  })

  t.test('concurrent writers of one index: seq order is commit order, so a reader following "seq > applied" misses nothing', async (t) => {
    const url = await server.createDatabase('ordering')
    const writers = Array.from({ length: 4 }, () => createPgStore({ url, poolSize: 4 }))
    const reader = createPgStore({ url })
    await writers[0].migrate()
    await writers[0].append('o', [{ op: 'create', settings }])
    const seen = new Map<string, number>()
    let applied = 0
    let stop = false
    const follow = (async () => {
      while (!stop || applied < (await reader.listIndexes())[0].headSeq) {
        const [row] = await reader.listIndexes()
        const rows = await reader.readRange('o', row.incarnation, applied, row.headSeq)
        for (const r of rows) seen.set(r.id, r.seq)
        applied = row.headSeq
        await new Promise((r) => setTimeout(r, 1))
      }
    })()
    const acked: string[] = []
    await Promise.all(writers.map(async (w, k) => {
      for (let i = 0; i < 40; i++) {
        const id = `w${k}-${i}`
        await w.append('o', [{ op: 'upsert', dim: 4, create: settings, documents: [{ id, vectors: vec(i / 40) }] }])
        acked.push(id)
      }
    }))
    stop = true
    await follow
    t.equal(acked.length, 160)
    t.same([...seen.keys()].sort(), [...acked].sort(), 'the follower saw every acknowledged write, reading only after its applied seq')
    const seqs = [...seen.values()].sort((a, b) => a - b)
    t.same(seqs, Array.from({ length: 160 }, (_, i) => i + 2), 'seqs contiguous per index')
    await Promise.all([...writers, reader].map((s) => s.close()))
  })

  t.test('database down: statements fail with CHANGE_LOG_UNAVAILABLE, and work again after a restart', async (t) => {
    const url = await server.createDatabase('downtime')
    const s = createPgStore({ url, connectTimeoutMs: 1000 })
    t.teardown(() => s.close())
    await s.migrate()
    await s.append('d', [{ op: 'create', settings }])
    await server.stop('immediate')
    await t.rejects(s.append('d', [{ op: 'delete', ids: ['x'] }]), { code: 'CHANGE_LOG_UNAVAILABLE', statusCode: 503, details: { reason: 'database_unreachable' } })
    await t.rejects(s.listIndexes(), { code: 'CHANGE_LOG_UNAVAILABLE' })
    await server.start()
    const r = await s.append('d', [{ op: 'delete', ids: ['x'] }])
    t.equal(r.seq, 2, 'the failed append left no trace')
  })
})
