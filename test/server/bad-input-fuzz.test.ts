/**
 * Bad input never yields a 5xx: seeded random bodies (wrong types, huge/NaN-ish numbers, odd strings, deep nesting,
 * missing and extra fields) against every route, with the real tiny model and index (fakes without ../shared).
 */
import t from 'tap'
import { loadConfig } from '../../src/config.js'
import { ERROR_CODES } from '../../src/errors.js'
import { compileFilter } from '../../src/index/metadata-filter.js'
import { buildApp } from '../../src/server/app.js'
import { loadTestParts } from './parts.js'

function rng(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

t.test('random bad bodies never produce 5xx and always have the error shape', async (t) => {
  const parts = await loadTestParts()
  t.teardown(() => parts.close())
  const zeros = new Array<number>(parts.dim - 1).fill(0)
  const app = buildApp({
    config: loadConfig({ MAX_BATCH_TEXTS: '8', MAX_TEXT_CHARS: '200' }),
    encoder: parts.encoder,
    indexStore: parts.makeStore(),
    compileFilter,
  })
  t.teardown(() => app.close())
  await app.inject({ method: 'POST', url: '/index', payload: { documents: [{ id: 'a', text: 'hello', metadata: { n: 1 } }] } })
  const r = rng(12345)
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]
  const scalar = (): unknown =>
    pick<() => unknown>([
      () => null, () => true, () => 0, () => -1, () => 1e308, () => 2.5, () => '', () => 'x', () => '../x', () => 'ａ\u0000\ud800',
      () => 'x'.repeat(300), () => [], () => {}, () => ({}), () => [[]], () => [[1, 2]], () => 'AAAA', () => ({ $gt: [] }), () => [1, 'a', null],
    ])()
  const value = (depth: number): unknown => {
    if (depth > 2 || r() < 0.6) return scalar()
    if (r() < 0.5) return Array.from({ length: Math.floor(r() * 4) }, () => value(depth + 1))
    const o: Record<string, unknown> = {}
    for (const k of ['id', 'text', 'embeddings', 'shape', 'metadata', 'query', '$and', 'k'].slice(0, Math.floor(r() * 5))) o[k] = value(depth + 1)
    return o
  }
  const fields: Record<string, string[]> = {
    '/encode': ['texts', 'kind', 'encoding_format', 'return_tokens', 'query_length'],
    '/index': ['index', 'documents', 'async', 'wait', 'store_text'],
    '/search': ['index', 'query', 'query_embeddings', 'query_shape', 'query_length', 'k', 'filter', 'params', 'include'],
    '/search/batch': ['index', 'queries', 'query_length', 'k', 'filter', 'params', 'include'],
    '/rerank': ['query', 'documents', 'top_n', 'return_documents', 'query_length'],
    '/v1/rerank': ['model', 'query', 'documents', 'top_n', 'rank_fields', 'return_documents', 'max_tokens_per_doc', 'max_chunks_per_doc', 'priority', 'query_length'],
    '/v2/rerank': ['model', 'query', 'documents', 'top_n', 'return_documents', 'max_tokens_per_doc', 'priority', 'query_length'],
    '/indexes': ['name', 'nbits', 'dim'],
    '/indexes/default/delete': ['ids'],
  }
  // Valid bodies, of which one field at a time is replaced: probes each check behind the schema.
  const valid: Record<string, Record<string, unknown>> = {
    '/encode': { texts: ['a', 'b'], kind: 'query', encoding_format: 'base64', return_tokens: true },
    '/index': { index: 'default', documents: [{ id: 'z', text: 'zz', embeddings: [[...zeros, 1]], shape: [1, parts.dim], metadata: { a: 1 } }] },
    '/search': { index: 'default', query: 'q', k: 5, filter: { n: { $gte: 0 } }, params: { ncells: 2, ndocs: 10 }, include: ['text'] },
    '/search/batch': { index: 'default', queries: ['q'], k: 5, filter: { n: 1 }, include: ['metadata'] },
    '/rerank': { query: 'q', documents: ['a', 'b'], top_n: 1, return_documents: true, query_length: 'dynamic' },
    '/v1/rerank': { model: 'm', query: 'q', documents: ['a', { text: 'b', title: 't' }], top_n: 1, rank_fields: ['title', 'text'], return_documents: true, max_chunks_per_doc: null, query_length: 'fixed' },
    '/v2/rerank': { model: 'm', query: 'q', documents: ['a', 'b'], top_n: 2, max_tokens_per_doc: 8, priority: 0 },
    '/indexes': { name: 'fresh', nbits: 2, dim: parts.dim },
    '/indexes/default/delete': { ids: ['nope'] },
  }
  const statuses = new Map<number, number>()
  for (let i = 0; i < 1400; i++) {
    const url = pick(Object.keys(fields))
    let body: Record<string, unknown> = {}
    if (i % 2 === 0) {
      for (const f of fields[url]) if (r() < 0.6) body[f] = value(0)
      if (r() < 0.1) body.unexpected = 1
    } else {
      body = structuredClone(valid[url])
      const f = pick(fields[url])
      if (r() < 0.2) delete body[f]
      else if (f === 'documents' && r() < 0.5) body.documents = [{ id: 'z', ...(value(1) as object) }]
      else body[f] = value(0)
    }
    const raw = r() < 0.05 ? JSON.stringify(body).slice(0, -1) : JSON.stringify(body)
    const res = await app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: raw })
    statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)
    if (res.statusCode >= 500) {
      t.fail(`${url} ${raw} -> ${res.statusCode} ${res.body}`)
      continue
    }
    if (res.statusCode >= 400) {
      const b = res.json() as { code: string; statusCode: number; message: string }
      if (!(b.code in ERROR_CODES) || b.statusCode !== res.statusCode || typeof b.message !== 'string') t.fail(`bad error body ${res.body}`)
    }
  }
  t.ok((statuses.get(400) ?? 0) > 600 && (statuses.get(200) ?? 0) > 20, `mostly 400s, some accepted (${JSON.stringify(Object.fromEntries(statuses))})`)
  t.notOk([...statuses.keys()].some((s) => s >= 500), 'no 5xx')
})
