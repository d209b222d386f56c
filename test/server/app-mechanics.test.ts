/**
 * HTTP mechanics: error shapes, limits, auth, jobs, logs, shutdown. With the real tiny model and real index store
 * (parts.ts); the fakes only where a test must control a part (a full queue, a stalled encoder, a failing store).
 */
import t from 'tap'
import { loadConfig, type Config } from '../../src/config.js'
import { buildApp } from '../../src/server/app.js'
import { compileFilter } from '../../src/index/metadata-filter.js'
import { createFakeEncoder, createFakeStore } from './fakes.js'
import { loadTestParts } from './parts.js'

const parts = await loadTestParts()
t.teardown(() => parts.close())
t.comment(parts.real ? 'using the real tiny model and index' : 'using fakes (../shared absent)')
const Z = (n: number) => new Array<number>(n).fill(0)
const DIM = parts.dim

function config(over: Record<string, string> = {}): Config {
  return loadConfig({ MAX_BATCH_TEXTS: '4', MAX_TEXT_CHARS: '50', MAX_BODY_BYTES: '65536', ...over })
}

function makeApp(over: Record<string, string> = {}) {
  const encoder = parts.encoder
  const indexStore = parts.makeStore()
  const app = buildApp({ config: config(over), encoder, indexStore, compileFilter })
  return { app, encoder, indexStore }
}

