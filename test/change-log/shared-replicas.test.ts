/**
 * Shared mode end to end: three real service processes (the tiny fixture model; mostly precomputed embeddings, so the
 * encoder is cheap) share one real PostgreSQL. Concurrent upserts and deletes go through all three, on overlapping ids;
 * mid-load one replica is SIGKILLed and restarted, and PostgreSQL itself is stopped (crash-like) and restarted.
 * A write that gets no 200 is retried until it does (upserts and deletes are idempotent). Afterwards:
 * - no acknowledged write is missing: for every id, the write with the highest acknowledged seq decides whether it is
 *   present and which version (metadata) it has, and every replica agrees with that, via exhaustive searches;
 * - `min_seq` gives read-your-writes across replicas: a document written on one replica is found at once on another.
 */
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { postgresSkipReason, startPostgres } from '../helpers/postgres.js'
import { IPADIC_DIR, REPO_ROOT, TINY_MODEL_DIR, hasShared } from '../helpers/shared.js'
import { freePort } from '../helpers/free-port.js'

// the whole file may take longer than tap's default per-file limit on a loaded machine
t.setTimeout(600_000)

const DIM = 16
const INDEX = 'shared'
const skip = postgresSkipReason || (hasShared ? false : 'the tiny fixture model (../shared) is needed')


let seed = 12345
function rnd(): number {
  seed = (seed * 1103515245 + 12345) >>> 0
  return seed / 2 ** 32
}
function unitRows(n: number): number[][] {
  const rows: number[][] = []
  for (let i = 0; i < n; i++) {
    const v = Array.from({ length: DIM }, () => rnd() * 2 - 1)
    const norm = Math.hypot(...v)
    rows.push(v.map((x) => x / norm))
  }
  return rows
}
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

interface Replica {
  name: string
  port: number
  base: string
  dataDir: string
  child: ChildProcess | undefined
  log: string
}

