/**
 * The sharing protocol on one thread (search-share.ts): a helper answering a request after its job has ended
 * changes nothing, a job done by a helper gives the owner the same scores as doing it itself, a job withdrawn by
 * settle() after a failed search is not taken, and a lingering helper claims posted jobs but leaves for a message or a
 * changed buffer. Its leaving at the search's end is checked with a second thread; the whole pool in
 * test/search-workers/search-pool.test.ts.
 */
import t from 'tap'
import { createPlaidIndex } from '../../src/index/plaid-index.js'
import { exactScores } from '../../src/index/plaid-search.js'
import { createProbeScratch } from '../../src/index/probe-scores.js'
import { createPrng } from '../../src/index/prng.js'
import { scorePairs } from '../../src/index/unprobed-refine.js'
import { Worker } from 'node:worker_threads'
import { abandonHelper, createSearchShare, helpWithSearch, lingerOn, type ShareRequest, shareRequestOpen, wakeLingerer } from '../../src/search-workers/search-share.js'
import { makeDocs, queryFor } from '../index/synthetic-vectors.js'

const dim = 32
const set = makeDocs({ seed: 21, dim, nDocs: 120, nTopics: 8, minLen: 6, maxLen: 20, noise: 0.8 })
const index = createPlaidIndex({ dim, nbits: 2, minTrainVectors: 500, numCentroids: 16, seed: 3 })
index.upsert(set.docs)
const { view } = index.searchState()
const qlen = 8
const query = queryFor(set.docs[5]!.vectors, dim, qlen, 0.5, createPrng(2))
const slots = Uint32Array.from({ length: 30 }, (_, i) => i * 3)
const expected = Array.from(exactScores(view, query, qlen, slots))
const viewOf = (key: number) => (key === 7 ? view : undefined)
const ctx = { viewOf, sc: createProbeScratch(), threadId: 1, inbox: new Int32Array(new SharedArrayBuffer(4)) }

t.test('a late request matches nothing; a helped job gives the same scores', async (t) => {
  const asked: ShareRequest[] = []
  const share = createSearchShare((m) => asked.push(m))
  const first = share.offloadsFor(7, view, 0, false).exact
  t.equal(first.offer(query, qlen, slots), true)
  t.same(Array.from(first.collect()), expected, 'no helper: the owner scores the documents itself')
  t.equal(share.helped, 0)
  t.notOk(shareRequestOpen(asked[0]!), 'the first job is closed')
  const second = share.offloadsFor(7, view, 0, false).exact
  second.offer(query, qlen, slots.subarray(10))
  t.equal(helpWithSearch(asked[0]!, ctx), false, 'the first request, arriving late, takes nothing')
  t.ok(shareRequestOpen(asked[1]!), 'the second job is still open')
  t.equal(helpWithSearch(asked[1]!, ctx), true, 'its own request takes it')
  t.same(Array.from(second.collect()), expected.slice(10), 'the helper\'s scores')
  t.equal(share.helped, 1)
})

t.test('a refinement job (vector, token pairs) done by a helper gives the scores the owner computes', async (t) => {
  const asked: ShareRequest[] = []
  const share = createSearchShare((m) => asked.push(m))
  const rng = createPrng(4)
  const n = 300
  const toks = Uint32Array.from({ length: n }, (_, x) => Math.floor((x * qlen) / n))
  const vecs = Uint32Array.from({ length: n }, () => rng.int(view.docStart[view.nSlots - 1]! + view.docLen[view.nSlots - 1]!))
  const parts = Float32Array.from({ length: n }, () => rng.next() - 0.5)
  const pairs = { query, qlen, toks, vecs, parts }
  const own = Array.from(scorePairs(view, pairs))
  t.ok(own.every((x) => Number.isFinite(x)), 'every vector has a row')
  const off = share.offloadsFor(7, view, 0, false).refine
  t.equal(off.offer(pairs), true)
  t.equal(helpWithSearch(asked[0]!, ctx), true, 'the helper takes it')
  t.same(Array.from(off.collect()), own, 'the helper\'s scores')
  t.equal(share.helped, 1)
  const alone = share.offloadsFor(7, view, 0, false).refine
  alone.offer(pairs)
  t.same(Array.from(alone.collect()), own, 'no helper: the owner scores them itself')
})

t.test('settle() withdraws a job its failed search left posted', async (t) => {
  const asked: ShareRequest[] = []
  const share = createSearchShare((m) => asked.push(m))
  share.offloadsFor(7, view, 0, false).exact.offer(query, qlen, slots)
  share.settle()
  t.notOk(shareRequestOpen(asked[0]!), 'closed')
  t.equal(helpWithSearch(asked[0]!, ctx), false, 'a helper takes nothing')
  const next = share.offloadsFor(7, view, 0, false).exact
  next.offer(query, qlen, slots)
  t.same(Array.from(next.collect()), expected, 'the next search shares as before')
})

t.test('a version the helper does not hold: FAILED, and the owner does the job', async (t) => {
  const asked: ShareRequest[] = []
  const share = createSearchShare((m) => asked.push(m))
  const off = share.offloadsFor(8, view, 0, false).exact
  off.offer(query, qlen, slots)
  t.equal(helpWithSearch(asked[0]!, ctx), false, 'unknown version 8')
  t.same(Array.from(off.collect()), expected, 'the owner scored them')
  t.equal(share.helped, 0)
})

