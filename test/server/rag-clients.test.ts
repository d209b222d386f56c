/**
 * The clients RAG backends already use, against a listening server (src/main.ts runServer, tiny model, API_KEY set):
 * the real `cohere-ai` SDK (rerank v1 and v2), LangChain's `CohereRerank` over a Document[], README's LangChain.js
 * example run as a child process, and the typed client (`jacolbert-server/client`) for index -> search -> delete.
 * Every rerank is checked against /rerank's answer and against a float64 MaxSim over /encode's vectors, written here.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import t, { type Test } from 'tap'
import { CohereRerank } from '@langchain/cohere'
import { Document } from '@langchain/core/documents'
import { CohereClient, CohereClientV2 } from 'cohere-ai'
import { createJacolbertClient } from '../../src/client/index.js'
import { loadConfig } from '../../src/config.js'
import { runServer } from '../../src/main.js'
import { maxSimF64, rankOf } from '../helpers/maxsim-f64.js'
import { OUTBOUND_GUARD_SOURCE, watchOutbound } from '../helpers/outbound.js'
import { IPADIC_DIR, REPO_ROOT, TINY_MODEL_DIR, sharedOnly } from '../helpers/shared.js'
import { loadJsquad } from './jsquad.js'

const API_KEY = 'rag-test-key'
// LangChain traces to LangSmith only when asked to; make sure a developer's environment does not ask.
const NO_TRACING = { LANGCHAIN_TRACING_V2: 'false', LANGSMITH_TRACING: 'false', LANGCHAIN_TRACING: 'false' }
Object.assign(process.env, NO_TRACING)
type Ranked = Array<{ index: number; score: number }>

/** Same order as /rerank, the same scores to the bit, and the float64 reference's order and scores (float32 tolerance). */
function checkRanking(t: Test, what: string, got: Ranked, rerank: Ranked, reference: number[]): void {
  t.same(got.map((r) => r.index), rerank.map((r) => r.index), `${what}: order = /rerank's`)
  t.same(got.map((r) => r.score), rerank.map((r) => r.score), `${what}: scores = /rerank's`)
  t.same(got.map((r) => r.index), rankOf(reference).slice(0, got.length), `${what}: order = float64 MaxSim's`)
  const worst = Math.max(...got.map((r) => Math.abs(r.score - reference[r.index])))
  t.ok(worst < 1e-4, `${what}: scores within 1e-4 of float64 MaxSim (worst ${worst.toExponential(2)})`)
}

function runNode(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: { ...process.env, ...NO_TRACING, ...env }, cwd: REPO_ROOT })
    let out = ''
    let err = ''
    child.stdout.on('data', (b) => (out += b))
    child.stderr.on('data', (b) => (err += b))
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, out, err })
    })
  })
}

