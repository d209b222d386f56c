/**
 * The service end to end with the real parts: the tiny random JaColBERT checkpoint (MeCab ipadic), the real encoder and
 * the real PLAID index, over the 1,145 JSQuAD passages. The model is random, so retrieval quality means nothing here;
 * these tests check mechanics against independent references: golden vectors, brute-force MaxSim, the fixture's
 * passages and metadata, and a second server restored from the snapshot.
 */
import t, { type Test } from 'tap'
import { loadConfig } from '../../src/config.js'
import { createEncoder } from '../../src/encoder/index.js'
import { createIndexStore } from '../../src/index/index-store.js'
import { compileFilter } from '../../src/index/metadata-filter.js'
import { buildApp } from '../../src/server/app.js'
import { createMetrics } from '../../src/server/plugins/metrics.js'
import { maxSimF64 } from '../helpers/maxsim-f64.js'
import { GOLDEN_PATH, IPADIC_DIR, TINY_MODEL_DIR, sharedOnly } from '../helpers/shared.js'
import { loadJsquad } from './jsquad.js'
import { parsePrometheusText, sampleValue } from './prometheus-text.js'
import { readFileSync } from 'node:fs'

type Hit = { id: string; score: number; metadata?: Record<string, unknown>; text?: string }

function rowsToF32(rows: number[][]): Float32Array {
  return Float32Array.from(rows.flat())
}

function checkSorted(t: Test, hits: Hit[], what: string): void {
  for (let i = 1; i < hits.length; i++) {
    if (hits[i - 1].score < hits[i].score) {
      t.fail(`${what}: results not sorted at ${i}`)
      return
    }
  }
  t.equal(new Set(hits.map((h) => h.id)).size, hits.length, `${what}: ids unique`)
}

