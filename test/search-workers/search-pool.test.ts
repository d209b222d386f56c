/**
 * Search workers over shared memory: searches run concurrently with upserts, deletes, compactions and re-trainings,
 * and every result is checked against a brute-force float64 MaxSim of the index state the search started on
 * (its original vectors, dequantized independently from exportState()), so a torn read, a deleted id or an original
 * vector read from the wrong row would show. Plus: the pool gives the in-process search's hits exactly, filters,
 * errors, and a worker killed for real.
 */
import t, { type Test } from 'tap'
import { AppError } from '../../src/errors.js'
import { createPlaidIndex, type PlaidIndex } from '../../src/index/plaid-index.js'
import { createPrng } from '../../src/index/prng.js'
import { createSearchPool, defaultSearchWorkers, type SearchPool } from '../../src/search-workers/search-pool.js'
import { createViewPublisher } from '../../src/search-workers/shared-view.js'
import { liveOriginals, makeDocs, queryFor, rankExact } from '../index/synthetic-vectors.js'

const dim = 32
/** Exhaustive PLAID parameters: every candidate, no pruning, so the result is exact MaxSim over the original vectors. */
const EVERYTHING = { ncells: 1 << 20, ndocs: 1 << 20, centroidScoreThreshold: -10 }

interface Expectation { live: Set<string>; ranked: Array<{ id: string; score: number }>; label: string }

/**
 * Live documents with the vectors search scores: when trained, the original vectors the index keeps (record v of
 * stored vector v; the test's indexes keep them in memory), the stored float32 ones before.
 */
function liveDocs(index: PlaidIndex): Array<{ id: string; vectors: Float32Array }> {
  const state = index.exportState()
  if (state.arrays.centroids) return liveOriginals(state)
  const a = state.arrays as unknown as { docStart: Uint32Array; docLen: Uint32Array; live: Uint8Array; raw: Float32Array }
  const { docStart, docLen, live, raw } = a
  const out: Array<{ id: string; vectors: Float32Array }> = []
  for (let s = 0; s < state.ids.length; s++) if (live[s]) out.push({ id: state.ids[s]!, vectors: raw.subarray(docStart[s]! * dim, (docStart[s]! + docLen[s]!) * dim) })
  return out
}

function reference(index: PlaidIndex, q: Float32Array, label: string, filter?: (id: string) => boolean): Expectation {
  const docs = liveDocs(index)
  const kept = filter ? docs.filter((d) => filter(d.id)) : docs
  return { live: new Set(docs.map((d) => d.id)), ranked: rankExact(q, kept, dim), label }
}

