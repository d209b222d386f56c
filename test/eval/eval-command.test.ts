/**
 * `jacolbert eval` as a user runs it (child process) on JSQuAD with the tiny fixture model, against a brute-force
 * computation in this test: vectors from the service's /encode (the app built in-process), float64 MaxSim, and the
 * test's own ranking and Recall@k / reciprocal-rank arithmetic. The model is random, so the figures mean nothing; the
 * check is that the command measures what it says it measures.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { loadConfig } from '../../src/config.js'
import { createEncoder } from '../../src/encoder/index.js'
import { createIndexStore } from '../../src/index/index-store.js'
import { compileFilter } from '../../src/index/metadata-filter.js'
import { buildApp } from '../../src/server/app.js'
import { IPADIC_DIR, JSQUAD_PATH, TINY_MODEL_DIR, dictionaryOnly, sharedOnly } from '../helpers/shared.js'
import { cli } from '../helpers/cli.js'
import { writeParquet } from '../helpers/parquet.js'

const skip = sharedOnly().skip || dictionaryOnly(IPADIC_DIR).skip
const MODEL_ARGS = ['--model', TINY_MODEL_DIR, '--dic', IPADIC_DIR, '--providers', 'cpu', '--threads', '1', '--quiet']
const N_QUERIES = 100

interface Para { text: string; questions: string[] }
function jsquadParagraphs(): Para[] {
  const d = JSON.parse(readFileSync(JSQUAD_PATH, 'utf8')) as { data: Array<{ paragraphs: Array<{ context: string; qas: Array<{ question: string }> }> }> }
  return d.data.flatMap((a) => a.paragraphs.map((p) => ({ text: p.context, questions: p.qas.map((q) => q.question) })))
}

/** float64 MaxSim over row-major float32 matrices. */
function maxSim64(q: Float32Array, qn: number, d: Float32Array, dn: number, dim: number): number {
  let total = 0
  for (let i = 0; i < qn; i++) {
    let best = -Infinity
    for (let j = 0; j < dn; j++) {
      let s = 0
      for (let k = 0; k < dim; k++) s += q[i * dim + k]! * d[j * dim + k]!
      if (s > best) best = s
    }
    total += best
  }
  return total
}

