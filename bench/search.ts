/**
 * Search worker bench: throughput and latency of searches through the search worker pool (src/search-workers) for
 * several worker counts, against the in-process search, on an embedding set (`npm run bench:gen`) with its
 * precomputed query embeddings (no encoder involved).
 *
 *   npm run bench:search -- --data DIR [--workers 1,2] [--queries 500] [--latency-queries 100] [--k 10] [--rounds 3]
 *                           [--warmup 50] [--in-flight 2] [--snapshot DIR] [--json FILE]
 *
 * Configurations: the in-process search (SEARCH_WORKERS=0) and one pool per worker count W, all created and warmed up
 * front (--warmup searches per worker, 2·W in flight so that every worker of a pool gets its share, and as many
 * in-process), then measured in rounds. Each round runs every configuration once, in an order rotated by one per round
 * (the first configuration after another's throughput phase or after the in-process run is not always the same one),
 * so load drift on a shared machine hits every configuration alike. Per configuration and round:
 *  - latency: the first --latency-queries queries, one at a time (the same queries for every configuration); through a
 *    pool this is the round trip, and the worker's own search time (`workerMs`) is recorded beside it, so the table
 *    splits a pool's latency into search time in the worker and messaging/scheduling overhead;
 *  - throughput: every query (--queries), queries/s; a pool keeps --in-flight·W searches in flight (closed loop,
 *    default 2 per worker: one running, one queued, so a worker need not wait for the main thread between searches),
 *    the in-process search runs them one at a time;
 *  - CPU: the process's CPU time (every thread: main, workers, GC) per search, one at a time and in the throughput
 *    phase, and the cores the throughput phase used (CPU time / wall time). On a shared machine wall times include
 *    waiting for a core; CPU time per search shows whether a configuration does more work, cores used whether the
 *    machine gave it the cores (other tenants also slow the CPU time itself somewhat: caches, memory bandwidth);
 *    on Linux also the main thread's share of the throughput phase's CPU (dispatch, messages, mapping slots to ids),
 *    and the time the process's threads waited runnable for a core per search, one at a time (schedstat):
 *    the part of a latency that is the machine's other load, not the search or the messaging;
 *  - event-loop lag during the throughput phase: a 5 ms interval timer's worst and p99 delay (in-process: the timer
 *    waits for each whole search).
 * Throughput ratios are reported two ways: the ratio of the mean queries/s over the rounds, and the median of the
 * per-round ratios (each round's W-worker figure over the same round's 1-worker figure: both measured minutes apart at
 * most, which is what makes a ratio meaningful on a shared machine); every per-round ratio is printed too.
 * --snapshot DIR loads an index snapshot of the same data (e.g. bench:matrix's cache) instead of building it, to
 * iterate quickly; the default builds it (upsert of every document, as the service would).
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus, loadavg } from 'node:os'
import { dirname, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { readEmbeddingSet } from '../src/index/embedding-set.js'
import { createPlaidIndex, type PlaidIndex } from '../src/index/plaid-index.js'
import { loadIndexSnapshot } from '../src/index/snapshot.js'
import { createSearchPool, type SearchPool } from '../src/search-workers/search-pool.js'

const USAGE = 'usage: npm run bench:search -- --data DIR [--workers 1,2] [--queries 500] [--latency-queries 100] [--k 10] [--rounds 3] [--warmup 50] [--in-flight 2] [--snapshot DIR] [--json FILE]\n'
const { values } = parseArgs({
  options: {
    data: { type: 'string' }, workers: { type: 'string', default: '1,2' }, queries: { type: 'string', default: '500' },
    'latency-queries': { type: 'string', default: '100' }, k: { type: 'string', default: '10' }, rounds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '50' }, 'in-flight': { type: 'string', default: '2' }, snapshot: { type: 'string' }, json: { type: 'string' }, help: { type: 'boolean', short: 'h' },
  },
})
if (values.help || !values.data) {
  process.stdout.write(USAGE)
  process.exit(values.help ? 0 : 2)
}
const posInt = (name: string, v: string | undefined, min = 1): number => {
  const n = Number(v)
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`--${name} must be an integer ≥ ${min}, got ${v}\n${USAGE}`)
    process.exit(2)
  }
  return n
}
const log = (s: string): void => void process.stderr.write(`${s}\n`)
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN
}
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length === 0 ? Number.NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length

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

/**
 * Linux: per thread of this process, ns spent waiting on a run queue (runnable, no core free), from
 * /proc/self/task/<tid>/schedstat; empty where that is not readable.
 */