t.test('searches concurrent with upserts, deletes, compaction and re-training match brute force on their own version', async (t) => {
  const pool = await createSearchPool({ workers: 2 })
  t.teardown(() => pool.close())
  const rng = createPrng(7)
  const set = makeDocs({ seed: 3, dim, nDocs: 400, nTopics: 20, minLen: 6, maxLen: 18, noise: 0.8 })
  const index = createPlaidIndex({ dim, nbits: 2, minTrainVectors: 1500, numCentroids: 32, seed: 5 })
  // starts untrained (exact search over raw vectors); the upserts below cross minTrainVectors and train it
  index.upsert(set.docs.slice(0, 60))
  let nextDoc = 60
  const inFlight: Array<Promise<void>> = []
  let checked = 0
  let failures = 0
  const stagesSeen = new Set<string>()

  const fire = (label: string, k: number, filtered: boolean): void => {
    const src = set.docs[rng.int(nextDoc)]!
    const q = queryFor(src.vectors, dim, 8, 0.5, rng)
    const even = (id: string): boolean => Number(id.replace(/\D/g, '')) % 2 === 0
    // the reference is taken now: the version this search starts on
    const exp = reference(index, q, label, filtered ? even : undefined)
    const params = filtered ? { k, ...EVERYTHING, filter: (_m: unknown, id: string) => even(id) } : { k, ...EVERYTHING }
    inFlight.push(pool.search(index, q, params).then((r) => {
      checked++
      for (const s of Object.keys(r.timingsMs)) stagesSeen.add(s)
      const want = exp.ranked.slice(0, k)
      let ok = r.hits.length === want.length
      for (let i = 0; ok && i < r.hits.length; i++) {
        const h = r.hits[i]!
        if (!exp.live.has(h.id)) ok = false // a deleted (or not yet written) document
        if (Math.abs(h.score - want[i]!.score) > 2e-3) ok = false // a torn version would score differently
        if (filtered && !even(h.id)) ok = false
      }
      // clear winners (score gap > 2e-3 on both sides) must be found by id
      const ids = new Set(r.hits.map((h) => h.id))
      want.forEach((w, i) => {
        const clear = (i === 0 || exp.ranked[i - 1]!.score - w.score > 2e-3) && (i + 1 >= exp.ranked.length || w.score - exp.ranked[i + 1]!.score > 2e-3)
        if (clear && !ids.has(w.id)) ok = false
      })
      if (!ok) {
        failures++
        t.fail(`${exp.label}: hits ${JSON.stringify(r.hits.map((h) => [h.id, h.score.toFixed(4)]))} vs ${JSON.stringify(want.map((w) => [w.id, w.score.toFixed(4)]))}`)
      }
    }))
  }

  let round = 0
  const burst = (what: string): void => {
    round++
    for (let i = 0; i < 6; i++) fire(`round ${round} (${what}) search ${i}`, 1 + (i % 3) * 4, i % 3 === 2)
  }
  burst('untrained')
  for (let step = 0; step < 24; step++) {
    // a write while the previous burst is still running in the workers
    const op = step % 6
    if (op === 0 || op === 3) {
      const add = set.docs.slice(nextDoc, nextDoc + 30)
      nextDoc += add.length
      // re-upsert a few existing ids with other vectors (an update = tombstone + append)
      const updates = Array.from({ length: 3 }, () => {
        const d = set.docs[rng.int(nextDoc - add.length)]!
        return { id: d.id, vectors: set.docs[rng.int(set.docs.length)]!.vectors, metadata: d.metadata }
      })
      index.upsert([...add, ...updates])
      burst('upsert')
    } else if (op === 1 || op === 4) {
      const live = index.ids()
      index.delete(Array.from({ length: 8 }, () => live[rng.int(live.length)]!))
      burst('delete')
    } else if (op === 2) {
      index.compact()
      burst('compact')
    } else {
      index.retrain()
      burst('retrain')
    }
    // let some searches finish between writes, not all
    if (step % 3 === 2) await inFlight[inFlight.length - 4]
  }
  await Promise.all(inFlight)
  t.ok(index.stats().trained, 'the index trained along the way')
  t.ok(index.stats().drift.trainings >= 3, `re-trained (${index.stats().drift.trainings} trainings)`)
  t.equal(failures, 0, `all ${checked} concurrent searches matched brute force on their own version`)
  t.equal(checked, inFlight.length)
  t.ok(stagesSeen.has('exact'), 'timings come back')
  t.equal(pool.versionsHeld(), 1, 'superseded versions were released once their searches answered')
})

t.test('a published version holds the index arrays as they are, lengths included (empty delta lists stay empty)', async (t) => {
  const set = makeDocs({ seed: 12, dim, nDocs: 120, nTopics: 8, minLen: 6, maxLen: 20, noise: 0.8 })
  const index = createPlaidIndex({ dim, nbits: 2, minTrainVectors: 500, numCentroids: 16, seed: 5 })
  index.upsert(set.docs)
  const check = (label: string): void => {
    const { view } = index.searchState()
    const msg = createViewPublisher().publish(view, 1)
    t.ok(msg.ivf !== null && view.ivf !== null, `${label}: an IVF`)
    const src = view.ivf as unknown as Record<string, unknown>, dst = msg.ivf as unknown as Record<string, unknown>
    for (const [name, a] of Object.entries(src)) {
      const b = dst[name]
      if (ArrayBuffer.isView(a)) {
        const x = Array.from(a as Uint32Array), y = Array.from(b as Uint32Array)
        t.same(y, x, `${label}: ivf.${name} (${x.length} values)`)
      } else t.equal(b, a, `${label}: ivf.${name}`)
    }
  }
  check('no delta')
  t.equal(index.searchState().view.ivf!.deltaCounts.length, 0, 'the index has no delta counts yet')
  index.delete([set.docs[0]!.id])
  index.upsert([{ ...set.docs[1]!, id: 'again' }])
  check('with a delta')
})