t.test('error bodies for bad input', async (t) => {
  const { app } = makeApp()
  t.teardown(() => app.close())
  const post = (url: string, payload: unknown) => app.inject({ method: 'POST', url, payload: payload as object })
  const expectErr = async (name: string, resP: Promise<{ statusCode: number; json(): any }>, status: number, code: string, field?: RegExp) => {
    const res = await resP
    t.equal(res.statusCode, status, `${name}: status`)
    const body = res.json()
    t.equal(body.code, code, `${name}: code (${body.message})`)
    t.equal(body.statusCode, status, `${name}: statusCode in body`)
    t.type(body.message, 'string')
    if (field) t.match(body.message, field, `${name}: message names the field`)
  }
  await expectErr('wrong type', post('/encode', { texts: [1] }), 400, 'VALIDATION_ERROR', /texts\/0/)
  await expectErr('empty texts', post('/encode', { texts: [] }), 400, 'VALIDATION_ERROR', /texts/)
  await expectErr('missing texts', post('/encode', {}), 400, 'VALIDATION_ERROR', /texts/)
  await expectErr('unknown field', post('/encode', { texts: ['a'], top_k: 3 }), 400, 'VALIDATION_ERROR', /top_k/)
  await expectErr('bad kind', post('/encode', { texts: ['a'], kind: 'passage' }), 400, 'VALIDATION_ERROR', /kind/)
  await expectErr('too many', post('/encode', { texts: ['a', 'b', 'c', 'd', 'e'] }), 400, 'TOO_MANY_TEXTS', /MAX_BATCH_TEXTS/)
  await expectErr('too long', post('/encode', { texts: ['x'.repeat(51)] }), 400, 'TEXT_TOO_LONG', /texts\[0\]/)
  await expectErr('lone surrogate', post('/encode', { texts: ['a\ud800b'] }), 400, 'INVALID_TEXT', /texts\[0\]/)
  await expectErr(
    'malformed JSON',
    app.inject({ method: 'POST', url: '/encode', headers: { 'content-type': 'application/json' }, payload: '{"texts": [' }),
    400,
    'INVALID_JSON',
  )
  await expectErr(
    'invalid UTF-8',
    app.inject({
      method: 'POST',
      url: '/encode',
      headers: { 'content-type': 'application/json' },
      payload: Buffer.concat([Buffer.from('{"texts": ["'), Buffer.from([0xff, 0xfe, 0x82]), Buffer.from('"]}')]),
    }),
    400,
    'INVALID_JSON',
    /UTF-8/,
  )
  await expectErr(
    'wrong media type',
    app.inject({ method: 'POST', url: '/encode', headers: { 'content-type': 'text/plain' }, payload: 'hello' }),
    415,
    'UNSUPPORTED_MEDIA_TYPE',
  )
  await expectErr('body too large', post('/encode', { texts: ['x'.repeat(70000)] }), 413, 'PAYLOAD_TOO_LARGE')
  await expectErr('unknown route', app.inject({ method: 'GET', url: '/nope' }), 404, 'NOT_FOUND')
  await expectErr('wrong method', app.inject({ method: 'GET', url: '/search' }), 405, 'METHOD_NOT_ALLOWED')
  // vectors
  await expectErr('NaN-ish (huge) vector', app.inject({ method: 'POST', url: '/index', headers: { 'content-type': 'application/json' }, payload: `{"documents":[{"id":"a","embeddings":[[1e999${',0'.repeat(DIM - 1)}]]}]}` }), 400, 'INVALID_VECTOR', /embeddings\/0\/0/)
  const nanB64 = Buffer.from(new Float32Array([NaN, ...Z(DIM - 1)]).buffer).toString('base64')
  await expectErr('NaN base64 vector', post('/index', { documents: [{ id: 'a', embeddings: nanB64 }] }), 400, 'INVALID_VECTOR')
  await expectErr('wrong dimension', post('/index', { documents: [{ id: 'a', embeddings: [[1, 2, 3]] }] }), 400, 'DIMENSION_MISMATCH', /embeddings\[0\]/)
  await expectErr('wrong dim base64', post('/index', { documents: [{ id: 'a', embeddings: Buffer.alloc(12).toString('base64'), shape: [1, 3] }] }), 400, 'DIMENSION_MISMATCH')
  await expectErr('not base64', post('/index', { documents: [{ id: 'a', embeddings: '!!!!' }] }), 400, 'INVALID_VECTOR')
  await expectErr('empty vectors', post('/index', { documents: [{ id: 'a', embeddings: [] }] }), 400, 'INVALID_VECTOR')
  await expectErr('no text nor embeddings', post('/index', { documents: [{ id: 'a' }] }), 400, 'VALIDATION_ERROR', /documents\[0\]/)
  await expectErr('duplicate ids', post('/index', { documents: [{ id: 'a', text: 'x' }, { id: 'a', text: 'y' }] }), 400, 'VALIDATION_ERROR', /repeats/)
  await expectErr('nested metadata', post('/index', { documents: [{ id: 'a', text: 'x', metadata: { tags: ['a'] } }] }), 400, 'INVALID_METADATA', /tags/)
  // index names
  for (const bad of ['../x', 'UPPER', '', '-lead', 'a'.repeat(65), 'a/b', '.hidden']) {
    await expectErr(`index name ${JSON.stringify(bad)}`, post('/index', { index: bad, documents: [{ id: 'a', text: 'x' }] }), 400, 'INVALID_INDEX_NAME')
  }
  await expectErr('path trick in URL', app.inject({ method: 'GET', url: '/indexes/..%2Fetc' }), 400, 'INVALID_INDEX_NAME')
  await expectErr('unknown index', post('/search', { index: 'nope', query: 'q' }), 404, 'INDEX_NOT_FOUND')
  await expectErr('unknown index stats', app.inject({ method: 'GET', url: '/indexes/nope' }), 404, 'INDEX_NOT_FOUND')
  t.equal((await post('/index', { documents: [{ id: 'a', text: 'こんにちは' }] })).statusCode, 200)
  await expectErr('k = 0', post('/search', { query: 'q', k: 0 }), 400, 'VALIDATION_ERROR', /k/)
  await expectErr('k = 1001', post('/search', { query: 'q', k: 1001 }), 400, 'VALIDATION_ERROR', /k/)
  await expectErr('k huge', app.inject({ method: 'POST', url: '/search', headers: { 'content-type': 'application/json' }, payload: '{"query":"q","k":1e400}' }), 400, 'VALIDATION_ERROR', /k/)
  await expectErr('k fractional', post('/search', { query: 'q', k: 2.5 }), 400, 'VALIDATION_ERROR', /k/)
  await expectErr('ndocs < k', post('/search', { query: 'q', k: 10, params: { ndocs: 5 } }), 400, 'INVALID_SEARCH_PARAMS', /ndocs/)
  await expectErr('unknown filter op', post('/search', { query: 'q', filter: { year: { $regex: 'x' } } }), 400, 'INVALID_FILTER', /\$regex/)
  await expectErr('query and embeddings', post('/search', { query: 'q', query_embeddings: [[...Z(DIM - 1), 1]] }), 400, 'VALIDATION_ERROR')
  await expectErr('neither query', post('/search', {}), 400, 'VALIDATION_ERROR')
  await expectErr('query wrong dim', post('/search', { query_embeddings: [[1, 2]] }), 400, 'DIMENSION_MISMATCH')
  await expectErr('long index name in URL', app.inject({ method: 'GET', url: `/indexes/${'a'.repeat(300)}` }), 400, 'INVALID_INDEX_NAME')
  await expectErr('very long path param', app.inject({ method: 'GET', url: `/jobs/${'a'.repeat(5000)}` }), 400, 'VALIDATION_ERROR', /too long/)
  await expectErr('bad percent-encoding', app.inject({ method: 'GET', url: '/indexes/%E0%A4%A' }), 400, 'VALIDATION_ERROR', /malformed/)
  {
    const longId = `長い-${'x'.repeat(500)}#?/`
    t.equal((await post('/index', { documents: [{ id: longId, text: 'long id' }] })).statusCode, 200)
    const del = await app.inject({ method: 'DELETE', url: `/indexes/default/documents/${encodeURIComponent(longId)}` })
    t.same(del.json().deleted, [longId], 'long ids with reserved characters delete by URL')
  }
  await expectErr('unknown job', app.inject({ method: 'GET', url: '/jobs/xyz' }), 404, 'JOB_NOT_FOUND')
  await expectErr('delete missing doc', app.inject({ method: 'DELETE', url: '/indexes/default/documents/zzz' }), 404, 'DOCUMENT_NOT_FOUND')
  await expectErr('create dup index', post('/indexes', { name: 'default' }), 409, 'INDEX_EXISTS')
  await expectErr('create wrong dim', post('/indexes', { name: 'other', dim: 3 }), 400, 'DIMENSION_MISMATCH')
  await expectErr('create bad nbits', post('/indexes', { name: 'other', nbits: 3 }), 400, 'VALIDATION_ERROR', /nbits/)
  await expectErr('rerank empty docs', post('/rerank', { query: 'q', documents: [] }), 400, 'VALIDATION_ERROR', /documents/)
  await expectErr('rerank top_n 0', post('/rerank', { query: 'q', documents: ['a'], top_n: 0 }), 400, 'VALIDATION_ERROR', /top_n/)
})