t.test('service end to end with the tiny model and the real index', sharedOnly(), async (t) => {
  const metrics = createMetrics()
  const encoder = await createEncoder({
    modelDir: TINY_MODEL_DIR, dicdir: IPADIC_DIR, providers: ['cpu'], threads: 1, graphCacheDir: t.testdir(),
    onBatch: (e) => metrics.observeEncoderBatch(e),
  })
  t.teardown(() => encoder.close())
  const dataDir = `${t.testdirName}-data`
  const config = loadConfig({ DATA_DIR: dataDir, MAX_BATCH_TEXTS: '1200' })
  const store = createIndexStore({ dataDir, defaultSettings: { dim: encoder.dim, nbits: 2 } })
  const app = buildApp({ config, encoder, indexStore: store, compileFilter, metrics })
  t.teardown(() => app.close())
  const post = async (url: string, payload: object) => {
    const res = await app.inject({ method: 'POST', url, payload })
    return { status: res.statusCode, body: res.json() }
  }
  const passages = loadJsquad()
  const byId = new Map(passages.map((p, i) => [p.id, { ...p, n: i }]))

  await t.test('/encode equals the golden vectors (float and base64)', async (t) => {
    const golden = JSON.parse(readFileSync(GOLDEN_PATH, 'utf8')) as { encoding: Array<{ kind: 'query' | 'document'; text: string; shape: [number, number]; vectors: number[] }> }
    for (const kind of ['query', 'document'] as const) {
      const items = golden.encoding.filter((e) => e.kind === kind)
      const f = await post('/encode', { texts: items.map((e) => e.text), kind, return_tokens: true })
      const b = await post('/encode', { texts: items.map((e) => e.text), kind, encoding_format: 'base64' })
      t.equal(f.status, 200)
      t.equal(f.body.model.length > 0, true)
      t.equal(f.body.dim, 16)
      let worst = 0
      items.forEach((e, i) => {
        const d = f.body.data[i]
        t.equal(d.index, i)
        t.same(d.shape, e.shape, `${kind} ${i} shape`)
        t.equal(d.tokens.length > 0, true)
        const fromB64 = new Float32Array(new Uint8Array(Buffer.from(b.body.data[i].embeddings, 'base64')).buffer)
        const rows = rowsToF32(d.embeddings)
        for (let j = 0; j < e.vectors.length; j++) {
          worst = Math.max(worst, Math.abs(rows[j] - e.vectors[j]), Math.abs(fromB64[j] - e.vectors[j]))
        }
        t.equal(fromB64.length, e.vectors.length)
      })
      t.ok(worst < 1e-5, `${kind}: ${items.length} texts within 1e-5 of golden (worst ${worst.toExponential(2)})`)
    }
  })

  await t.test('index the 1,145 JSQuAD passages in one request; a job indexes another', async (t) => {
    const docs = passages.map((p, i) => ({ id: p.id, text: p.text, metadata: { title: p.title, n: i, even: i % 2 === 0 } }))
    // One request: the PLAID index retrains its centroids on upserts that grow it, so one big batch is several times
    // faster than many small ones (measured here: ~4 s vs ~36 s for the same passages in 64-document job batches).
    const t0 = performance.now()
    const r = await post('/index', { documents: docs, store_text: true })
    t.equal(r.status, 200)
    t.equal(r.body.added.length, passages.length, 'every passage added')
    t.same(new Set(r.body.added), new Set(docs.map((d) => d.id)))
    t.comment(`indexed ${passages.length} passages over HTTP in ${(performance.now() - t0).toFixed(0)} ms`)
    const stats = (await app.inject({ url: '/indexes/default' })).json()
    t.equal(stats.documents, passages.length)
    t.ok(stats.vectors > passages.length)
    t.equal(stats.dim, 16)
    const again = await post('/index', { documents: [{ id: docs[3].id, text: docs[3].text, metadata: { ...docs[3].metadata, updated: true } }], store_text: true })
    t.same(again.body, { index: 'default', added: [], updated: [docs[3].id], seq: again.body.seq })
    t.ok(Number.isSafeInteger(again.body.seq) && again.body.seq > 0, 'the write carries its seq')

    const job = await post('/index', { index: 'jobs', documents: docs.slice(0, 150), async: true })
    t.equal(job.status, 202)
    t.equal(job.body.total, 150)
    let info = job.body
    while (info.state === 'queued' || info.state === 'running') {
      await new Promise((r) => setTimeout(r, 20))
      info = (await app.inject({ url: `/jobs/${job.body.job_id}` })).json()
      t.ok(info.done <= info.total)
    }
    t.equal(info.state, 'succeeded', JSON.stringify(info.error))
    t.equal(info.done, 150)
    t.equal(info.added, 150)
    t.equal((await app.inject({ url: '/indexes/jobs' })).json().documents, 150)
    t.equal((await app.inject({ method: 'DELETE', url: '/indexes/jobs' })).statusCode, 200)
  })

  const questions = passages.slice(0, 40).map((p) => p.questions[0])
  const firstResults: Hit[][] = []

  await t.test('/search: sorted, valid ids, k, metadata and text', async (t) => {
    for (const q of questions) {
      const r = await post('/search', { query: q, k: 10, include: ['metadata', 'text'] })
      t.equal(r.status, 200)
      const hits = r.body.results as Hit[]
      t.equal(hits.length, 10)
      checkSorted(t, hits, q)
      for (const h of hits) {
        const p = byId.get(h.id)
        if (!p) t.fail(`unknown id ${h.id}`)
        else {
          if (h.metadata?.n !== p.n || h.metadata?.title !== p.title || h.text !== p.text) t.fail(`hit ${h.id} metadata/text do not match the passage`)
          if ('_text' in (h.metadata ?? {})) t.fail('stored text leaked into metadata')
        }
      }
      firstResults.push(hits)
    }
    const plain = await post('/search', { query: questions[0] })
    t.equal(plain.body.results.length, 10, 'k defaults to 10')
    t.notOk('text' in plain.body.results[0], 'text only when asked')
    t.ok(plain.body.results[0].metadata, 'metadata by default')
    const k3 = await post('/search', { query: questions[0], k: 3, include: [] })
    t.same(k3.body.results.map((h: Hit) => h.id), firstResults[0].slice(0, 3).map((h) => h.id))
    t.notOk('metadata' in k3.body.results[0])
  })

  await t.test('filters are respected', async (t) => {
    for (const q of questions.slice(0, 10)) {
      const even = await post('/search', { query: q, k: 20, filter: { even: true } })
      t.equal(even.status, 200)
      t.ok(even.body.results.length > 0)
      t.ok(even.body.results.every((h: Hit) => h.metadata?.even === true), 'only even passages')
      const title = passages[5].title
      const byTitle = await post('/search', { query: q, k: 50, filter: { title } })
      const expected = passages.filter((p) => p.title === title).length
      t.equal(byTitle.body.results.length, Math.min(50, expected), `all ${expected} passages titled ${title} and nothing else`)
      t.ok(byTitle.body.results.every((h: Hit) => h.metadata?.title === title))
      const range = await post('/search', { query: q, k: 30, filter: { n: { $lt: 100 } } })
      t.ok(range.body.results.every((h: Hit) => (h.metadata?.n as number) < 100))
    }
  })

  await t.test('/search/batch and query_embeddings agree with /search', async (t) => {
    const batch = await post('/search/batch', { queries: questions.slice(0, 8), k: 10, include: ['metadata', 'text'] })
    t.equal(batch.status, 200)
    t.equal(batch.body.results.length, 8)
    batch.body.results.forEach((hits: Hit[], i: number) => t.same(hits, firstResults[i], `batch query ${i}`))
    const enc = await post('/encode', { texts: questions.slice(0, 3), kind: 'query', encoding_format: 'base64' })
    for (let i = 0; i < 3; i++) {
      const d = enc.body.data[i]
      const r = await post('/search', { query_embeddings: d.embeddings, query_shape: d.shape, k: 10, include: ['metadata', 'text'] })
      t.same(r.body.results, firstResults[i], `query_embeddings (base64) ${i}`)
    }
    const encF = await post('/encode', { texts: [questions[0]], kind: 'query' })
    const rf = await post('/search', { query_embeddings: encF.body.data[0].embeddings, k: 10, include: ['metadata', 'text'] })
    t.same(rf.body.results, firstResults[0], 'query_embeddings (rows)')
  })

  await t.test('deleted documents are never returned', async (t) => {
    const q = questions[1]
    const victims = firstResults[1].slice(0, 3).map((h) => h.id)
    const del = await post('/indexes/default/delete', { ids: [...victims, 'no-such-id'] })
    t.same(del.body, { index: 'default', deleted: victims, missing: ['no-such-id'], seq: del.body.seq })
    t.ok(del.body.seq > 0, 'the delete carries its seq')
    const one = firstResults[2].map((h) => h.id).find((id) => !victims.includes(id)) as string
    const d1 = await app.inject({ method: 'DELETE', url: `/indexes/default/documents/${encodeURIComponent(one)}` })
    t.equal(d1.statusCode, 200, d1.body)
    const gone = new Set([...victims, one])
    for (const query of [q, questions[2]]) {
      // Exhaustive PLAID parameters (every cell, no pruning) so that every live document is a candidate.
      const r = await post('/search', { query, k: 1000, params: { ndocs: 1_000_000, centroid_score_threshold: -1 } })
      t.equal(r.body.results.length, Math.min(1000, passages.length - gone.size), 'k=1000 of the live documents')
      t.notOk(r.body.results.some((h: Hit) => gone.has(h.id)), 'deleted ids absent')
    }
    const stats = (await app.inject({ url: '/indexes/default' })).json()
    t.equal(stats.documents, passages.length - gone.size)
  })

  await t.test('restart from the snapshot gives identical results', async (t) => {
    const before: unknown[] = []
    for (const q of questions.slice(0, 12)) before.push((await post('/search', { query: q, k: 10, include: ['metadata', 'text'] })).body)
    await store.saveAll()
    const store2 = createIndexStore({ dataDir, defaultSettings: { dim: encoder.dim, nbits: 2 } })
    await store2.restoreAll()
    const app2 = buildApp({ config, encoder, indexStore: store2, compileFilter })
    t.teardown(() => app2.close())
    for (let i = 0; i < 12; i++) {
      const res = await app2.inject({ method: 'POST', url: '/search', payload: { query: questions[i], k: 10, include: ['metadata', 'text'] } })
      t.same(res.json(), before[i], `query ${i} identical after restore`)
    }
    t.equal((await app2.inject({ url: '/indexes/default' })).json().documents, (await app.inject({ url: '/indexes/default' })).json().documents)
  })

  await t.test('/rerank equals a float64 MaxSim (written in the test) of the encoded texts', async (t) => {
    const query = questions[4]
    const docs = passages.slice(10, 17).map((p) => p.text)
    const r = await post('/rerank', { query, documents: docs, return_documents: true })
    t.equal(r.status, 200)
    const q = (await post('/encode', { texts: [query], kind: 'query' })).body.data[0]
    const ds = (await post('/encode', { texts: docs, kind: 'document' })).body.data
    const expected = ds
      .map((d: { shape: number[]; embeddings: number[][] }, index: number) => ({
        index,
        score: maxSimF64(q.embeddings, d.embeddings),
      }))
      .sort((a: { score: number; index: number }, b: { score: number; index: number }) => b.score - a.score || a.index - b.index)
    t.same(r.body.results.map((x: { index: number }) => x.index), expected.map((e: { index: number }) => e.index), 'same order')
    r.body.results.forEach((x: { index: number; relevance_score: number; document: { text: string } }, i: number) => {
      t.ok(Math.abs(x.relevance_score - expected[i].score) < 1e-4, `score ${i}`)
      t.equal(x.document.text, docs[x.index])
    })
    const top = await post('/rerank', { query, documents: docs, top_n: 2 })
    t.same(top.body.results.map((x: { index: number }) => x.index), expected.slice(0, 2).map((e: { index: number }) => e.index))
  })

  await t.test('index management', async (t) => {
    const c = await post('/indexes', { name: 'scratch', nbits: 1 })
    t.equal(c.status, 201)
    t.equal(c.body.nbits, 1)
    t.equal(c.body.documents, 0)
    const list = (await app.inject({ url: '/indexes' })).json()
    t.same(list.indexes.map((i: { name: string }) => i.name).sort(), ['default', 'scratch'])
    const empty = await post('/search', { index: 'scratch', query: 'テスト' })
    t.same(empty, { status: 200, body: { results: [] } }, 'empty index searches to nothing')
    const vecs = (await post('/encode', { texts: ['東京都の人口', '大阪の名物'] })).body.data
    const up = await post('/index', { index: 'scratch', documents: vecs.map((d: { embeddings: number[][] }, i: number) => ({ id: `v${i}`, embeddings: d.embeddings })) })
    t.same(up.body.added, ['v0', 'v1'], 'precomputed embeddings indexed')
    const s = await post('/search', { index: 'scratch', query: '東京都の人口', k: 5 })
    t.same(s.body.results.map((h: Hit) => h.id).sort(), ['v0', 'v1'])
    const drop = await app.inject({ method: 'DELETE', url: '/indexes/scratch' })
    t.same(drop.json(), { name: 'scratch', dropped: true, seq: drop.json().seq })
    t.ok(drop.json().seq > 0, 'the drop carries its seq')
    t.equal((await app.inject({ url: '/indexes/scratch' })).statusCode, 404)
  })

  await t.test('/metrics is valid Prometheus text and moved', async (t) => {
    const res = await app.inject({ url: '/metrics' })
    t.match(res.headers['content-type'], /text\/plain/)
    const { types, samples } = parsePrometheusText(res.body)
    for (const name of [
      'jacolbert_http_requests_total', 'jacolbert_http_request_duration_seconds', 'jacolbert_encoder_batch_size', 'jacolbert_encoder_batch_tokens',
      'jacolbert_encoder_queue_wait_seconds', 'jacolbert_encoder_compute_seconds', 'jacolbert_encoder_tokens_total', 'jacolbert_encoder_queue_depth',
      'jacolbert_index_documents', 'jacolbert_index_vectors', 'jacolbert_index_bytes', 'jacolbert_search_stage_seconds', 'jacolbert_snapshot_age_seconds',
      'jacolbert_snapshot_duration_seconds', 'jacolbert_backpressure_rejections_total', 'jacolbert_jobs', 'jacolbert_model_info',
      'jacolbert_process_resident_memory_bytes',
    ]) t.ok(types.has(name), `${name} exported`)
    t.ok((sampleValue(samples, 'jacolbert_http_requests_total', { route: '/search', method: 'POST', status_code: '200' }) ?? 0) >= 40, 'search requests counted')
    t.equal(sampleValue(samples, 'jacolbert_index_documents', { index: 'default' }), passages.length - 4, 'index documents gauge')
    t.ok((sampleValue(samples, 'jacolbert_search_stage_seconds_count', { stage: 'total' }) ?? 0) >= 40, 'search stage timings observed')
    t.ok((sampleValue(samples, 'jacolbert_encoder_tokens_total', { kind: 'document' }) ?? 0) > 10000, 'encoder tokens counted')
    t.equal(sampleValue(samples, 'jacolbert_model_info', { dim: '16', provider: encoder.provider }), 1, 'model info')
    t.ok((sampleValue(samples, 'jacolbert_encoder_batch_size_count', { kind: 'query' }) ?? 0) > 0, 'query batches observed')
    t.equal(sampleValue(samples, 'jacolbert_jobs', { state: 'succeeded' }), 1, 'the finished job is counted')
    const n1 = sampleValue(samples, 'jacolbert_http_requests_total', { route: '/healthz', method: 'GET', status_code: '200' }) ?? 0
    await app.inject({ url: '/healthz' })
    const after = parsePrometheusText((await app.inject({ url: '/metrics' })).body).samples
    t.equal(sampleValue(after, 'jacolbert_http_requests_total', { route: '/healthz', method: 'GET', status_code: '200' }), n1 + 1, 'counter moves')
  })
})

