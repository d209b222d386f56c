/**
 * Search sharing (src/search-workers/search-share.ts): latency of one search at a time through a 2-worker pool with
 * sharing on (`shared`: the helper lingers on the search; `asked`: it is asked through the pool for each part) against
 * the same pool and workers without it (`alone`), and the in-process search, query by query alternating on
 * the same snapshot (the ratios hold on a shared machine whose speed swings within minutes; separate runs do not
 * compare, and neither do two pools in one process: their threads' speeds differed by up to 1.4× within one run).
 *
 *   npm run bench:search-share -- --data DIR --snapshot DIR [--queries 100] [--k 10] [--rounds 2] [--workers 2] [--keep F] [--json FILE]
 *
 * --data: an embedding set (bench:gen) for its queries; --snapshot: an index snapshot of it (bench:matrix's cache,
 * /tmp/jacolbert-matrix/index/<preset>-nbits2-<code>/snapshot). Per round: p50/p95 of the round trip for each
 * configuration, the worker's own time, how many searches a sibling helped, the ratios; and whether the four
 * return the same top-k ids (sharing must not change results). --keep F: every search is filtered to the documents whose
 * id hashes below F (e.g. 0.5: about half of them), as a metadata filter would.
 */
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { readEmbeddingSet } from '../src/index/embedding-set.js'
import { loadIndexSnapshot } from '../src/index/snapshot.js'
import { createSearchPool } from '../src/search-workers/search-pool.js'

const { values } = parseArgs({
  options: {
    data: { type: 'string' }, snapshot: { type: 'string' }, queries: { type: 'string', default: '100' }, k: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '2' }, workers: { type: 'string', default: '2' }, keep: { type: 'string' }, json: { type: 'string' },
  },
})
if (values.data === undefined || values.snapshot === undefined) {
  console.error('usage: npm run bench:search-share -- --data DIR --snapshot DIR [--queries 100] [--k 10] [--rounds 2] [--workers 2] [--json FILE]')
  process.exit(2)
}
const set = await readEmbeddingSet(values.data)
const index = await loadIndexSnapshot(values.snapshot)
const workers = Number(values.workers)
const pool = await createSearchPool({ workers })
const k = Number(values.k)
const n = Math.min(set.nQueries, Number(values.queries))
const { dim, queryLen: L } = set
const query = (q: number): Float32Array => set.queries.subarray(q * L * dim, (q + 1) * L * dim)
const keep = values.keep === undefined ? undefined : Number(values.keep)
/** FNV-1a of the id, as a fraction of 2³² */
const idHash = (id: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193)
  return (h >>> 0) / 2 ** 32
}
const params = keep === undefined ? { k } : { k, filter: (_m: unknown, id: string) => idHash(id) < keep }
type Name = 'inProcess' | 'alone' | 'asked' | 'shared'
const NAMES: Name[] = ['inProcess', 'alone', 'asked', 'shared']
const run = async (name: Name, q: number): Promise<{ ms: number; workerMs: number; helped: boolean; ids: string }> => {
  const t0 = performance.now()
  if (name === 'inProcess') {
    const r = index.search(query(q), params)
    const ms = performance.now() - t0
    return { ms, workerMs: ms, helped: false, ids: r.hits.map((h) => h.id).join(',') }
  }
  const r = await pool.search(index, query(q), params, { sharing: name !== 'alone', linger: name === 'shared' })
  return { ms: performance.now() - t0, workerMs: r.workerMs ?? NaN, helped: (r.helped ?? 0) > 0, ids: r.hits.map((h) => h.id).join(',') }
}
for (let q = 0; q < Math.min(20, n); q++) for (const name of NAMES) await run(name, q)

const pct = (a: number[], p: number): number => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(p * s.length))] }
const rounds: Array<Record<string, unknown>> = []
let differ = 0
for (let r = 0; r < Number(values.rounds); r++) {
  const lat: Record<Name, number[]> = { inProcess: [], alone: [], asked: [], shared: [] }
  const inWorker: Record<Name, number[]> = { inProcess: [], alone: [], asked: [], shared: [] }
  let helped = 0
  for (let q = 0; q < n; q++) {
    // each configuration in each position of the order equally often
    const order = NAMES.map((_, i) => NAMES[(i + q) % NAMES.length]!)
    const ids = new Set<string>()
    for (const name of order) {
      const x = await run(name, q)
      lat[name].push(x.ms)
      inWorker[name].push(x.workerMs)
      if (x.helped && name === 'shared') helped++
      ids.add(x.ids)
    }
    if (r === 0 && ids.size > 1) differ++
  }
  const row = {
    round: r + 1,
    p50: { inProcess: pct(lat.inProcess, 0.5), alone: pct(lat.alone, 0.5), asked: pct(lat.asked, 0.5), shared: pct(lat.shared, 0.5) },
    p95: { inProcess: pct(lat.inProcess, 0.95), alone: pct(lat.alone, 0.95), asked: pct(lat.asked, 0.95), shared: pct(lat.shared, 0.95) },
    workerP50: { alone: pct(inWorker.alone, 0.5), asked: pct(inWorker.asked, 0.5), shared: pct(inWorker.shared, 0.5) },
    helped: helped / n,
  }
  rounds.push(row)
  const f = (x: number): string => x.toFixed(2)
  console.log(`round ${r + 1}: p50 in-process ${f(row.p50.inProcess)} ms | pool alone ${f(row.p50.alone)} (worker ${f(row.workerP50.alone)}) | ` +
    `asked ${f(row.p50.asked)} (worker ${f(row.workerP50.asked)}) | ` +
    `shared ${f(row.p50.shared)} (worker ${f(row.workerP50.shared)}), helped ${(row.helped * 100).toFixed(0)} % | ` +
    `shared vs alone ${(row.p50.alone / row.p50.shared).toFixed(2)}×, vs asked ${(row.p50.asked / row.p50.shared).toFixed(2)}×, ` +
    `vs in-process ${(row.p50.inProcess / row.p50.shared).toFixed(2)}× | ` +
    `p95 ${f(row.p95.inProcess)} / ${f(row.p95.alone)} / ${f(row.p95.asked)} / ${f(row.p95.shared)}`)
}
console.log(`queries whose top ${k} ids differ between the four: ${differ} of ${n}`)
if (values.json) writeFileSync(values.json, JSON.stringify({ data: values.data, snapshot: values.snapshot, k, keep, queries: n, workers, rounds, differ }, null, 2))
await pool.close()