t.test('auth on: bearer required except health, readiness, metrics', async (t) => {
  const { app } = makeApp({ API_KEY: 's3cret-key' })
  t.teardown(() => app.close())
  for (const url of ['/healthz', '/readyz', '/metrics']) t.equal((await app.inject({ url })).statusCode, 200, `${url} public`)
  const noAuth = await app.inject({ method: 'POST', url: '/encode', payload: { texts: ['a'] } })
  t.equal(noAuth.statusCode, 401)
  t.equal(noAuth.json().code, 'UNAUTHORIZED')
  t.equal(noAuth.headers['www-authenticate'], 'Bearer')
  const wrong = await app.inject({ method: 'POST', url: '/encode', payload: { texts: ['a'] }, headers: { authorization: 'Bearer s3cret-kez' } })
  t.equal(wrong.statusCode, 401)
  const basic = await app.inject({ method: 'GET', url: '/indexes', headers: { authorization: 'Basic czNjcmV0LWtleQ==' } })
  t.equal(basic.statusCode, 401)
  const ok = await app.inject({ method: 'POST', url: '/encode', payload: { texts: ['a'] }, headers: { authorization: 'Bearer s3cret-key' } })
  t.equal(ok.statusCode, 200)
  t.equal((await app.inject({ url: '/nope' })).statusCode, 401, 'unknown routes do not reveal themselves')
})

t.test('auth off: no header needed', async (t) => {
  const { app } = makeApp()
  t.teardown(() => app.close())
  t.equal((await app.inject({ method: 'GET', url: '/indexes' })).statusCode, 200)
})

