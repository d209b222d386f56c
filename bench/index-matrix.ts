/**
 * Index quality matrix (issue 9): every data preset (bench/data-models.ts) × search parameter sets, against exact
 * MaxSim. One command reproduces the table in BENCHMARKS.md "Index quality matrix (issue 9)":
 *
 *   npm run bench:matrix -- [--presets a,b] [--queries 500] [--docs N] [--cache DIR] [--modes ours,reference]
 *                           [--candidates 'name:ncells=2,threshold=0.45,ndocs=512;…'] [--stages] [--nbits 2]
 *                           [--warmup 10] [--json FILE] [--md FILE] [--rebuild] [--index-key HASH] [--pool N]
 *   (also: npm run bench:index -- --matrix …)
 *
 * Per preset: the data set is generated into the cache folder if missing (folder named by the preset's parameters, so
 * an edited preset never reuses stale data); exact MaxSim scores of the first --queries queries against every document
 * (bench/exact-maxsim.ts) are cached beside it (a cache for more queries serves fewer); the index is built once per
 * preset, nbits and index source code (hash of src/index/*.ts) and cached as a snapshot (src/index/snapshot.ts) with
 * its build time, so that re-runs with other search parameters only load it. --rebuild ignores the index cache.
 * --index-key HASH loads the snapshots cached under another code hash (the one an earlier run printed as "index code")
 * instead: for a change that touches only search, so that the indexes built by the earlier code are measured by the
 * current search. The caller vouches that the build path did not change (check git diff of plaid-index.ts, kmeans.ts,
 * ivf.ts, residual-codec.ts); a missing snapshot is an error, never a silent build under the borrowed key.
 *
 * --pool N: each cell's queries are also searched through a pool of N search workers with search sharing on (what the
 * service runs with SEARCH_WORKERS=N: one query at a time on N cores, src/search-workers/search-share.ts), in a pass
 * of their own right after the in-process one (back to back, as the service runs them). Adds the pool's p50/p95 (the
 * round trip) to each cell, and counts the queries whose pool top-k ids differ from the in-process ones (sharing must
 * not change results).
 *
 * --docs N generates a smaller collection of each preset's model (another data set, cached under its own key) for
 * quick runs; the figures then do not compare with the 10k table.
 *
 * A preset `set:DIR` is an embedding set made elsewhere (e.g. `npm run bench:encode-set`: real text through an
 * encoder), with qrels; it is read in place, and its exact scores and indexes are cached under a hash of its files.
 * --docs does not apply to it.
 *
 * Modes (each run at k=10 and k=100, one query at a time after --warmup queries):
 *   ours       the engine's defaults (SearchParams { k } only)
 *   reference  Stanford ColBERT PLAID's defaults: k ≤ 10: ncells 1, threshold 0.5, ndocs 256; k ≤ 100: 2, 0.45, 1024
 *   ours-decoded, reference-decoded  the same on an index without original vectors (keepOriginals false, built and
 *              cached beside the other): the final ranking decodes the residuals, as Stanford's PLAID does (it keeps
 *              no originals), so reference-decoded is the reference's defaults ranked the way the reference ranks
 *   --candidates 'name:key=value,…;…'  any SearchParams fields (threshold = centroidScoreThreshold; numbers and
 *              true/false are converted, other values passed as strings), e.g. an adaptive mode the engine exposes:
 *              'adaptive:mode=adaptive'. A key prefixed k10./k100. applies to that k only (k100.ndocs=1024).
 * Figures per cell: success@10 of the returned list (target in its top 10) and overlap@10 with exact MaxSim's top 10;
 * at k=100 also success@100 and recall@100 (overlap of the top 100 with exact's top 100); p50/p95 latency; per preset
 * build time and bytes/vector (index's own accounting).
 *
 * --stages: one extra (untimed) pass per cell with SearchParams.trace (the engine's opt-in diagnostics: the
 * documents surviving each stage, see src/index/types.ts SearchTrace). For the targets exact MaxSim ranks in its top
 * 10, reports where the engine lost them: candidate generation (not in trace.candidates), the pruned approximate cut
 * (trace.pruned), the unpruned cut to the exact stage (trace.unpruned), or the final ranking (trace.final). It also
 * ranks the documents the exact stage scored by the cached exact MaxSim scores (the original vectors): success@10 and
 * overlap@10 of a final ranking that read the original vectors instead of the decompressed ones. An engine without the
 * trace leaves the object empty and the report says "no trace".
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { basename, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { readEmbeddingSet, type EmbeddingSet } from '../src/index/embedding-set.js'
import { createPlaidIndex, type PlaidIndex, type SearchParams } from '../src/index/plaid-index.js'
import { loadIndexSnapshot, originalsDirOf, saveIndexSnapshot } from '../src/index/snapshot.js'
import { PRESETS, findPreset, modelKey, writeGeneratedSet, type Preset } from './data-models.js'
import { createSearchPool, type SearchPool } from '../src/search-workers/search-pool.js'
import { exactScores, topK } from './exact-maxsim.js'

const HELP = `usage: npm run bench:matrix -- [--presets ${PRESETS.map((p) => p.name).join(',')},drawn-<seed>,<name>-d<dim>,<name>-q<len>,<name>-l<max>,<name>-o<percent>,set:<dir>] [--queries 500] [--docs N] [--cache /tmp/jacolbert-matrix]
  [--modes ours,reference,ours-decoded,reference-decoded] [--candidates 'name:ncells=2,threshold=0.45,ndocs=512;...'] [--stages] [--nbits 2] [--warmup 10]
  [--json FILE] [--md FILE] [--rebuild] [--index-key HASH] [--pool N]`

/** The reference implementation's (Stanford ColBERT PLAID 0.2.x) defaults, by k. */
export function referenceParams(k: number): Partial<SearchParams> {
  return k <= 10 ? { ncells: 1, centroidScoreThreshold: 0.5, ndocs: 256 } : { ncells: 2, centroidScoreThreshold: 0.45, ndocs: 1024 }
}