t.test('a lingering helper claims each job posted on its channel; not one posted after the buffer changed, nor while messages wait', async (t) => {
  const asked: ShareRequest[] = []
  const share = createSearchShare((m) => asked.push(m))
  const channel = share.channel()
  const first = share.offloadsFor(7, view).exact
  first.offer(query, qlen, slots)
  t.equal(asked.length, 1, 'nobody lingers yet: the owner asks the pool')
  t.equal(lingerOn(channel, ctx, 5), 1, 'the lingerer did the posted job, then left after 5 ms without another')
  t.same(Array.from(first.collect()), expected, 'its scores')
  t.equal(share.helped, 1)

  const inbox = new Int32Array(new SharedArrayBuffer(4))
  const second = share.offloadsFor(7, view).exact
  second.offer(query, qlen, slots.subarray(3))
  Atomics.store(inbox, 0, 1)
  t.equal(lingerOn(channel, { ...ctx, inbox }, 5_000), 0, 'a message waiting for the helper: it leaves at once, the job untaken')
  t.ok(shareRequestOpen(asked[1]!), 'the job is still posted')
  t.same(Array.from(second.collect()), expected.slice(3), 'and the owner does it')

  // a job larger than the buffer: the owner moves to a new one, which a lingerer holding the old one must not claim
  const many = Uint32Array.from({ length: 40_000 }, (_, i) => i % 120)
  const third = share.offloadsFor(7, view).exact
  third.offer(query, qlen, many)
  t.equal(asked.length, 3, 'the owner asks the pool with its new buffer')
  t.not(asked[2]!.buf, channel.buf, 'a new buffer')
  t.equal(lingerOn(channel, ctx, 5_000), 0, 'a lingerer with the old buffer leaves without claiming')
  t.equal(helpWithSearch(asked[2]!, ctx), true, 'the request with the new buffer takes it')
  t.same(Array.from(third.collect().subarray(0, 120)), Array.from(exactScores(view, query, qlen, many.subarray(0, 120))), 'scores')
  share.end()
})

t.test('a helper lingering in another thread leaves at the end of the search, or when woken for a message', async (t) => {
  const asked: ShareRequest[] = []
  const share = createSearchShare((m) => asked.push(m))
  const channel = share.channel()
  const inbox = new Int32Array(new SharedArrayBuffer(4))
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'))
  const mod = JSON.stringify(new URL('../../src/search-workers/search-share.ts', import.meta.url).href)
  // the other thread lingers up to 20 s, twice, and reports how long each lasted
  const worker = new Worker(`
    const { parentPort, workerData, threadId } = require('node:worker_threads')
    import(${tsx}).then((tsx) => { tsx.register(); return import(${mod}) }).then((m) => {
      const ctx = { viewOf: () => undefined, sc: null, threadId, inbox: workerData.inbox }
      parentPort.on('message', () => {
        const t0 = performance.now()
        parentPort.postMessage({ started: true })
        const done = m.lingerOn(workerData.channel, ctx, 20000)
        parentPort.postMessage({ ms: performance.now() - t0, done })
      })
      parentPort.postMessage({ ready: true })
    })`, { eval: true, workerData: { channel, inbox } })
  t.teardown(() => worker.terminate())
  const replies: Array<{ ms?: number; done?: number }> = []
  const next = (): Promise<{ ms?: number; done?: number }> => new Promise((r) => worker.once('message', r))
  await next()
  const linger = async (stop: () => void): Promise<{ ms?: number; done?: number }> => {
    const startedP = next()
    worker.postMessage('go')
    await startedP
    const ended = next()
    await new Promise((r) => setTimeout(r, 100))
    stop()
    const r = await ended
    replies.push(r)
    return r
  }
  const atEnd = await linger(() => share.end())
  t.ok(atEnd.ms! >= 90 && atEnd.ms! < 5000, `the search's end released it after ${atEnd.ms!.toFixed(0)} ms (it would wait 20 s)`)
  const woken = await linger(() => {
    Atomics.add(inbox, 0, 1)
    wakeLingerer([channel.ctrl])
  })
  t.ok(woken.ms! >= 90 && woken.ms! < 5000, `a message for it released it after ${woken.ms!.toFixed(0)} ms`)
  t.equal(replies.reduce((a, r) => a + (r.done ?? 0), 0), 0, 'no job was posted, none done')

  // a helper that stops while it lingers leaves its mark: the owner would never ask the pool again until it is cleared
  const helperId = worker.threadId
  const once = share.offloadsFor(7, view).exact
  once.offer(query, qlen, slots) // the owner's first job: it asks the pool (the pool learns its buffer)
  once.collect()
  Atomics.store(inbox, 0, 0) // the message it was woken for, taken up
  worker.postMessage('go')
  await new Promise((r) => setTimeout(r, 100))
  await worker.terminate()
  const before = asked.length
  const off = share.offloadsFor(7, view).exact
  off.offer(query, qlen, slots)
  t.equal(asked.length, before, 'while the stopped helper\'s mark stays, the owner asks nobody')
  t.same(Array.from(off.collect()), expected, 'and does the job itself')
  abandonHelper([channel.ctrl], helperId)
  share.offloadsFor(7, view).exact.offer(query, qlen, slots)
  t.equal(asked.length, before + 1, 'cleared by the pool (abandonHelper): the owner asks again')
  share.settle()
  share.end()
})