t.test('backpressure: OVERLOADED -> 503 with Retry-After, counted', async (t) => {
  // A fake encoder: the test must decide when the queue is full (e2e.test.ts overflows the real one).
  let full = true
  const app = buildApp({ config: config(), encoder: createFakeEncoder({ overloaded: () => full }), indexStore: createFakeStore(), compileFilter })
  t.teardown(() => app.close())
  const res = await app.inject({ method: 'POST', url: '/encode', payload: { texts: ['a'] } })
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'OVERLOADED')
  t.equal(res.headers['retry-after'], '2')
  const metrics = (await app.inject({ url: '/metrics' })).body
  t.match(metrics, /jacolbert_backpressure_rejections_total\{reason="encoder_queue"\} 1/)
  full = false
  t.equal((await app.inject({ method: 'POST', url: '/encode', payload: { texts: ['a'] } })).statusCode, 200)
})

t.test('not ready: probes answer, work routes 503 NOT_READY until attach', async (t) => {
  const app = buildApp({ config: config(), compileFilter })
  t.teardown(() => app.close())
  t.equal((await app.inject({ url: '/healthz' })).statusCode, 200)
  const r = await app.inject({ url: '/readyz' })
  t.equal(r.statusCode, 503)
  t.equal(r.json().code, 'NOT_READY')
  t.ok(r.headers['retry-after'])
  t.equal((await app.inject({ method: 'POST', url: '/encode', payload: { texts: ['a'] } })).json().code, 'NOT_READY')
  app.jacolbert.attach({ encoder: parts.encoder, indexStore: parts.makeStore() })
  t.equal((await app.inject({ url: '/readyz' })).statusCode, 200)
  app.jacolbert.beginClose()
  t.equal((await app.inject({ url: '/readyz' })).statusCode, 503, 'not ready while shutting down')
  t.equal((await app.inject({ method: 'GET', url: '/indexes' })).statusCode, 503, 'new work refused while shutting down')
})

t.test('large /index batches run as jobs with progress; wait:true waits', async (t) => {
  const { app, indexStore } = makeApp()
  t.teardown(() => app.close())
  const docs = Array.from({ length: 150 }, (_, i) => ({ id: `d${i}`, text: `text ${i}`, metadata: { i } }))
  const res = await app.inject({ method: 'POST', url: '/index', payload: { index: 'big', documents: docs } })
  t.equal(res.statusCode, 202)
  const job = res.json()
  t.equal(job.total, 150)
  t.equal(res.headers.location, `/jobs/${job.job_id}`)
  let info = job
  for (let i = 0; i < 100 && info.state !== 'succeeded' && info.state !== 'failed'; i++) {
    await new Promise((r) => setTimeout(r, 10))
    info = (await app.inject({ url: `/jobs/${job.job_id}` })).json()
  }
  t.equal(info.state, 'succeeded')
  t.equal(info.done, 150)
  t.equal(info.added, 150)
  t.equal(indexStore.get('big')?.stats().documents, 150)
  const waited = await app.inject({ method: 'POST', url: '/index', payload: { index: 'big', documents: docs, wait: true } })
  t.equal(waited.statusCode, 200)
  t.equal(waited.json().updated.length, 150)
  const small = await app.inject({ method: 'POST', url: '/index', payload: { index: 'big', documents: docs.slice(0, 2), async: true } })
  t.equal(small.statusCode, 202, 'async: true makes a job even for small batches')
  const metrics = (await app.inject({ url: '/metrics' })).body
  t.match(metrics, /jacolbert_jobs\{state="succeeded"\} [23]/)
})