function runqueueWaits(): Map<string, number> {
  const out = new Map<string, number>()
  try {
    for (const tid of readdirSync('/proc/self/task')) {
      try { out.set(tid, Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[1])) } catch { /* exited */ }
    }
  } catch { /* not Linux */ }
  return out
}
/** Linux: ms of CPU the main thread (tid = pid) has run; NaN elsewhere. */
function mainThreadCpuMs(): number {
  try { return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6 } catch { return Number.NaN }
}
/** ms waited for a core since `before`, summed over the threads present both times; NaN without schedstat. */
function waitedSince(before: Map<string, number>): number {
  if (before.size === 0) return Number.NaN
  let ns = 0
  for (const [tid, w] of runqueueWaits()) { const b = before.get(tid); if (b !== undefined) ns += w - b }
  return ns / 1e6
}

type Key = number | 'in-process'
interface Round {
  p50: number; qps: number; workerP50: number; overheadP50: number; lagWorst: number; lagP99: number; load: number
  /** process CPU ms per search (all threads), one at a time and in the throughput phase; cores = CPU time / wall time there */
  cpuLatMs: number; cpuQpsMs: number; cores: number; preempted: number
  /** ms per search the process's threads spent runnable but waiting for a core, one at a time (Linux schedstat) */
  waitLatMs: number
  /** ms of main-thread CPU per search in the throughput phase (Linux schedstat): dispatch, messaging, mapping */
  mainQpsMs: number
}
interface Row { latency: number[]; workerMs: number[]; overheadMs: number[]; rounds: Round[] }