t.test('the pool returns exactly the in-process search (same function, default parameters), filters included', async (t) => {
  const pool = await createSearchPool({ workers: 2, shareWaitMsForTests: 2000 })
  t.teardown(() => pool.close())
  const set = makeDocs({ seed: 11, dim, nDocs: 300, nTopics: 16, minLen: 6, maxLen: 20, noise: 0.8 })
  const index = createPlaidIndex({ dim, nbits: 2, minTrainVectors: 500, numCentroids: 32, seed: 5 })
  const rng = createPrng(1)
  const n = 30
  const compare = async (label: string): Promise<void> => {
    // concurrent (both workers busy) and then one at a time (the other worker idle: it may scan part of the probe)
    const queries = Array.from({ length: n }, (_, i) => ({
      q: queryFor(set.docs[rng.int(set.docs.length)]!.vectors, dim, 8, 0.5, rng),
      params: i % 2 ? { k: 10 } : { k: 5, filter: (m: unknown) => (m as { group: number }).group === 2 },
    }))
    const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b)
    const concurrent = await Promise.all(queries.map(async ({ q, params }) => same(index.search(q, params).hits, (await pool.search(index, q, params)).hits)))
    t.equal(concurrent.filter(Boolean).length, n, `${label}, concurrent searches: identical hit lists (ids, scores, metadata)`)
    let sequential = 0, searchesHelped = 0, parts = 0
    for (const { q, params } of queries) {
      const r = await pool.search(index, q, params)
      if (same(index.search(q, params).hits, r.hits)) sequential++
      if (r.helped) searchesHelped++
      parts += r.helped ?? 0
    }
    t.equal(sequential, n, `${label}, one search at a time: identical hit lists`)
    // the probe and at least the first exact batch (48 documents at k ≤ 10) of every search, filtered ones included
    t.equal(searchesHelped, n, `${label}: the idle worker took part in each of the ${n} searches`)
    t.ok(parts >= 2 * n, `${label}: ${parts} parts done by the idle worker (probes and exact batches)`)
  }
  index.upsert(set.docs.slice(0, 250))
  // a trained index with no delta lists and no deletes (a loaded snapshot's state)
  await compare('fresh index')
  // deletes and a later upsert (the IVF's delta lists): the probe depth reads live vectors per cell, shared too
  index.delete(set.docs.slice(0, 20).map((d) => d.id))
  index.upsert(set.docs.slice(250))
  await compare('after deletes and a delta')
  const q = queryFor(set.docs[0]!.vectors, dim, 8, 0.5, rng)
  const started = performance.now()
  const r = await pool.search(index, q, { k: 3, filter: (m: unknown) => (m as { group: number }).group === 1 })
  const roundTrip = performance.now() - started
  t.ok(r.workerMs !== undefined && r.workerMs > 0 && r.workerMs <= roundTrip, `the search's time in its worker (${r.workerMs?.toFixed(3)} ms) is within the round trip (${roundTrip.toFixed(3)} ms)`)
  t.ok(r.hits.every((h) => h.metadata && (h.metadata as { group: number }).group === 1), 'metadata of the hits come back, filter applied')
  await t.rejects(pool.search(index, q, { k: 0 }), { code: 'INVALID_SEARCH_PARAMS' }, 'bad parameters: the engine error, code kept')
  await t.rejects(pool.search(index, new Float32Array(7), { k: 3 }), { code: 'DIMENSION_MISMATCH' })
})

