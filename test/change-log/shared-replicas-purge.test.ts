/**
 * Tombstone purge end to end: two real service processes share one real PostgreSQL (TOMBSTONE_RETENTION_S=0,
 * TOMBSTONE_PURGE_INTERVAL_S=1, so the services' own timers purge). Replica b stops (SIGTERM: snapshot) while replica
 * a deletes; the tombstones are purged and the table shrinks; b restarts from its snapshot, below the purge, and must
 * serve exactly a's documents. And `jacolbert index --data-dir` refuses b's DATA_DIR (it belongs to shared mode).
 */
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import pg from 'pg'
import { postgresSkipReason, startPostgres } from '../helpers/postgres.js'
import { IPADIC_DIR, REPO_ROOT, TINY_MODEL_DIR, hasShared } from '../helpers/shared.js'
import { cli } from '../helpers/cli.js'
import { freePort } from '../helpers/free-port.js'

t.setTimeout(600_000)
const DIM = 16
const skip = postgresSkipReason || (hasShared ? false : 'the tiny fixture model (../shared) is needed')

let seed = 777
const rnd = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32)
function rows(n: number): number[][] {
  return Array.from({ length: n }, () => {
    const v = Array.from({ length: DIM }, () => rnd() * 2 - 1)
    const norm = Math.hypot(...v)
    return v.map((x) => x / norm)
  })
}
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

interface Replica { name: string; base: string; port: number; dataDir: string; child?: ChildProcess; log: string }

