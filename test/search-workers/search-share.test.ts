/**
 * The sharing protocol on one thread (search-share.ts): a helper answering a request after its job has ended
 * changes nothing, a job done by a helper gives the owner the same scores as doing it itself, and a job withdrawn by
 * settle() after a failed search is not taken. Real threads: test/search-workers/search-pool.test.ts.
 */
import t from 'tap'
import { createPlaidIndex } from '../../src/index/plaid-index.js'
import { exactScores } from '../../src/index/plaid-search.js'
import { createProbeScratch } from '../../src/index/probe-scores.js'
import { createPrng } from '../../src/index/prng.js'
import { createSearchShare, helpWithSearch, type ShareRequest, shareRequestOpen } from '../../src/search-workers/search-share.js'
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

t.test('a late request matches nothing; a helped job gives the same scores', async (t) => {
  const asked: ShareRequest[] = []
  const share = createSearchShare((m) => asked.push(m))
  const first = share.offloadsFor(7, view).exact
  t.equal(first.offer(query, qlen, slots), true)
  t.same(Array.from(first.collect()), expected, 'no helper: the owner scores the documents itself')
  t.equal(share.helped, 0)
  t.notOk(shareRequestOpen(asked[0]!), 'the first job is closed')
  const second = share.offloadsFor(7, view).exact
  second.offer(query, qlen, slots.subarray(10))
  t.equal(helpWithSearch(asked[0]!, viewOf, createProbeScratch()), false, 'the first request, arriving late, takes nothing')
  t.ok(shareRequestOpen(asked[1]!), 'the second job is still open')
  t.equal(helpWithSearch(asked[1]!, viewOf, createProbeScratch()), true, 'its own request takes it')
  t.same(Array.from(second.collect()), expected.slice(10), 'the helper\'s scores')
  t.equal(share.helped, 1)
})

t.test('settle() withdraws a job its failed search left posted', async (t) => {
  const asked: ShareRequest[] = []
  const share = createSearchShare((m) => asked.push(m))
  share.offloadsFor(7, view).exact.offer(query, qlen, slots)
  share.settle()
  t.notOk(shareRequestOpen(asked[0]!), 'closed')
  t.equal(helpWithSearch(asked[0]!, viewOf, createProbeScratch()), false, 'a helper takes nothing')
  const next = share.offloadsFor(7, view).exact
  next.offer(query, qlen, slots)
  t.same(Array.from(next.collect()), expected, 'the next search shares as before')
})

t.test('a version the helper does not hold: FAILED, and the owner does the job', async (t) => {
  const asked: ShareRequest[] = []
  const share = createSearchShare((m) => asked.push(m))
  const off = share.offloadsFor(8, view).exact
  off.offer(query, qlen, slots)
  t.equal(helpWithSearch(asked[0]!, viewOf, createProbeScratch()), false, 'unknown version 8')
  t.same(Array.from(off.collect()), expected, 'the owner scored them')
  t.equal(share.helped, 0)
})