t.test('jacolbert eval on JSQuAD = brute force over /encode vectors', { skip }, async (t) => {
  const encoder = await createEncoder({ modelDir: TINY_MODEL_DIR, dicdir: IPADIC_DIR, providers: ['cpu'], threads: 1, graphCacheDir: t.testdir() })
  t.teardown(() => encoder.close())
  const config = loadConfig({ MAX_BATCH_TEXTS: '1200' })
  const app = buildApp({ config, encoder, indexStore: createIndexStore({ defaultSettings: { dim: encoder.dim } }), compileFilter })
  t.teardown(() => app.close())
  const encode = async (texts: string[], kind: 'query' | 'document', extra: object = {}): Promise<Array<{ v: Float32Array; n: number }>> => {
    const res = await app.inject({ method: 'POST', url: '/encode', payload: { texts, kind, encoding_format: 'base64', ...extra } })
    t.equal(res.statusCode, 200)
    return (res.json() as { data: Array<{ shape: [number, number]; embeddings: string }> }).data.map((e) => {
      const b = Buffer.from(e.embeddings, 'base64')
      return { v: new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)), n: e.shape[0] }
    })
  }
  const paras = jsquadParagraphs()
  t.equal(paras.length, 1145)
  const docs = await encode(paras.map((p) => p.text), 'document')
  const questions = paras.flatMap((p, i) => p.questions.map((q) => ({ q, rel: i }))).slice(0, N_QUERIES)
  const dim = encoder.dim

  // rank of the relevant paragraph per question (0-based; equal scores: corpus order, as the command documents), and
  // how close the relevant score is to the scores around the cut-offs, to tell real disagreement from float noise
  const ks = [1, 3, 10]
  const brute = async (dynamic: boolean): Promise<{ recall: Record<number, number>; nearTies: number }> => {
    const qv = await encode(questions.map((x) => x.q), 'query', dynamic ? { query_length: 'dynamic' } : {})
    const hits: Record<number, number> = { 1: 0, 3: 0, 10: 0 }
    let nearTies = 0
    questions.forEach((x, qi) => {
      const scores = docs.map((d) => maxSim64(qv[qi]!.v, qv[qi]!.n, d.v, d.n, dim))
      const rs = scores[x.rel]!
      let rank = 0
      for (let d = 0; d < scores.length; d++) if (scores[d]! > rs || (scores[d] === rs && d < x.rel)) rank++
      for (const k of ks) if (rank < k) hits[k]!++
      if (scores.some((s, d) => d !== x.rel && Math.abs(s - rs) < 1e-4)) nearTies++
    })
    const recall: Record<number, number> = {}
    for (const k of ks) recall[k] = hits[k]! / questions.length
    return { recall, nearTies }
  }

  await t.test('exhaustive search, fixed query length', async (t) => {
    const out = join(t.testdir(), 'result.json')
    // the command runs while this test computes its reference
    const running = cli(['eval', ...MODEL_ARGS, '--preset', 'jsquad', JSQUAD_PATH, '--search', 'exhaustive', '--max-queries', String(N_QUERIES), '--metrics', 'recall@1,recall@3,recall@10,mrr@10', '--json', '--output', out])
    const ref = await brute(false)
    const r = await running
    t.equal(r.status, 0, r.stderr)
    const res = JSON.parse(r.stdout) as { metrics: Record<string, number>; queriesEvaluated: number; settings: { search: string; queryLength: string }; model: { dim: number }; timingsMs: Record<string, number>; dataset: { documents: number } }
    t.same(JSON.parse(readFileSync(out, 'utf8')), res, '--output holds the same JSON')
    t.equal(res.queriesEvaluated, N_QUERIES)
    t.equal(res.dataset.documents, 1145)
    t.equal(res.settings.search, 'exhaustive')
    t.equal(res.model.dim, dim)
    t.ok(res.timingsMs.total! > 0)
    t.comment(`recall@1/3/10: command ${res.metrics['recall@1']}/${res.metrics['recall@3']}/${res.metrics['recall@10']}, brute force ${ref.recall[1]}/${ref.recall[3]}/${ref.recall[10]}; near ties ${ref.nearTies}`)
    for (const k of ks) {
      const diff = Math.abs(res.metrics[`recall@${k}`]! - ref.recall[k]!) * N_QUERIES
      t.ok(diff <= ref.nearTies + 1e-9, `recall@${k}: ${res.metrics[`recall@${k}`]} vs brute force ${ref.recall[k]} (queries differing ${diff.toFixed(0)}, near ties ${ref.nearTies})`)
    }
    // scores within 1e-4 of the relevant one (float32 vs float64 arithmetic could order them either way) are rare
    t.ok(ref.nearTies <= N_QUERIES / 10, `near ties are rare (${ref.nearTies} of ${N_QUERIES} queries)`)
    t.ok(ref.recall[10]! > ref.recall[1]!, 'the figures are not degenerate')
  })

  await t.test('PLAID search with dynamic query length runs and prints a table', async (t) => {
    const r = await cli(['eval', ...MODEL_ARGS, '--preset', 'jsquad', JSQUAD_PATH, '--max-queries', '20', '--nbits', '2', '--query-length', 'dynamic'])
    t.equal(r.status, 0, r.stderr)
    t.match(r.stdout, /retrieval plaid, query length dynamic/)
    t.match(r.stdout, /recall@3\s+\d\.\d{4}/)
    t.match(r.stdout, /ndcg@10\s+\d\.\d{4}/)
  })

  await t.test('reranking: JQaRA-shaped parquet and JaCWIR-shaped JSONL + collection', async (t) => {
    // 12 questions, each with 8 candidates: its own paragraph (label 1) and the 7 following paragraphs (label 0)
    const qs = paras.flatMap((p, i) => p.questions.slice(0, 1).map((q) => ({ q, rel: i }))).slice(0, 12)
    const rowsQ: string[] = [], rowsP: bigint[] = [], rowsT: string[] = [], rowsTitle: string[] = [], rowsL: number[] = [], rowsQid: string[] = []
    const cands = qs.map((x) => Array.from({ length: 8 }, (_, j) => (x.rel + j) % paras.length))
    qs.forEach((x, i) => cands[i]!.forEach((p) => {
      rowsQid.push(`q${i}`); rowsQ.push(x.q); rowsP.push(BigInt(p)); rowsTitle.push(''); rowsT.push(paras[p]!.text); rowsL.push(p === x.rel ? 1 : 0)
    }))
    const dir = t.testdir()
    const pq = join(dir, 'jqara-test.parquet')
    writeParquet(pq, [
      { name: 'q_id', data: rowsQid, type: 'STRING' }, { name: 'question', data: rowsQ, type: 'STRING' },
      { name: 'passage_row_id', data: rowsP, type: 'INT64' }, { name: 'title', data: rowsTitle, type: 'STRING' },
      { name: 'text', data: rowsT, type: 'STRING' }, { name: 'label', data: rowsL, type: 'INT32' },
    ])
    // the reference: the test's own MaxSim ranking of each candidate list; with one relevant document
    // nDCG@10 = 1/log2(rank+2) and MRR@10 = 1/(rank+1) when rank < 10
    const qv = await encode(qs.map((x) => x.q), 'query')
    let ndcg = 0, mrr = 0
    qs.forEach((x, i) => {
      const scores = cands[i]!.map((p) => maxSim64(qv[i]!.v, qv[i]!.n, docs[p]!.v, docs[p]!.n, dim))
      const rs = scores[0]!
      const rank = scores.filter((s, j) => s > rs || (s === rs && j < 0)).length
      ndcg += 1 / Math.log2(rank + 2)
      mrr += 1 / (rank + 1)
    })
    ndcg /= qs.length
    mrr /= qs.length
    const r = await cli(['eval', ...MODEL_ARGS, '--preset', 'jqara', pq, '--metrics', 'ndcg@10,mrr@10', '--json'])
    t.equal(r.status, 0, r.stderr)
    const res = JSON.parse(r.stdout) as { metrics: Record<string, number>; settings: { mode: string }; queriesEvaluated: number }
    t.equal(res.settings.mode, 'rerank')
    t.equal(res.queriesEvaluated, 12)
    t.ok(Math.abs(res.metrics['ndcg@10']! - ndcg) < 1e-9, `nDCG@10 ${res.metrics['ndcg@10']} = reference ${ndcg}`)
    t.ok(Math.abs(res.metrics['mrr@10']! - mrr) < 1e-9, `MRR@10 ${res.metrics['mrr@10']} = reference ${mrr}`)

    // the same candidates as JaCWIR ships them: a row per query (positive id, negative ids) and a collection file
    const coll = join(dir, 'collection.jsonl')
    const used = [...new Set(cands.flat())]
    await writeFile(coll, used.map((p) => JSON.stringify({ doc_id: `d${p}`, title: '', description: paras[p]!.text })).join('\n') + '\n')
    const evalRows = join(dir, 'eval.jsonl')
    await writeFile(evalRows, qs.map((x, i) => JSON.stringify({ query: x.q, positive: `d${x.rel}`, negatives: cands[i]!.slice(1).map((p) => `d${p}`) })).join('\n') + '\n')
    const r2 = await cli(['eval', ...MODEL_ARGS, '--preset', 'jacwir', evalRows, '--collection', coll, '--metrics', 'ndcg@10,mrr@10', '--json'])
    t.equal(r2.status, 0, r2.stderr)
    const res2 = JSON.parse(r2.stdout) as { metrics: Record<string, number> }
    t.ok(Math.abs(res2.metrics['ndcg@10']! - ndcg) < 1e-9, 'JaCWIR layout gives the same figures')
    t.ok(Math.abs(res2.metrics['mrr@10']! - mrr) < 1e-9)
  })

  await t.test('usage and data errors', async (t) => {
    const dir = t.testdir()
    const bad = join(dir, 'bad.jsonl')
    await writeFile(bad, '{"query": "a", "positive": "x", "negatives": []}\n{oops\n')
    const coll = join(dir, 'c.jsonl')
    await writeFile(coll, '{"doc_id": "x", "title": "", "description": "テキスト"}\n')
    const r = await cli(['eval', ...MODEL_ARGS, '--preset', 'jacwir', bad, '--collection', coll])
    t.equal(r.status, 1)
    t.match(r.stderr, /bad\.jsonl:2: invalid JSON/)
    const u = await cli(['eval', ...MODEL_ARGS, '--preset', 'nope', 'x'])
    t.equal(u.status, 2)
    t.match(u.stderr, /unknown preset 'nope'/)
    const m = await cli(['eval', ...MODEL_ARGS, '--preset', 'jsquad', JSQUAD_PATH, '--metrics', 'precision@5'])
    t.equal(m.status, 2)
    t.match(m.stderr, /not one of recall@K/)
    const h = await cli(['eval', '--help'])
    t.equal(h.status, 0)
    t.match(h.stdout, /usage: jacolbert eval/)
  })
})

