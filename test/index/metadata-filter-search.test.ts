import t from 'tap'
import { compileFilter } from '../../src/index/metadata-filter.js'
import { maxSim } from '../../src/index/maxsim.js'
import { createPlaidIndex, type Metadata } from '../../src/index/plaid-index.js'
import { randomUnitVectors } from './snapshot-fake-state.js'

// Filters applied inside a real index search: hits satisfy the filter, a selective filter still yields k hits when
// k documents match, and (untrained index = exact search) the hits equal brute-force MaxSim over the matching documents.
const DIM = 32
const N = 400
const docs = Array.from({ length: N }, (_, d) => ({
  id: `doc-${d}`,
  vectors: randomUnitVectors(6 + (d % 9), DIM, 100 + d),
  metadata: { lang: d % 3 === 0 ? 'ja' : 'en', year: 2000 + (d % 25), rare: d % 40 === 0 } as Metadata,
}))
const filters: unknown[] = [
  { lang: 'ja' },
  { rare: true },
  { $and: [{ lang: { $in: ['ja'] } }, { year: { $gte: 2020 } }] },
  { $or: [{ year: 2001 }, { year: { $gt: 2023 } }] },
  { year: { $lt: 2000 } },
]
const queries = Array.from({ length: 5 }, (_, i) => randomUnitVectors(32, DIM, 9000 + i))

for (const trained of [false, true]) {
  t.test(`${trained ? 'trained' : 'untrained (exact)'} index`, async (t) => {
    const index = createPlaidIndex({ dim: DIM, nbits: 2, minTrainVectors: trained ? 1000 : 1e9, seed: 1 })
    index.upsert(docs)
    t.equal(index.stats().trained, trained)
    for (const f of filters) {
      const pred = compileFilter(f)
      const matching = docs.filter((d) => pred(d.metadata, d.id))
      for (const [qi, q] of queries.entries()) {
        const k = 10
        const { hits } = index.search(q, { k, filter: pred })
        const label = `${JSON.stringify(f)} q${qi}`
        t.equal(hits.length, Math.min(k, matching.length), `${label}: min(k, matching) hits`)
        t.ok(hits.every((h) => pred(docs[Number(h.id.slice(4))].metadata, h.id)), `${label}: every hit matches`)
        if (!trained) {
          const want = matching
            .map((d) => ({ id: d.id, score: maxSim(q, 32, d.vectors, 0, d.vectors.length / DIM, DIM) }))
            .sort((a, b) => b.score - a.score)
            .slice(0, k)
          t.same(hits.map((h) => h.id), want.map((w) => w.id), `${label}: same ids as brute force over matching docs`)
        }
      }
    }
  })
}
