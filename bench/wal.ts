/**
 * `npm run bench:wal` — indexing throughput with the write-ahead log on (DURABILITY=wal) vs off (snapshot), in the
 * same run, over real HTTP on loopback. The service is the real app (buildApp + index store + change writer) with
 * precomputed embeddings, so the figures are the write path's (validation, log append + fdatasync, index upsert), not
 * the encoder's. Modes alternate per round so machine load drifts hit both alike.
 *
 * Per (mode, concurrency): C clients each send /index requests of B documents (R rows × 128 dims, L2-normalised,
 * base64 float32)
 * for S seconds → documents/s, requests/s, latency p50/p99, and for the log: fsyncs, records per fsync (group
 * commit) and fsync p50 from its own metrics.
 *
 * Options: --seconds S (default 5), --concurrency 1,8,32, --docs B (per request, default 8), --rows R (default 32),
 * --rounds N (default 2), --json FILE (default bench/results/wal.json).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { createApplier } from '../src/change-log/applier.js'
import { createChangeWriter } from '../src/change-log/change-writer.js'
import { openChangeLog } from '../src/change-log/open-change-log.js'
import { loadConfig } from '../src/config.js'
import { createIndexStore } from '../src/index/index-store.js'
import { compileFilter } from '../src/index/metadata-filter.js'
import { buildApp } from '../src/server/app.js'
import { createMetrics } from '../src/server/plugins/metrics.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const DIM = 128

const { values: o } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '1,8,32' },
    docs: { type: 'string', default: '8' },
    rows: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '2' },
    json: { type: 'string', default: join(ROOT, 'bench', 'results', 'wal.json') },
  },
})
const seconds = Number(o.seconds), B = Number(o.docs), R = Number(o.rows), rounds = Number(o.rounds)
const levels = o.concurrency!.split(',').map(Number)

/** R × DIM L2-normalised rows as base64 little-endian float32 (the compact form a client sending vectors uses). */
function rowsFor(seed: number): string {
  let s = seed >>> 0
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296) * 2 - 1
  const out = new Float32Array(R * DIM)
  for (let r = 0; r < R; r++) {
    let n = 0
    for (let j = 0; j < DIM; j++) n += (out[r * DIM + j] = rnd()) ** 2
    for (let j = 0; j < DIM; j++) out[r * DIM + j] /= Math.sqrt(n)
  }
  return Buffer.from(out.buffer).toString('base64')
}
// a pool of request bodies, serialised once, so the client's cost stays out of the measurement's way
const POOL = Array.from({ length: 64 }, (_, i) =>
  JSON.stringify({
    index: 'bench',
    documents: Array.from({ length: B }, (_, j) => ({ id: `d${(i * B + j) % 4000}`, embeddings: rowsFor(i * B + j + 1), shape: [R, DIM], metadata: { j } })),
  }))

async function quantile(metricText: string, name: string): Promise<{ count: number; sum: number; p50: number }> {
  const buckets: Array<[number, number]> = []
  let count = 0, sum = 0
  for (const line of metricText.split('\n')) {
    if (line.startsWith(`${name}_bucket{le="`)) {
      const le = line.slice(name.length + 12, line.indexOf('"', name.length + 12))
      buckets.push([le === '+Inf' ? Infinity : Number(le), Number(line.split(' ').pop())])
    } else if (line.startsWith(`${name}_count`)) count = Number(line.split(' ').pop())
    else if (line.startsWith(`${name}_sum`)) sum = Number(line.split(' ').pop())
  }
  const p50 = buckets.find(([, c]) => c >= count / 2)?.[0] ?? NaN
  return { count, sum, p50 }
}

interface Row {
  mode: string; round: number; concurrency: number; docsPerS: number; reqPerS: number; p50ms: number; p99ms: number
  fsyncs?: number; recordsPerFsync?: number; fsyncP50ms?: number
}

