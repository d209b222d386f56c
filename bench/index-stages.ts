/**
 * Where does the approximate search lose the target? Stage-by-stage recall of the PLAID search (SearchParams.trace).
 *
 *   npx tsx bench/index-stages.ts --data DIR [--queries 300] [--nbits 2] [--cache DIR] [--configs LIST] [--json FILE]
 *
 * For each query and parameter set: did the query's target document (qrels) survive candidate generation, the
 * pruned approximate cut (ndocs), the unpruned cut (the documents scored exactly), the final top 10? And is it in
 * exact MaxSim's top 10 at all (over the original vectors)? Only targets exact MaxSim ranks in its top 10 count as
 * "lost by a stage" (a target exact search misses is not the engine's loss). Also prints success@10, overlap@10 with
 * exact, p50 and the budgets the search chose (median). --cache keeps the built index and the exact top 10.
 * LIST: `name=k,ncells,threshold,ndocs;…` ("-" keeps a default, e.g. `ref=10,1,0.5,256;def=10,-,-,-`).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { deserialize, serialize } from 'node:v8'
import { dotTile } from '../src/index/dense-kernels.js'
import { readEmbeddingSet, type EmbeddingSet } from '../src/index/embedding-set.js'
import { createPlaidIndex, type IndexState, type PlaidIndex, restorePlaidIndex, type SearchParams, type SearchTrace } from '../src/index/plaid-index.js'

const { values } = parseArgs({
  options: {
    data: { type: 'string' }, queries: { type: 'string', default: '300' }, nbits: { type: 'string', default: '2' },
    cache: { type: 'string' }, configs: { type: 'string' }, json: { type: 'string' }, exact: { type: 'boolean', default: false },
  },
})
if (values.data === undefined) { console.error('usage: --data DIR [--queries 300] [--cache DIR] [--configs LIST]'); process.exit(2) }
const set = await readEmbeddingSet(values.data)
if (set.qrels === undefined) { console.error('the set has no qrels'); process.exit(2) }
const qrels = set.qrels
const nQ = Math.min(set.nQueries, Number(values.queries))
const { dim, queryLen: L } = set
const query = (q: number): Float32Array => set.queries.subarray(q * L * dim, (q + 1) * L * dim)

/** Exact MaxSim top 10 of queries 0..n−1: one pass over the documents, a dot tile of all query tokens per block. */
function exactTop10(s: EmbeddingSet, n: number): Int32Array {
  const scores = new Float32Array(n * s.nDocs)
  const qs = s.queries.subarray(0, n * L * dim)
  const BLOCK = 256
  let tile = new Float32Array(n * L * BLOCK)
  for (let d0 = 0; d0 < s.nDocs;) {
    let d1 = d0 + 1
    while (d1 < s.nDocs && s.docOffsets[d1 + 1] - s.docOffsets[d0] <= BLOCK) d1++
    const first = s.docOffsets[d0], nb = s.docOffsets[d1] - first
    if (tile.length < n * L * nb) tile = new Float32Array(n * L * nb)
    dotTile(qs, 0, n * L, s.docs, first * dim, nb, dim, tile, 0)
    for (let q = 0; q < n; q++) {
      for (let d = d0; d < d1; d++) {
        const a = s.docOffsets[d] - first, b = a + s.doclens[d]
        let total = 0
        for (let j = 0; j < L; j++) {
          const row = (q * L + j) * nb
          let m = -Infinity
          for (let t = row + a; t < row + b; t++) if (tile[t] > m) m = tile[t]
          if (b > a) total += m
        }
        scores[q * s.nDocs + d] = total
      }
    }
    d0 = d1
  }
  const out = new Int32Array(n * 10)
  for (let q = 0; q < n; q++) {
    const idx = Array.from({ length: s.nDocs }, (_, i) => i)
    idx.sort((a, b) => scores[q * s.nDocs + b] - scores[q * s.nDocs + a] || a - b)
    out.set(idx.slice(0, 10), q * 10)
  }
  return out
}

const cacheDir = values.cache
if (cacheDir !== undefined) mkdirSync(cacheDir, { recursive: true })
let exact: Int32Array | undefined
const exactFile = cacheDir === undefined ? undefined : join(cacheDir, `exact-top10-${nQ}.i32`)
if (exactFile !== undefined && existsSync(exactFile)) {
  const b = readFileSync(exactFile)
  exact = new Int32Array(b.buffer, b.byteOffset, b.byteLength / 4)
} else if (values.exact) {
  const t = performance.now()
  exact = exactTop10(set, nQ)
  console.log(`exact MaxSim top 10 for ${nQ} queries in ${((performance.now() - t) / 1000).toFixed(0)} s`)
  if (exactFile !== undefined) writeFileSync(exactFile, Buffer.from(exact.buffer))
}
// without exact MaxSim (costly: nQ·32·vectors·dim multiply-adds), every target counts and overlap is not measured
const inExact = (q: number): boolean => exact === undefined || exact.subarray(q * 10, q * 10 + 10).includes(qrels[q])
let exactSuccess = 0
for (let q = 0; q < nQ; q++) if (inExact(q)) exactSuccess++

