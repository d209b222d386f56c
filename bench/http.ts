/**
 * `npm run bench:http` — the HTTP service under load, on loopback, with the tiny fixture model and an index of the
 * JSQuAD passages.
 *
 * 1. Starts the real server (src/main.ts) as a child process, indexes the passages over HTTP.
 * 2. autocannon: POST /search and POST /encode at a fixed concurrency -> throughput and latency percentiles.
 * 3. The same searches in-process (encoder.encodeQueries + index.search, same encoder settings, an index built from
 *    the same batches) at the same concurrency -> HTTP overhead = HTTP throughput / in-process throughput.
 * 4. A mixed load (index, search, encode) at 32 connections: 5xx count (must be 0), other errors, and the server's
 *    RSS after warm-up vs after the load (within 10 %).
 *
 * Options: --duration S (per autocannon run, default 10), --connections N (default 8), --mixed-duration S (default 60),
 * --mixed-connections N (default 32), --warmup S (default 20), --rounds N (alternating HTTP/in-process, default 2), --skip-mixed, --json FILE (default bench/results/http.json).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const SHARED = process.env.JACOLBERT_SHARED_DIR ?? resolve(ROOT, '..', 'shared')
const MODEL_DIR = resolve(SHARED, 'fixtures', 'tiny-jacolbert', 'model')
const JSQUAD = resolve(SHARED, 'fixtures', 'jsquad-valid-v1.3.json')
const DICDIR = process.env.MECAB_DICDIR ?? '/var/lib/mecab/dic/ipadic-utf8'
const BATCH = 256

interface Hist { average: number; mean: number; stddev: number; p50: number; p90: number; p97_5: number; p99: number; max: number }
interface AcResult {
  requests: Hist
  latency: Hist
  duration: number
  errors: number
  timeouts: number
  non2xx: number
  statusCodeStats: Record<string, { count: number }>
}
interface AcRequest { method: string; path: string; headers?: Record<string, string>; body?: string }
type Autocannon = (opts: { url: string; connections: number; duration: number; requests: AcRequest[] }) => Promise<AcResult>

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      duration: { type: 'string', default: '10' },
      connections: { type: 'string', default: '8' },
      'mixed-duration': { type: 'string', default: '60' },
      'mixed-connections': { type: 'string', default: '32' },
      warmup: { type: 'string', default: '20' },
      rounds: { type: 'string', default: '2' },
      'skip-mixed': { type: 'boolean', default: false },
      json: { type: 'string', default: join(ROOT, 'bench', 'results', 'http.json') },
      help: { type: 'boolean', default: false },
    },
  })
  if (args.help) {
    process.stdout.write('usage: npm run bench:http -- [--duration 10] [--connections 8] [--mixed-duration 60] [--mixed-connections 32] [--warmup 20] [--rounds 2] [--skip-mixed] [--json FILE]\n')
    return
  }
  const duration = Number(args.duration)
  const connections = Number(args.connections)
  const rounds = Math.max(1, Number(args.rounds))
  const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon

  const corpus = JSON.parse(readFileSync(JSQUAD, 'utf8')) as { data: Array<{ title: string; paragraphs: Array<{ context: string; qas: Array<{ question: string }> }> }> }
  const passages = corpus.data.flatMap((a) => a.paragraphs.map((p) => ({ title: a.title, text: p.context })))
  const questions = corpus.data.flatMap((a) => a.paragraphs.flatMap((p) => p.qas.map((q) => q.question))).slice(0, 512)
  const docs = passages.map((p, i) => ({ id: `p${i}`, text: p.text, metadata: { title: p.title } }))

  // ---- 1. the server, as users run it ----
  const work = mkdtempSync(join(tmpdir(), 'jacolbert-bench-http-'))
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  mkdirSync(dirname(args.json), { recursive: true })
  const logPath = join(dirname(args.json), 'http-server.log')
  const server = startServer(port, work, logPath)
  const cleanup = (): void => {
    server.kill('SIGKILL')
    rmSync(work, { recursive: true, force: true })
  }
  try {
    const t0 = performance.now()
    await waitReady(base, server)
    const loadMs = performance.now() - t0
    const t1 = performance.now()
    for (let s = 0; s < docs.length; s += BATCH) {
      await postJson(base, '/index', { documents: docs.slice(s, s + BATCH) })
    }
    const indexMs = performance.now() - t1
    log(`server ready in ${loadMs.toFixed(0)} ms; indexed ${docs.length} passages over HTTP in ${indexMs.toFixed(0)} ms`)

    // ---- 2+3. autocannon /search, alternating with the same searches in-process (the server idles meanwhile);
    // alternating rounds spread the noise of this shared machine over both sides of the ratio ----
    const searchReqs = questions.map((q) => req('/search', { query: q, k: 10 }))
    const encodeReqs = passages.slice(0, 256).map((p) => req('/encode', { texts: [p.text], kind: 'document' }))
    const inproc = await createInProcess(docs)
    const serverStats = (await (await fetch(`${base}/indexes/default`)).json()) as { vectors: number; centroids: number }
    log(`index: server ${serverStats.vectors} vectors / ${serverStats.centroids} centroids; in-process ${inproc.stats.vectors} / ${inproc.stats.centroids}`)
    await autocannon({ url: base, connections, duration: 2, requests: searchReqs }) // warm-up
    await inproc.run(questions, connections, 2) // warm-up
    const httpRounds: AcResult[] = []
    const inRounds: InProcResult[] = []
    for (let round = 0; round < rounds; round++) {
      const h = await autocannon({ url: base, connections, duration, requests: searchReqs })
      httpRounds.push(h)
      log(`round ${round + 1} HTTP /search: ${h.requests.average.toFixed(1)} req/s, p50 ${h.latency.p50} ms, p99 ${h.latency.p99} ms`)
      const ip = await inproc.run(questions, connections, duration)
      inRounds.push(ip)
      log(`round ${round + 1} in-process search: ${ip.rps.toFixed(1)} req/s, p50 ${ip.p50.toFixed(2)} ms, p99 ${ip.p99.toFixed(2)} ms`)
    }
    await inproc.close()
    const httpSearch = httpRounds[httpRounds.length - 1]
    const httpRps = httpRounds.reduce((s, r) => s + r.requests.average, 0) / rounds
    const inProc = { ...inRounds[inRounds.length - 1], rps: inRounds.reduce((s, r) => s + r.rps, 0) / rounds }
    const overhead = httpRps / inProc.rps
    log(`mean over ${rounds} rounds: HTTP ${httpRps.toFixed(1)} req/s, in-process ${inProc.rps.toFixed(1)} req/s; HTTP/in-process = ${overhead.toFixed(3)}`)
    const httpEncode = await autocannon({ url: base, connections, duration, requests: encodeReqs })
    log(`HTTP /encode: ${httpEncode.requests.average.toFixed(1)} req/s, p50 ${httpEncode.latency.p50} ms, p99 ${httpEncode.latency.p99} ms`)

    // ---- 4. mixed load ----
    let mixed: Record<string, unknown> | undefined
    if (!args['skip-mixed']) {
      const mixedConnections = Number(args['mixed-connections'])
      const mixedReqs: AcRequest[] = []
      for (let i = 0; i < 400; i++) {
        const q = questions[i % questions.length]
        if (i % 10 === 3) {
          // Upserts over a fixed pool of 200 ids in their own index, so memory can settle once they all exist.
          const ids = [0, 1, 2, 3].map((j) => (i * 4 + j) % 200)
          mixedReqs.push(req('/index', { index: 'mixed', documents: ids.map((id) => ({ id: `m${id}`, text: passages[(id * 7) % passages.length].text })) }))
        } else if (i % 10 === 6 || i % 10 === 9) {
          mixedReqs.push(req('/encode', { texts: [q, passages[i % passages.length].text.slice(0, 200)], kind: i % 2 ? 'query' : 'document' }))
        } else {
          mixedReqs.push(req('/search', { query: q, k: 10, ...(i % 3 === 0 ? { filter: { title: passages[i % passages.length].title } } : {}) }))
        }
      }
      const beforeWarm = await serverMemory(base)
      const warm = await autocannon({ url: base, connections: mixedConnections, duration: Number(args.warmup), requests: mixedReqs })
      await sleep(5000)
      const memWarm = await serverMemory(base)
      const load = await autocannon({ url: base, connections: mixedConnections, duration: Number(args['mixed-duration']), requests: mixedReqs })
      await sleep(5000)
      const memAfter = await serverMemory(base)
      const rssWarm = memWarm.rss
      const rssAfter = memAfter.rss
      const codes = Object.fromEntries(Object.entries(load.statusCodeStats).map(([c, v]) => [c, Number(v.count)]))
      const fiveXX = Object.entries(codes).filter(([c]) => c.startsWith('5') && c !== '503').reduce((s, [, n]) => s + n, 0)
      const backpressure = codes['503'] ?? 0
      const otherErrors = Object.entries(codes).filter(([c]) => !c.startsWith('2') && c !== '503').reduce((s, [, n]) => s + n, 0) + load.errors
      mixed = {
        connections: mixedConnections,
        durationS: load.duration,
        warmupRequests: Object.values(warm.statusCodeStats).reduce((s, v) => s + Number(v.count), 0),
        rps: load.requests.average,
        latencyMs: pick(load.latency),
        statusCodes: codes,
        fiveXXOtherThanBackpressure: fiveXX,
        backpressure503: backpressure,
        otherErrors,
        timeouts: load.timeouts,
        rssAfterWarmupMiB: rssWarm / 2 ** 20,
        rssAfterLoadMiB: rssAfter / 2 ** 20,
        rssChange: rssAfter / rssWarm - 1,
        rssBeforeWarmupMiB: beforeWarm.rss / 2 ** 20,
        heapUsedBeforeWarmupMiB: beforeWarm.heapUsed / 2 ** 20,
        heapUsedAfterWarmupMiB: memWarm.heapUsed / 2 ** 20,
        heapUsedAfterLoadMiB: memAfter.heapUsed / 2 ** 20,
      }
      log(
        `mixed ${mixedConnections} conns ${load.duration}s: ${load.requests.average.toFixed(1)} req/s, codes ${JSON.stringify(codes)}, ` +
          `5xx(non-503) ${fiveXX}, 503 ${backpressure}, other errors ${otherErrors}; RSS ${(rssWarm / 2 ** 20).toFixed(1)} -> ${(rssAfter / 2 ** 20).toFixed(1)} MiB ` +
          `(${((rssAfter / rssWarm - 1) * 100).toFixed(1)} %; before warm-up ${(beforeWarm.rss / 2 ** 20).toFixed(1)}); heap used ` +
          `${(beforeWarm.heapUsed / 2 ** 20).toFixed(1)} / ${(memWarm.heapUsed / 2 ** 20).toFixed(1)} / ${(memAfter.heapUsed / 2 ** 20).toFixed(1)} MiB (before warm-up / after / after load)`,
      )
    }

    const result = {
      machine: 'shared 2-core build VM (loaded by other engineers), CPU onnxruntime, tiny random JaColBERT (dim 16, 2 layers)',
      passages: docs.length,
      connections,
      durationS: duration,
      serverLoadMs: loadMs,
      indexOverHttpMs: indexMs,
      rounds,
      httpSearchRoundsRps: httpRounds.map((r) => r.requests.average),
      inProcessSearchRoundsRps: inRounds.map((r) => r.rps),
      httpSearch: { rps: httpRps, latencyMs: pick(httpSearch.latency), non2xx: httpRounds.reduce((s, r) => s + r.non2xx, 0), errors: httpRounds.reduce((s, r) => s + r.errors, 0) },
      httpEncode: { rps: httpEncode.requests.average, latencyMs: pick(httpEncode.latency), non2xx: httpEncode.non2xx, errors: httpEncode.errors },
      inProcessSearch: inProc,
      httpOverInProcess: overhead,
      mixed,
    }
    writeFileSync(args.json, JSON.stringify(result, null, 2))
    printTable(result)
    log(`wrote ${args.json}`)
  } finally {
    await shutdown(server)
    cleanup()
  }
}

function log(msg: string): void {
  process.stderr.write(`[bench:http] ${msg}\n`)
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

function pick(h: Hist): Record<string, number> {
  return { p50: h.p50, p90: h.p90, p97_5: h.p97_5, p99: h.p99, max: h.max, mean: h.mean }
}

function req(path: string, body: unknown): AcRequest {
  return { method: 'POST', path, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer()
    s.once('error', rej)
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address()
      s.close(() => res(typeof addr === 'object' && addr ? addr.port : 0))
    })
  })
}

function startServer(port: number, work: string, logPath: string): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'main.ts')], {
    cwd: ROOT,
    env: {
      ...process.env,
      MODEL: MODEL_DIR,
      MECAB_DICDIR: DICDIR,
      HOST: '127.0.0.1',
      PORT: String(port),
      DATA_DIR: join(work, 'data'),
      MODEL_CACHE_DIR: join(work, 'models'),
      ORT_PROVIDERS: 'cpu',
      ORT_THREADS: '1',
      LOG_LEVEL: 'info',
      SNAPSHOT_INTERVAL_S: '0',
      API_KEY: '',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const out = createWriteStream(logPath)
  child.stdout?.pipe(out)
  child.stderr?.pipe(out)
  return child
}

async function waitReady(base: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}; see bench/results/http-server.log`)
    try {
      const r = await fetch(`${base}/readyz`)
      if (r.status === 200) return
    } catch {
      // not listening yet
    }
    await sleep(100)
  }
  throw new Error('server not ready after 60 s')
}

async function shutdown(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  child.kill('SIGTERM')
  await Promise.race([exited, sleep(20_000)])
}

async function postJson(base: string, path: string, body: unknown): Promise<unknown> {
  const r = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const json = await r.json()
  if (!r.ok) throw new Error(`${path} -> ${r.status} ${JSON.stringify(json)}`)
  return json
}

async function serverMemory(base: string): Promise<{ rss: number; heapUsed: number }> {
  const text = await (await fetch(`${base}/metrics`)).text()
  const rss = /^jacolbert_process_resident_memory_bytes (\S+)/m.exec(text)
  const heap = /^jacolbert_nodejs_heap_size_used_bytes (\S+)/m.exec(text)
  if (!rss || !heap) throw new Error('no memory metrics')
  return { rss: Number(rss[1]), heapUsed: Number(heap[1]) }
}

interface InProcResult { rps: number; p50: number; p90: number; p99: number; requests: number }

/**
 * The same work as POST /search without HTTP: encode the query, search the index. The encoder has the server's settings
 * (cpu, 1 thread) and the index is built from the same batches in the same order.
 */
