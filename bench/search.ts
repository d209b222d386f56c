/**
 * Search worker bench: throughput and latency of searches through the search worker pool (src/search-workers) for
 * several worker counts, against the in-process search, on an embedding set (`npm run bench:gen`) with its
 * precomputed query embeddings (no encoder involved).
 *
 *   npm run bench:search -- --data DIR [--workers 1,2] [--queries 500] [--k 10] [--rounds 3] [--json FILE]
 *
 * For each worker count W (pools created up front, measured in alternating rounds so that load drift on a shared
 * machine hits every count alike):
 *  - p50/p95 latency: one query at a time through the pool (includes the message round trip);
 *  - throughput: every query, with 2·W searches in flight (closed loop), queries/s;
 *  - event-loop lag while that runs: a 5 ms interval timer's worst and p99 delay.
 * The in-process baseline runs the same queries one at a time on the main thread (its timer lag is the search time).
 */
import { writeFileSync, mkdirSync } from 'node:fs'
import { availableParallelism, cpus, loadavg } from 'node:os'
import { dirname, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { readEmbeddingSet } from '../src/index/embedding-set.js'
import { createPlaidIndex } from '../src/index/plaid-index.js'
import { createSearchPool, type SearchPool } from '../src/search-workers/search-pool.js'

const { values } = parseArgs({
  options: {
    data: { type: 'string' }, workers: { type: 'string', default: '1,2' }, queries: { type: 'string', default: '500' },
    k: { type: 'string', default: '10' }, rounds: { type: 'string', default: '3' }, json: { type: 'string' }, help: { type: 'boolean', short: 'h' },
  },
})
if (values.help || !values.data) {
  process.stdout.write('usage: npm run bench:search -- --data DIR [--workers 1,2] [--queries 500] [--k 10] [--rounds 3] [--json FILE]\n')
  process.exit(values.help ? 0 : 2)
}
const log = (s: string): void => void process.stderr.write(`${s}\n`)
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN
}

function lagProbe(): { stop(): { worst: number; p99: number; ticks: number } } {
  const lags: number[] = []
  let last = performance.now()
  const iv = setInterval(() => {
    const now = performance.now()
    lags.push(Math.max(0, now - last - 5))
    last = now
  }, 5)
  return { stop: () => { clearInterval(iv); return { worst: Math.max(0, ...lags), p99: pct(lags, 0.99), ticks: lags.length } } }
}

