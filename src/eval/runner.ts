/**
 * Runs an evaluation: encodes the documents and queries with the model, ranks (full retrieval over the corpus, or
 * reranking of each query's given candidates), and averages the metrics over the queries that have at least one
 * relevant document (the others are counted and reported, never silently averaged in as zeros).
 *
 * Retrieval search:
 * - `exhaustive`: exact MaxSim of every query against every document (float32 vectors held in memory:
 *   tokens × dim × 4 bytes; cost queries × tokens_q × tokens_corpus × dim).
 * - `plaid`: the service's PLAID index (compressed residuals, centroid pruning) with the given settings, the figure a
 *   user of the service gets.
 * Reranking encodes each group of queries' candidates, scores them, and drops the vectors, so memory stays bounded by
 * one group whatever the size of the set. Equal scores keep candidate order (corpus order in retrieval).
 */
import { maxSim } from '../index/maxsim.js'
import { createPlaidIndex, type PlaidIndex } from '../index/plaid-index.js'
import { ensureCapacity } from '../index/growable.js'
import type { EvalDataset } from './datasets.js'
import { metricLabel, metricValue, type MetricSpec } from './metrics.js'

export interface EvalEncoder {
  readonly dim: number
  encodeQueries(texts: string[], opts?: { dynamicLength?: boolean }): Promise<Array<{ vectors: Float32Array; n: number }>>
  encodeDocuments(texts: string[]): Promise<Array<{ vectors: Float32Array; n: number }>>
}

export interface PlaidOptions { nbits: 1 | 2 | 4; ncells?: number; centroidScoreThreshold?: number; ndocs?: number }

export interface EvalOptions {
  mode: 'retrieval' | 'rerank'
  search: 'exhaustive' | 'plaid'
  plaid?: PlaidOptions
  metrics: MetricSpec[]
  queryLength: 'fixed' | 'dynamic'
  ties: 'order' | 'average'
  /** texts per encoder call (the encoder splits them further by its token budget) */
  batch: number
  onProgress?: (phase: string, done: number, total: number) => void
  /** called with each query's ranking (for --run output) */
  onRanking?: (queryId: string, ranked: Array<{ id: string; score: number }>) => void
}

export interface EvalResult {
  metrics: Record<string, number>
  queries: number
  queriesWithoutRelevant: number
  documents: number
  timingsMs: { encodeDocuments: number; buildIndex: number; encodeQueries: number; search: number; total: number }
}

type Ranked = Array<{ id: string; score: number }>

/** Keeps the best `depth` (score desc, then lower position first) of a stream of scores; O(n·depth) worst, ~O(n) typical. */
function pushTop(top: Array<{ i: number; s: number }>, depth: number, i: number, s: number): void {
  if (top.length === depth && s <= top[depth - 1]!.s) return
  let at = top.length
  while (at > 0 && top[at - 1]!.s < s) at--
  top.splice(at, 0, { i, s })
  if (top.length > depth) top.pop()
}

