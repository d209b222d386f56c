/**
 * Quick profile of the PLAID engine on an embedding set (not the official bench: that is bench/index-bench.ts).
 *
 *   npx tsx bench/index-profile.ts --data DIR [--queries 100] [--exact 50] [--k 10] [--sweep] [--json FILE]
 *
 * Prints build time, bytes/vector, per-stage search latency (p50), success@10 (qrels) and top-10 overlap with exact
 * brute-force MaxSim over the original vectors, and with --sweep the quality/latency curve over ncells, threshold and
 * ndocs used to pick the defaults in plaid-search.ts.
 *
 * --updates: the update scenario instead. Index A is built on the first 90% of the documents, then the last 10% are
 * upserted (new vectors, coded with A's centroids) and 5% of all documents (seeded choice) deleted; index B is built
 * from scratch on the same final collection. Prints top-10 overlap with exact MaxSim over the final collection for
 * both, success@10 (queries whose target was deleted are skipped), and checks every hit is a live, current document.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { deserialize, serialize } from 'node:v8'
import { parseArgs } from 'node:util'
import { readEmbeddingSet } from '../src/index/embedding-set.js'
import { maxSim } from '../src/index/maxsim.js'
import { createPlaidIndex, type IndexState, type PlaidIndex, lastTrainTimings, restorePlaidIndex } from '../src/index/plaid-index.js'
import type { SearchParams } from '../src/index/types.js'

const { values } = parseArgs({
  options: {
    data: { type: 'string' }, queries: { type: 'string', default: '100' }, exact: { type: 'string', default: '50' },
    k: { type: 'string', default: '10' }, sweep: { type: 'boolean', default: false }, json: { type: 'string' },
    nbits: { type: 'string', default: '2' }, batch: { type: 'string', default: '0' }, cache: { type: 'string' }, ndocs: { type: 'string' }, updates: { type: 'boolean', default: false },
  },
})
if (!values.data) { console.error('usage: --data DIR'); process.exit(2) }
const set = await readEmbeddingSet(values.data)
const dim = set.dim
const nQ = Math.min(set.nQueries, Number(values.queries))
const nExact = Math.min(nQ, Number(values.exact))
const k = Number(values.k)
const docs = Array.from({ length: set.nDocs }, (_, d) => ({
  id: `doc${d}`,
  vectors: set.docs.subarray(set.docOffsets[d] * dim, (set.docOffsets[d] + set.doclens[d]) * dim),
}))
const query = (q: number) => set.queries.subarray(q * set.queryLen * dim, (q + 1) * set.queryLen * dim)

if (values.updates) { await updateScenario(); process.exit(0) }

// exact brute force over the original vectors (reference ranking); --cache keeps it and the built index between runs
const cacheFile = values.cache
const cached = cacheFile && existsSync(cacheFile) ? deserialize(readFileSync(cacheFile)) as { exactTop: string[][]; state: IndexState } : undefined
const exactTop: string[][] = cached?.exactTop.slice(0, nExact) ?? []
let t0 = performance.now()
for (let q = exactTop.length; q < nExact; q++) {
  const scores = docs.map((d, i) => ({ i, s: maxSim(query(q), set.queryLen, d.vectors, 0, d.vectors.length / dim, dim) }))
  scores.sort((a, b) => b.s - a.s || a.i - b.i)
  exactTop.push(scores.slice(0, k).map((x) => `doc${x.i}`))
}
const exactMs = (performance.now() - t0) / Math.max(1, nExact)
let exactSuccess = 0
if (set.qrels) for (let q = 0; q < nExact; q++) if (exactTop[q].includes(`doc${set.qrels[q]}`)) exactSuccess++

t0 = performance.now()
let index: PlaidIndex
if (cached) index = restorePlaidIndex(cached.state)
else {
  index = createPlaidIndex({ dim, nbits: Number(values.nbits) as 1 | 2 | 4, minTrainVectors: 1 })
  const batch = Number(values.batch)
  if (batch > 0) for (let i = 0; i < docs.length; i += batch) index.upsert(docs.slice(i, i + batch))
  else index.upsert(docs)
}
const buildS = (performance.now() - t0) / 1000
if (cacheFile && !cached) writeFileSync(cacheFile, serialize({ exactTop, state: index.exportState() }))
const st = index.stats()
const mem = process.memoryUsage()
console.log(`build ${buildS.toFixed(1)} s, ${st.vectors} vectors, K=${st.centroids}, ${(st.bytes / st.vectors).toFixed(2)} bytes/vector, rss ${(mem.rss / 2 ** 20).toFixed(0)} MB`)
console.log('train phases (ms)', JSON.stringify(Object.fromEntries(Object.entries(lastTrainTimings).map(([k, v]) => [k, Math.round(v)]))))
console.log(`exact brute force: ${exactMs.toFixed(1)} ms/query, success@${k} ${(exactSuccess / Math.max(1, nExact)).toFixed(3)} (${nExact} queries)`)

function run(params: Omit<SearchParams, 'k'>, kk = k) {
  for (let q = 0; q < Math.min(5, nQ); q++) index.search(query(q), { k: kk, ...params }) // warm-up
  const lat: number[] = []
  // CPU time per query as well: on this shared machine wall time includes waiting for a core
  const cpu: number[] = []
  const stage: Record<string, number[]> = {}
  let success = 0, overlap = 0
  for (let q = 0; q < nQ; q++) {
    const c0 = process.cpuUsage()
    const t = performance.now()
    const r = index.search(query(q), { k: kk, ...params })
    lat.push(performance.now() - t)
    const c1 = process.cpuUsage(c0)
    cpu.push((c1.user + c1.system) / 1000)
    for (const [s, ms] of Object.entries(r.timingsMs)) (stage[s] ??= []).push(ms!)
    const ids = r.hits.slice(0, k).map((h) => h.id)
    if (set.qrels && ids.includes(`doc${set.qrels[q]}`)) success++
    if (q < nExact) overlap += ids.filter((id) => exactTop[q].includes(id)).length / k
  }
  const p = (a: number[], f: number) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(f * s.length))] }
  const stages = Object.fromEntries(Object.entries(stage).map(([s, a]) => [s, +p(a, 0.5).toFixed(2)]))
  return { k: kk, ...params, cpu50: +p(cpu, 0.5).toFixed(2), p50: +p(lat, 0.5).toFixed(2), p95: +p(lat, 0.95).toFixed(2), success: +(success / nQ).toFixed(3),
    overlap: +(overlap / Math.max(1, nExact)).toFixed(3), stages }
}

const rows = [run({}), run({ ncells: 1, centroidScoreThreshold: 0.5, ndocs: 256 }), run({}, 100), run({ ncells: 2, centroidScoreThreshold: 0.45, ndocs: 1024 }, 100)]
for (const ndocs of (values.ndocs ?? '').split(',').filter(Boolean).map(Number)) rows.push(run({ ndocs }))
if (values.sweep) {
  for (const ncells of [1, 4, 8]) for (const ndocs of [128, 256, 384, 512]) rows.push(run({ ncells, centroidScoreThreshold: 0.4, ndocs }))
  for (const threshold of [0.3, 0.45, 0.5]) rows.push(run({ ncells: 8, centroidScoreThreshold: threshold, ndocs: 256 }))
  for (const ncells of [4, 8, 16]) for (const ndocs of [400, 1024]) rows.push(run({ ncells, centroidScoreThreshold: 0.45, ndocs }, 100))
}
console.table(rows.map((r) => ({ ...r, stages: JSON.stringify(r.stages) })))
const after = index.stats()
console.log(`after the searches: ${(after.bytes / after.vectors).toFixed(2)} bytes/vector (the WebAssembly arena's scratch included), rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MB`)
if (values.json) writeFileSync(values.json, JSON.stringify({ buildS, bytesPerVector: st.bytes / st.vectors, exactSuccess: exactSuccess / nExact, rows }, null, 2))

async function updateScenario(): Promise<void> {
  const n = docs.length
  const cut = Math.floor(n * 0.9)
  // seeded 5% deletions (every 20th document, offset 7)
  const deleted = new Set<string>()
  for (let d = 7; d < n; d += 20) deleted.add(`doc${d}`)
  const finalDocs = docs.filter((d) => !deleted.has(d.id))
  let t = performance.now()
  const a = createPlaidIndex({ dim, minTrainVectors: 1 })
  a.upsert(docs.slice(0, cut))
  const buildA = performance.now() - t
  t = performance.now()
  for (let i = cut; i < n; i += 100) a.upsert(docs.slice(i, Math.min(n, i + 100)))
  a.delete([...deleted])
  const updateMs = performance.now() - t
  t = performance.now()
  const b = createPlaidIndex({ dim, minTrainVectors: 1 })
  b.upsert(finalDocs)
  const buildB = performance.now() - t
  // the same from-scratch build with another seed: how much two trainings differ by chance
  const c = createPlaidIndex({ dim, minTrainVectors: 1, seed: 777 })
  c.upsert(finalDocs)
  console.log(`A: built on ${cut} docs in ${(buildA / 1000).toFixed(1)} s, +${n - cut} upserted in batches of 100 and ${deleted.size} deleted in ${(updateMs / 1000).toFixed(1)} s; ` +
    `drift ${JSON.stringify(a.stats().drift)}`)
  console.log(`B: from scratch on ${finalDocs.length} docs in ${(buildB / 1000).toFixed(1)} s`)
  const live = new Set(finalDocs.map((d) => d.id))
  let overlapC = 0
  let overlapA = 0, overlapB = 0, succA = 0, succB = 0, succExact = 0, nq = 0, bad = 0
  for (let q = 0; q < nExact; q++) {
    const scores = finalDocs.map((d) => ({ id: d.id, s: maxSim(query(q), set.queryLen, d.vectors, 0, d.vectors.length / dim, dim) }))
    scores.sort((x, y) => y.s - x.s)
    const exact = scores.slice(0, k).map((x) => x.id)
    const ha = a.search(query(q), { k }).hits.map((h) => h.id)
    const hb = b.search(query(q), { k }).hits.map((h) => h.id)
    for (const id of ha) if (!live.has(id)) bad++
    overlapA += ha.filter((id) => exact.includes(id)).length / k
    overlapB += hb.filter((id) => exact.includes(id)).length / k
    overlapC += c.search(query(q), { k }).hits.filter((h) => exact.includes(h.id)).length / k
    if (set.qrels && live.has(`doc${set.qrels[q]}`)) {
      nq++
      const target = `doc${set.qrels[q]}`
      if (ha.includes(target)) succA++
      if (hb.includes(target)) succB++
      if (exact.includes(target)) succExact++
    }
  }
  console.log(`overlap@${k} vs exact over the final collection (${nExact} queries): updated ${(overlapA / nExact).toFixed(3)}, ` +
    `from scratch ${(overlapB / nExact).toFixed(3)} (another seed: ${(overlapC / nExact).toFixed(3)}); success@${k} (${nq} queries with a live target): updated ${(succA / nq).toFixed(3)}, ` +
    `from scratch ${(succB / nq).toFixed(3)}, exact ${(succExact / nq).toFixed(3)}; hits that are deleted or stale: ${bad}`)
}
