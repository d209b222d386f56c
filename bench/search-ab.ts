/**
 * Search latency of this checkout against another revision's engine, in one process, query by query alternating
 * (A, B, A, B …) on the same snapshot: the ratio holds on a machine whose speed swings 1.5–3× within minutes (this
 * VM's), where two separate runs do not compare.
 *
 *   npx tsx bench/search-ab.ts --base DIR --data DIR --snapshot DIR [--base-snapshot DIR] [--queries 100] [--k 10] [--rounds 3] [--json FILE]
 *
 * --base: a checkout of the baseline revision with its src/ (e.g. `git worktree add /tmp/base <rev>`); its
 * src/index/snapshot.ts loads the snapshot into its own engine. --data: an embedding set (bench:gen, its queries);
 * --snapshot: an index snapshot both revisions can load (bench:matrix caches one per preset under
 * /tmp/jacolbert-matrix/index/<preset>-nbits2-<code>/snapshot). Prints per round p50 of each engine and their ratio,
 * and the per-stage medians; checks that both engines return the same top-k ids (a speed change must not change results;
 * the count of queries that differ is printed). --base-snapshot: the baseline loads this snapshot instead, for a change
 * of the index format (the same data built by each revision), where the ids may then differ by design.
 */
import { writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { pathToFileURL } from 'node:url'
import { readEmbeddingSet } from '../src/index/embedding-set.js'
import { loadIndexSnapshot } from '../src/index/snapshot.js'

const { values } = parseArgs({
  options: {
    base: { type: 'string' }, data: { type: 'string' }, snapshot: { type: 'string' }, 'base-snapshot': { type: 'string' }, queries: { type: 'string', default: '100' },
    k: { type: 'string', default: '10' }, rounds: { type: 'string', default: '3' }, json: { type: 'string' },
  },
})
if (values.base === undefined || values.data === undefined || values.snapshot === undefined) {
  console.error('usage: npx tsx bench/search-ab.ts --base DIR --data DIR --snapshot DIR [--base-snapshot DIR] [--queries 100] [--k 10] [--rounds 3] [--json FILE]')
  process.exit(2)
}

interface Engine { search(q: Float32Array, p: { k: number }): { hits: Array<{ id: string }>; timingsMs: Record<string, number> } }

const baseModule = (await import(pathToFileURL(resolve(values.base, 'src/index/snapshot.ts')).href)) as { loadIndexSnapshot(dir: string): Promise<Engine> }
const set = await readEmbeddingSet(values.data)
const baseSnapshot = values['base-snapshot'] ?? values.snapshot
const engines: Record<'base' | 'head', Engine> = {
  base: await baseModule.loadIndexSnapshot(baseSnapshot),
  head: (await loadIndexSnapshot(values.snapshot)) as unknown as Engine,
}
const k = Number(values.k)
const n = Math.min(set.nQueries, Number(values.queries))
const { dim, queryLen: L } = set
const query = (q: number): Float32Array => set.queries.subarray(q * L * dim, (q + 1) * L * dim)
for (const e of Object.values(engines)) for (let q = 0; q < Math.min(10, n); q++) e.search(query(q), { k })

const median = (a: number[]): number => { const s = [...a].sort((x, y) => x - y); return s.length === 0 ? NaN : s[s.length >> 1] }
const rounds: Array<Record<string, unknown>> = []
let differ = 0
for (let r = 0; r < Number(values.rounds); r++) {
  const lat = { base: [] as number[], head: [] as number[] }
  const stages = { base: {} as Record<string, number[]>, head: {} as Record<string, number[]> }
  for (let q = 0; q < n; q++) {
    const ids: Record<string, string> = {}
    // alternate which engine goes first, so neither always runs on a cache the other warmed
    for (const name of (q % 2 === 0 ? ['base', 'head'] : ['head', 'base']) as Array<'base' | 'head'>) {
      const t0 = performance.now()
      const { hits, timingsMs } = engines[name].search(query(q), { k })
      lat[name].push(performance.now() - t0)
      ids[name] = hits.map((h) => h.id).join(',')
      for (const [s, v] of Object.entries(timingsMs)) (stages[name][s] ??= []).push(v)
    }
    if (r === 0 && ids.base !== ids.head) differ++
  }
  const row = {
    round: r + 1, base_p50_ms: median(lat.base), head_p50_ms: median(lat.head), speedup: median(lat.base) / median(lat.head),
    base_stages: Object.fromEntries(Object.entries(stages.base).map(([s, v]) => [s, median(v)])),
    head_stages: Object.fromEntries(Object.entries(stages.head).map(([s, v]) => [s, median(v)])),
  }
  rounds.push(row)
  const fmt = (o: Record<string, number>): string => Object.entries(o).map(([s, v]) => `${s} ${v.toFixed(1)}`).join(', ')
  console.log(`round ${row.round}: base p50 ${row.base_p50_ms.toFixed(2)} ms (${fmt(row.base_stages)}) | head p50 ${row.head_p50_ms.toFixed(2)} ms (${fmt(row.head_stages)}) | ${row.speedup.toFixed(2)}×`)
}
console.log(`queries whose top ${k} ids differ between the engines: ${differ} of ${n}`)
if (values.json !== undefined) {
  await writeFile(values.json, JSON.stringify({ data: values.data, snapshot: values.snapshot, baseSnapshot, k, queries: n, differ, rounds }, null, 2) + '\n')
}
