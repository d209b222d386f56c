/**
 * `npm run bench:replication` — shared mode's replication lag under a steady write load, on a real PostgreSQL
 * (a throw-away server from test/helpers/postgres.ts: needs the postgresql Debian package).
 *
 * Two replicas (each its own index store, applier and postgres change log, as in a service process) in this process:
 * the writer commits upserts at a fixed rate through replica A; replica B follows through LISTEN/NOTIFY and catch-up
 * rounds. Lag of one write = time from A's commit answering to B having applied its seq (the applier's onApplied
 * hook). At most 8 writes are outstanding (beyond that the target rate is not sustained). Reported per rate: commits/s achieved, commit latency p50/p95, lag p50/p95/max, and B's lag gauges at the end.
 * Both replicas share one event loop and the machine with PostgreSQL, so the lag includes that contention.
 *
 * Options: --rates 5,20,50 (writes/s), --seconds S per rate (default 10), --docs N per write (default 4),
 * --vectors N per document (default 16), --dim D (default 128), --json FILE (default bench/results/replication.json).
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { createApplier } from '../src/change-log/applier.js'
import { createChangeWriter } from '../src/change-log/change-writer.js'
import { createPostgresChangeLog } from '../src/change-log/postgres/postgres-change-log.js'
import { createIndexStore } from '../src/index/index-store.js'
import { startPostgres } from '../test/helpers/postgres.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const { values: args } = parseArgs({
  options: {
    rates: { type: 'string', default: '5,20,50' },
    seconds: { type: 'string', default: '10' },
    docs: { type: 'string', default: '4' },
    vectors: { type: 'string', default: '16' },
    dim: { type: 'string', default: '128' },
    json: { type: 'string', default: resolve(ROOT, 'bench', 'results', 'replication.json') },
  },
})
const rates = args.rates!.split(',').map(Number)
const seconds = Number(args.seconds)
const docsPerWrite = Number(args.docs)
const vecsPerDoc = Number(args.vectors)
const DIM = Number(args.dim)
const MAX_INFLIGHT = 8

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(p * s.length))]
}

let seed = 1
const rnd = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1
function unitVectors(n: number): Float32Array {
  const v = new Float32Array(n * DIM)
  for (let i = 0; i < n; i++) {
    let norm = 0
    for (let d = 0; d < DIM; d++) norm += (v[i * DIM + d] = rnd()) ** 2
    const inv = 1 / Math.sqrt(norm)
    for (let d = 0; d < DIM; d++) v[i * DIM + d] *= inv
  }
  return v
}

async function main(): Promise<void> {
  const pg = await startPostgres()
  const url = await pg.createDatabase('bench')
  const appliedAt = new Map<number, number>()
  const replica = async (onApplied?: (seq: number) => void) => {
    const store = createIndexStore({ defaultSettings: { dim: DIM, nbits: 2 } })
    const applier = createApplier(store, { onApplied: (r) => onApplied?.(r.seq) })
    const log = createPostgresChangeLog({ url, appliedSeq: (n) => applier.appliedSeq(n), pollIntervalMs: 1000 })
    await log.replay(store.snapshotSeqs(), (r) => void applier.apply(r, { replay: true }))
    return { store, log, writer: createChangeWriter(log, applier) }
  }
  const a = await replica()
  const b = await replica((seq) => appliedAt.set(seq, performance.now()))
  const settings = a.store.newIndexSettings()
  const rows: Array<Record<string, number>> = []
  let docId = 0
  for (const rate of rates) {
    const committedAt = new Map<number, number>()
    const commitMs: number[] = []
    const interval = 1000 / rate
    const trainingsBefore = b.store.get('bench')?.stats().drift.trainings ?? 0
    const start = performance.now()
    let next = start
    const inflight: Promise<void>[] = []
    let pending = 0
    let errors = 0
    while (performance.now() - start < seconds * 1000) {
      const documents = Array.from({ length: docsPerWrite }, () => ({ id: `d${docId++ % 5000}`, vectors: unitVectors(vecsPerDoc), metadata: { rate } }))
      const t0 = performance.now()
      // open loop, but at most MAX_INFLIGHT writes outstanding: beyond that the rate is simply not sustained
      while (pending >= MAX_INFLIGHT) await new Promise((r) => setTimeout(r, 1))
      pending++
      inflight.push(a.writer.commit('bench', [{ op: 'upsert', dim: DIM, create: settings, documents }]).then(({ seq }) => {
        const t1 = performance.now()
        committedAt.set(seq, t1)
        commitMs.push(t1 - t0)
      }, () => void errors++).finally(() => void pending--))
      next += interval
      const wait = next - performance.now()
      if (wait > 0) await new Promise((r) => setTimeout(r, wait))
    }
    await Promise.all(inflight)
    const elapsed = (performance.now() - start) / 1000
    const last = Math.max(...committedAt.keys())
    const deadline = performance.now() + 30_000
    while (b.store.appliedSeq('bench') < last && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5))
    const lags = [...committedAt].map(([seq, t]) => (appliedAt.get(seq) ?? NaN) - t).filter((x) => Number.isFinite(x)).map((x) => Math.max(0, x))
    const st = b.log.status().indexes.find((i) => i.name === 'bench')
    const row = {
      target_writes_per_s: rate,
      writes_per_s: committedAt.size / elapsed,
      docs_per_s: (committedAt.size * docsPerWrite) / elapsed,
      commit_p50_ms: pct(commitMs, 0.5),
      commit_p95_ms: pct(commitMs, 0.95),
      lag_p50_ms: pct(lags, 0.5),
      lag_p95_ms: pct(lags, 0.95),
      lag_max_ms: pct(lags, 1),
      lag_samples: lags.length,
      missing: committedAt.size - lags.length,
      final_lag_changes: st?.lagChanges ?? NaN,
      errors,
      // index (re)trainings on B during this phase: k-means over every vector, which stalls both replicas here
      trainings: (b.store.get('bench')?.stats().drift.trainings ?? 0) - trainingsBefore,
      documents: b.store.get('bench')?.stats().documents ?? 0,
    }
    rows.push(row)
    console.log(
      `rate ${String(rate).padStart(4)}/s: ${row.writes_per_s.toFixed(1)} writes/s (${row.docs_per_s.toFixed(0)} docs/s), commit p50 ${row.commit_p50_ms.toFixed(1)} ms ` +
        `p95 ${row.commit_p95_ms.toFixed(1)} ms | lag on B p50 ${row.lag_p50_ms.toFixed(1)} ms p95 ${row.lag_p95_ms.toFixed(1)} ms max ${row.lag_max_ms.toFixed(1)} ms ` +
        `(${row.lag_samples} writes, ${row.missing} not applied, ${errors} failed); B's lag at the end: ${row.final_lag_changes} changes; index ${row.documents} docs, ${row.trainings} retrainings`,
    )
  }
  await Promise.all([a.log.close(), b.log.close()])
  await pg.close()
  mkdirSync(dirname(args.json!), { recursive: true })
  writeFileSync(args.json!, JSON.stringify({ date: new Date().toISOString(), docsPerWrite, vecsPerDoc, dim: DIM, seconds, rows }, null, 2))
  console.log(`wrote ${args.json}`)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