/** decoded: searched on a second index of the preset that keeps no original vectors (its final ranking decodes residuals) */
export interface Mode { name: string; params(k: number): Partial<SearchParams>; decoded?: boolean }

const NAMED_MODES: Record<string, Mode['params']> = { ours: () => ({}), reference: referenceParams }

/** The named modes of --modes (see the header), in order; `<name>-decoded` is that mode on the index without originals. */
export function parseModes(spec: string): Mode[] {
  return spec.split(',').map((x) => x.trim()).filter((x) => x.length > 0).map((m): Mode => {
    const base = m.endsWith('-decoded') ? m.slice(0, -'-decoded'.length) : m
    if (!Object.hasOwn(NAMED_MODES, base)) throw new Error(`unknown mode ${m} (ours, reference, ours-decoded, reference-decoded; others via --candidates)`)
    return base === m ? { name: m, params: NAMED_MODES[base] } : { name: m, params: NAMED_MODES[base], decoded: true }
  })
}

/** Parses `name:key=value,key=value;name2:…` into modes (see the header). */
export function parseCandidates(spec: string): Mode[] {
  return spec.split(';').map((s) => s.trim()).filter((s) => s.length > 0).map((entry) => {
    const colon = entry.indexOf(':')
    if (colon <= 0) throw new Error(`candidate "${entry}": expected name:key=value,…`)
    const name = entry.slice(0, colon).trim()
    const common: Record<string, unknown> = {}
    const byK: Record<string, Record<string, unknown>> = {}
    for (const kv of entry.slice(colon + 1).split(',').map((x) => x.trim()).filter((x) => x.length > 0)) {
      const eq = kv.indexOf('=')
      if (eq <= 0) throw new Error(`candidate ${name}: "${kv}" is not key=value`)
      let key = kv.slice(0, eq).trim()
      const raw = kv.slice(eq + 1).trim()
      const value: unknown = raw === 'true' ? true : raw === 'false' ? false : raw !== '' && Number.isFinite(Number(raw)) ? Number(raw) : raw
      let target = common
      const m = /^k(\d+)\.(.+)$/.exec(key)
      if (m !== null) {
        target = byK[m[1]] ??= {}
        key = m[2]
      }
      if (key === 'threshold') key = 'centroidScoreThreshold'
      if (key === 'k' || key === 'filter' || key === 'trace') throw new Error(`candidate ${name}: ${key} cannot be set`)
      target[key] = value
    }
    return { name, params: (k: number) => ({ ...common, ...(byK[String(k)] ?? {}) }) as Partial<SearchParams> }
  })
}

/** The engine's opt-in trace (SearchParams.trace), read structurally so that an engine without it still runs. */
interface StageTrace {
  candidates?: string[]; pruned?: string[]; unpruned?: string[]; final?: string[]; budgets?: Record<string, number>
  approx?: { ids: string[]; scores: number[] }
}

interface Cell {
  preset: string; mode: string; k: number; params: Record<string, unknown>; queries: number
  /** what the searched index's final ranking reads: its original vectors, or the decoded residuals (no originals) */
  final_ranking: 'originals' | 'decoded'
  p50_ms: number; p95_ms: number
  /** per query, 1 when the target is in the top 10 (as a string of 0/1, for the per-query comparison) */
  found_at_10: string
  /** with --pool: the round trip through the worker pool with sharing, and the queries whose top k differed */
  pool_p50_ms?: number; pool_p95_ms?: number; pool_differ?: number
  success_at_10: number; overlap_at_10: number
  success_at_100?: number; recall_at_100?: number
  stages?: StageReport
}

interface StageReport {
  traced: boolean
  /** targets exact MaxSim ranks in its top 10 (the engine's to lose) */
  exact_found: number
  lost_candidates: number; lost_pruned: number; lost_unpruned: number; lost_final: number
  /**
   * Each target lost at the exact stage's cut, where the engine's trace has the approximate order: its rank there
   * (0-based), how far the approximate score understated its exact MaxSim, and how many documents the stage scored
   */
  unpruned_losses?: Array<{ query: number; approx_rank: number; understated_by: number; scored: number }>
  /** median of each budget the engine reported */
  budgets_median?: Record<string, number>
  /**
   * The documents the exact stage scored (trace.unpruned) re-ranked by exact MaxSim over the original vectors: what the
   * search would return if its final ranking read the original vectors instead of the decompressed ones
   */
  rescored_success_at_10?: number; rescored_overlap_at_10?: number
}