const nbits = Number(values.nbits) as 1 | 2 | 4
const stateFile = cacheDir === undefined ? undefined : join(cacheDir, `index-nbits${nbits}.v8`)
let index: PlaidIndex
let buildS = 0
if (stateFile !== undefined && existsSync(stateFile)) index = restorePlaidIndex(deserialize(readFileSync(stateFile)) as IndexState)
else {
  const t = performance.now()
  index = createPlaidIndex({ dim, nbits })
  index.upsert(Array.from({ length: set.nDocs }, (_, d) => ({
    id: `d${d}`, vectors: set.docs.subarray(set.docOffsets[d] * dim, (set.docOffsets[d] + set.doclens[d]) * dim),
  })))
  buildS = (performance.now() - t) / 1000
  if (stateFile !== undefined) writeFileSync(stateFile, serialize(index.exportState()))
}
const st = index.stats()
console.log(`${values.data}: ${set.nDocs} docs, ${st.vectors} vectors, K=${st.centroids}, ${(st.bytes / st.vectors).toFixed(1)} B/vector` +
  `${buildS > 0 ? `, build ${buildS.toFixed(1)} s` : ' (cached index)'}; exact MaxSim success@10 ${exact === undefined ? 'not computed (--exact)' : (exactSuccess / nQ).toFixed(3)} on ${nQ} queries`)

interface Config { name: string; params: Omit<SearchParams, 'trace'> }
const configs: Config[] = (values.configs ?? 'ours=10,-,-,-;ref=10,1,0.5,256;k100=100,-,-,-;ref100=100,2,0.45,1024').split(';').filter(Boolean).map((c) => {
  const [name, spec] = c.split('=')
  const [k, ncells, thr, ndocs] = spec.split(',')
  const params: SearchParams = { k: Number(k) }
  if (ncells !== '-' && ncells !== undefined) params.ncells = Number(ncells)
  if (thr !== '-' && thr !== undefined) params.centroidScoreThreshold = Number(thr)
  if (ndocs !== '-' && ndocs !== undefined) params.ndocs = Number(ndocs)
  return { name, params }
})

const median = (a: number[]): number => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)] ?? Number.NaN }
const rows: Array<Record<string, unknown>> = []
let baseP50 = Number.NaN
for (const { name, params } of configs) {
  for (let q = 0; q < Math.min(10, nQ); q++) index.search(query(q), params) // warm-up
  const lat: number[] = []
  const stage: Record<string, number[]> = {}
  for (let q = 0; q < nQ; q++) {
    const t = performance.now()
    const { timingsMs } = index.search(query(q), params)
    lat.push(performance.now() - t)
    for (const [st, v] of Object.entries(timingsMs)) (stage[st] ??= []).push(v)
  }
  let success = 0, overlap = 0
  const lost = { candidates: 0, pruned: 0, unpruned: 0, final: 0 }
  const budgets: Record<string, number[]> = {}
  for (let q = 0; q < nQ; q++) {
    const trace: SearchTrace = {}
    const { hits } = index.search(query(q), { ...params, trace })
    const target = `d${qrels[q]}`
    const top10 = hits.slice(0, 10).map((h) => h.id)
    if (top10.includes(target)) success++
    if (exact !== undefined) {
      const ex = Array.from(exact.subarray(q * 10, q * 10 + 10), (d) => `d${d}`)
      overlap += top10.filter((id) => ex.includes(id)).length / 10
    }
    for (const [b, v] of Object.entries(trace.budgets ?? {})) (budgets[b] ??= []).push(v)
    if (!inExact(q)) continue
    if (!(trace.candidates ?? []).includes(target)) lost.candidates++
    else if (trace.pruned !== undefined && !trace.pruned.includes(target)) lost.pruned++
    else if (!(trace.unpruned ?? []).includes(target)) lost.unpruned++
    else if (!top10.includes(target)) lost.final++
  }
  const p50 = median(lat)
  if (Number.isNaN(baseP50)) baseP50 = p50
  const row = {
    config: name, ...params, success_at_10: +(success / nQ).toFixed(3), exact: exact === undefined ? null : +(exactSuccess / nQ).toFixed(3), overlap_at_10: exact === undefined ? null : +(overlap / nQ).toFixed(3),
    lost_candidates: lost.candidates, lost_pruned: lost.pruned, lost_unpruned: lost.unpruned, lost_final: lost.final,
    p50_ms: +p50.toFixed(2), p50_ratio: +(p50 / baseP50).toFixed(2),
    stages_ms: Object.fromEntries(Object.entries(stage).map(([st, v]) => [st, +median(v).toFixed(2)])),
    budgets: Object.fromEntries(Object.entries(budgets).map(([b, v]) => [b, +median(v).toFixed(3)])),
  }
  rows.push(row)
  console.log(JSON.stringify(row))
}
console.table(rows.map((r) => ({ ...r, stages_ms: JSON.stringify(r.stages_ms), budgets: JSON.stringify(r.budgets) })))
if (values.json !== undefined) writeFileSync(values.json, JSON.stringify({ data: values.data, nQ, exactSuccess: exactSuccess / nQ, rows }, null, 2) + '\n')