async function createInProcess(docs: Array<{ id: string; text: string; metadata: { title: string } }>) {
  const { createEncoder } = await import('../src/encoder/index.js')
  const { createIndexStore } = await import('../src/index/index-store.js')
  const encoder = await createEncoder({ modelDir: MODEL_DIR, dicdir: DICDIR, providers: ['cpu'], threads: 1 })
  const store = createIndexStore({ defaultSettings: { dim: encoder.dim, nbits: 2 } })
  const index = store.getOrCreate('default')
  for (let s = 0; s < docs.length; s += BATCH) {
    const batch = docs.slice(s, s + BATCH)
    const enc = await encoder.encodeDocuments(batch.map((d) => d.text))
    index.upsert(batch.map((d, i) => ({ id: d.id, vectors: enc[i].vectors, metadata: d.metadata })))
  }
  const one = async (q: string) => {
    const [e] = await encoder.encodeQueries([q])
    return index.search(e.vectors, { k: 10 }).hits
  }
  return {
    stats: index.stats(),
    close: () => encoder.close(),
    /** `connections` loops at once for `durationS`. */
    async run(questions: string[], connections: number, durationS: number): Promise<InProcResult> {
      const latencies: number[] = []
      const end = performance.now() + durationS * 1000
      let next = 0
      const t0 = performance.now()
      await Promise.all(
        Array.from({ length: connections }, async () => {
          while (performance.now() < end) {
            const s = performance.now()
            await one(questions[next++ % questions.length])
            latencies.push(performance.now() - s)
          }
        }),
      )
      const elapsed = (performance.now() - t0) / 1000
      latencies.sort((a, b) => a - b)
      const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]
      return { rps: latencies.length / elapsed, p50: q(0.5), p90: q(0.9), p99: q(0.99), requests: latencies.length }
    },
  }
}

