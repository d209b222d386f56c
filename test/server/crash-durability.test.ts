/**
 * Acknowledged writes survive SIGKILL (issue 10, embedded write-ahead log). The real service runs as a child process
 * (the tiny fixture model, DURABILITY=wal, snapshots every second and small log segments, so snapshots, truncation and
 * segment rotation all happen under load). Writers index (mostly precomputed embeddings, some texts through the
 * encoder, some as jobs) and delete concurrently; the child is SIGKILLed at a seeded random moment, restarted, and the
 * whole index is compared with a model of what was acknowledged:
 *  - every acknowledged document is there in its last acknowledged version (metadata `v`), and its vectors are the
 *    ones that version had (exact MaxSim of the version's own vectors, below the training threshold, so exact);
 *  - no acknowledged delete comes back;
 *  - a write in flight at the kill (not acknowledged) may or may not be there; whichever the restart shows is what the
 *    model adopts (it was read back from disk).
 * Each writer owns its ids, so "last acknowledged version" is well defined. KILLS (default 50) and CRASH_SEED tune it.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, readdirSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import t from 'tap'
import { freePort } from '../helpers/free-port.js'
import { IPADIC_DIR, REPO_ROOT, TINY_MODEL_DIR, sharedOnly } from '../helpers/shared.js'

const KILLS = Number(process.env.CRASH_KILLS ?? 50)
// 51 start-ups of the real service (≈2.3 CPU-seconds each, mostly module and encoder loading) do not fit the default
// 300 s per-file limit on a loaded machine
t.setTimeout(Math.max(600_000, KILLS * 40_000))
const SEED = Number(process.env.CRASH_SEED ?? 20261129)
const DIM = 16
const INDEX = 'crash'

function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

/** Deterministic, L2-normalised rows for (id, version). */
function vectorsOf(id: string, v: number): number[][] {
  let h = v * 2654435761
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 16777619)
  const rnd = mulberry32(h)
  const n = 2 + (v % 3)
  const rows: number[][] = []
  for (let r = 0; r < n; r++) {
    const row = Array.from({ length: DIM }, () => rnd() * 2 - 1)
    const norm = Math.hypot(...row)
    rows.push(row.map((x) => Math.fround(x / norm)))
  }
  return rows
}

/** MaxSim of the rows with themselves: what an exact search for a document's own vectors must score. */
function selfScore(rows: number[][]): number {
  let s = 0
  for (const q of rows) {
    let best = -Infinity
    for (const d of rows) {
      let dot = 0
      for (let j = 0; j < DIM; j++) dot += q[j] * d[j]
      best = Math.max(best, dot)
    }
    s += best
  }
  return s
}

/** What we know of one id: its acknowledged state, and an unacknowledged write that may or may not have landed. */
interface DocState {
  acked: number | null // version, or null = absent (never written or deleted)
  maybe: Array<number | null>
  text: boolean
}

async function buildJs(out: string): Promise<string> {
  // Plain node on transpiled files starts several times faster than tsx, which matters for 50 restarts.
  const { build } = await import('esbuild')
  const files: string[] = []
  const walk = (d: string): void => {
    for (const f of readdirSync(d)) {
      const p = join(d, f)
      if (statSync(p).isDirectory()) walk(p)
      else if (p.endsWith('.ts')) files.push(p)
    }
  }
  walk(resolve(REPO_ROOT, 'src'))
  await build({ entryPoints: files, outdir: out, outbase: resolve(REPO_ROOT, 'src'), format: 'esm', platform: 'node', target: 'node20', logLevel: 'error' })
  return join(out, 'main.js')
}