/** A 2-worker pool whose owners wait for helpers, and an index of 2,048 centroids (its centroid scores are split too). */
async function sharedPoolAnd2048(t: Test, seed: number): Promise<{ pool: SearchPool; set: ReturnType<typeof makeDocs>; index: PlaidIndex }> {
  const pool = await createSearchPool({ workers: 2, shareWaitMsForTests: 2000 })
  t.teardown(() => pool.close())
  const set = makeDocs({ seed, dim, nDocs: 400, nTopics: 24, minLen: 10, maxLen: 30, noise: 0.8 })
  const index = createPlaidIndex({ dim, nbits: 2, minTrainVectors: 2048, numCentroids: 2048, seed: 5 })
  index.upsert(set.docs)
  return { pool, set, index }
}

t.test('sharing all three stages (2,048 centroids: the centroid scores are split too) returns the in-process hits', async (t) => {
  const { pool, set, index } = await sharedPoolAnd2048(t, 13)
  t.equal(index.stats().centroids, 2048, '2,048 centroids')
  const rng = createPrng(3)
  let same = 0, parts = 0
  const n = 12
  for (let i = 0; i < n; i++) {
    const q = queryFor(set.docs[rng.int(set.docs.length)]!.vectors, dim, 8, 0.5, rng)
    const r = await pool.search(index, q, { k: 10 })
    if (JSON.stringify(r.hits) === JSON.stringify(index.search(q, { k: 10 }).hits)) same++
    parts += r.helped ?? 0
  }
  t.equal(same, n, 'identical hit lists (ids, scores)')
  t.ok(parts >= 3 * n, `${parts} parts done by the idle worker in ${n} searches (centroid scores, probe, exact batches)`)
})

