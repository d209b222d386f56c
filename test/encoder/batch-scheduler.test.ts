import t from 'tap'
import { chooseAnchor, pickBatch, type Waiting } from '../../src/encoder/batch-scheduler.js'

const w = (kind: Waiting['kind'], len: number, enqueuedAt: number): Waiting => ({ kind, len, enqueuedAt })

t.test('pickBatch keeps the anchor, one kind, similar lengths, within the token budget', async (t) => {
  const q = [w('document', 100, 0), w('query', 32, 1), w('document', 300, 2), w('document', 90, 3), w('document', 110, 4), w('document', 20, 5)]
  const b = pickBatch(q, 400)
  t.ok(b.includes(q[0]!), 'oldest included')
  t.ok(b.every((x) => x.kind === 'document'))
  const maxLen = Math.max(...b.map((x) => x.len))
  t.ok(b.length * maxLen <= 400, `rows × longest = ${b.length * maxLen} ≤ 400`)
  t.notOk(b.includes(q[2]!), 'the 300-token document would triple the padding')
  t.same(b.map((x) => x.len).sort((a, c) => a - c), [20, 90, 100], 'shorter neighbours first (no extra padding)')
  // brute force: no batch containing the anchor, of one kind, has more rows within the budget
  const docs = q.filter((x) => x.kind === 'document')
  let best = 0
  for (let mask = 0; mask < 1 << docs.length; mask++) {
    const sel = docs.filter((_, i) => mask & (1 << i))
    if (!sel.includes(q[0]!)) continue
    if (sel.length * Math.max(...sel.map((x) => x.len)) <= 400) best = Math.max(best, sel.length)
  }
  t.equal(b.length, best, `as many rows as the best possible (${best})`)
  t.same(pickBatch(q, 1), [q[0]], 'an over-budget anchor still runs alone')
  t.same(pickBatch([], 100), [])
})

t.test('chooseAnchor prefers waiting queries, but not past the document delay bound', async (t) => {
  const q = [w('document', 300, 0), w('document', 300, 10), w('query', 32, 20)]
  t.equal(chooseAnchor(q, 100, 2000), q[2], 'query jumps ahead')
  t.equal(chooseAnchor(q, 2500, 2000), q[0], 'document waited too long')
  t.equal(chooseAnchor(q.slice(0, 2), 100, 2000), q[0])
  t.equal(chooseAnchor([], 0, 2000), undefined)
})