async function main(): Promise<void> {
  const set = await readEmbeddingSet(resolve(values.data!))
  const k = Number(values.k)
  const nQ = Math.min(set.nQueries, Number(values.queries))
  const qlen = set.queryLen * set.dim
  const queries = Array.from({ length: nQ }, (_, q) => set.queries.slice(q * qlen, (q + 1) * qlen))
  const counts = values.workers!.split(',').map(Number)
  const rounds = Number(values.rounds)
  log(`search bench: ${set.nDocs} documents, ${set.nTokens} vectors × ${set.dim}, ${nQ} queries, k ${k}; workers ${counts.join(', ')}; ${availableParallelism()} cores (${cpus()[0]?.model}), load ${loadavg().map((x) => x.toFixed(1)).join(' ')}`)

  const t0 = performance.now()
  const index = createPlaidIndex({ dim: set.dim, nbits: 2 })
  const docs = Array.from({ length: set.nDocs }, (_, d) => ({ id: `d${d}`, vectors: set.docs.subarray(set.docOffsets[d]! * set.dim, (set.docOffsets[d]! + set.doclens[d]!) * set.dim) }))
  index.upsert(docs)
  log(`  built in ${((performance.now() - t0) / 1000).toFixed(1)} s`)

  const pools = new Map<number, SearchPool>()
  for (const w of counts) pools.set(w, await createSearchPool({ workers: w }))
  const params = { k }
  // warm-up: publish the version to every pool and let each worker build its centroid arena
  for (const pool of pools.values()) await Promise.all(queries.slice(0, 4 * pool.size).map((q) => pool.search(index, q, params)))
  for (const q of queries.slice(0, 20)) index.search(q, params)

  type Row = { latency: number[]; qps: number[]; lagWorst: number[]; lagP99: number[] }
  const rows = new Map<number | 'in-process', Row>()
  const row = (key: number | 'in-process'): Row => {
    let r = rows.get(key)
    if (!r) rows.set(key, (r = { latency: [], qps: [], lagWorst: [], lagP99: [] }))
    return r
  }
  for (let round = 0; round < rounds; round++) {
    // in-process baseline: one at a time; the event loop is blocked for each whole search
    {
      const r = row('in-process')
      const probe = lagProbe()
      const s = performance.now()
      for (const q of queries) {
        const a = performance.now()
        index.search(q, params)
        r.latency.push(performance.now() - a)
        await new Promise((res) => setImmediate(res))
      }
      r.qps.push(nQ / ((performance.now() - s) / 1000))
      const lag = probe.stop()
      r.lagWorst.push(lag.worst)
      r.lagP99.push(lag.p99)
    }
    for (const w of counts) {
      const pool = pools.get(w)!
      const r = row(w)
      for (const q of queries.slice(0, Math.min(nQ, 100))) {
        const a = performance.now()
        await pool.search(index, q, params)
        r.latency.push(performance.now() - a)
      }
      const probe = lagProbe()
      const s = performance.now()
      let next = 0
      const lane = async (): Promise<void> => {
        while (next < nQ) await pool.search(index, queries[next++]!, params)
      }
      await Promise.all(Array.from({ length: 2 * w }, lane))
      r.qps.push(nQ / ((performance.now() - s) / 1000))
      const lag = probe.stop()
      r.lagWorst.push(lag.worst)
      r.lagP99.push(lag.p99)
    }
    log(`  round ${round + 1}/${rounds}: ${[...rows.entries()].map(([key, r]) => `${key}: ${r.qps[r.qps.length - 1]!.toFixed(1)} q/s`).join(', ')}; load ${loadavg()[0]!.toFixed(1)}`)
  }
  for (const pool of pools.values()) await pool.close()

  const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0)
  const base = counts.includes(1) ? sum(rows.get(1)!.qps) : Number.NaN
  const baseP50 = counts.includes(1) ? pct(rows.get(1)!.latency, 0.5) : Number.NaN
  const out: string[] = []
  out.push(`${set.nDocs} documents (${set.nTokens} vectors), ${nQ} queries × ${rounds} rounds, k ${k}, default parameters; ${availableParallelism()} cores; load avg at the end ${loadavg().map((x) => x.toFixed(1)).join(' ')}`)
  out.push('| searches on | p50 ms | p95 ms | queries/s (mean of rounds) | × 1 worker | p50 vs 1 worker | event-loop lag worst / p99 ms |')
  out.push('| --- | --- | --- | --- | --- | --- | --- |')
  const result: Record<string, unknown> = {}
  for (const [key, r] of rows) {
    const qps = sum(r.qps) / r.qps.length
    const p50 = pct(r.latency, 0.5)
    const label = key === 'in-process' ? 'event loop (SEARCH_WORKERS=0)' : `${key} worker${key === 1 ? '' : 's'}`
    const ratio = key === 'in-process' ? '' : `${(sum(r.qps) / base).toFixed(2)}×`
    const p50ratio = key === 'in-process' ? '' : `${((p50 / baseP50 - 1) * 100).toFixed(0)} %`
    out.push(`| ${label} | ${p50.toFixed(2)} | ${pct(r.latency, 0.95).toFixed(2)} | ${qps.toFixed(1)} | ${ratio} | ${p50ratio} | ${Math.max(...r.lagWorst).toFixed(1)} / ${Math.max(...r.lagP99).toFixed(1)} |`)
    result[String(key)] = { p50, p95: pct(r.latency, 0.95), qps: r.qps, lagWorst: r.lagWorst, lagP99: r.lagP99 }
  }
  process.stdout.write(`${out.join('\n')}\n`)
  if (values.json) {
    mkdirSync(dirname(resolve(values.json)), { recursive: true })
    writeFileSync(resolve(values.json), JSON.stringify({ date: new Date().toISOString(), docs: set.nDocs, vectors: set.nTokens, queries: nQ, k, rounds, cores: availableParallelism(), loadavg: loadavg(), result }, null, 2))
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