t.test('graceful close: in-flight requests finish, new connections are refused', async (t) => {
  let release: () => void = () => {}
  const gate = new Promise<void>((r) => (release = r))
  let entered: () => void = () => {}
  const reached = new Promise<void>((r) => (entered = r))
  // The real encoder behind a gate, so the request is surely in flight when close() begins: close begins once the
  // request has reached the encoder (a fixed wait let a loaded machine begin closing first, answering it 503).
  const encoder = parts.encoder
  const slow = {
    ...encoder, modelName: encoder.modelName, dim: encoder.dim, provider: encoder.provider, queueDepth: () => encoder.queueDepth(),
    encodeDocuments: async (texts: string[]) => (entered(), await gate, encoder.encodeDocuments(texts)),
    encodeQueries: (texts: string[]) => encoder.encodeQueries(texts),
  }
  const app = buildApp({ config: config(), encoder: slow, indexStore: parts.makeStore(), compileFilter })
  const url = await app.listen({ host: '127.0.0.1', port: 0 })
  const inflight = fetch(`${url}/encode`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"texts":["slow"]}' })
  await reached
  app.jacolbert.beginClose()
  const closed = app.close()
  await new Promise((r) => setTimeout(r, 50))
  await t.rejects(fetch(`${url}/healthz`), 'no new connections once closing')
  release()
  const res = await inflight
  t.equal(res.status, 200, 'the in-flight request completed')
  t.equal(((await res.json()) as { data: unknown[] }).data.length, 1)
  t.equal(res.headers.get('connection'), 'close', 'its keep-alive connection is closed')
  const t0 = Date.now()
  await closed
  t.ok(Date.now() - t0 < 5000, `close() finished promptly after the drain (${Date.now() - t0} ms)`)
})

t.test('logs: one line per request with its id; request text never logged at info', async (t) => {
  const lines: string[] = []
  const { pino } = await import('pino')
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(s) })
  const app = buildApp({ config: config(), encoder: parts.encoder, indexStore: parts.makeStore(), compileFilter, logger })
  t.teardown(() => app.close())
  const secret = '秘密のテキストXYZ'
  await app.inject({ method: 'POST', url: '/index', payload: { documents: [{ id: 'doc-1', text: secret, metadata: { note: secret } }] } })
  await app.inject({ method: 'POST', url: '/search', payload: { query: secret }, headers: { 'x-request-id': 'trace-123' } })
  await app.inject({ method: 'POST', url: '/encode', payload: { texts: [secret, 'y'.repeat(60)] } }) // a 400 that names the field
  t.notOk(lines.some((l) => l.includes(secret) || l.includes('XYZ')), 'no request text in the log')
  const parsed = lines.map((l) => JSON.parse(l) as { reqId?: string; route?: string; statusCode?: number; msg: string })
  const requests = parsed.filter((l) => l.msg === 'request')
  t.equal(requests.length, 3, 'one line per request')
  t.ok(requests.find((l) => l.route === '/search' && l.reqId === 'trace-123'), 'caller request id reused')
  t.ok(requests.every((l) => typeof l.reqId === 'string' && typeof l.statusCode === 'number'))
})

t.test('unexpected errors: 500 INTERNAL_ERROR without internals', async (t) => {
  const store = parts.makeStore()
  store.list = () => {
    throw new Error('disk /secret/path exploded')
  }
  const lines: string[] = []
  const { pino } = await import('pino')
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(s) })
  const app = buildApp({ config: config(), encoder: parts.encoder, indexStore: store, compileFilter, logger })
  t.teardown(() => app.close())
  const res = await app.inject({ url: '/indexes' })
  t.equal(res.statusCode, 500)
  t.equal(res.json().code, 'INTERNAL_ERROR')
  t.notMatch(res.body, /secret|exploded/, 'no internals in the body')
  t.ok(lines.some((l) => l.includes('exploded')), 'the log has the error for operators')
})

t.test('metadata follows the index rules; the stored-text key is reserved', async (t) => {
  const { app } = makeApp()
  t.teardown(() => app.close())
  const res = await app.inject({ method: 'POST', url: '/index', payload: { documents: [{ id: 'a', text: 'x', metadata: { _text: 'mine' } }] } })
  t.equal(res.json().code, 'INVALID_METADATA')
  const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i]))
  const res2 = await app.inject({ method: 'POST', url: '/index', payload: { documents: [{ id: 'a', text: 'x', metadata: many }] } })
  t.equal(res2.json().code, 'INVALID_METADATA')
  t.match(res2.json().message, /documents\[0\]\.metadata/)
})