export async function runEvaluation(ds: EvalDataset, enc: EvalEncoder, opts: EvalOptions): Promise<EvalResult> {
  const started = performance.now()
  const timings = { encodeDocuments: 0, buildIndex: 0, encodeQueries: 0, search: 0, total: 0 }
  const sums = new Map<string, number>()
  let evaluated = 0
  let withoutRelevant = 0
  const depth = Math.max(1, ...opts.metrics.map((m) => m.k))
  const progress = opts.onProgress ?? (() => undefined)
  const dynamicLength = opts.queryLength === 'dynamic'

  const score = (qid: string, ranked: Ranked): void => {
    opts.onRanking?.(qid, ranked)
    const qrels = ds.qrels.get(qid) ?? new Map<string, number>()
    if (![...qrels.values()].some((g) => g > 0)) {
      withoutRelevant++
      return
    }
    evaluated++
    const ids = ranked.map((r) => r.id)
    const scores = ranked.map((r) => r.score)
    for (const m of opts.metrics) {
      const v = metricValue(m, ids, qrels, { ties: opts.ties, scores })
      sums.set(metricLabel(m), (sums.get(metricLabel(m)) ?? 0) + v)
    }
  }

  const encodeQueries = async (texts: string[]): Promise<Array<{ vectors: Float32Array; n: number }>> => {
    const t0 = performance.now()
    const out = await enc.encodeQueries(texts, { dynamicLength })
    timings.encodeQueries += performance.now() - t0
    return out
  }

  if (opts.mode === 'retrieval') {
    const docIds = [...ds.docs.keys()]
    const dim = enc.dim
    let vecs = new Float32Array(0)
    const offsets = new Uint32Array(docIds.length)
    const lens = new Uint32Array(docIds.length)
    let used = 0
    let index: PlaidIndex | undefined
    if (opts.search === 'plaid') index = createPlaidIndex({ dim, nbits: opts.plaid?.nbits ?? 2 })
    for (let s = 0; s < docIds.length; s += opts.batch) {
      const ids = docIds.slice(s, s + opts.batch)
      let t0 = performance.now()
      const out = await enc.encodeDocuments(ids.map((id) => ds.docs.get(id)!))
      timings.encodeDocuments += performance.now() - t0
      t0 = performance.now()
      if (index) index.upsert(out.map((e, j) => ({ id: ids[j]!, vectors: e.vectors })))
      else {
        for (let j = 0; j < out.length; j++) {
          const e = out[j]!
          vecs = ensureCapacity(vecs, (used + e.n) * dim)
          vecs.set(e.vectors.subarray(0, e.n * dim), used * dim)
          offsets[s + j] = used
          lens[s + j] = e.n
          used += e.n
        }
      }
      timings.buildIndex += performance.now() - t0
      progress('documents', Math.min(s + opts.batch, docIds.length), docIds.length)
    }
    if (index) {
      // train now (the index trains lazily), so its cost shows as index build, not as the first query's search
      const t0 = performance.now()
      index.retrain()
      timings.buildIndex += performance.now() - t0
    }
    for (let s = 0; s < ds.queries.length; s += opts.batch) {
      const qs = ds.queries.slice(s, s + opts.batch)
      const encoded = await encodeQueries(qs.map((q) => q.text))
      const t0 = performance.now()
      for (let j = 0; j < qs.length; j++) {
        const q = encoded[j]!
        let ranked: Ranked
        if (index) {
          const p = opts.plaid
          const hits = index.search(q.vectors, {
            k: Math.min(depth, docIds.length) || 1,
            ...(p?.ncells !== undefined ? { ncells: p.ncells } : {}),
            ...(p?.centroidScoreThreshold !== undefined ? { centroidScoreThreshold: p.centroidScoreThreshold } : {}),
            ...(p?.ndocs !== undefined ? { ndocs: Math.max(p.ndocs, depth) } : {}),
          }).hits
          ranked = hits.map((h) => ({ id: h.id, score: h.score }))
        } else {
          const top: Array<{ i: number; s: number }> = []
          for (let d = 0; d < docIds.length; d++) pushTop(top, depth, d, maxSim(q.vectors, q.n, vecs, offsets[d]! * dim, lens[d]!, dim))
          ranked = top.map((x) => ({ id: docIds[x.i]!, score: x.s }))
        }
        score(qs[j]!.id, ranked)
      }
      timings.search += performance.now() - t0
      progress('queries', Math.min(s + opts.batch, ds.queries.length), ds.queries.length)
    }
  } else {
    if (!ds.candidates) throw new Error('rerank mode needs a dataset with candidates (a reranking set)')
    const dim = enc.dim
    // groups of queries whose candidates together fill about 4 encoder calls
    let done = 0
    let group: EvalDataset['queries'] = []
    let groupDocs = 0
    const flush = async (): Promise<void> => {
      if (group.length === 0) return
      const unique = [...new Set(group.flatMap((q) => ds.candidates!.get(q.id) ?? []))]
      const vectors = new Map<string, { vectors: Float32Array; n: number }>()
      for (let s = 0; s < unique.length; s += opts.batch) {
        const ids = unique.slice(s, s + opts.batch)
        const t0 = performance.now()
        const out = await enc.encodeDocuments(ids.map((id) => ds.docs.get(id) ?? ''))
        timings.encodeDocuments += performance.now() - t0
        out.forEach((e, j) => vectors.set(ids[j]!, e))
      }
      const encoded = await encodeQueries(group.map((q) => q.text))
      const t0 = performance.now()
      group.forEach((q, j) => {
        const qv = encoded[j]!
        const cands = ds.candidates!.get(q.id) ?? []
        const scored = cands.map((id, pos) => {
          const d = vectors.get(id)!
          return { id, score: maxSim(qv.vectors, qv.n, d.vectors, 0, d.n, dim), pos }
        })
        scored.sort((a, b) => b.score - a.score || a.pos - b.pos)
        // the whole list, not the top `depth`: tie averaging needs the full tied group at the cut-off
        score(q.id, scored.map(({ id, score: sc }) => ({ id, score: sc })))
      })
      timings.search += performance.now() - t0
      done += group.length
      progress('queries', done, ds.queries.length)
      group = []
      groupDocs = 0
    }
    for (const q of ds.queries) {
      group.push(q)
      groupDocs += ds.candidates.get(q.id)?.length ?? 0
      if (groupDocs >= 4 * opts.batch) await flush()
    }
    await flush()
  }
  timings.total = performance.now() - started
  const metrics: Record<string, number> = {}
  for (const m of opts.metrics) metrics[metricLabel(m)] = evaluated ? sums.get(metricLabel(m))! / evaluated : 0
  for (const k of Object.keys(timings) as Array<keyof typeof timings>) timings[k] = Math.round(timings[k])
  return { metrics, queries: evaluated, queriesWithoutRelevant: withoutRelevant, documents: ds.docs.size, timingsMs: timings }
}