t.test('BEIR folder and MIRACL-style files (headerless topics TSV, TREC qrels)', { skip }, async (t) => {
  const dir = t.testdir()
  const { mkdir } = await import('node:fs/promises')
  await mkdir(join(dir, 'beir', 'qrels'), { recursive: true })
  await writeFile(join(dir, 'beir', 'corpus.jsonl'), '{"_id": "d1", "title": "東京", "text": "東京は日本の首都です。"}\n{"_id": "d2", "title": "京都", "text": "京都は古都です。"}\n')
  await writeFile(join(dir, 'beir', 'queries.jsonl'), '{"_id": "q1", "text": "日本の首都"}\n{"_id": "q2", "text": "古い都"}\n{"_id": "q3", "text": "judged nowhere"}\n')
  await writeFile(join(dir, 'beir', 'qrels', 'dev.tsv'), 'query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\nq2\td1\t0\n')
  const r = await cli(['eval', ...MODEL_ARGS, '--format', 'beir', join(dir, 'beir'), '--split', 'dev', '--search', 'exhaustive', '--metrics', 'recall@2,success@2', '--json'])
  t.equal(r.status, 0, r.stderr)
  t.match(JSON.parse(r.stdout), { queriesEvaluated: 2, metrics: { 'recall@2': 1, 'success@2': 1 }, dataset: { documents: 2 } }, 'two documents: everything is in the top 2')
  await writeFile(join(dir, 'topics.tsv'), 'q1\t日本の首都\nq2\t古い都\n')
  await writeFile(join(dir, 'qrels.trec'), 'q1 Q0 d1 1\nq2 Q0 d2 1\n')
  const m = await cli(['eval', ...MODEL_ARGS, '--preset', 'miracl', '--corpus', join(dir, 'beir', 'corpus.jsonl'), '--queries', join(dir, 'topics.tsv'), '--qrels', join(dir, 'qrels.trec'), '--search', 'exhaustive', '--metrics', 'recall@2', '--json'])
  t.equal(m.status, 0, m.stderr)
  t.match(JSON.parse(m.stdout), { queriesEvaluated: 2, metrics: { 'recall@2': 1 } })
})
