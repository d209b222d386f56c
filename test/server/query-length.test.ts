/**
 * Dynamic query length over HTTP (JaColBERTv2.5): `query_length: "dynamic"` pads a query with [MASK] to the next
 * multiple of 32 holding at least 8 [MASK]s, so a long query keeps every token; "fixed" (and no field, with the default
 * QUERY_LENGTH) cuts it at query_maxlen as before. Real tiny model; references are the tokenizer rule written out here
 * and a float64 MaxSim over /encode's vectors.
 */
import t from 'tap'
import { loadConfig } from '../../src/config.js'
import { compileFilter } from '../../src/index/metadata-filter.js'
import { buildApp } from '../../src/server/app.js'
import { maxSimF64, rankOf } from '../helpers/maxsim-f64.js'
import { sharedOnly } from '../helpers/shared.js'
import { loadJsquad } from './jsquad.js'
import { loadTestParts } from './parts.js'

type Encoded = { shape: [number, number]; embeddings: number[][]; tokens: string[] }

t.test('query_length over HTTP: fixed = today, dynamic = longer matrices', sharedOnly(), async (t) => {
  const parts = await loadTestParts()
  t.teardown(() => parts.close())
  const passages = loadJsquad().slice(0, 40)
  // Two questions and a passage prefix joined: well over 32 tokens.
  const long = `${passages[0].questions[0]}${passages[1].questions[0]}${passages[2].text.slice(0, 60)}`
  const short = '日本の首都はどこ？'

  const makeApp = (env: Record<string, string>) => {
    const app = buildApp({ config: loadConfig(env), encoder: parts.encoder, indexStore: parts.makeStore(), compileFilter })
    t.teardown(() => app.close())
    return async (url: string, payload: object) => {
      const res = await app.inject({ method: 'POST', url, payload })
      if (res.statusCode !== 200) t.fail(`${url}: ${res.statusCode} ${res.body.slice(0, 300)}`)
      return res.json()
    }
  }
  const post = makeApp({})
  const encode = async (texts: string[], extra: object = {}): Promise<Encoded[]> =>
    (await post('/encode', { texts, kind: 'query', return_tokens: true, ...extra })).data

  const [today] = await encode([long])
  const [fixed] = await encode([long], { query_length: 'fixed' })
  const [dynamic] = await encode([long], { query_length: 'dynamic' })
  t.same(today.shape, [32, parts.dim], 'no query_length: query_maxlen rows (as before)')
  t.same(fixed, today, 'fixed = no query_length, vector for vector')
  const real = dynamic.tokens.lastIndexOf('[SEP]') + 1
  t.ok(real > 32, `the long query has ${real} real tokens (> 32)`)
  const expectedRows = Math.max(32, Math.ceil((real + 8) / 32) * 32)
  t.equal(dynamic.shape[0], expectedRows, `dynamic: ${real} tokens + at least 8 [MASK]s, rounded up to a multiple of 32`)
  t.ok(dynamic.tokens.slice(real).every((x) => x === '[MASK]') && dynamic.tokens.length - real >= 8, 'the padding is [MASK]s, at least 8')
  t.same(dynamic.tokens.slice(0, 31), fixed.tokens.slice(0, 31), 'the same tokens where fixed keeps them')
  t.notSame(dynamic.embeddings.slice(0, 32), fixed.embeddings, 'different vectors (the model attends to the whole query)')

  const [shortFixed] = await encode([short], { query_length: 'fixed' })
  const [shortDynamic] = await encode([short], { query_length: 'dynamic' })
  const shortReal = shortFixed.tokens.lastIndexOf('[SEP]') + 1
  t.ok(shortReal + 8 <= 32, 'the short query fits in 32 with 8 [MASK]s')
  t.same(shortDynamic, shortFixed, 'a short query is the same either way')

  const bad = buildApp({ config: loadConfig({}), encoder: parts.encoder, indexStore: parts.makeStore(), compileFilter })
  t.teardown(() => bad.close())
  const r400 = await bad.inject({ method: 'POST', url: '/encode', payload: { texts: ['x'], kind: 'document', query_length: 'dynamic' } })
  t.equal(r400.statusCode, 400, 'query_length on documents is refused')
  t.equal(r400.json().code, 'VALIDATION_ERROR')
  const r400b = await bad.inject({ method: 'POST', url: '/search', payload: { query: 'x', query_length: 'long' } })
  t.equal(r400b.statusCode, 400, 'an unknown query_length is refused')

  // QUERY_LENGTH=dynamic makes dynamic the default; a request can still ask for fixed.
  const postDyn = makeApp({ QUERY_LENGTH: 'dynamic' })
  t.same((await postDyn('/encode', { texts: [long], kind: 'query', return_tokens: true })).data[0], dynamic, 'QUERY_LENGTH=dynamic: default dynamic')
  t.same((await postDyn('/encode', { texts: [long], kind: 'query', return_tokens: true, query_length: 'fixed' })).data[0], fixed, 'per request fixed wins')

  // /rerank and /search score with the query matrix the request asked for: a float64 MaxSim over /encode's vectors.
  const docs = passages.slice(4, 16).map((p) => p.text)
  const docRows: number[][][] = (await post('/encode', { texts: docs, kind: 'document' })).data.map((d: Encoded) => d.embeddings)
  for (const [mode, q] of [['fixed', fixed], ['dynamic', dynamic]] as const) {
    const ref = docRows.map((d) => maxSimF64(q.embeddings, d))
    const rr = await post('/rerank', { query: long, documents: docs, query_length: mode })
    t.same(rr.results.map((x: { index: number }) => x.index), rankOf(ref), `/rerank ${mode}: order = float64 MaxSim`)
    for (const x of rr.results as Array<{ index: number; relevance_score: number }>) {
      t.ok(Math.abs(x.relevance_score - ref[x.index]) < 1e-4, `/rerank ${mode} doc ${x.index}: ${x.relevance_score} vs ${ref[x.index]}`)
    }
    await post('/index', { index: `ql-${mode}`, documents: docs.map((text, i) => ({ id: `d${i}`, text })) })
    const exhaustive = { ndocs: 1_000_000, centroid_score_threshold: -1 }
    const s = await post('/search', { index: `ql-${mode}`, query: long, k: docs.length, query_length: mode, params: exhaustive })
    const b = await post('/search/batch', { index: `ql-${mode}`, queries: [long], k: docs.length, query_length: mode, params: exhaustive })
    t.same(b.results[0], s.results, `/search/batch ${mode} = /search ${mode}`)
    // The index stores compressed vectors, so its scores approximate the exact ones; the top hit is the exact best.
    const best = rankOf(ref)[0]
    t.equal(s.results[0].id, `d${best}`, `/search ${mode}: top hit = float64 MaxSim's best`)
    t.ok(Math.abs(s.results[0].score - ref[best]) < 0.05 * Math.abs(ref[best]) + 0.05, `/search ${mode}: top score ${s.results[0].score} ≈ ${ref[best]}`)
  }
  const sf = await post('/search', { index: 'ql-fixed', query: long, k: 3 })
  const sd = await post('/search', { index: 'ql-fixed', query: long, k: 3, query_length: 'dynamic' })
  t.notSame(sd.results.map((h: { score: number }) => h.score), sf.results.map((h: { score: number }) => h.score), '/search: dynamic scores differ from fixed')
})
