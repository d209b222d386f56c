/**
 * Search requests as the service serves them on a CPU encoder: encode the query text, then search. Four
 * configurations: onnxruntime's threads sleeping after a run (ORT_SPINNING=off, the default) or spin-waiting (on), and
 * the search on the event loop (SEARCH_WORKERS=0) or on a pool of search workers with sharing (SEARCH_WORKERS=2); one
 * request at a time and several at once. It answers: what does the encoder, which uses every core while it runs, leave
 * to the search that follows it, and does a search pool pay on such a service?
 *
 *   npm run bench:search-encode -- --data DIR --snapshot DIR [--model DIR] [--queries 100] [--rounds 2]
 *     [--concurrency 4] [--seconds 10] [--workers 2] [--k 10] [--json FILE]
 *
 * --model: a checkpoint (default bench/results/encoder-bert-base, which `npm run bench:encoder` writes: BERT-base
 * size, random weights); one encoder per spinning setting, each with every core. Each request encodes a 32-token query
 * (its cost and its threads are the point); the search then takes the set's query vectors for that request (a random
 * model's vectors would not search like a query), so every configuration does the same searches. One request at a
 * time: the configurations take turns request by request (the machine's speed swings within minutes); several at once:
 * `--concurrency` loops for `--seconds` per configuration, in turns. Reported: p50/p95 of the whole request and p50 of
 * its search part; requests/s; whether the configurations return the same top-k ids (they must).
 */
import { writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { createEncoder, type Encoder } from '../src/encoder/index.js'
import { readEmbeddingSet } from '../src/index/embedding-set.js'
import { loadIndexSnapshot } from '../src/index/snapshot.js'
import { createSearchPool } from '../src/search-workers/search-pool.js'
import { syntheticTokenizer } from '../test/helpers/synthetic-tokenizer.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const { values } = parseArgs({
  options: {
    data: { type: 'string' }, snapshot: { type: 'string' }, model: { type: 'string' }, queries: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '2' }, concurrency: { type: 'string', default: '4' }, seconds: { type: 'string', default: '10' },
    workers: { type: 'string', default: '2' }, k: { type: 'string', default: '10' }, json: { type: 'string' },
  },
})
if (values.data === undefined || values.snapshot === undefined) {
  console.error('usage: npm run bench:search-encode -- --data DIR --snapshot DIR [--model DIR] [--queries 100] [--rounds 2] [--concurrency 4] [--seconds 10] [--workers 2] [--k 10] [--json FILE]')
  process.exit(2)
}
const k = Number(values.k)

const set = await readEmbeddingSet(values.data)
const index = await loadIndexSnapshot(values.snapshot)
const modelDir = resolve(values.model ?? join(ROOT, 'bench', 'results', 'encoder-bert-base'))
// texts "32:<seed>": 32 token ids each (what the ids mean does not change the encoder's cost)
const tokenizer = syntheticTokenizer(set.dim, 32768)
const encoders: Record<'off' | 'on', Encoder> = {
  off: await createEncoder({ modelDir, providers: ['cpu'], tokenizer, spinning: false }),
  on: await createEncoder({ modelDir, providers: ['cpu'], tokenizer, spinning: true }),
}
const pool = await createSearchPool({ workers: Number(values.workers) })
const n = Math.min(set.nQueries, Number(values.queries))
const L = set.queryLen, dim = set.dim
const vectors = (q: number): Float32Array => set.queries.subarray(q * L * dim, (q + 1) * L * dim)
const text = (q: number): string => `32:${q + 1}`

interface Config { name: string; spinning: 'off' | 'on'; pool: boolean }
const CONFIGS: Config[] = [
  { name: 'spinning off, event loop', spinning: 'off', pool: false },
  { name: 'spinning off, pool', spinning: 'off', pool: true },
  { name: 'spinning on, event loop', spinning: 'on', pool: false },
  { name: 'spinning on, pool', spinning: 'on', pool: true },
]
/** One request; returns its top-k ids and the time of its search part (from the encoder's answer to the search's). */
const request = async (c: Config, q: number): Promise<{ ids: string; searchMs: number }> => {
  await encoders[c.spinning].encodeQueries([text(q)])
  const t0 = performance.now()
  const r = c.pool ? await pool.search(index, vectors(q), { k }) : index.search(vectors(q), { k })
  return { ids: r.hits.map((h) => h.id).join(','), searchMs: performance.now() - t0 }
}
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]
}
const f = (x: number): string => x.toFixed(2)

for (let q = 0; q < Math.min(20, n); q++) for (const c of CONFIGS) await request(c, q)

interface OneAtATime { name: string; p50: number; p95: number; searchP50: number }
const rounds: OneAtATime[][] = []
let differ = 0
for (let r = 0; r < Number(values.rounds); r++) {
  const total = CONFIGS.map(() => [] as number[]), search = CONFIGS.map(() => [] as number[])
  for (let q = 0; q < n; q++) {
    const ids = new Set<string>()
    for (let i = 0; i < CONFIGS.length; i++) {
      const at = (q + i + r) % CONFIGS.length
      const t0 = performance.now()
      const out = await request(CONFIGS[at], q)
      total[at].push(performance.now() - t0)
      search[at].push(out.searchMs)
      ids.add(out.ids)
    }
    if (r === 0 && ids.size > 1) differ++
  }
  const row = CONFIGS.map((c, i) => ({ name: c.name, p50: pct(total[i], 0.5), p95: pct(total[i], 0.95), searchP50: pct(search[i], 0.5) }))
  rounds.push(row)
  console.log(`one request at a time, round ${r + 1} (p50 / p95 of the request, p50 of its search part, ms):`)
  for (const x of row) console.log(`  ${x.name.padEnd(26)} ${f(x.p50)} / ${f(x.p95)}   search ${f(x.searchP50)}`)
}
console.log(`queries whose top ${k} differ between the configurations: ${differ} of ${n}`)

/** `c` loops issuing requests back to back for `seconds`: requests per second. */
async function throughput(cfg: Config, c: number, seconds: number): Promise<number> {
  let done = 0, next = 0
  const end = performance.now() + seconds * 1000
  await Promise.all(Array.from({ length: c }, async () => {
    while (performance.now() < end) {
      await request(cfg, next++ % n)
      done++
    }
  }))
  return done / seconds
}
const conc = Number(values.concurrency), seconds = Number(values.seconds)
const load: Array<Array<{ name: string; perSecond: number }>> = []
for (let r = 0; r < Number(values.rounds); r++) {
  const row = CONFIGS.map((c) => ({ name: c.name, perSecond: 0 }))
  for (let i = 0; i < CONFIGS.length; i++) {
    const at = (i + r) % CONFIGS.length
    row[at].perSecond = await throughput(CONFIGS[at], conc, seconds)
  }
  load.push(row)
  console.log(`${conc} requests at a time, round ${r + 1}: ${row.map((x) => `${x.name} ${x.perSecond.toFixed(1)}/s`).join(', ')}`)
}
await pool.close()
await encoders.off.close()
await encoders.on.close()
if (values.json !== undefined) writeFileSync(values.json, JSON.stringify({ k, queries: n, workers: Number(values.workers), concurrency: conc, seconds, rounds, load, differ }, null, 2))