async function buildIndex(set: Awaited<ReturnType<typeof readEmbeddingSet>>): Promise<PlaidIndex> {
  const t0 = performance.now()
  if (values.snapshot) {
    const index = await loadIndexSnapshot(resolve(values.snapshot))
    const st = index.stats()
    if (st.documents !== set.nDocs || st.vectors !== set.nTokens) {
      throw new Error(`--snapshot holds ${st.documents} documents / ${st.vectors} vectors, the data set ${set.nDocs} / ${set.nTokens}`)
    }
    log(`  loaded snapshot in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
    return index
  }
  const index = createPlaidIndex({ dim: set.dim, nbits: 2 })
  const docs = Array.from({ length: set.nDocs }, (_, d) => ({ id: `d${d}`, vectors: set.docs.subarray(set.docOffsets[d]! * set.dim, (set.docOffsets[d]! + set.doclens[d]!) * set.dim) }))
  index.upsert(docs)
  log(`  built in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  return index
}

async function main(): Promise<void> {
  const set = await readEmbeddingSet(resolve(values.data!))
  const k = posInt('k', values.k)
  const nQ = Math.min(set.nQueries, posInt('queries', values.queries))
  const nLat = Math.min(nQ, posInt('latency-queries', values['latency-queries']))
  const rounds = posInt('rounds', values.rounds)
  const warmup = posInt('warmup', values.warmup, 0)
  const inFlight = posInt('in-flight', values['in-flight'])
  const counts = values.workers!.split(',').map((x) => posInt('workers', x))
  const qlen = set.queryLen * set.dim
  const queries = Array.from({ length: nQ }, (_, q) => set.queries.slice(q * qlen, (q + 1) * qlen))
  log(`search bench: ${set.nDocs} documents, ${set.nTokens} vectors × ${set.dim}, ${nQ} queries (latency: first ${nLat}), k ${k}; workers ${counts.join(', ')}; ${availableParallelism()} cores (${cpus()[0]?.model}), load ${loadavg().map((x) => x.toFixed(1)).join(' ')}`)
  const index = await buildIndex(set)

  const pools = new Map<number, SearchPool>()
  for (const w of counts) pools.set(w, await createSearchPool({ workers: w }))
  const params = { k }
  // warm-up: publishes the version to every pool, lets each worker build its centroid arena and its JIT tier up
  const t0 = performance.now()
  for (const pool of pools.values()) {
    let next = 0
    const lane = async (): Promise<void> => {
      while (next < warmup * pool.size) await pool.search(index, queries[next++ % nQ]!, params)
    }
    await Promise.all(Array.from({ length: 2 * pool.size }, lane))
  }
  for (let i = 0; i < warmup; i++) index.search(queries[i % nQ]!, params)
  log(`  warm-up: ${warmup} searches per worker and in-process, ${((performance.now() - t0) / 1000).toFixed(1)} s`)

  const keys: Key[] = ['in-process', ...counts]
  const rows = new Map<Key, Row>(keys.map((key) => [key, { latency: [], workerMs: [], overheadMs: [], rounds: [] }]))

  async function measure(key: Key): Promise<Round> {
    const r = rows.get(key)!
    const lat: number[] = [], wms: number[] = [], ovh: number[] = []
    let qps: number
    let lag: { worst: number; p99: number }
    let cpuLatMs: number
    let cpu0 = process.cpuUsage()
    const ctx0 = process.resourceUsage().involuntaryContextSwitches
    const cpuSince = (c: NodeJS.CpuUsage): number => { const d = process.cpuUsage(c); return (d.user + d.system) / 1000 }
    let wall0 = 0
    const rq0 = runqueueWaits()
    let waitLatMs: number
    let main0 = Number.NaN
    if (key === 'in-process') {
      for (const q of queries.slice(0, nLat)) {
        const a = performance.now()
        index.search(q, params)
        lat.push(performance.now() - a)
        await new Promise((res) => setImmediate(res))
      }
      cpuLatMs = cpuSince(cpu0) / nLat
      waitLatMs = waitedSince(rq0) / nLat
      // throughput one at a time; the event loop is blocked for each whole search
      const probe = lagProbe()
      cpu0 = process.cpuUsage()
      const s = (wall0 = performance.now())
      for (const q of queries) {
        index.search(q, params)
        await new Promise((res) => setImmediate(res))
      }
      qps = nQ / ((performance.now() - s) / 1000)
      lag = probe.stop()
    } else {
      const pool = pools.get(key)!
      for (const q of queries.slice(0, nLat)) {
        const a = performance.now()
        const res = await pool.search(index, q, params)
        const ms = performance.now() - a
        lat.push(ms)
        wms.push(res.workerMs ?? Number.NaN)
        ovh.push(ms - (res.workerMs ?? Number.NaN))
      }
      cpuLatMs = cpuSince(cpu0) / nLat
      waitLatMs = waitedSince(rq0) / nLat
      const probe = lagProbe()
      cpu0 = process.cpuUsage()
      main0 = mainThreadCpuMs()
      const s = (wall0 = performance.now())
      let next = 0
      const lane = async (): Promise<void> => {
        while (next < nQ) await pool.search(index, queries[next++]!, params)
      }
      await Promise.all(Array.from({ length: inFlight * key }, lane))
      qps = nQ / ((performance.now() - s) / 1000)
      lag = probe.stop()
    }
    const cpuQ = cpuSince(cpu0)
    const wallQ = performance.now() - wall0
    const preempted = process.resourceUsage().involuntaryContextSwitches - ctx0
    r.latency.push(...lat)
    r.workerMs.push(...wms)
    r.overheadMs.push(...ovh)
    const round: Round = { p50: pct(lat, 0.5), qps, workerP50: pct(wms, 0.5), overheadP50: pct(ovh, 0.5), lagWorst: lag.worst, lagP99: lag.p99, load: loadavg()[0]!,
      cpuLatMs, cpuQpsMs: cpuQ / nQ, cores: cpuQ / wallQ, preempted, waitLatMs, mainQpsMs: (mainThreadCpuMs() - main0) / nQ }
    r.rounds.push(round)
    return round
  }

  const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '–')
  const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '–')
  for (let round = 0; round < rounds; round++) {
    const order = keys.map((_, i) => keys[(i + round) % keys.length]!)
    const parts: string[] = []
    for (const key of order) {
      const m = await measure(key)
      parts.push(`${key}: ${f1(m.qps)} q/s on ${f2(m.cores)} cores, p50 ${f2(m.p50)}${key === 'in-process' ? '' : ` (worker ${f2(m.workerP50)} + ${f2(m.overheadP50)})`} ms, CPU ${f2(m.cpuLatMs)}/${f2(m.cpuQpsMs)} ms${key === 'in-process' ? '' : ` (main thread ${f2(m.mainQpsMs)})`}, waited for a core ${f2(m.waitLatMs)} ms/search`)
    }
    const ratios = counts.includes(1)
      ? counts.filter((w) => w !== 1).map((w) => `${w}/1 ${f2(rows.get(w)!.rounds[round]!.qps / rows.get(1)!.rounds[round]!.qps)}×`).join(', ')
      : ''
    log(`  round ${round + 1}/${rounds} (order ${order.join(', ')}): ${parts.join('; ')}${ratios ? `; ${ratios}` : ''}; load ${loadavg()[0]!.toFixed(1)}`)
  }
  for (const pool of pools.values()) await pool.close()

  const one = counts.includes(1) ? rows.get(1)! : undefined
  const baseQps = one ? mean(one.rounds.map((x) => x.qps)) : Number.NaN
  const baseP50 = one ? pct(one.latency, 0.5) : Number.NaN
  const out: string[] = []
  out.push(`${set.nDocs} documents (${set.nTokens} vectors), ${nQ} queries (latency: first ${nLat}) × ${rounds} rounds, k ${k}, default parameters, warm-up ${warmup}/worker, ${inFlight}/worker in flight; ${availableParallelism()} cores; load avg at the end ${loadavg().map((x) => x.toFixed(1)).join(' ')}`)
  out.push('| searches on | p50 ms | p95 ms | p50 in worker + overhead ms | CPU ms per search, one at a time / throughput (main thread) | waited for a core ms per search, one at a time | cores used (throughput) | queries/s mean (median) of rounds | × 1 worker: of means / median of rounds (min–max) | p50 vs 1 worker / vs event loop | event-loop lag worst / p99 ms |')
  out.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |')
  const result: Record<string, unknown> = {}
  for (const [key, r] of rows) {
    const qpsAll = r.rounds.map((x) => x.qps)
    const p50 = pct(r.latency, 0.5)
    const label = key === 'in-process' ? 'event loop (SEARCH_WORKERS=0)' : `${key} worker${key === 1 ? '' : 's'}`
    const perRound = one && key !== 'in-process' ? r.rounds.map((x, i) => x.qps / one.rounds[i]!.qps) : []
    const ratio = perRound.length ? `${f2(mean(qpsAll) / baseQps)}× / ${f2(median(perRound))}× (${f2(Math.min(...perRound))}–${f2(Math.max(...perRound))})` : ''
    const split = key === 'in-process' ? '' : `${f2(pct(r.workerMs, 0.5))} + ${f2(pct(r.overheadMs, 0.5))}`
    const ipP50 = pct(rows.get('in-process')!.latency, 0.5)
    const p50ratio = key === 'in-process' ? '' : `${one ? `${((p50 / baseP50 - 1) * 100).toFixed(0)} %` : '–'} / ${((p50 / ipP50 - 1) * 100).toFixed(0)} %`
    const cpu = `${f2(median(r.rounds.map((x) => x.cpuLatMs)))} / ${f2(median(r.rounds.map((x) => x.cpuQpsMs)))}${key === 'in-process' ? '' : ` (${f2(median(r.rounds.map((x) => x.mainQpsMs)))})`}`
    out.push(`| ${label} | ${f2(p50)} | ${f2(pct(r.latency, 0.95))} | ${split} | ${cpu} | ${f2(median(r.rounds.map((x) => x.waitLatMs)))} | ${f2(median(r.rounds.map((x) => x.cores)))} | ${f1(mean(qpsAll))} (${f1(median(qpsAll))}) | ${ratio} | ${p50ratio} | ${f1(Math.max(...r.rounds.map((x) => x.lagWorst)))} / ${f1(Math.max(...r.rounds.map((x) => x.lagP99)))} |`)
    result[String(key)] = {
      p50, p95: pct(r.latency, 0.95), workerP50: pct(r.workerMs, 0.5), overheadP50: pct(r.overheadMs, 0.5),
      qps: qpsAll, qpsMean: mean(qpsAll), qpsMedian: median(qpsAll), ratioPerRound: perRound, ratioMedian: median(perRound), rounds: r.rounds,
    }
  }
  if (one) {
    for (const w of counts.filter((x) => x !== 1)) {
      out.push(`per round, ${w} workers vs 1: ${rows.get(w)!.rounds.map((x, i) => `${f1(x.qps)}/${f1(one.rounds[i]!.qps)} (${f2(x.qps / one.rounds[i]!.qps)}×, load ${f1(x.load)})`).join(', ')}`)
    }
  }
  out.push(`in-process q/s per round: ${rows.get('in-process')!.rounds.map((x) => f1(x.qps)).join(', ')}`)
  process.stdout.write(`${out.join('\n')}\n`)
  if (values.json) {
    mkdirSync(dirname(resolve(values.json)), { recursive: true })
    writeFileSync(resolve(values.json), JSON.stringify({ date: new Date().toISOString(), docs: set.nDocs, vectors: set.nTokens, queries: nQ, latencyQueries: nLat, k, rounds, warmup, inFlight, snapshot: values.snapshot ?? null, cores: availableParallelism(), loadavg: loadavg(), result }, null, 2))
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
