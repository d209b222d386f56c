/**
 * /search modes over HTTP with the real index store (PLAID + lexical) and precomputed embeddings (the encoder is a
 * fake that these requests never need for documents). Hybrid results must equal a fusion computed here from the two
 * single-mode lists (RRF and weighted), the lexical list must equal an exhaustive BM25, the multivector list exact
 * MaxSim; filters, deletes and upserts must show on both sides.
 */
import t from 'tap'
import { loadConfig } from '../../src/config.js'
import { createIndexStore } from '../../src/index/index-store.js'
import { compileFilter } from '../../src/index/metadata-filter.js'
import { createLexicalAnalyzer } from '../../src/lexical/analyzer.js'
import { buildApp } from '../../src/server/app.js'
import { createMecabAnalyzer } from '../../src/tokenizer/mecab/index.js'
import { bruteForceBm25 } from '../helpers/brute-bm25.js'
import { IPADIC_DIR, dictionaryOnly, hasShared, sharedOnly } from '../helpers/shared.js'
import { createFakeEncoder } from './fakes.js'
import { loadJsquad } from './jsquad.js'

const DIM = 16
const skip = !hasShared ? sharedOnly() : dictionaryOnly(IPADIC_DIR)

function rows(seed: number, n: number): number[][] {
  const out: number[][] = []
  for (let r = 0; r < n; r++) {
    const v = Array.from({ length: DIM }, (_, d) => Math.sin(seed * 12.9898 + r * 78.233 + d * 3.1))
    const norm = Math.hypot(...v)
    out.push(v.map((x) => x / norm))
  }
  return out
}

function maxSim(q: number[][], d: number[][]): number {
  let s = 0
  for (const qv of q) {
    let best = -Infinity
    for (const dv of d) best = Math.max(best, qv.reduce((a, x, i) => a + x * dv[i], 0))
    s += best
  }
  return s
}

interface ApiHit { id: string; score: number; metadata?: Record<string, unknown>; scores?: Record<string, { score: number; rank: number }> }

/** RRF / weighted fusion written from the definitions, over two best-first lists. */
function fuse(mv: ApiHit[], lex: ApiHit[], method: 'rrf' | 'weighted', w: { multivector: number; lexical: number }, rrfK: number, k: number) {
  const acc = new Map<string, number>()
  for (const [list, weight] of [[mv, w.multivector], [lex, w.lexical]] as const) {
    const scores = list.map((h) => h.score)
    const lo = Math.min(...scores), hi = Math.max(...scores)
    list.forEach((h, i) => {
      const c = method === 'rrf' ? weight / (rrfK + i + 1) : weight * (hi > lo ? (h.score - lo) / (hi - lo) : 1)
      acc.set(h.id, (acc.get(h.id) ?? 0) + c)
    })
  }
  return [...acc].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, k).map(([id, score]) => ({ id, score }))
}