async function runOne(mode: 'wal' | 'snapshot', concurrency: number, round: number): Promise<Row> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-wal-'))
  const config = loadConfig({ DATA_DIR: dataDir, DURABILITY: mode, LOG_LEVEL: 'silent', SNAPSHOT_INTERVAL_S: '0', MAX_BATCH_TEXTS: '256' })
  const metrics = createMetrics(undefined, { defaultMetrics: false })
  const store = createIndexStore({ dataDir, defaultSettings: { dim: DIM, nbits: 2 } })
  const log = openChangeLog(config, { observer: metrics.changeLogObserver })
  const applier = createApplier(store)
  await log.replay(new Map(), () => {})
  const encoder = { modelName: 'none', dim: DIM, provider: 'none', queueDepth: () => 0, async encodeQueries() { throw new Error('unused') }, async encodeDocuments() { throw new Error('unused') }, async close() {} }
  const app = buildApp({ config, encoder, indexStore: store, writer: createChangeWriter(log, applier), compileFilter, metrics })
  const url = await app.listen({ host: '127.0.0.1', port: 0 })
  const lat: number[] = []
  let docs = 0, next = 0
  const until = performance.now() + seconds * 1000
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < until) {
      const body = POOL[next++ % POOL.length]
      const t0 = performance.now()
      const r = await fetch(`${url}/index`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
      if (r.status !== 200) throw new Error(`/index answered ${r.status}: ${await r.text()}`)
      await r.arrayBuffer()
      lat.push(performance.now() - t0)
      docs += B
    }
  }))
  const elapsed = (performance.now() - until) / 1000 + seconds
  const text = await metrics.registry.metrics()
  await app.close()
  await log.close()
  rmSync(dataDir, { recursive: true, force: true })
  lat.sort((a, b) => a - b)
  const row: Row = {
    mode, round, concurrency, docsPerS: docs / elapsed, reqPerS: lat.length / elapsed,
    p50ms: lat[Math.floor(lat.length / 2)], p99ms: lat[Math.min(lat.length - 1, Math.floor(lat.length * 0.99))],
  }
  if (mode === 'wal') {
    const f = await quantile(text, 'jacolbert_wal_fsync_seconds')
    const g = await quantile(text, 'jacolbert_wal_group_records')
    Object.assign(row, { fsyncs: f.count, recordsPerFsync: g.sum / Math.max(1, g.count), fsyncP50ms: f.p50 * 1000 })
  }
  return row
}

const rows: Row[] = []
for (let round = 1; round <= rounds; round++) {
  for (const c of levels) {
    for (const mode of round % 2 ? (['snapshot', 'wal'] as const) : (['wal', 'snapshot'] as const)) {
      const r = await runOne(mode, c, round)
      rows.push(r)
      process.stderr.write(`round ${round} ${mode} c=${c}: ${r.docsPerS.toFixed(0)} docs/s\n`)
    }
  }
}
const fmt = (x: number | undefined, d = 1) => (x === undefined ? '' : x.toFixed(d))
console.log(`\n${B} documents × ${R} rows × ${DIM} dims per request, ${seconds} s per run, ${rounds} rounds (means)\n`)
console.log('| concurrency | log | docs/s | requests/s | p50 ms | p99 ms | fsyncs | records/fsync | fsync p50 ms | wal/off |')
console.log('|---|---|---|---|---|---|---|---|---|---|')
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
const summary = []
for (const c of levels) {
  const off = rows.filter((r) => r.concurrency === c && r.mode === 'snapshot')
  const on = rows.filter((r) => r.concurrency === c && r.mode === 'wal')
  for (const [name, rs] of [['off', off], ['wal', on]] as const) {
    const s = {
      concurrency: c, log: name, docsPerS: mean(rs.map((r) => r.docsPerS)), reqPerS: mean(rs.map((r) => r.reqPerS)),
      p50ms: mean(rs.map((r) => r.p50ms)), p99ms: mean(rs.map((r) => r.p99ms)),
      fsyncs: name === 'wal' ? mean(rs.map((r) => r.fsyncs!)) : undefined,
      recordsPerFsync: name === 'wal' ? mean(rs.map((r) => r.recordsPerFsync!)) : undefined,
      fsyncP50ms: name === 'wal' ? mean(rs.map((r) => r.fsyncP50ms!)) : undefined,
    }
    summary.push(s)
    const ratio = name === 'wal' ? mean(on.map((r) => r.docsPerS)) / mean(off.map((r) => r.docsPerS)) : undefined
    console.log(`| ${c} | ${name} | ${fmt(s.docsPerS, 0)} | ${fmt(s.reqPerS, 0)} | ${fmt(s.p50ms)} | ${fmt(s.p99ms)} | ${fmt(s.fsyncs, 0)} | ${fmt(s.recordsPerFsync)} | ${fmt(s.fsyncP50ms, 2)} | ${fmt(ratio, 2)} |`)
  }
}
mkdirSync(dirname(o.json!), { recursive: true })
writeFileSync(o.json!, JSON.stringify({ date: new Date().toISOString(), docsPerRequest: B, rows: R, dim: DIM, seconds, rounds, runs: rows, summary }, null, 2))
console.log(`\nwrote ${o.json}`)
