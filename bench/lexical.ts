/**
 * Lexical (BM25) and hybrid search benchmark on a large corpus made of JSQuAD passages repeated with varied ids.
 *
 *   npm run bench:lexical -- [--docs 100000] [--queries 500] [--k 10] [--depth 100] [--dim 128] [--vectors 16]
 *                            [--dic /var/lib/mecab/dic/ipadic-utf8] [--jsquad FILE] [--json FILE] [--no-hybrid]
 *
 * What runs is what /search runs per query, minus HTTP and the query encoder (the `search-modes.ts` path):
 * - lexical: analyse the question (NFKC + MeCab, IPADIC here; unidic-lite in service) + BM25 top k;
 * - multivector: PLAID search of precomputed query vectors (k, default parameters), for comparison in the same run;
 * - hybrid: lexical top `depth` + PLAID top `depth` + RRF (k 60) to the top k.
 * The PLAID side holds synthetic vectors (each document `--vectors` noisy copies of two of 256 random unit "topics"),
 * so the encoder is not the bottleneck and the figures do not depend on a model; queries are 32 noisy copies of a random
 * document's vectors. Each passage's terms are analysed once and reused for its copies (the analyser's own speed is
 * printed separately); so the corpus has 1,145 distinct texts: every posting list is ~docs/1145 times longer than in
 * JSQuAD, like a corpus whose vocabulary is that repetitive — a pessimistic case for posting-list length.
 * Memory: the lexical index's own accounting (typed arrays + string estimate) and the heap + array-buffer growth
 * measured around its build (after gc; run with --expose-gc, which the npm script does).
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { createPlaidIndex } from '../src/index/plaid-index.js'
import { createPrng } from '../src/index/prng.js'
import { createLexicalAnalyzer } from '../src/lexical/analyzer.js'
import { createLexicalIndex } from '../src/lexical/lexical-index.js'
import { fuseRankings } from '../src/search/fusion.js'
import { createMecabAnalyzer } from '../src/tokenizer/mecab/index.js'

const { values: args } = parseArgs({
  options: {
    docs: { type: 'string', default: '100000' },
    queries: { type: 'string', default: '500' },
    k: { type: 'string', default: '10' },
    depth: { type: 'string', default: '100' },
    dim: { type: 'string', default: '128' },
    vectors: { type: 'string', default: '16' },
    dic: { type: 'string', default: '/var/lib/mecab/dic/ipadic-utf8' },
    jsquad: { type: 'string', default: resolve(import.meta.dirname, '..', '..', 'shared', 'fixtures', 'jsquad-valid-v1.3.json') },
    json: { type: 'string' },
    'no-hybrid': { type: 'boolean', default: false },
  },
})
const nDocs = Number(args.docs), nQueries = Number(args.queries), k = Number(args.k), depth = Number(args.depth)
const dim = Number(args.dim), perDoc = Number(args.vectors)

const gc = (globalThis as { gc?: () => void }).gc
const mem = (): number => {
  gc?.()
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]
}
const f2 = (x: number): string => x.toFixed(2)

// ---- corpus
const raw = JSON.parse(readFileSync(args.jsquad, 'utf8')) as {
  data: Array<{ title: string; paragraphs: Array<{ context: string; qas: Array<{ question: string }> }> }>
}
const passages: string[] = [], questions: string[] = []
for (const a of raw.data) for (const p of a.paragraphs) {
  passages.push(p.context)
  for (const q of p.qas) questions.push(q.question)
}
const analyzer = createLexicalAnalyzer(createMecabAnalyzer(args.dic))
let t0 = performance.now()
const passageTerms = passages.map((p) => analyzer.terms(p))
const analyseMs = performance.now() - t0
const chars = passages.reduce((s, p) => s + p.length, 0)
const avgTerms = passageTerms.reduce((s, x) => s + x.length, 0) / passageTerms.length

// ---- lexical build
const memBefore = mem()
const lexical = createLexicalIndex()
t0 = performance.now()
const BATCH = 1000
for (let start = 0; start < nDocs; start += BATCH) {
  const docs = []
  for (let i = start; i < Math.min(nDocs, start + BATCH); i++) docs.push({ id: `p${i % passages.length}-c${Math.floor(i / passages.length)}`, terms: passageTerms[i % passages.length] })
  lexical.upsert(docs)
}
const lexBuildMs = performance.now() - t0
const memLexical = mem() - memBefore
const lstats = lexical.stats()

// ---- queries
const qSample = Array.from({ length: nQueries }, (_, i) => questions[Math.floor((i * questions.length) / nQueries)])
const WARMUP = 20
const lexMs: number[] = []
for (let i = 0; i < qSample.length + WARMUP; i++) {
  const q = qSample[i % qSample.length]
  const s = performance.now()
  lexical.search(analyzer.terms(q), { k })
  if (i >= WARMUP) lexMs.push(performance.now() - s)
}

const rows: Array<[string, string]> = [
  ['documents (distinct texts)', `${nDocs} (${passages.length})`],
  ['analyser: passages/s, chars/s', `${f2(passages.length / (analyseMs / 1000))}, ${Math.round(chars / (analyseMs / 1000))}`],
  ['terms per passage (mean)', f2(avgTerms)],
  ['lexical build (terms given), s', f2(lexBuildMs / 1000)],
  ['lexical terms / postings', `${lstats.terms} / ${lstats.postings}`],
  ['lexical bytes/doc (own accounting)', f2(lstats.bytes / nDocs)],
  ['lexical bytes/doc (heap+buffers growth)', f2(memLexical / nDocs)],
  [`lexical k=${k} p50 / p95 ms (incl. query analysis)`, `${f2(pct(lexMs, 0.5))} / ${f2(pct(lexMs, 0.95))}`],
]
const result: Record<string, unknown> = {
  docs: nDocs, distinctTexts: passages.length, queries: nQueries, k, depth, analyseMs, chars, avgTerms, lexBuildMs,
  lexical: lstats, lexicalBytesPerDocOwn: lstats.bytes / nDocs, lexicalBytesPerDocMeasured: memLexical / nDocs,
  lexicalP50: pct(lexMs, 0.5), lexicalP95: pct(lexMs, 0.95),
}

if (!args['no-hybrid']) {
  // ---- PLAID side, synthetic vectors
  const rng = createPrng(7)
  const gauss = (): number => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next())
  const nTopics = 256
  const topics = new Float32Array(nTopics * dim)
  for (let i = 0; i < topics.length; i++) topics[i] = gauss()
  const norm = (v: Float32Array, o: number): void => {
    let s = 0
    for (let d = 0; d < dim; d++) s += v[o + d] ** 2
    const inv = 1 / Math.sqrt(s)
    for (let d = 0; d < dim; d++) v[o + d] *= inv
  }
  for (let t = 0; t < nTopics; t++) norm(topics, t * dim)
  const noise = 0.5 / Math.sqrt(dim)
  const docVec = (seed: number): Float32Array => {
    const r = createPrng(seed)
    const own = [r.int(nTopics), r.int(nTopics)]
    const v = new Float32Array(perDoc * dim)
    for (let row = 0; row < perDoc; row++) {
      const t = own[r.int(2)]
      for (let d = 0; d < dim; d++) v[row * dim + d] = topics[t * dim + d] + noise * (r.next() * 2 - 1) * 1.7
      norm(v, row * dim)
    }
    return v
  }
  const plaid = createPlaidIndex({ dim, nbits: 2 })
  t0 = performance.now()
  // one upsert per large batch: the index trains once it holds minTrainVectors, then codes the rest
  for (let start = 0; start < nDocs; start += 10000) {
    const docs = []
    for (let i = start; i < Math.min(nDocs, start + 10000); i++) docs.push({ id: `p${i % passages.length}-c${Math.floor(i / passages.length)}`, vectors: docVec(i) })
    plaid.upsert(docs)
    process.stderr.write(`plaid: ${Math.min(nDocs, start + 10000)} documents\r`)
  }
  process.stderr.write('\n')
  const plaidBuildMs = performance.now() - t0
  const queryVec = (i: number): Float32Array => {
    const src = docVec(Math.floor((i * 7919) % nDocs))
    const q = new Float32Array(32 * dim)
    const r = createPrng(100000 + i)
    for (let row = 0; row < 32; row++) {
      const from = row % perDoc
      for (let d = 0; d < dim; d++) q[row * dim + d] = src[from * dim + d] + noise * (r.next() * 2 - 1)
      norm(q, row * dim)
    }
    return q
  }
  const qv = qSample.map((_, i) => queryVec(i))
  const mvMs: number[] = [], hyMs: number[] = [], fuseMs: number[] = []
  for (let i = 0; i < qSample.length + WARMUP; i++) {
    const j = i % qSample.length
    let s = performance.now()
    plaid.search(qv[j], { k })
    if (i >= WARMUP) mvMs.push(performance.now() - s)
    s = performance.now()
    const lex = lexical.search(analyzer.terms(qSample[j]), { k: Math.max(k, depth) }).hits
    const mv = plaid.search(qv[j], { k: Math.max(k, depth) }).hits
    const f0 = performance.now()
    fuseRankings({ multivector: mv, lexical: lex }, { method: 'rrf', rrfK: 60, weights: { multivector: 1, lexical: 1 }, k })
    if (i >= WARMUP) {
      fuseMs.push(performance.now() - f0)
      hyMs.push(performance.now() - s)
    }
  }
  const ps = plaid.stats()
  rows.push(
    ['PLAID vectors (synthetic) / build s', `${ps.vectors} / ${f2(plaidBuildMs / 1000)}`],
    ['PLAID bytes/doc', f2(ps.bytes / nDocs)],
    [`multivector k=${k} p50 / p95 ms`, `${f2(pct(mvMs, 0.5))} / ${f2(pct(mvMs, 0.95))}`],
    [`hybrid k=${k} (depth ${depth}, RRF) p50 / p95 ms`, `${f2(pct(hyMs, 0.5))} / ${f2(pct(hyMs, 0.95))}`],
    ['  of which fusion p50 ms', f2(pct(fuseMs, 0.5))],
  )
  Object.assign(result, {
    plaidVectors: ps.vectors, plaidBuildMs, plaidBytesPerDoc: ps.bytes / nDocs,
    multivectorP50: pct(mvMs, 0.5), multivectorP95: pct(mvMs, 0.95), hybridP50: pct(hyMs, 0.5), hybridP95: pct(hyMs, 0.95), fusionP50: pct(fuseMs, 0.5),
  })
}

const w = Math.max(...rows.map((r) => r[0].length))
console.log(`\n| ${'what'.padEnd(w)} | value |\n|${'-'.repeat(w + 2)}|-------|`)
for (const [a, b] of rows) console.log(`| ${a.padEnd(w)} | ${b} |`)
if (args.json) writeFileSync(args.json, JSON.stringify(result, null, 2) + '\n')