interface PresetInfo {
  preset: string; seed: number; key: string; docs: number; vectors: number; queries: number
  exact_success_at_10: number; exact_success_at_100: number; exact_seconds: number; exact_cached: boolean
  /** per query, 1 when exact MaxSim's top 10 holds the target */
  exact_found_at_10: string
  /** per query, the target's rank under exact MaxSim (1 = best; ties counted in its favour) */
  exact_target_rank: number[]
  build_s: number; build_cached: boolean; bytes_per_vector: number; centroids: number; generate_s?: number
}

const percentile = (sorted: number[], p: number): number => sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]
const median = (xs: number[]): number => percentile([...xs].sort((a, b) => a - b), 0.5)

export async function exists(p: string): Promise<boolean> {
  try {
    await stat(p)
    return true
  } catch {
    return false
  }
}

/** Writes `data` to `path` via a temporary file and a rename, so a concurrent reader never sees half a file. */
export async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`
  await writeFile(tmp, data)
  await rename(tmp, path)
}

/** Hash of the index engine's sources: a cached index snapshot is valid only for the code that built it. */
export async function indexCodeHash(): Promise<string> {
  const dir = resolve('src/index')
  const h = createHash('sha256')
  for (const f of (await readdir(dir)).filter((x) => x.endsWith('.ts')).sort()) {
    h.update(f)
    h.update(await readFile(join(dir, f)))
  }
  return h.digest('hex').slice(0, 12)
}

/** A preset of the matrix: a generated one, or an embedding set made elsewhere (`set:DIR`), read in place. */
type MatrixPreset = Preset | ExternalSet
interface ExternalSet { name: string; dir: string; seed: 0 }

function externalSet(spec: string): ExternalSet {
  const dir = resolve(spec.slice('set:'.length))
  return { name: `set-${basename(dir)}`, dir, seed: 0 }
}

/**
 * The cache key of a preset's data: its parameters, or for an external set a hash of its files (two encoders give the
 * same manifest and lengths for the same texts, and a set may be re-encoded in place).
 */
async function dataKey(preset: MatrixPreset): Promise<string> {
  if (!('dir' in preset)) return `${preset.name}-${modelKey(preset.model, preset.seed)}`
  if (!(await exists(join(preset.dir, 'manifest.json')))) throw new Error(`${preset.name}: ${preset.dir} is not an embedding set (no manifest.json)`)
  const h = createHash('sha256')
  for (const f of (await readdir(preset.dir)).sort()) {
    if (!/\.(json|f32|i32)$/.test(f)) continue
    h.update(f)
    for await (const chunk of createReadStream(join(preset.dir, f))) h.update(chunk as Buffer)
  }
  return `${preset.name}-${h.digest('hex').slice(0, 8)}`
}

async function ensureData(cache: string, preset: MatrixPreset, log: (s: string) => void): Promise<{ dir: string; seconds?: number }> {
  if ('dir' in preset) return { dir: preset.dir }
  const dir = join(cache, 'data', `${preset.name}-${modelKey(preset.model, preset.seed)}`)
  if (await exists(join(dir, 'manifest.json'))) return { dir }
  await mkdir(join(cache, 'data'), { recursive: true })
  const tmp = `${dir}.tmp-${process.pid}`
  await rm(tmp, { recursive: true, force: true })
  log(`${preset.name}: generating ${preset.model.docs} documents into ${dir} …`)
  const r = await writeGeneratedSet(tmp, preset.model, preset.seed)
  try {
    await rename(tmp, dir)
  } catch (err) {
    // another run generated it meanwhile (same preset, same seed: the same bytes)
    if (!(await exists(join(dir, 'manifest.json')))) throw err
    await rm(tmp, { recursive: true, force: true })
  }
  log(`${preset.name}: ${r.docs} documents, ${r.vectors} vectors, ${r.queries} queries, ${r.topics} topics in ${r.seconds.toFixed(0)} s`)
  return { dir, seconds: r.seconds }
}

/** Exact scores of queries 0..n−1 (n × nDocs), from the cache when a file for ≥ n queries exists. */
async function ensureExact(cache: string, key: string, set: EmbeddingSet, n: number, log: (s: string) => void): Promise<{ scores: Float32Array; seconds: number; cached: boolean }> {
  const dir = join(cache, 'exact')
  await mkdir(dir, { recursive: true })
  const prefix = `${key}-q`
  const have = (await readdir(dir)).map((f) => /^(.*)-q(\d+)\.f32$/.exec(f)).filter((m) => m !== null && `${m[1]}-q` === prefix)
    .map((m) => Number(m![2])).filter((m) => m >= n).sort((a, b) => a - b)
  if (have.length > 0) {
    const buf = await readFile(join(dir, `${prefix}${have[0]}.f32`))
    if (buf.byteLength === have[0] * set.nDocs * 4) {
      const all = new Float32Array(buf.buffer, buf.byteOffset, have[0] * set.nDocs)
      return { scores: all.subarray(0, n * set.nDocs), seconds: 0, cached: true }
    }
  }
  log(`  exact MaxSim: ${n} queries × ${set.nTokens} vectors (cost ${(n * set.queryLen * set.nTokens * set.dim / 1e12).toFixed(2)} T multiply-adds) …`)
  const t0 = performance.now()
  const scores = exactScores(set, set.queries.subarray(0, n * set.queryLen * set.dim), set.queryLen)
  const seconds = (performance.now() - t0) / 1000
  await writeAtomic(join(dir, `${prefix}${n}.f32`), new Uint8Array(scores.buffer, scores.byteOffset, scores.byteLength))
  return { scores, seconds, cached: false }
}

async function ensureIndex(
  cache: string, key: string, set: EmbeddingSet, nbits: 1 | 2 | 4, rebuild: boolean, log: (s: string) => void, codeKey?: string, decoded = false,
): Promise<{ index: PlaidIndex; buildS: number; cached: boolean }> {
  const dir = join(cache, 'index', `${key}-nbits${nbits}-${codeKey ?? await indexCodeHash()}${decoded ? '-decoded' : ''}`)
  const meta = join(dir, 'bench-build.json')
  if (codeKey !== undefined) {
    if (!(await exists(meta))) throw new Error(`--index-key ${codeKey}: no cached snapshot in ${dir}`)
    const { build_s: buildS } = JSON.parse(await readFile(meta, 'utf8')) as { build_s: number }
    return { index: await loadIndexSnapshot(join(dir, 'snapshot')), buildS, cached: true }
  }
  if (!rebuild && await exists(meta)) {
    try {
      const { build_s: buildS } = JSON.parse(await readFile(meta, 'utf8')) as { build_s: number }
      return { index: await loadIndexSnapshot(join(dir, 'snapshot')), buildS, cached: true }
    } catch (err) {
      log(`  cached index unusable (${(err as Error).message}); rebuilding`)
    }
  }
  const docs = Array.from({ length: set.nDocs }, (_, d) => ({
    id: `d${d}`, vectors: set.docs.subarray(set.docOffsets[d] * set.dim, (set.docOffsets[d] + set.doclens[d]) * set.dim),
  }))
  await mkdir(dir, { recursive: true })
  const t0 = performance.now()
  // the original vectors in a file beside the snapshot, as the service keeps them (none for a decoded mode's index)
  const index = decoded
    ? createPlaidIndex({ dim: set.dim, nbits, keepOriginals: false })
    : createPlaidIndex({ dim: set.dim, nbits }, { originalsDir: originalsDirOf(join(dir, 'snapshot')) })
  index.upsert(docs)
  const buildS = (performance.now() - t0) / 1000
  await saveIndexSnapshot(index, join(dir, 'snapshot'))
  await writeAtomic(meta, JSON.stringify({ build_s: buildS, built_at: new Date().toISOString() }) + '\n')
  return { index, buildS, cached: false }
}

async function runCell(
  index: PlaidIndex, set: EmbeddingSet, n: number, k: number, params: Partial<SearchParams>, exactTop: number[][], warmup: number,
  pool?: SearchPool,
): Promise<Omit<Cell, 'preset' | 'mode' | 'params' | 'stages' | 'final_ranking'>> {
  const { dim, queryLen: L } = set
  const query = (q: number): Float32Array => set.queries.subarray(q * L * dim, (q + 1) * L * dim)
  const p = { ...params, k } as SearchParams
  const viaPool = async (q: number): Promise<{ ms: number; ids: string }> => {
    const t0 = performance.now()
    const r = await pool!.search(index, query(q), p, { sharing: true, linger: true })
    return { ms: performance.now() - t0, ids: r.hits.map((h) => h.id).join(',') }
  }
  for (let i = 0; i < Math.min(warmup, n); i++) index.search(query(i), p)
  const lat: number[] = [], poolLat: number[] = []
  let s10 = 0, s100 = 0, ov10 = 0, rec100 = 0, differ = 0
  const inProcessIds: string[] = []
  const found: number[] = []
  for (let q = 0; q < n; q++) {
    const t0 = performance.now()
    const { hits } = index.search(query(q), p)
    lat.push(performance.now() - t0)
    if (pool !== undefined) inProcessIds.push(hits.map((h) => h.id).join(','))
    const got = hits.map((h) => Number(h.id.slice(1)))
    const target = set.qrels![q]
    const top10 = got.slice(0, 10)
    const hit = top10.includes(target)
    found.push(hit ? 1 : 0)
    if (hit) s10++
    const ex10 = exactTop[q].slice(0, 10)
    ov10 += top10.filter((d) => ex10.includes(d)).length / Math.max(1, ex10.length)
    if (k >= 100) {
      if (got.slice(0, 100).includes(target)) s100++
      const ex100 = new Set(exactTop[q].slice(0, 100))
      rec100 += got.slice(0, 100).filter((d) => ex100.has(d)).length / Math.max(1, ex100.size)
    }
  }
  if (pool !== undefined) {
    // a pass of its own: back to back, as the service's pool runs them (a search in this thread between two pooled
    // ones left the workers' next search 1.15x slower: zipf-quarter 8.1 ms against 7.0)
    for (let i = 0; i < Math.min(warmup, n); i++) await viaPool(i)
    for (let q = 0; q < n; q++) {
      const r = await viaPool(q)
      poolLat.push(r.ms)
      if (r.ids !== inProcessIds[q]) differ++
    }
  }
  lat.sort((a, b) => a - b)
  poolLat.sort((a, b) => a - b)
  return {
    k, queries: n, p50_ms: percentile(lat, 0.5), p95_ms: percentile(lat, 0.95),
    ...(pool !== undefined ? { pool_p50_ms: percentile(poolLat, 0.5), pool_p95_ms: percentile(poolLat, 0.95), pool_differ: differ } : {}),
    success_at_10: s10 / n, overlap_at_10: ov10 / n, found_at_10: found.join(''),
    ...(k >= 100 ? { success_at_100: s100 / n, recall_at_100: rec100 / n } : {}),
  }
}

/**
 * Stage report (see the header): where the engine lost the targets exact MaxSim finds in its top 10. This is the hook
 * for the engine's SearchParams.trace; budgets it reports (trace.budgets) are summarised by their medians.
 */
function stageReport(
  index: PlaidIndex, set: EmbeddingSet, n: number, k: number, params: Partial<SearchParams>, exactTop: number[][], exactScores: Float32Array,
): StageReport {
  const { dim, queryLen: L } = set
  const r: StageReport = { traced: false, exact_found: 0, lost_candidates: 0, lost_pruned: 0, lost_unpruned: 0, lost_final: 0 }
  const budgets = new Map<string, number[]>()
  let rescoredSuccess = 0, rescoredOverlap = 0
  for (let q = 0; q < n; q++) {
    const target = set.qrels![q]
    const trace: StageTrace = {}
    const res = index.search(set.queries.subarray(q * L * dim, (q + 1) * L * dim), { ...params, k, trace } as SearchParams)
    if (trace.candidates !== undefined) r.traced = true
    for (const [b, v] of Object.entries(trace.budgets ?? {})) budgets.set(b, [...(budgets.get(b) ?? []), v])
    if (trace.unpruned !== undefined) {
      // ids are `d<index>` (bench sets); ties by document index, as topK breaks them
      const scored = trace.unpruned.map((id) => Number(id.slice(1)))
      const top = scored.sort((a, b) => exactScores[q * set.nDocs + b] - exactScores[q * set.nDocs + a] || a - b).slice(0, 10)
      if (top.includes(target)) rescoredSuccess++
      const ex10 = exactTop[q].slice(0, 10)
      rescoredOverlap += top.filter((d) => ex10.includes(d)).length / 10
    }
    if (!exactTop[q].slice(0, 10).includes(target)) continue
    r.exact_found++
    const id = `d${target}`
    const final = trace.final ?? res.hits.map((h) => h.id)
    if (trace.candidates !== undefined && !trace.candidates.includes(id)) r.lost_candidates++
    else if (trace.pruned !== undefined && !trace.pruned.includes(id)) r.lost_pruned++
    else if (trace.unpruned !== undefined && !trace.unpruned.includes(id)) {
      r.lost_unpruned++
      const rank = trace.approx?.ids.indexOf(id) ?? -1
      if (rank >= 0) {
        (r.unpruned_losses ??= []).push({
          query: q, approx_rank: rank, understated_by: exactScores[q * set.nDocs + target] - trace.approx!.scores[rank], scored: trace.unpruned.length,
        })
      }
    } else if (!final.slice(0, 10).includes(id)) r.lost_final++
  }
  if (budgets.size > 0) r.budgets_median = Object.fromEntries([...budgets].map(([b, v]) => [b, median(v)]))
  if (r.traced) { r.rescored_success_at_10 = rescoredSuccess / n; r.rescored_overlap_at_10 = rescoredOverlap / n }
  return r
}

/** The queries found (1) by `x` and not by `y` (a), and by `y` and not by `x` (b). */
export function discordant(x: string, y: string): { a: number[]; b: number[] } {
  const a: number[] = [], b: number[] = []
  for (let q = 0; q < Math.min(x.length, y.length); q++) {
    if (x[q] === '1' && y[q] === '0') a.push(q)
    else if (x[q] === '0' && y[q] === '1') b.push(q)
  }
  return { a, b }
}

/** Per query, 1 + the number of documents exact MaxSim scores strictly above the target. */
export function targetRanks(scores: Float32Array, qrels: Int32Array, nDocs: number, n: number): number[] {
  const out: number[] = []
  for (let q = 0; q < n; q++) {
    const row = scores.subarray(q * nDocs, (q + 1) * nDocs)
    const t = row[qrels[q]]
    let above = 0
    for (let d = 0; d < nDocs; d++) if (row[d] > t) above++
    out.push(above + 1)
  }
  return out
}

/** "median m (lo–hi), r of them ≤ 10" for a list of ranks, or "–" for none. */
export function rankSummary(ranks: number[]): string {
  if (ranks.length === 0) return '–'
  const s = [...ranks].sort((x, y) => x - y)
  return `median ${s[s.length >> 1]} (${s[0]}–${s[s.length - 1]}), ${s.filter((r) => r <= 10).length} of them ≤ 10`
}

/** Two-sided exact sign test: the probability of a split at least this uneven of a + b discordant pairs under p = ½. */
export function signTestP(a: number, b: number): number {
  const m = a + b
  if (m === 0) return 1
  // Σ_{i ≤ min(a, b)} C(m, i) / 2^m, the terms in logarithms (2^-m underflows past m ≈ 1074)
  let tail = 0, logTerm = -m * Math.LN2
  for (let i = 0; i <= Math.min(a, b); i++) {
    tail += Math.exp(logTerm)
    logTerm += Math.log((m - i) / (i + 1))
  }
  return Math.min(1, 2 * tail)
}

/** " (q32: approximate rank 60, 48 scored, understated by 1.296; …)" for the exact stage's losses (ranks 1-based), or "". */
export function unprunedDetail(s: Pick<StageReport, 'unpruned_losses'>): string {
  if (s.unpruned_losses === undefined || s.unpruned_losses.length === 0) return ''
  return ` (${s.unpruned_losses.map((l) => `q${l.query}: approximate rank ${l.approx_rank + 1}, ${l.scored} scored, understated by ${l.understated_by.toFixed(3)}`).join('; ')})`
}

const f3 = (x: number | undefined): string => x === undefined || Number.isNaN(x) ? '–' : x.toFixed(3)
const f1 = (x: number): string => x.toFixed(1)

function markdown(infos: PresetInfo[], cells: Cell[], header: string): string {
  const pooled = cells.some((c) => c.pool_p50_ms !== undefined)
  const lat = pooled ? 'p50 / p95 ms in-process; pool' : 'p50 / p95 ms'
  const lines = [header, '',
    `| preset | docs / vectors | exact s@10 | build s | B/vec | mode | k=10 s@10 | ov@10 | ${lat} | k=100 s@10 | ov@10 | s@100 (exact) | recall@100 | ${lat} |`,
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|']
  const latency = (c: Cell | undefined): string => c === undefined ? '–'
    : `${f1(c.p50_ms)} / ${f1(c.p95_ms)}` + (c.pool_p50_ms === undefined ? '' : `; ${f1(c.pool_p50_ms)} / ${f1(c.pool_p95_ms!)}${c.pool_differ! > 0 ? ` (${c.pool_differ} differ)` : ''}`)
  for (const info of infos) {
    const modes = [...new Set(cells.filter((c) => c.preset === info.preset).map((c) => c.mode))]
    modes.forEach((mode, i) => {
      const a = cells.find((c) => c.preset === info.preset && c.mode === mode && c.k === 10)
      const b = cells.find((c) => c.preset === info.preset && c.mode === mode && c.k === 100)
      const head = i === 0
        ? `| ${info.preset} | ${info.docs} / ${(info.vectors / 1e6).toFixed(2)} M | ${f3(info.exact_success_at_10)} | ${f1(info.build_s)}${info.build_cached ? ' (cached)' : ''} | ${f1(info.bytes_per_vector)} `
        : '| | | | | '
      lines.push(`${head}| ${mode} | ${f3(a?.success_at_10)} | ${f3(a?.overlap_at_10)} | ${latency(a)} ` +
        `| ${f3(b?.success_at_10)} | ${f3(b?.overlap_at_10)} | ${f3(b?.success_at_100)} (${f3(info.exact_success_at_100)}) | ${f3(b?.recall_at_100)} | ` +
        `${latency(b)} |`)
    })
  }
  lines.push('', 'Per query at k=10: the targets each mode finds in its top 10 that exact MaxSim\'s top 10 misses / that only exact ' +
    'MaxSim finds, and a two-sided exact sign test on those discordant queries (p < 0.05: the difference is not chance); ' +
    'then the same against `ours`, with the exact MaxSim ranks of the targets only the other mode finds (what it wins ' +
    'them from: a target exact MaxSim ranks 11th or lower is won by leaving out documents that score above it):', '',
    '| preset | mode | only the mode / only exact | p | only the mode / only ours | p | exact ranks of the targets only the mode finds | of those only ours finds |',
    '|---|---|---|---|---|---|---|---|')
  for (const info of infos) {
    const ours = cells.find((x) => x.preset === info.preset && x.k === 10 && x.mode === 'ours')
    for (const c of cells.filter((x) => x.preset === info.preset && x.k === 10)) {
      const vsExact = discordant(c.found_at_10, info.exact_found_at_10)
      const row = `| ${info.preset} | ${c.mode} | ${vsExact.a.length} / ${vsExact.b.length} | ${signTestP(vsExact.a.length, vsExact.b.length).toFixed(3)} `
      if (ours === undefined || c === ours) {
        lines.push(`${row}| – | – | – | – |`)
        continue
      }
      const vsOurs = discordant(c.found_at_10, ours.found_at_10)
      const ranks = (qs: number[]): string => rankSummary(qs.map((q) => info.exact_target_rank[q]))
      lines.push(`${row}| ${vsOurs.a.length} / ${vsOurs.b.length} | ${signTestP(vsOurs.a.length, vsOurs.b.length).toFixed(3)} | ` +
        `${ranks(vsOurs.a)} | ${ranks(vsOurs.b)} |`)
    }
  }
  const staged = cells.filter((c) => c.stages !== undefined)
  if (staged.length > 0) {
    lines.push('', 'Where the target was lost (of the targets exact MaxSim ranks in its top 10), and success@10 / overlap@10 if the ' +
      'documents the exact stage scored were ranked by exact MaxSim over the original vectors:', '',
      '| preset | mode | k | exact found | lost: candidates | pruned cut | unpruned cut | final top 10 | rescored with the originals: s@10 / ov@10 | budgets (median) |',
      '|---|---|---|---|---|---|---|---|---|---|')
    for (const c of staged) {
      const s = c.stages!
      lines.push(s.traced
        ? `| ${c.preset} | ${c.mode} | ${c.k} | ${s.exact_found} | ${s.lost_candidates} | ${s.lost_pruned} | ${s.lost_unpruned}${unprunedDetail(s)} | ${s.lost_final} | ` +
          `${f3(s.rescored_success_at_10)} / ${f3(s.rescored_overlap_at_10)} | ${Object.entries(s.budgets_median ?? {}).map(([b, v]) => `${b} ${v}`).join(', ')} |`
        : `| ${c.preset} | ${c.mode} | ${c.k} | ${s.exact_found} | no trace from this engine | | | ${s.lost_final} (not in top 10) | | |`)
    }
  }
  return lines.join('\n') + '\n'
}

export async function matrixMain(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      presets: { type: 'string' }, docs: { type: 'string' }, queries: { type: 'string', default: '500' }, cache: { type: 'string', default: '/tmp/jacolbert-matrix' },
      modes: { type: 'string', default: 'ours,reference' }, candidates: { type: 'string' }, stages: { type: 'boolean' },
      nbits: { type: 'string', default: '2' }, warmup: { type: 'string', default: '10' }, json: { type: 'string' }, md: { type: 'string' },
      rebuild: { type: 'boolean' }, 'index-key': { type: 'string' }, matrix: { type: 'boolean' }, pool: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) {
    console.log(HELP)
    return 0
  }
  const log = (s: string): void => console.log(s)
  const chosen: MatrixPreset[] = values.presets === undefined
    ? PRESETS
    : values.presets.split(',').map((x) => (x.trim().startsWith('set:') ? externalSet(x.trim()) : findPreset(x.trim())))
  // --docs: a smaller (or larger) collection of the same model, for quick runs; a different data set (own cache key)
  const presets = values.docs === undefined
    ? chosen
    : chosen.map((p) => ('dir' in p ? p : { ...p, model: { ...p.model, docs: Number(values.docs) }, exactSuccessAt10: undefined }))
  const nbits = Number(values.nbits) as 1 | 2 | 4
  if (![1, 2, 4].includes(nbits)) throw new Error('--nbits must be 1, 2 or 4')
  const warmup = Number(values.warmup)
  const cache = resolve(values.cache)
  const modes = parseModes(values.modes)
  if (values.candidates !== undefined) modes.push(...parseCandidates(values.candidates))
  const poolWorkers = values.pool === undefined ? 0 : Number(values.pool)
  if (!Number.isInteger(poolWorkers) || poolWorkers < 0) throw new Error('--pool must be a number of workers')
  const pool = poolWorkers > 0 ? await createSearchPool({ workers: poolWorkers }) : undefined
  try {
    return await runMatrix(values, presets, modes, nbits, warmup, cache, pool, poolWorkers, log)
  } finally {
    // the workers would otherwise keep the process alive after an error
    await pool?.close()
  }
}

async function runMatrix(
  values: { stages?: boolean; queries: string; rebuild?: boolean; 'index-key'?: string; json?: string; md?: string }, presets: MatrixPreset[], modes: Mode[],
  nbits: 1 | 2 | 4, warmup: number, cache: string, pool: SearchPool | undefined, poolWorkers: number, log: (s: string) => void,
): Promise<number> {
  const started = new Date()
  log(`index matrix: ${presets.length} presets × ${modes.map((m) => m.name).join(', ')} × k 10/100; nbits ${nbits}; cache ${cache}; index code ${await indexCodeHash()}` +
    (values['index-key'] !== undefined ? ` (indexes: snapshots built by code ${values['index-key']})` : '') +
    (pool !== undefined ? `; also through a pool of ${poolWorkers} search workers with sharing` : ''))

  const infos: PresetInfo[] = []
  const cells: Cell[] = []
  for (const preset of presets) {
    const key = await dataKey(preset)
    const data = await ensureData(cache, preset, log)
    const set = await readEmbeddingSet(data.dir)
    if (set.qrels === undefined) throw new Error(`${data.dir} has no qrels`)
    const n = Math.min(set.nQueries, Number(values.queries))
    const exact = await ensureExact(cache, key, set, n, log)
    const exactTop = Array.from({ length: n }, (_, q) => topK(exact.scores, q * set.nDocs, set.nDocs, 100))
    const exact10 = exactTop.filter((t, q) => t.slice(0, 10).includes(set.qrels![q])).length / n
    const exact100 = exactTop.filter((t, q) => t.includes(set.qrels![q])).length / n
    log(`${preset.name}: ${set.nDocs} docs, ${set.nTokens} vectors; exact MaxSim success@10 ${exact10.toFixed(3)}, success@100 ${exact100.toFixed(3)} ` +
      `on ${n} queries (${exact.cached ? 'cached' : `${exact.seconds.toFixed(0)} s`})`)
    const indexes = new Map<boolean, Awaited<ReturnType<typeof ensureIndex>>>()
    for (const decoded of [false, true]) {
      if (!modes.some((m) => (m.decoded === true) === decoded)) continue
      indexes.set(decoded, await ensureIndex(cache, key, set, nbits, values.rebuild === true, log, values['index-key'], decoded))
    }
    // the preset's build figures are those of the index with originals when a mode uses it
    const built = indexes.get(false) ?? indexes.get(true)!
    const stats = built.index.stats()
    const info: PresetInfo = {
      preset: preset.name, seed: preset.seed, key, docs: set.nDocs, vectors: set.nTokens, queries: n,
      exact_success_at_10: exact10, exact_success_at_100: exact100, exact_seconds: exact.seconds, exact_cached: exact.cached,
      exact_found_at_10: exactTop.map((t, q) => (t.slice(0, 10).includes(set.qrels![q]) ? '1' : '0')).join(''),
      exact_target_rank: targetRanks(exact.scores, set.qrels, set.nDocs, n),
      build_s: built.buildS, build_cached: built.cached, bytes_per_vector: stats.bytes / stats.vectors, centroids: stats.centroids,
      ...(data.seconds !== undefined ? { generate_s: data.seconds } : {}),
    }
    infos.push(info)
    log(`  index: build ${info.build_s.toFixed(1)} s${built.cached ? ' (cached snapshot)' : ''}, ${stats.centroids} centroids, ${info.bytes_per_vector.toFixed(1)} bytes/vector`)
    const decodedIndex = indexes.get(true)
    if (decodedIndex !== undefined && decodedIndex !== built) {
      const ds = decodedIndex.index.stats()
      log(`  index without originals (decoded modes): build ${decodedIndex.buildS.toFixed(1)} s${decodedIndex.cached ? ' (cached snapshot)' : ''}, ${ds.centroids} centroids`)
    }
    for (const mode of modes) {
      for (const k of [10, 100]) {
        const params = mode.params(k)
        const index = indexes.get(mode.decoded === true)!.index
        const cell: Cell = {
          preset: preset.name, mode: mode.name, params: { ...params }, final_ranking: (index.stats().originals?.home ?? 'none') === 'none' ? 'decoded' : 'originals',
          ...await runCell(index, set, n, k, params, exactTop, warmup, pool),
        }
        if (values.stages === true) cell.stages = stageReport(index, set, n, k, params, exactTop, exact.scores)
        cells.push(cell)
        const st = cell.stages
        log(`  ${mode.name.padEnd(10)} k=${String(k).padEnd(3)} success@10 ${f3(cell.success_at_10)} (exact ${f3(exact10)}) overlap@10 ${f3(cell.overlap_at_10)}` +
          (k >= 100 ? ` success@100 ${f3(cell.success_at_100)} (exact ${f3(exact100)}) recall@100 ${f3(cell.recall_at_100)}` : '') +
          ` p50 ${cell.p50_ms.toFixed(2)} p95 ${cell.p95_ms.toFixed(2)} ms` +
          (cell.pool_p50_ms === undefined ? '' : `; pool p50 ${cell.pool_p50_ms.toFixed(2)} p95 ${cell.pool_p95_ms!.toFixed(2)} ms, ${cell.pool_differ} differ`) +
          (st === undefined ? '' : st.traced
            ? `; of ${st.exact_found} exact-found targets lost at candidates ${st.lost_candidates}, pruned ${st.lost_pruned}, unpruned ${st.lost_unpruned}${unprunedDetail(st)}, ` +
              `final ${st.lost_final}; rescored with the originals s@10 ${f3(st.rescored_success_at_10)} ov@10 ${f3(st.rescored_overlap_at_10)}`
            : `; stages: no trace from this engine (${st.lost_final} of ${st.exact_found} exact-found targets not in the top 10)`))
      }
    }
  }

  const header = `Index quality matrix — ${started.toISOString()}; nbits ${nbits}; ${infos.map((i) => `${i.preset} ${i.queries}`).join(', ')} queries ` +
    `(one at a time, warm-up ${warmup}${pool !== undefined ? `; pool: ${poolWorkers} search workers with sharing, a pass after the in-process one` : ''}); ` +
    'exact = brute-force MaxSim over all vectors on the same queries'
  const md = markdown(infos, cells, header)
  log('\n' + md)
  const stamp = started.toISOString().replace(/[:.]/g, '-')
  const jsonPath = values.json ?? `bench/results/matrix-${stamp}.json`
  await mkdir(resolve(jsonPath, '..'), { recursive: true })
  await writeFile(jsonPath, JSON.stringify({ started: started.toISOString(), nbits, index_code: await indexCodeHash(), presets: infos, cells }, null, 2) + '\n')
  log(`wrote ${jsonPath}`)
  if (values.md !== undefined) {
    await writeFile(values.md, md)
    log(`wrote ${values.md}`)
  }
  return 0
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('index-matrix.ts')) {
  process.exitCode = await matrixMain(process.argv.slice(2))
}