t.test('SIGKILL at random moments loses no acknowledged write', { ...sharedOnly(), timeout: Math.max(600_000, KILLS * 40_000) }, async (t) => {
  const work = t.testdir()
  const dataDir = join(work, 'data')
  mkdirSync(dataDir)
  const main = await buildJs(join(work, 'js'))
  const rnd = mulberry32(SEED)
  const docs = new Map<string, DocState>()
  let version = 0
  let child: ChildProcess | undefined
  let log = ''
  t.teardown(() => void child?.kill('SIGKILL'))

  // a port the OS says is free; if another process takes it before the service listens (tap runs test files in
  // parallel), the service exits with EADDRINUSE and start-up is tried again on a new one
  const start = async (): Promise<string> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await startOn(await freePort())
      } catch (err) {
        if (attempt >= 5 || !/EADDRINUSE/.test((err as Error).message)) throw err
      }
    }
  }

  const startOn = async (port: number): Promise<string> => {
    log = ''
    child = spawn(process.execPath, [main], {
      cwd: REPO_ROOT,
      env: {
        ...process.env, MODEL: TINY_MODEL_DIR, MECAB_DICDIR: IPADIC_DIR, HOST: '127.0.0.1', PORT: String(port), DATA_DIR: dataDir,
        ORT_PROVIDERS: 'cpu', ORT_THREADS: '1', LOG_LEVEL: 'warn', API_KEY: '', SNAPSHOT_INTERVAL_S: '1', WAL_SEGMENT_BYTES: '32768',
        MAX_BATCH_TEXTS: '2', DURABILITY: '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    child.stdout!.on('data', (d: Buffer) => (log += d.toString()))
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()))
    const base = `http://127.0.0.1:${port}`
    for (let i = 0; i < 3000; i++) {
      if (child.exitCode !== null) throw new Error(`the service exited (${child.exitCode}) during start-up:\n${log.slice(-3000)}`)
      if (await fetch(`${base}/readyz`).then((r) => r.status === 200, () => false)) return base
      await new Promise((r) => setTimeout(r, 25))
    }
    throw new Error(`not ready in time:\n${log.slice(-3000)}`)
  }

  const post = async (base: string, path: string, body: unknown): Promise<{ status: number; body: any }> => {
    const r = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    return { status: r.status, body: await r.json() }
  }

  const verify = async (base: string, round: number): Promise<void> => {
    const q = vectorsOf('probe', 1)
    const all = await post(base, '/search', {
      index: INDEX, query_embeddings: q, k: 1000, include: ['metadata'], params: { ndocs: 1_000_000, centroid_score_threshold: -1 },
    })
    const live = new Map<string, number>()
    if (all.status === 200) for (const h of all.body.results) live.set(h.id, h.metadata.v)
    else t.equal(all.body.code, 'INDEX_NOT_FOUND', `round ${round}: search answered ${all.status} ${JSON.stringify(all.body)}`)
    const bad: string[] = []
    for (const [id, d] of docs) {
      const seen = live.has(id) ? live.get(id)! : null
      const allowed = [d.acked, ...d.maybe]
      if (!allowed.includes(seen)) bad.push(`${id}: found ${seen}, acknowledged ${d.acked}, in flight ${JSON.stringify(d.maybe)}`)
      d.acked = seen // what the restart read back from disk is durable from now on
      d.maybe = []
    }
    for (const id of live.keys()) if (!docs.has(id)) bad.push(`${id}: never written`)
    t.same(bad, [], `round ${round}: ${live.size} documents match the acknowledged writes`)
    // vectors: a few embedding documents, searched with their expected version's own vectors
    const sample = [...docs].filter(([, d]) => d.acked !== null && !d.text)
    for (let i = 0; i < 3 && sample.length > 0; i++) {
      const [id, d] = sample[Math.floor(rnd() * sample.length)]
      const rows = vectorsOf(id, d.acked!)
      const r = await post(base, '/search', {
        index: INDEX, query_embeddings: rows, k: 1, include: ['metadata'], filter: { key: id }, params: { ndocs: 1_000_000, centroid_score_threshold: -1 },
      })
      t.equal(r.body.results?.[0]?.id, id, `round ${round}: ${id} found by its vectors`)
      t.ok(Math.abs(r.body.results[0].score - selfScore(rows)) < 1e-4, `round ${round}: ${id} has the vectors of version ${d.acked}`)
    }
  }

  /** One writer: owns ids `${name}-0..n-1`; upserts (1–2 docs), deletes, texts or jobs until stopped. */
  const writer = async (base: string, name: string, n: number, mode: 'vec' | 'text' | 'job', stop: { now: boolean }) => {
    const ids = Array.from({ length: n }, (_, i) => `${name}-${i}`)
    for (const id of ids) if (!docs.has(id)) docs.set(id, { acked: null, maybe: [], text: mode === 'text' })
    while (!stop.now) {
      const pick = ids.filter(() => rnd() < 0.3).slice(0, mode === 'job' ? 5 : 2)
      if (pick.length === 0) pick.push(ids[Math.floor(rnd() * n)])
      const del = mode !== 'job' && rnd() < 0.25
      try {
        if (del) {
          for (const id of pick) docs.get(id)!.maybe.push(null)
          const r = pick.length === 1 && rnd() < 0.5
            ? await fetch(`${base}/indexes/${INDEX}/documents/${pick[0]}`, { method: 'DELETE' }).then(async (x) => ({ status: x.status, body: await x.json() }))
            : await post(base, `/indexes/${INDEX}/delete`, { ids: pick })
          if (r.status === 200 || r.body.code === 'DOCUMENT_NOT_FOUND' || r.body.code === 'INDEX_NOT_FOUND') {
            for (const id of pick) Object.assign(docs.get(id)!, { acked: null, maybe: [] })
          } else throw new Error(`delete answered ${r.status} ${JSON.stringify(r.body)}`)
          continue
        }
        const vs = pick.map(() => ++version)
        pick.forEach((id, i) => docs.get(id)!.maybe.push(vs[i]))
        const documents = pick.map((id, i) =>
          mode === 'text'
            ? { id, text: `文書${id}の版${vs[i]}。東京と京都の話。`, metadata: { v: vs[i], key: id } }
            : { id, embeddings: vectorsOf(id, vs[i]), metadata: { v: vs[i], key: id } })
        if (mode === 'job') {
          const r = await post(base, '/index', { index: INDEX, documents, async: true })
          if (r.status !== 202) throw new Error(`job answered ${r.status} ${JSON.stringify(r.body)}`)
          // a job acknowledges the documents of each durable batch: `done` counts them, in order
          let acked = 0
          for (;;) {
            const j = (await fetch(`${base}/jobs/${r.body.job_id}`).then((x) => x.json())) as { state: string; done: number; error?: unknown }
            for (; acked < j.done; acked++) Object.assign(docs.get(pick[acked])!, { acked: vs[acked], maybe: [] })
            if (j.state === 'succeeded') break
            if (j.state === 'failed') throw new Error(`job failed: ${JSON.stringify(j.error)}`)
            await new Promise((res) => setTimeout(res, 10))
          }
        } else {
          const r = await post(base, '/index', { index: INDEX, documents })
          if (r.status !== 200) throw new Error(`/index answered ${r.status} ${JSON.stringify(r.body)}`)
          pick.forEach((id, i) => Object.assign(docs.get(id)!, { acked: vs[i], maybe: [] }))
        }
      } catch (err) {
        if (stop.now) return // the kill cut this request: its writes stay "in flight"
        throw err
      }
    }
  }

  const started = Date.now()
  for (let round = 0; round <= KILLS; round++) {
    const base = await start()
    await verify(base, round)
    if (round === KILLS) break
    const stop = { now: false }
    const writers = [
      writer(base, 'a', 12, 'vec', stop), writer(base, 'b', 12, 'vec', stop), writer(base, 'c', 12, 'vec', stop),
      writer(base, 't', 6, 'text', stop), writer(base, 'j', 10, 'job', stop),
    ].map((p) => p.catch((err: unknown) => (stop.now ? undefined : Promise.reject(err))))
    // most kills land in the middle of the load; some right away (during the first writes, or a snapshot)
    const delay = rnd() < 0.15 ? rnd() * 50 : 100 + rnd() * 900
    await new Promise((r) => setTimeout(r, delay))
    stop.now = true
    const exited = new Promise((r) => child!.once('exit', r))
    child!.kill('SIGKILL')
    await exited
    await Promise.all(writers)
  }
  // kills often land before the first 1 s snapshot, so segments pile up across rounds; the last, unkilled run snapshots
  // and must then delete every segment its snapshot covers
  const before = readdirSync(join(dataDir, 'wal')).length
  let wal = before
  for (let i = 0; i < 300 && wal > 2; i++) {
    await new Promise((r) => setTimeout(r, 100))
    wal = readdirSync(join(dataDir, 'wal')).filter((n) => n.endsWith('.wal')).length
  }
  t.ok(wal <= 2, `the log was truncated once a snapshot covered it (${before} → ${wal} segment files)`)
  t.comment(`${KILLS} kills, ${version} versions written, ${[...docs.values()].filter((d) => d.acked !== null).length} documents live, ${Math.round((Date.now() - started) / 1000)} s`)
  child!.kill('SIGKILL')
})