t.test('three replicas on one PostgreSQL: concurrent writes, a SIGKILLed replica, a PostgreSQL restart', { skip, timeout: 540_000 }, async (t) => {
  const pg = await startPostgres()
  t.teardown(() => pg.close())
  const url = await pg.createDatabase('replicas')
  const root = mkdtempSync(join(tmpdir(), 'jacolbert-replicas-'))
  t.teardown(() => rmSync(root, { recursive: true, force: true }))

  const replicas: Replica[] = []
  for (const name of ['a', 'b', 'c']) {
    const port = await freePort()
    replicas.push({ name, port, base: `http://127.0.0.1:${port}`, dataDir: join(root, name), child: undefined, log: '' })
  }
  const start = (r: Replica): void => {
    const child = spawn(process.execPath, ['--import', 'tsx', resolve(REPO_ROOT, 'src', 'main.ts')], {
      cwd: REPO_ROOT,
      env: {
        ...process.env, MODEL: TINY_MODEL_DIR, MECAB_DICDIR: IPADIC_DIR, HOST: '127.0.0.1', PORT: String(r.port), DATA_DIR: r.dataDir,
        ORT_PROVIDERS: 'cpu', ORT_THREADS: '1', LOG_LEVEL: 'info', API_KEY: '', DATABASE_URL: url, DATABASE_POLL_MS: '300',
        REPLICA_WAIT_MS: '4000', SNAPSHOT_INTERVAL_S: '3',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    child.stdout!.on('data', (d: Buffer) => (r.log = (r.log + d.toString()).slice(-200_000)))
    child.stderr!.on('data', (d: Buffer) => (r.log = (r.log + d.toString()).slice(-200_000)))
    r.child = child
  }
  t.teardown(() => {
    for (const r of replicas) r.child?.kill('SIGKILL')
    // for debugging: SHARED_REPLICAS_LOG_DIR=/tmp/x keeps each replica's log
    const dir = process.env.SHARED_REPLICAS_LOG_DIR
    if (dir) for (const r of replicas) writeFileSync(join(dir, `replica-${r.name}.log`), r.log)
  })
  const t0 = Date.now()
  const phase = (what: string): void => void t.comment(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`)
  const waitReady = async (r: Replica): Promise<void> => {
    // generous: three cold starts (tsx + model) at once take minutes on a loaded 2-core machine
    const deadline = Date.now() + 240_000
    while (Date.now() < deadline) {
      if (r.child?.exitCode !== null && r.child?.exitCode !== undefined) throw new Error(`replica ${r.name} exited:\n${r.log.slice(-3000)}`)
      const ok = await fetch(`${r.base}/readyz`).then((x) => x.status === 200, () => false)
      if (ok) return
      await sleep(100)
    }
    throw new Error(`replica ${r.name} not ready:\n${r.log.slice(-3000)}`)
  }
  const post = async (r: Replica, path: string, body: unknown): Promise<{ status: number; json: any }> => { // eslint-disable-line @typescript-eslint/no-explicit-any
    const res = await fetch(`${r.base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(30_000) })
    return { status: res.status, json: await res.json().catch(() => undefined) }
  }

  replicas.forEach(start)
  await Promise.all(replicas.map(waitReady))
  phase('three replicas ready')

  // ---- concurrent load with failures ----
  const IDS = 120
  const OPS = 30
  /** id -> the acknowledged write with the highest seq */
  const latest = new Map<string, { seq: number; version: string | null }>()
  const ack = (id: string, seq: number, version: string | null): void => {
    const cur = latest.get(id)
    if (!cur || seq > cur.seq) latest.set(id, { seq, version })
  }
  let maxSeq = 0
  const failures: Record<string, number> = {}
  /** Retries until a 200 (connection refused, 503 while PostgreSQL or the replica is down). */
  const until200 = async (r: Replica, path: string, body: unknown): Promise<any> => { // eslint-disable-line @typescript-eslint/no-explicit-any
    let last = ''
    for (let attempt = 0; ; attempt++) {
      let status = 0
      try {
        const res = await post(r, path, body)
        if (res.status === 200) return res.json
        status = res.status
        const key = `${res.status} ${res.json?.code ?? ''}`
        last = `${key}: ${res.json?.message ?? ''}`
        failures[key] = (failures[key] ?? 0) + 1
        if (res.status < 500) throw new Error(`${path} answered ${res.status}: ${JSON.stringify(res.json)}`)
      } catch (err) {
        if (status >= 400 && status < 500) throw err
        failures['connection'] = (failures['connection'] ?? 0) + (status === 0 ? 1 : 0)
        if (status === 0) last = String(err)
      }
      if (attempt > 400) throw new Error(`${path} on ${r.name} never succeeded; last answer ${last}; its log:\n${r.log.slice(-4000)}`)
      await sleep(100)
    }
  }
  let progress = 0
  const writer = async (r: Replica, w: number): Promise<void> => {
    for (let i = 0; i < OPS; i++) {
      progress++
      if (i % 5 === 4) {
        const ids = Array.from({ length: 2 }, () => `d${Math.floor(rnd() * IDS)}`).filter((x, k, a) => a.indexOf(x) === k)
        const res = await until200(r, `/indexes/${INDEX}/delete`, { ids }).catch(async (err) => {
          // the index may not exist yet on this replica's first ops
          if (/INDEX_NOT_FOUND/.test(String(err))) return undefined
          throw err
        })
        if (res) {
          for (const id of ids) ack(id, res.seq, null)
          maxSeq = Math.max(maxSeq, res.seq)
        }
        continue
      }
      const n = 1 + Math.floor(rnd() * 4)
      const ids = Array.from({ length: n }, () => `d${Math.floor(rnd() * IDS)}`).filter((x, k, a) => a.indexOf(x) === k)
      const version = `${r.name}${w}-${i}`
      const documents = ids.map((id, k) =>
        k === 0 && i % 7 === 0
          ? { id, text: `東京は日本の首都である。版 ${version}`, metadata: { v: version } }
          : { id, embeddings: unitRows(2 + Math.floor(rnd() * 5)), metadata: { v: version } },
      )
      const res = await until200(r, '/index', { index: INDEX, documents })
      t.ok(Number.isSafeInteger(res.seq) && res.seq > 0, 'an /index response carries its seq') || t.fail(JSON.stringify(res))
      for (const id of ids) ack(id, res.seq, version)
      maxSeq = Math.max(maxSeq, res.seq)
    }
  }
  const chaos = (async () => {
    const total = OPS * replicas.length
    while (progress < total / 3) await sleep(20)
    const victim = replicas[1]
    victim.child!.kill('SIGKILL')
    t.comment(`SIGKILLed replica ${victim.name} after ${progress} ops`)
    await sleep(800)
    start(victim)
    await waitReady(victim)
    t.comment(`replica ${victim.name} back after ${progress} ops`)
    while (progress < (2 * total) / 3) await sleep(20)
    await pg.stop('immediate')
    t.comment(`PostgreSQL stopped (immediate) after ${progress} ops`)
    // while it is down: still ready (searches are served from memory), and /readyz and the metric say the database is down
    const a = replicas[0]
    let ready: { status: number; json: { database?: string } } = { status: 0, json: {} }
    for (let i = 0; i < 100 && ready.json.database !== 'down'; i++) {
      const res = await fetch(`${a.base}/readyz`)
      ready = { status: res.status, json: (await res.json()) as { database?: string } }
      if (ready.json.database !== 'down') await sleep(50)
    }
    t.same(ready, { status: 200, json: { ...ready.json, database: 'down' } }, '/readyz stays 200 and reports the database down')
    t.match(await (await fetch(`${a.base}/metrics`)).text(), /^jacolbert_database_up 0$/m, 'jacolbert_database_up 0')
    const during = await post(a, '/search', { index: INDEX, query_embeddings: unitRows(2), k: 3 })
    t.equal(during.status, 200, 'searches are served while the database is down')
    await sleep(1000)
    await pg.start()
    t.comment(`PostgreSQL restarted after ${progress} ops`)
  })()
  const started = Date.now()
  await Promise.all([...replicas.map((r, w) => writer(r, w)), chaos])
  t.comment(`load: ${OPS * 3} writes in ${((Date.now() - started) / 1000).toFixed(1)} s; non-200 answers on the way: ${JSON.stringify(failures)}`)
  t.ok((failures['503 CHANGE_LOG_UNAVAILABLE'] ?? 0) + (failures['connection'] ?? 0) > 0, 'the failures really happened (writes were refused while down)')

  phase('load done')
  // ---- every replica converges on exactly the acknowledged state ----
  const expected = [...latest].filter(([, v]) => v.version !== null).map(([id, v]) => [id, v.version] as const).sort()
  const exhaustive = (r: Replica, minSeq: number) =>
    post(r, '/search', {
      index: INDEX, query_embeddings: unitRows(3), k: 1000, min_seq: minSeq, include: ['metadata'],
      params: { ncells: 65536, centroid_score_threshold: -1, ndocs: 1_000_000 },
    })
  for (const r of replicas) {
    const res = await exhaustive(r, maxSeq)
    t.equal(res.status, 200, `replica ${r.name} reaches seq ${maxSeq}`)
    const got = (res.json.results as Array<{ id: string; metadata?: { v: string } }>).map((h) => [h.id, h.metadata?.v ?? null] as const).sort()
    t.same(got, expected, `replica ${r.name}: every acknowledged document, in its last acknowledged version, and nothing deleted`)
  }

  phase('replicas compared')
  // ---- read your writes across replicas ----
  for (let k = 0; k < 6; k++) {
    const w = replicas[k % 3]
    const rd = replicas[(k + 1) % 3]
    const id = `ryw-${k}`
    const res = await until200(w, '/index', { index: INDEX, documents: [{ id, embeddings: unitRows(3), metadata: { ryw: k } }] })
    const found = await post(rd, '/search', {
      index: INDEX, query_embeddings: unitRows(2), k: 10, min_seq: res.seq, filter: { ryw: k },
      params: { ncells: 65536, centroid_score_threshold: -1, ndocs: 1_000_000 },
    })
    t.equal(found.status, 200)
    t.same(found.json.results.map((h: { id: string }) => h.id), [id], `written on ${w.name} (seq ${res.seq}), read at once on ${rd.name} with min_seq`)
  }
  const batch = await post(replicas[0], '/search/batch', { index: INDEX, queries: ['東京'], k: 1, min_seq: maxSeq })
  t.equal(batch.status, 200, '/search/batch accepts min_seq')
  const ahead = await post(replicas[2], '/search', { index: INDEX, query: '東京', k: 1, min_seq: 10 ** 9 })
  t.equal(ahead.status, 503)
  t.equal(ahead.json.code, 'REPLICA_LAGGING', 'a min_seq never reached: 503 REPLICA_LAGGING after REPLICA_WAIT_MS')

  phase('read-your-writes checked')
  // ---- the metrics say where each replica stands ----
  const metrics = await (await fetch(`${replicas[1].base}/metrics`)).text()
  t.match(metrics, /^jacolbert_database_up 1$/m, 'database up')
  t.match(metrics, new RegExp(`^jacolbert_replica_lag_changes\\{index="${INDEX}"\\} 0$`, 'm'), 'no lag once caught up')
  t.match(metrics, new RegExp(`^jacolbert_replica_applied_seq\\{index="${INDEX}"\\} \\d+$`, 'm'))
  t.match(replicas[1].log, /"msg":"caught up with the database"/, 'the restarted replica logged its catch-up')
})