t.test('a search worker killed mid-search fails only its searches, and is replaced', async (t) => {
  const warnings: string[] = []
  const pool = await createSearchPool({ workers: 2, logger: { warn: (_o, m) => void warnings.push(m ?? '') } })
  t.teardown(() => pool.close())
  const set = makeDocs({ seed: 12, dim, nDocs: 2000, nTopics: 40, minLen: 20, maxLen: 40, noise: 0.8 })
  const index = createPlaidIndex({ dim, nbits: 2, minTrainVectors: 500, numCentroids: 64, seed: 5 })
  index.upsert(set.docs)
  const rng = createPrng(2)
  const qs = Array.from({ length: 16 }, () => queryFor(set.docs[rng.int(set.docs.length)]!.vectors, dim, 32, 0.5, rng))
  const want = qs.map((q) => index.search(q, { k: 5, ...EVERYTHING }).hits)
  // exhaustive searches take a while each: worker 0 is terminated while it runs its first and holds the others queued
  const runs = qs.map((q) => pool.search(index, q, { k: 5, ...EVERYTHING }))
  await new Promise((r) => setTimeout(r, 5))
  pool.killWorkerForTests(0)
  const settled = await Promise.allSettled(runs)
  const failed = settled.filter((s) => s.status === 'rejected') as PromiseRejectedResult[]
  const ok = settled.map((s, i) => ({ s, i })).filter((x) => x.s.status === 'fulfilled')
  t.ok(failed.length > 0 && failed.length < qs.length, `${failed.length} of ${qs.length} searches failed (those queued on the killed worker)`)
  t.ok(failed.every((f) => f.reason instanceof AppError && f.reason.code === 'INTERNAL_ERROR' && /search worker stopped: exited with code 1/.test(f.reason.message)), 'with a clear error')
  t.ok(ok.every(({ s, i }) => JSON.stringify((s as PromiseFulfilledResult<{ hits: unknown }>).value.hits) === JSON.stringify(want[i])), 'the others answered correctly')
  const deadline = Date.now() + 60_000
  while (pool.size < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  t.equal(pool.size, 2, 'replaced')
  t.ok(warnings.includes('search worker stopped; starting a new one'))
  const again = await Promise.all(qs.map((q) => pool.search(index, q, { k: 5, ...EVERYTHING })))
  t.ok(again.every((r, i) => JSON.stringify(r.hits) === JSON.stringify(want[i])), 'every search answers after the replacement')
})

for (const linger of [false, true]) {
  const how = linger ? 'lingering on the search' : 'asked for one part'
  t.test(`a helper killed mid-job (${how}): its part is done by the search itself at once, same hits`, async (t) => {
    let armed = true, delayed = 0
    // until the kill, every helper sleeps a minute after claiming its part (an invitation to linger, or a request)
    const pool = await createSearchPool({
      workers: 2, linger, shareWaitMsForTests: 2000, helperDelayMsForTests: () => (armed ? (delayed++, 60_000) : 0),
    })
    t.teardown(() => pool.close())
    const set = makeDocs({ seed: 14, dim, nDocs: 200, nTopics: 12, minLen: 6, maxLen: 20, noise: 0.8 })
    const index = createPlaidIndex({ dim, nbits: 2, minTrainVectors: 500, numCentroids: 32, seed: 5 })
    index.upsert(set.docs)
    const q = queryFor(set.docs[7]!.vectors, dim, 8, 0.5, createPrng(4))
    await pool.search(index, q, { k: 10 }, { sharing: false }) // the version published, the workers warm
    const started = performance.now()
    const searching = pool.search(index, q, { k: 10 })
    await new Promise((r) => setTimeout(r, 300))
    t.ok(delayed >= 1, `the other worker was sent ${delayed} message(s) to help, and sleeps on the part it claimed`)
    armed = false
    pool.killWorkerForTests(1)
    const r = await searching
    const ms = performance.now() - started
    t.same(r.hits, index.search(q, { k: 10 }).hits, 'the in-process hits')
    t.ok(ms < 5000, `answered ${ms.toFixed(0)} ms after it started (the helper would have slept 60 s; the owner's wait limit is 30 s)`)
    const deadline = Date.now() + 60_000
    while (pool.size < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    const again = await pool.search(index, q, { k: 10 })
    t.same(again.hits, r.hits, 'the next search, with the replacement worker, answers the same')
    t.ok((again.helped ?? 0) > 0, `and the replacement helps it (${again.helped} parts): no mark of the dead helper is left`)
  })
}

t.test('a helper lingering on a search takes its parts without requests through the pool', async (t) => {
  const { pool, set, index } = await sharedPoolAnd2048(t, 15)
  const rng = createPrng(5)
  const qs = Array.from({ length: 12 }, () => queryFor(set.docs[rng.int(set.docs.length)]!.vectors, dim, 8, 0.5, rng))
  const want = qs.map((q) => JSON.stringify(index.search(q, { k: 10 }).hits))
  const run = async (linger: boolean): Promise<{ same: number; parts: number; forwarded: number }> => {
    const f0 = pool.requestsForwarded
    let same = 0, parts = 0
    for (const [i, q] of qs.entries()) {
      const r = await pool.search(index, q, { k: 10 }, { linger })
      if (JSON.stringify(r.hits) === want[i]) same++
      parts += r.helped ?? 0
    }
    return { same, parts, forwarded: pool.requestsForwarded - f0 }
  }
  const asked = await run(false)
  const lingered = await run(true)
  t.equal(asked.same, qs.length, 'not lingering: identical hits')
  t.equal(lingered.same, qs.length, 'lingering: identical hits')
  t.ok(asked.parts >= 3 * qs.length && lingered.parts >= 3 * qs.length, `every part helped either way (${asked.parts}, ${lingered.parts})`)
  t.equal(asked.forwarded, asked.parts, 'not lingering: one request through the pool per part')
  // at most the first part (posted before the invitation is taken up) and the parts after a buffer grew go through it
  t.ok(lingered.forwarded * 2 < asked.forwarded, `lingering: ${lingered.forwarded} requests through the pool for ${lingered.parts} parts`)
})

t.test('default SEARCH_WORKERS: the cores the encoder does not use', async (t) => {
  t.equal(defaultSearchWorkers({ cores: 16, provider: 'cuda', ortThreads: undefined, encoderWorkers: 1 }), 15, 'GPU encoder: all cores but the event loop’s')
  t.equal(defaultSearchWorkers({ cores: 16, provider: 'cpu', ortThreads: undefined, encoderWorkers: 1 }), 0, 'CPU encoder on every core: none left')
  t.equal(defaultSearchWorkers({ cores: 16, provider: 'cpu', ortThreads: 4, encoderWorkers: 2 }), 8)
  t.equal(defaultSearchWorkers({ cores: 2, provider: 'cpu', ortThreads: 4, encoderWorkers: 1 }), 0)
})

t.test('the event loop stays responsive while the workers search', async (t) => {
  const pool = await createSearchPool({ workers: 2 })
  t.teardown(() => pool.close())
  // long searches, so that an event loop blocked by one would stand far above the 5 ms timer's scheduling noise: the
  // queries get longer (exhaustive search time grows with the query length) until one search takes over 25 ms, so the
  // premise holds however fast the engine and the machine are (32 tokens took ~50 ms here before the search kernels
  // of issue 9 session 3, 16 ms after)
  const set = makeDocs({ seed: 13, dim, nDocs: 4000, nTopics: 40, minLen: 20, maxLen: 40, noise: 0.8 })
  const index = createPlaidIndex({ dim, nbits: 2, minTrainVectors: 500, numCentroids: 64, seed: 5 })
  index.upsert(set.docs)
  let qs: Float32Array[] = []
  let oneSearchMs = 0
  for (let qlen = 32; qlen <= 512; qlen *= 2) {
    const rng = createPrng(4)
    qs = Array.from({ length: 12 }, () => queryFor(set.docs[rng.int(set.docs.length)]!.vectors, dim, qlen, 0.5, rng))
    await pool.search(index, qs[0]!, { k: 5 }) // publish + warm-up
    index.search(qs[0]!, { k: 5, ...EVERYTHING }) // warm-up on this thread
    const a = performance.now()
    index.search(qs[0]!, { k: 5, ...EVERYTHING })
    oneSearchMs = performance.now() - a
    if (oneSearchMs > 25) break
  }
  const lags: number[] = []
  let last = performance.now()
  const iv = setInterval(() => {
    const now = performance.now()
    lags.push(now - last - 5)
    last = now
  }, 5)
  const s = performance.now()
  await Promise.all(qs.map((q) => pool.search(index, q, { k: 5, ...EVERYTHING })))
  const totalMs = performance.now() - s
  clearInterval(iv)
  lags.sort((x, y) => x - y)
  const p95 = lags[Math.floor(lags.length * 0.95)]!
  const worstLag = lags[lags.length - 1]!
  t.ok(oneSearchMs > 20, `one exhaustive search blocks its thread for ${oneSearchMs.toFixed(0)} ms`)
  t.ok(totalMs > 3 * oneSearchMs, `the ${qs.length} pooled searches took ${totalMs.toFixed(0)} ms`)
  // On the event loop every search would delay the timer by its whole duration, so nearly every tick would lag by about
  // oneSearchMs. From the workers the lag is scheduling noise and the odd GC pause (this shared 2-core machine runs at
  // load 20+: an idle process sees ~60 ms spikes), so the bound is on the 95th percentile over the ticks.
  t.ok(lags.length > totalMs / 60, `${lags.length} timer ticks in ${totalMs.toFixed(0)} ms (in-process searches would allow ~${qs.length})`)
  t.ok(p95 < oneSearchMs / 2, `timer lag p95 ${p95.toFixed(1)} ms (worst ${worstLag.toFixed(1)} ms), well under one search (${oneSearchMs.toFixed(0)} ms)`)
})