t.test('two replicas: deletes, purge by the service, a stopped replica restarts below the purge and converges', { skip, timeout: 540_000 }, async (t) => {
  const server = await startPostgres()
  t.teardown(() => server.close())
  const url = await server.createDatabase('purge')
  const db = new pg.Client({ connectionString: url })
  await db.connect()
  t.teardown(() => db.end())
  const root = mkdtempSync(join(tmpdir(), 'jacolbert-purge-'))
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  const reps: Replica[] = []
  for (const name of ['a', 'b']) {
    const port = await freePort()
    reps.push({ name, port, base: `http://127.0.0.1:${port}`, dataDir: join(root, name), log: '' })
  }
  const [a, b] = reps as [Replica, Replica]
  t.teardown(() => {
    for (const r of reps) r.child?.kill('SIGKILL')
    const dir = process.env.SHARED_REPLICAS_LOG_DIR
    if (dir) for (const r of reps) writeFileSync(join(dir, `purge-replica-${r.name}.log`), r.log)
  })
  const start = async (r: Replica): Promise<void> => {
    const child = spawn(process.execPath, ['--import', 'tsx', resolve(REPO_ROOT, 'src', 'main.ts')], {
      cwd: REPO_ROOT,
      env: {
        ...process.env, MODEL: TINY_MODEL_DIR, MECAB_DICDIR: IPADIC_DIR, HOST: '127.0.0.1', PORT: String(r.port), DATA_DIR: r.dataDir,
        ORT_PROVIDERS: 'cpu', ORT_THREADS: '1', LOG_LEVEL: 'info', API_KEY: '', DATABASE_URL: url, DATABASE_POLL_MS: '300',
        SNAPSHOT_INTERVAL_S: '0', TOMBSTONE_RETENTION_S: '0', TOMBSTONE_PURGE_INTERVAL_S: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    child.stdout!.on('data', (d: Buffer) => (r.log = (r.log + d.toString()).slice(-200_000)))
    child.stderr!.on('data', (d: Buffer) => (r.log = (r.log + d.toString()).slice(-200_000)))
    r.child = child
    const deadline = Date.now() + 240_000
    for (;;) {
      if (child.exitCode !== null) throw new Error(`replica ${r.name} exited:\n${r.log.slice(-3000)}`)
      if (await fetch(`${r.base}/readyz`).then((x) => x.status === 200, () => false)) return
      if (Date.now() > deadline) throw new Error(`replica ${r.name} not ready:\n${r.log.slice(-3000)}`)
      await sleep(100)
    }
  }
  const stop = async (r: Replica): Promise<void> => {
    const c = r.child!
    const exited = new Promise((res) => c.once('exit', res))
    c.kill('SIGTERM')
    await exited
    r.child = undefined
  }
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const post = async (r: Replica, path: string, body: unknown): Promise<any> => {
    const res = await fetch(`${r.base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    const json = await res.json()
    if (res.status !== 200) throw new Error(`${path} on ${r.name}: ${res.status} ${JSON.stringify(json)}`)
    return json
  }
  /** id -> metadata.v, by an exhaustive search at or after `minSeq`. */
  const contents = async (r: Replica, minSeq: number): Promise<Record<string, unknown>> => {
    const res = await post(r, '/search', {
      index: 'p', query_embeddings: rows(2), k: 1000, include: ['metadata'], min_seq: minSeq, params: { ndocs: 1_000_000, centroid_score_threshold: -1 },
    })
    return Object.fromEntries((res.results as Array<{ id: string; metadata: { v: unknown } }>).map((h) => [h.id, h.metadata.v]).sort(([x], [y]) => String(x).localeCompare(String(y))))
  }
  const count = async (where: string): Promise<number> =>
    Number((await db.query(`SELECT count(*)::int AS n FROM jacolbert_documents WHERE index_name = 'p' ${where}`)).rows[0].n)

  await Promise.all([start(a), start(b)])
  const ids = Array.from({ length: 30 }, (_, i) => `doc${i}`)
  let seq = 0
  seq = (await post(a, '/index', { index: 'p', documents: ids.map((id) => ({ id, embeddings: rows(3), metadata: { v: 'v1' } })) })).seq
  const all = await contents(b, seq)
  t.equal(Object.keys(all).length, 30, 'b follows a')
  await stop(b)

  // while b is down: deletes (one id comes back), so there are tombstones, which a's timer purges
  const deleted = ids.slice(0, 12)
  for (let i = 0; i < deleted.length; i += 4) seq = (await post(a, '/indexes/p/delete', { ids: deleted.slice(i, i + 4) })).seq
  seq = (await post(a, '/index', { index: 'p', documents: [{ id: 'doc3', embeddings: rows(2), metadata: { v: 'v2' } }, { id: 'doc29', embeddings: rows(2), metadata: { v: 'v2' } }] })).seq
  const want = await contents(a, seq)
  t.equal(Object.keys(want).length, 30 - 12 + 1)
  const deadline = Date.now() + 60_000
  while ((await count('AND deleted')) > 0) {
    if (Date.now() > deadline) throw new Error(`tombstones not purged:\n${a.log.slice(-3000)}`)
    await sleep(200)
  }
  t.equal(await count(''), 19, 'the table holds only the 19 live documents (the 11 tombstones are gone)')
  t.match(a.log, /purged tombstones older than the retention/)

  // b's DATA_DIR belongs to shared mode: bulk folder mode refuses it
  const file = join(root, 'bulk.jsonl')
  writeFileSync(file, `${JSON.stringify({ id: 'x', text: '東京の空' })}\n`)
  const bulk = await cli(['index', file, '--index', 'p', '--data-dir', b.dataDir, '--model', TINY_MODEL_DIR, '--dic', IPADIC_DIR, '--providers', 'cpu', '--threads', '1', '--quiet'], { DATABASE_URL: '' })
  t.equal(bulk.status, 1)
  t.match(bulk.stderr, /\[SHARED_MODE_DATA_DIR\]/)

  await start(b)
  t.same(await contents(b, seq), want, 'b restarted from its older snapshot serves exactly a\'s documents')
  t.match(b.log, /reconciled with the live documents/)
  // and both keep following
  seq = (await post(b, '/indexes/p/delete', { ids: ['doc20'] })).seq
  delete want.doc20
  t.same(await contents(a, seq), want, 'a delete through b reaches a')
  t.same(await contents(b, seq), want)
  await Promise.all([stop(a), stop(b)])
})