function printTable(r: {
  connections: number
  httpSearch: { rps: number; latencyMs: Record<string, number> }
  httpEncode: { rps: number; latencyMs: Record<string, number> }
  inProcessSearch: { rps: number; p50: number; p90: number; p99: number }
  httpOverInProcess: number
}): void {
  const rows = [
    ['case', 'req/s', 'p50 ms', 'p90 ms', 'p99 ms'],
    ['HTTP POST /search', r.httpSearch.rps.toFixed(1), String(r.httpSearch.latencyMs.p50), String(r.httpSearch.latencyMs.p90), String(r.httpSearch.latencyMs.p99)],
    ['in-process search', r.inProcessSearch.rps.toFixed(1), r.inProcessSearch.p50.toFixed(2), r.inProcessSearch.p90.toFixed(2), r.inProcessSearch.p99.toFixed(2)],
    ['HTTP POST /encode (1 passage)', r.httpEncode.rps.toFixed(1), String(r.httpEncode.latencyMs.p50), String(r.httpEncode.latencyMs.p90), String(r.httpEncode.latencyMs.p99)],
  ]
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)))
  for (const row of rows) process.stdout.write(`${row.map((cell, c) => cell.padEnd(widths[c])).join('  ')}\n`)
  process.stdout.write(`HTTP /search over in-process throughput at ${r.connections} concurrent: ${r.httpOverInProcess.toFixed(3)}\n`)
}

await main()