t.test('hybrid search equals the fusion of the two lists; filters, deletes and upserts on both sides', skip, async (t) => {
  const analyzer = createLexicalAnalyzer(createMecabAnalyzer(IPADIC_DIR))
  const indexStore = createIndexStore({ defaultSettings: { dim: DIM }, analyzer })
  const app = buildApp({ config: loadConfig({}), encoder: createFakeEncoder({ dim: DIM }), indexStore, compileFilter })
  t.teardown(() => app.close())
  const post = async (url: string, payload: object) => {
    const res = await app.inject({ method: 'POST', url, payload })
    return { status: res.statusCode, body: res.json() }
  }

  const passages = loadJsquad().slice(0, 200)
  const model = new Map<string, { text: string; rows: number[][]; group: number }>()
  const index = async (docs: Array<{ id: string; text: string; group: number; seed: number }>) => {
    const documents = docs.map((d) => {
      const r = rows(d.seed, 2 + (d.seed % 3))
      model.set(d.id, { text: d.text, rows: r, group: d.group })
      return { id: d.id, text: d.text, embeddings: r, metadata: { group: d.group } }
    })
    const res = await post('/index', { index: 'h', documents })
    t.equal(res.status, 200, `indexed ${docs.length} documents`)
  }
  await index(passages.map((p, i) => ({ id: p.id, text: p.text, group: i % 3, seed: i })))
  const queries = passages.filter((_, i) => i % 10 === 3).map((p, i) => ({ text: p.questions[0], emb: rows(1000 + i, 4) }))

  const search = async (q: { text: string; emb: number[][] }, extra: object) => {
    const res = await post('/search', { index: 'h', query: q.text, query_embeddings: q.emb, include: ['metadata', 'scores'], ...extra })
    if (res.status !== 200) t.fail(`search answered ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`)
    return res.body.results as ApiHit[]
  }

  const checkAll = async (label: string, filter?: { group: number }) => {
    const allowed = (id: string) => filter === undefined || model.get(id)!.group === filter.group
    const lexAll = [...model].map(([id, d]) => ({ id, terms: analyzer.terms(d.text) }))
    const brute = bruteForceBm25(lexAll, 1.2, 0.75)
    let lexBad = 0, mvBad = 0, fuseBad = 0, compBad = 0
    for (const q of queries) {
      const f = filter === undefined ? {} : { filter }
      const { text: qText, emb } = q
      const lexical = await post('/search', { index: 'h', query: qText, mode: 'lexical', k: 100, ...f }).then((r) => r.body.results as ApiHit[])
      const mv = await post('/search', { index: 'h', query_embeddings: emb, k: 100, ...f }).then((r) => r.body.results as ApiHit[])
      // the lists themselves: exhaustive BM25, exact MaxSim (the index is below its training size, so PLAID is exact)
      const wantLex = brute(analyzer.terms(qText), 1000).filter((h) => allowed(h.id)).slice(0, 100)
      if (lexical.length !== wantLex.length || lexical.some((h, i) => h.id !== wantLex[i].id || Math.abs(h.score - wantLex[i].score) > 1e-9)) lexBad++
      if (mv.some((h) => !allowed(h.id) || Math.abs(h.score - maxSim(emb, model.get(h.id)!.rows)) > 1e-4)) mvBad++
      if (mv.length !== Math.min(100, [...model.keys()].filter(allowed).length)) mvBad++
      for (const [method, weights, rrfK] of [['rrf', { multivector: 1, lexical: 1 }, 60], ['rrf', { multivector: 0.5, lexical: 2 }, 10], ['weighted', { multivector: 0.3, lexical: 0.7 }, 60]] as const) {
        const hybrid = await search(q, { mode: 'hybrid', k: 10, fusion: method, weights, rrf_k: rrfK, ...f })
        const want = fuse(mv, lexical, method, weights, rrfK, 10)
        if (hybrid.length !== want.length || hybrid.some((h, i) => h.id !== want[i].id || Math.abs(h.score - want[i].score) > 1e-12)) fuseBad++
        for (const h of hybrid) {
          const mi = mv.findIndex((x) => x.id === h.id), li = lexical.findIndex((x) => x.id === h.id)
          const okMv = mi < 0 ? h.scores?.multivector === undefined : h.scores?.multivector?.rank === mi + 1 && h.scores.multivector.score === mv[mi].score
          const okLex = li < 0 ? h.scores?.lexical === undefined : h.scores?.lexical?.rank === li + 1 && h.scores.lexical.score === lexical[li].score
          if (!okMv || !okLex || !allowed(h.id)) compBad++
        }
      }
    }
    t.equal(lexBad, 0, `${label}: lexical lists equal the exhaustive BM25`)
    t.equal(mvBad, 0, `${label}: multivector lists hold exact MaxSim scores of allowed documents`)
    t.equal(fuseBad, 0, `${label}: hybrid results equal the brute-force fusion (RRF k=60, weighted RRF k=10, weighted sum)`)
    t.equal(compBad, 0, `${label}: component scores and ranks match the lists`)
  }

  await checkAll('fresh index')
  await checkAll('filter group 1', { group: 1 })

  // deletes and upserts through the API reach both engines
  const deleted = passages.slice(0, 30).map((p) => p.id)
  t.equal((await post('/indexes/h/delete', { ids: deleted })).status, 200)
  for (const id of deleted) model.delete(id)
  await index(passages.slice(30, 50).map((p, i) => ({ id: p.id, text: passages[199 - i].text, group: 2, seed: 500 + i })))
  await index([{ id: 'extra', text: passages[3].text + ' 特別な型番XJ-9000', group: 1, seed: 999 }])
  await checkAll('after deletes and upserts')
  await checkAll('after deletes and upserts, filter group 2', { group: 2 })
  const code = await post('/search', { index: 'h', query: '型番 xj-9000', mode: 'lexical', k: 3 })
  t.equal(code.body.results[0]?.id, 'extra', 'an exact product code finds its document lexically (NFKC + lower case)')
  for (const q of queries) {
    const hits = await search(q, { mode: 'hybrid', k: 50 })
    t.notOk(hits.some((h) => deleted.includes(h.id)), 'no deleted document in hybrid results')
  }

  // /search/batch gives what /search gives, per query
  const batch = await post('/search/batch', { index: 'h', queries: queries.map((q) => q.text), mode: 'lexical', k: 5, include: ['scores'] })
  t.equal(batch.status, 200)
  for (let i = 0; i < queries.length; i++) {
    const one = await post('/search', { index: 'h', query: queries[i].text, mode: 'lexical', k: 5, include: ['scores'] })
    t.same(batch.body.results[i], one.body.results, `batch query ${i} equals /search`)
  }
  const hb = await post('/search/batch', { index: 'h', queries: [queries[0].text], mode: 'hybrid', k: 5 })
  t.equal(hb.status, 200)
  t.equal(hb.body.results[0].length, 5)

  // errors
  const err = async (payload: object, status: number, code: string) => {
    const r = await post('/search', { index: 'h', ...payload })
    t.equal(r.status, status, `${JSON.stringify(payload).slice(0, 80)} -> ${status}`)
    t.equal(r.body.code, code, r.body.message)
  }
  await err({ query_embeddings: queries[0].emb, mode: 'lexical' }, 400, 'VALIDATION_ERROR')
  await err({ query_embeddings: queries[0].emb, mode: 'hybrid' }, 400, 'VALIDATION_ERROR')
  await err({ query: 'x', query_embeddings: queries[0].emb, mode: 'lexical' }, 400, 'VALIDATION_ERROR')
  await err({ query: 'x', rrf_k: 5 }, 400, 'VALIDATION_ERROR')
  await err({ query: 'x', mode: 'lexical', weights: { lexical: 1 } }, 400, 'VALIDATION_ERROR')
  await err({ query: 'x', mode: 'hybrid', k: 20, fusion_depth: 10 }, 400, 'INVALID_SEARCH_PARAMS')
  await err({ query: 'x', mode: 'hybrid', fusion: 'max' }, 400, 'VALIDATION_ERROR')
  await err({ query: 'x', mode: 'lexical', filter: { $bad: 1 } }, 400, 'INVALID_FILTER')
  t.equal((await post('/index', { index: 'vecs', documents: [{ id: 'a', embeddings: rows(1, 2) }] })).status, 200)
  const un = await post('/search', { index: 'vecs', query: '東京', mode: 'hybrid' })
  t.equal(un.status, 409)
  t.equal(un.body.code, 'LEXICAL_UNAVAILABLE')
  t.match(un.body.message, /without text|no document with text/)

  // index info reports the lexical side; metrics carry the lexical stages and fusion
  const info = await app.inject({ method: 'GET', url: '/indexes/h' })
  t.equal(info.json().lexical.documents, model.size)
  t.same([info.json().lexical.k1, info.json().lexical.b, info.json().lexical.term_form], [1.2, 0.75, 'surface'])
  const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body
  for (const stage of ['lexical_analyze', 'lexical_postings', 'lexical_topk', 'lexical_total', 'fusion', 'exact']) {
    t.match(metrics, new RegExp(`jacolbert_search_stage_seconds_count\\{stage="${stage}"\\} [1-9]`), `stage ${stage} observed`)
  }
})

t.test('POST /indexes takes BM25 settings', skip, async (t) => {
  const analyzer = createLexicalAnalyzer(createMecabAnalyzer(IPADIC_DIR))
  const indexStore = createIndexStore({ defaultSettings: { dim: DIM }, analyzer })
  const app = buildApp({ config: loadConfig({}), encoder: createFakeEncoder({ dim: DIM }), indexStore, compileFilter })
  t.teardown(() => app.close())
  const res = await app.inject({ method: 'POST', url: '/indexes', payload: { name: 'b', lexical: { k1: 2, b: 0.3, term_form: 'base' } } })
  t.equal(res.statusCode, 201, res.body)
  t.same([res.json().lexical.k1, res.json().lexical.b, res.json().lexical.term_form], [2, 0.3, 'base'])
  const bad = await app.inject({ method: 'POST', url: '/indexes', payload: { name: 'c', lexical: { b: 1.5 } } })
  t.equal(bad.statusCode, 400)
})