t.test('backpressure from the real encoder: 503 OVERLOADED with Retry-After, never 500, jobs wait it out', sharedOnly(), async (t) => {
  const metrics = createMetrics(undefined, { defaultMetrics: false })
  const encoder = await createEncoder({
    modelDir: TINY_MODEL_DIR, dicdir: IPADIC_DIR, providers: ['cpu'], threads: 1, graphCacheDir: t.testdir(),
    maxQueueTexts: 8, batchWaitMs: 20,
  })
  t.teardown(() => encoder.close())
  const config = loadConfig({ MAX_BATCH_TEXTS: '8', ENCODER_MAX_QUEUE: '8' })
  const store = createIndexStore({ defaultSettings: { dim: encoder.dim, nbits: 2 } })
  const app = buildApp({ config, encoder, indexStore: store, compileFilter, metrics })
  t.teardown(() => app.close())
  const passages = loadJsquad().slice(0, 40)
  const texts = passages.slice(0, 8).map((p) => p.text)
  const responses = await Promise.all(Array.from({ length: 12 }, () => app.inject({ method: 'POST', url: '/encode', payload: { texts } })))
  const codes = responses.map((r) => r.statusCode)
  t.ok(codes.every((c) => c === 200 || c === 503), `only 200 or 503 (${codes.join(',')})`)
  const rejected = responses.filter((r) => r.statusCode === 503)
  t.ok(rejected.length > 0, 'a full queue rejects')
  t.ok(codes.includes(200), 'and the queue keeps serving')
  for (const r of rejected) {
    t.equal(r.json().code, 'OVERLOADED')
    t.ok(Number(r.headers['retry-after']) >= 1)
  }
  const counted = (await metrics.registry.getSingleMetricAsString('jacolbert_backpressure_rejections_total')).match(/reason="encoder_queue"} (\d+)/)
  t.equal(Number(counted?.[1]), rejected.length, 'every rejection counted')
  // A job of 40 documents (batches of 4 = half the queue) completes despite concurrent load on the queue.
  const job = await app.inject({ method: 'POST', url: '/index', payload: { documents: passages.map((p, i) => ({ id: `d${i}`, text: p.text })), async: true } })
  const load = Promise.all(Array.from({ length: 6 }, () => app.inject({ method: 'POST', url: '/encode', payload: { texts: texts.slice(0, 6) } })))
  let info = job.json()
  while (info.state === 'queued' || info.state === 'running') {
    await new Promise((r) => setTimeout(r, 50))
    info = (await app.inject({ url: `/jobs/${info.job_id}` })).json()
  }
  await load
  t.equal(info.state, 'succeeded', JSON.stringify(info.error))
  t.equal(info.added, 40)
})
