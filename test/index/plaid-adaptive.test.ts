/**
 * The adaptive parts of the PLAID search (issue 9): the stage trace, the partial exact refinement over kept codes,
 * the exact stage sized from the approximate scores. Checked against float64 MaxSim over the vectors the exact stage
 * ranks by, decoded independently (synthetic-vectors.ts): the kept original vectors, or with keepOriginals: false the
 * decompressed ones; and for determinism across calls, restores and snapshots.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { createPlaidIndex, type PlaidIndex, restorePlaidIndex, type SearchParams, type SearchTrace } from '../../src/index/plaid-index.js'
import { createCentroidSet } from '../../src/index/kmeans.js'
import { centroidScoreRows, createSearchScratch, exactScores, searchIndex } from '../../src/index/plaid-search.js'
import { type PairBatch, scorePairs } from '../../src/index/unprobed-refine.js'
import { createProbeScratch, type ProbeJob, type ProbeLists, scanTokensInto, tokenListBound } from '../../src/index/probe-scores.js'
import { createPrng } from '../../src/index/prng.js'
import { loadIndexSnapshot, saveIndexSnapshot } from '../../src/index/snapshot.js'
import { liveDecoded, liveOriginals, makeDocs, maxSim64, queryFor } from './synthetic-vectors.js'

const dim = 32
const set = makeDocs({ seed: 31, dim, nDocs: 400, nTopics: 20, minLen: 8, maxLen: 40, noise: 0.9 })
const rng = createPrng(17)
const targets = Array.from({ length: 12 }, () => set.docs[rng.int(set.docs.length)])
const queries = targets.map((d) => queryFor(d.vectors, dim, 16, 0.5, rng))
// small budgets so that every stage runs on this collection: pruned cut, refinement, adaptive exact
const SMALL: Omit<SearchParams, 'k'> = { ncells: 4, centroidScoreThreshold: 0.3, ndocs: 64 }

function build(keepOriginals = true): PlaidIndex {
  const index = createPlaidIndex({ dim, nbits: 2, minTrainVectors: 500, numCentroids: 64, seed: 9, keepOriginals })
  index.upsert(set.docs)
  return index
}
const index = build()

function traced(ix: PlaidIndex, q: Float32Array, params: SearchParams): { hits: ReturnType<PlaidIndex['search']>['hits']; trace: SearchTrace } {
  const trace: SearchTrace = {}
  const { hits } = ix.search(q, { ...params, trace })
  return { hits, trace }
}

t.test('the trace nests the stages and does not change the results', async (t) => {
  let pruned = 0
  for (const q of queries) {
    const plain = index.search(q, { k: 10, ...SMALL }).hits
    const { hits, trace } = traced(index, q, { k: 10, ...SMALL })
    t.same(hits, plain)
    const cand = new Set(trace.candidates)
    const cut = new Set(trace.pruned ?? trace.candidates)
    const exact = new Set(trace.unpruned)
    t.ok([...cut].every((id) => cand.has(id)), 'pruned ⊆ candidates')
    t.ok([...exact].every((id) => cut.has(id)), 'exactly scored ⊆ pruned')
    t.ok(trace.final!.every((id) => exact.has(id)), 'final ⊆ exactly scored')
    t.same(trace.final, hits.map((h) => h.id))
    const b = trace.budgets!
    t.equal(b.ndocs, 64)
    t.equal(b.candidates, trace.candidates!.length)
    t.equal(b.exact, exact.size)
    // the pool in approximate order: scores non-increasing, and the exact stage scored a prefix of it
    const approx = trace.approx!
    t.equal(approx.ids.length, approx.scores.length)
    t.equal(new Set(approx.ids).size, approx.ids.length, 'no document twice')
    t.ok(approx.scores.every((x, i) => i === 0 || x <= approx.scores[i - 1]), 'approximate scores descending')
    // the best by approximate score, then at most ndocs/8 more by the unreached-token credit (unreached-credit.ts)
    let prefix = 0
    while (prefix < approx.ids.length && exact.has(approx.ids[prefix])) prefix++
    t.ok(prefix >= Math.min(16, approx.ids.length), `exactly scored: the best ${prefix} by approximate score`)
    t.ok(exact.size - prefix <= 8, `then ${exact.size - prefix} more (at most ndocs/8)`)
    t.ok([...cut].every((id) => approx.ids.includes(id)) || trace.pruned === undefined, 'pruned ⊆ pool')
    if (trace.pruned !== undefined) {
      pruned++
      t.equal(trace.pruned.length, 64)
      // the exact stage starts at ndocs/4 and grows at most to twice that, + ndocs/8 by the credit
      t.ok(b.exact >= 16 && b.exact <= 40, `exact stage ${b.exact}`)
    }
  }
  t.ok(pruned >= queries.length / 2, `${pruned} queries went through the pruned cut`)
})

t.test('returned scores are the exact MaxSim over the original vectors, or with keepOriginals: false over the decompressed vectors (kept and other vectors combined)', async (t) => {
  const decodedIndex = build(false)
  for (const [label, ix, docs] of [
    ['originals', index, liveOriginals(index.exportState())],
    ['decoded', decodedIndex, liveDecoded(decodedIndex.exportState())],
  ] as const) {
    t.equal(ix.stats().originals?.home, label === 'originals' ? 'memory' : 'none', `${label}: what the index keeps`)
    const ref = new Map(docs.map((d) => [d.id, d.vectors]))
    let compared = 0
    for (const q of queries) {
      for (const params of [{ k: 10, ...SMALL }, { k: 10 }, { k: 100 }]) {
        for (const h of ix.search(q, params).hits) {
          const want = maxSim64(q, ref.get(h.id)!, dim)
          t.ok(Math.abs(h.score - want) < 1e-3, `${label} ${h.id}: ${h.score} vs ${want}`)
          compared++
        }
      }
    }
    t.ok(compared > 500, `${label}: ${compared} scores compared`)
  }
})

t.test('with small budgets the targets are found about as often as by an exhaustive search of the same index', async (t) => {
  const EVERYTHING = { ncells: 1 << 20, ndocs: 1 << 20, centroidScoreThreshold: -10 }
  let found = 0, exhaustive = 0
  queries.forEach((q, i) => {
    if (index.search(q, { k: 10, ...SMALL }).hits.some((h) => h.id === targets[i].id)) found++
    if (index.search(q, { k: 10, ...EVERYTHING }).hits.some((h) => h.id === targets[i].id)) exhaustive++
  })
  t.ok(exhaustive >= queries.length / 2, `exhaustive found ${exhaustive}/${queries.length}`)
  t.ok(found >= exhaustive - 1, `found ${found}/${queries.length}, exhaustive ${exhaustive}`)
})

t.test('adaptive budgets are deterministic: repeated calls, a restored state and a snapshot give the same results and budgets', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'plaid-adaptive-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await saveIndexSnapshot(index, join(dir, 'idx'))
  const copies = [index, restorePlaidIndex(index.exportState()), await loadIndexSnapshot(join(dir, 'idx'))]
  for (const q of queries) {
    for (const params of [{ k: 10, ...SMALL }, { k: 10 }, { k: 100 }]) {
      const first = traced(index, q, params)
      for (const ix of copies) {
        const again = traced(ix, q, params)
        t.same(again.hits, first.hits)
        t.same(again.trace.budgets, first.trace.budgets)
        t.same(again.trace.unpruned, first.trace.unpruned)
        t.same(again.trace.approx, first.trace.approx)
      }
    }
  }
})

t.test('stages done by another thread (offloads) leave the trace and hits unchanged', async (t) => {
  // 2,048 centroids so that the centroid scores are split too; the "other thread" is a second centroid set over the
  // same rows (its own WebAssembly arena, as a worker's), its probe scratch and the same exact-scoring function
  const big = createPlaidIndex({ dim, nbits: 2, minTrainVectors: 2048, numCentroids: 2048, seed: 9 })
  big.upsert(set.docs)
  const { view } = big.searchState()
  const cset = view.cset!
  t.equal(cset.k, 2048)
  const other = { ...view, cset: createCentroidSet(cset.k, cset.dim, cset.centroids.slice(), cset.coarse, cset.groupOffsets) }
  const src = { ivf: view.ivf!, codec: view.codec!, residuals: view.residuals, docStart: view.docStart, nSlots: view.nSlots, allowed: view.live }
  let pending: (() => unknown) | undefined
  const taken = { centroids: 0, probe: 0, exact: 0, refine: 0 }
  const offload = {
    centroids: {
      offer(query: Float32Array, qlen: number, from: number) {
        taken.centroids++
        const q = query.slice()
        pending = () => {
          const sPtr = centroidScoreRows(other.cset, q, qlen, from, cset.k)
          return other.cset.arena!.arena.f32(sPtr + from * qlen * 4, (cset.k - from) * qlen).slice()
        }
        return true
      },
      collect: () => pending!() as Float32Array,
    },
    probe: {
      offer(job: ProbeJob) {
        taken.probe++
        const copy = { ...job, counts: job.counts.slice() }
        pending = () => {
          let cap = 0
          for (let j = copy.from; j < copy.qlen; j++) cap += tokenListBound(view.ivf!, copy, j, view.nSlots)
          const lists = { start: new Uint32Array(copy.qlen - copy.from + 1), counts: new Uint32Array(copy.qlen - copy.from), slots: new Uint32Array(cap), bests: new Float32Array(cap) }
          scanTokensInto({ ...src, allowed: copy.allowed.slice() }, copy, createProbeScratch(), lists)
          return lists
        }
        return true
      },
      collect: () => pending!() as ProbeLists,
    },
    exact: {
      offer(query: Float32Array, qlen: number, slots: Uint32Array) {
        taken.exact++
        const q = query.slice(), s = slots.slice()
        pending = () => exactScores(other, q, qlen, s)
        return true
      },
      collect: () => pending!() as Float32Array,
    },
    refine: {
      offer(pairs: PairBatch) {
        taken.refine++
        const copy = { ...pairs, query: pairs.query.slice(), toks: pairs.toks.slice(), vecs: pairs.vecs.slice(), parts: pairs.parts.slice() }
        pending = () => scorePairs(other, copy)
        return true
      },
      collect: () => pending!() as Float32Array,
    },
  }
  const plain = createSearchScratch(), shared = createSearchScratch()
  shared.offload = offload
  for (const [i, q] of queries.entries()) {
    // a filter keeping two documents in three: its allowed flags go with the probe's offered part
    const filter = (_m: unknown, id: string): boolean => id.charCodeAt(id.length - 1) % 3 !== 0
    for (const [label, params] of [['defaults', { k: 10 }], ['small budgets', { k: 10, ...SMALL }], ['filtered', { k: 10, filter }]] as const) {
      const a: SearchTrace = {}, b: SearchTrace = {}
      const x = searchIndex(view, q, { ...params, trace: a }, plain)
      const y = searchIndex(view, q, { ...params, trace: b }, shared)
      t.same(b, a, `query ${i} ${label}: the same trace (candidates, pruned, exact set, budgets)`)
      t.same(y.hits, x.hits, `query ${i}: the same hits`)
    }
  }
  t.ok(taken.centroids === 3 * queries.length && taken.probe >= 3 * queries.length && taken.exact >= 3 * queries.length && taken.refine > 0, `offered: ${JSON.stringify(taken)}`)
})