t.test('RAG clients against a listening server', sharedOnly(), async (t) => {
  // removed only after the shutdown, which still writes there (snapshots, write-ahead log truncation)
  const dataDir = mkdtempSync(join(tmpdir(), 'jacolbert-rag-'))
  const server = await runServer(loadConfig({
    MODEL: TINY_MODEL_DIR, MECAB_DICDIR: IPADIC_DIR, HOST: '127.0.0.1', PORT: '0', DATA_DIR: dataDir,
    ORT_PROVIDERS: 'cpu', ORT_THREADS: '1', API_KEY, LOG_LEVEL: 'silent', SNAPSHOT_INTERVAL_S: '0',
  }))
  t.teardown(async () => {
    await server.shutdown('test teardown')
    rmSync(dataDir, { recursive: true, force: true })
  })
  await server.loaded
  const outbound = watchOutbound()
  t.teardown(() => outbound.stop())
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const post = async (path: string, body: object): Promise<any> => {
    const res = await fetch(`${server.url}${path}`, {
      method: 'POST', headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
    })
    const json = await res.json()
    if (res.status !== 200) t.fail(`${path}: ${res.status} ${JSON.stringify(json)}`)
    return json
  }

  const passages = loadJsquad().slice(0, 60)
  const query = passages[7].questions[0]
  const docs = passages.slice(0, 12).map((p) => p.text)
  const qRows: number[][] = (await post('/encode', { texts: [query], kind: 'query' })).data[0].embeddings
  const dRows: number[][][] = (await post('/encode', { texts: docs, kind: 'document' })).data.map((d: { embeddings: number[][] }) => d.embeddings)
  const reference = dRows.map((d) => maxSimF64(qRows, d))
  const rerank: Ranked = (await post('/rerank', { query, documents: docs })).results.map((r: { index: number; relevance_score: number }) => ({ index: r.index, score: r.relevance_score }))
  checkRanking(t, '/rerank', rerank, rerank, reference)

  await t.test('cohere-ai SDK: rerank v1 and v2', async (t) => {
    const v1 = new CohereClient({ token: API_KEY, environment: server.url, clientName: 'jacolbert-test' })
    const r1 = await v1.rerank({ model: 'rerank-v3.5', query, documents: docs, topN: 5 })
    checkRanking(t, 'v1 strings', r1.results.map((r) => ({ index: r.index, score: r.relevanceScore })), rerank.slice(0, 5), reference)
    t.equal(typeof r1.id, 'string', 'v1: id')
    t.equal(r1.meta?.apiVersion?.version, '1', 'v1: meta.api_version')
    t.ok(r1.meta?.warnings?.some((w) => w.includes('rerank-v3.5')), 'v1: the ignored model is noted in meta.warnings')

    const objects = docs.map((text, i) => ({ text, title: passages[i].title }))
    const r1o = await v1.rerank({ query, documents: objects, returnDocuments: true })
    checkRanking(t, 'v1 {text} objects', r1o.results.map((r) => ({ index: r.index, score: r.relevanceScore })), rerank, reference)
    t.same(r1o.results.map((r) => r.document?.text), rerank.map((r) => docs[r.index]), 'v1: return_documents gives each text back')

    const v2 = new CohereClientV2({ token: API_KEY, environment: server.url })
    const r2 = await v2.rerank({ model: 'jacolbert', query, documents: docs, topN: 3, maxTokensPerDoc: 4096 })
    checkRanking(t, 'v2', r2.results.map((r) => ({ index: r.index, score: r.relevanceScore })), rerank.slice(0, 3), reference)
    t.equal(r2.meta?.apiVersion?.version, '2', 'v2: meta.api_version')

    // max_tokens_per_doc below doc_maxlen cuts the documents (the tokenizer tests check the cut itself): long documents
    // score differently, and a document shorter than the cut scores as before.
    const short = '東京は首都。'
    const uncut = await v2.rerank({ model: 'jacolbert', query, documents: [...docs, short] })
    const cut = await v2.rerank({ model: 'jacolbert', query, documents: [...docs, short], maxTokensPerDoc: 12 })
    const scoreOf = (r: typeof cut, i: number) => r.results.find((x) => x.index === i)!.relevanceScore
    t.equal(cut.results.length, docs.length + 1, 'v2 with max_tokens_per_doc: every document ranked')
    t.ok(docs.every((_, i) => scoreOf(cut, i) !== scoreOf(uncut, i)), 'v2: documents longer than 12 tokens score differently when cut')
    t.equal(scoreOf(cut, docs.length), scoreOf(uncut, docs.length), 'v2: a document within 12 tokens scores the same')

    const wrong = new CohereClientV2({ token: 'wrong-key', environment: server.url })
    const status = await wrong.rerank({ model: 'x', query, documents: docs }).then(() => 200, (e: unknown) => (e as { statusCode?: number }).statusCode)
    t.equal(status, 401, 'a wrong key is refused (401)')
  })

  await t.test("LangChain's CohereRerank over a Document[]", async (t) => {
    const reranker = new CohereRerank({ client: new CohereClient({ token: API_KEY, environment: server.url }) as never, model: 'jacolbert', topN: 4 })
    const documents = docs.map((text, i) => new Document({ pageContent: text, metadata: { n: i } }))
    const out = await reranker.compressDocuments(documents, query)
    checkRanking(t, 'CohereRerank', out.map((d) => ({ index: d.metadata.n as number, score: d.metadata.relevanceScore as number })), rerank.slice(0, 4), reference)
  })

  await t.test("README's LangChain.js example, run as written", async (t) => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8')
    const code = /### LangChain\.js[\s\S]*?```js\n([\s\S]*?)```/.exec(readme)?.[1]
    t.ok(code, 'README has the example')
    if (!code) return
    const texts = passages.slice(0, 40)
    await post('/index', { index: 'demo', store_text: true, documents: texts.map((p, i) => ({ id: `p${i}`, text: p.text, metadata: { title: p.title } })) })
    const q = texts[3].questions[0]
    const file = join(t.testdir(), 'langchain-example.mjs')
    writeFileSync(file, code)
    const guard = join(t.testdirName, 'outbound-guard.mjs')
    writeFileSync(guard, OUTBOUND_GUARD_SOURCE)
    const run = await runNode(['--import', pathToFileURL(guard).href, file, q], { JACOLBERT_URL: server.url, API_KEY })
    t.equal(run.code, 0, `the example exits 0 ${run.err.slice(0, 500)}`)
    const reached = [...run.err.matchAll(/^OUTBOUND (.*)$/gm)].map((m) => m[1])
    t.same([...new Set(reached)], ['127.0.0.1'], 'the example connects to the server only')
    const printed = run.out.trim().split('\n').map((l) => JSON.parse(l) as { id: string; relevanceScore: number })
    // What it must print: /search's top 10 (with text), reranked by /rerank, best 3.
    const hits: Array<{ id: string; text: string }> = (await post('/search', { index: 'demo', query: q, k: 10, include: ['text'] })).results
    const rr: Array<{ index: number; relevance_score: number }> = (await post('/rerank', { query: q, documents: hits.map((h) => h.text), top_n: 3 })).results
    t.same(printed, rr.map((r) => ({ id: hits[r.index].id, relevanceScore: r.relevance_score })), 'prints /rerank\'s best 3 of /search\'s 10')
    const qr: number[][] = (await post('/encode', { texts: [q], kind: 'query' })).data[0].embeddings
    const hr: number[][][] = (await post('/encode', { texts: hits.map((h) => h.text), kind: 'document' })).data.map((d: { embeddings: number[][] }) => d.embeddings)
    const ref = hr.map((d) => maxSimF64(qr, d))
    t.same(printed.map((p) => p.id), rankOf(ref).slice(0, 3).map((i) => hits[i].id), 'and float64 MaxSim agrees')
  })

  await t.test('typed client: index -> search -> delete', async (t) => {
    const client = createJacolbertClient(server.url, { apiKey: API_KEY })
    const texts = passages.slice(20, 50)
    const idx = await client.POST('/index', { body: { index: 'typed', documents: texts.map((p, i) => ({ id: `t${i}`, text: p.text, metadata: { title: p.title } })) } })
    t.equal(idx.response.status, 200)
    t.same((idx.data as { added?: unknown } | undefined)?.added, texts.map((_, i) => `t${i}`), 'every document added')
    const exhaustive = { ndocs: 1_000_000, centroid_score_threshold: -1 }
    const q = texts[5].questions[0]
    const s = await client.POST('/search', { body: { index: 'typed', query: q, k: 5, params: exhaustive } })
    t.equal(s.data?.results.length, 5)
    const top = s.data!.results[0]
    t.equal(top.metadata?.title, texts[Number(top.id.slice(1))].title, 'metadata comes back typed')
    const del = await client.POST('/indexes/{name}/delete', { params: { path: { name: 'typed' } }, body: { ids: [top.id] } })
    t.equal(del.response.status, 200)
    const after = await client.POST('/search', { body: { index: 'typed', query: q, k: 5, params: exhaustive } })
    t.notOk(after.data!.results.some((h) => h.id === top.id), 'the deleted document is gone')
    t.same(after.data!.results.slice(0, 4).map((h) => h.id), s.data!.results.slice(1).map((h) => h.id), 'the others keep their order')
    const missing = await client.POST('/search', { body: { index: 'no-such-index', query: q } })
    t.equal(missing.error?.code, 'INDEX_NOT_FOUND', 'errors come back as the typed error body')
    const unauth = await createJacolbertClient(server.url).GET('/indexes')
    t.equal(unauth.response.status, 401, 'without the key: 401')
    const drop = await client.DELETE('/indexes/{name}', { params: { path: { name: 'typed' } } })
    t.equal(drop.response.status, 200)
  })

  t.same([...outbound.hosts], ['127.0.0.1'], 'the SDKs in this process connected to the server only (no telemetry)')
})
