/**
 * Encoder bench: a random checkpoint of JaColBERTv2.5's size (BERT-base: vocab 32768, hidden 768, 12 layers, 12 heads,
 * FFN 3072, dim 128) on the CPU execution provider.
 *
 *   npm run bench:encoder -- [--quick] [--threads N] [--json FILE] [--profile] [--dir DIR]
 *
 * Duration on the 2-core dev VM: --quick about 3 min, full about 10 min (plus ~20 s the first time, to write the
 * 440 MB random checkpoint into bench/results/, which is git-ignored).
 *
 * Reports: first start (safetensors -> ONNX conversion + session) vs cached start; documents/s (300 tokens) and
 * queries/s (32 tokens) at several batch sizes for the fused (com.microsoft ops) and plain graphs; the achieved FLOP/s
 * of document encoding as a fraction of what onnxruntime reaches on one large fp32 MatMul (the FFN's shape) with the
 * same threads in the same run; and one end-to-end figure through createEncoder (worker thread + batching).
 * int8 (ENCODER_PRECISION=int8): the int8-fused graph (and int8-u8u8-fused, what CPUs without VNNI get) is measured
 * beside fp32-fused, then int8-fused head to head (the two
 * sessions alternate, so load drift on this shared machine hits both alike) for the speed-up; its accuracy is the
 * cosine per token against fp32-fused on the same batch, and, when ../shared is present, the top-10 agreement of exact
 * MaxSim retrieval on JSQuAD with the tiny fixture model (first --jsquad-questions questions, default 1000).
 * FLOPs per token at sequence length S: layers·(2·(4H² + 2HI) + 4·S·H) + 2·H·dim (matmuls only; elementwise ops,
 * softmax and LayerNorm are not counted, so the fraction slightly understates the work done).
 */
import { createHash } from 'node:crypto'
import { createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import * as ort from 'onnxruntime-node'
import { createEncoder, type EncodedText } from '../src/encoder/index.js'
import { maxSim } from '../src/index/maxsim.js'
import { IPADIC_DIR, TINY_MODEL_DIR, hasShared } from '../test/helpers/shared.js'
import { loadJsquad } from '../test/server/jsquad.js'
import { loadCheckpoint } from '../src/model/checkpoint.js'
import type { GraphVariant } from '../src/model/onnx/colbert-graph.js'
import { createGraphBuilder, DataType, encodeModel } from '../src/model/onnx/graph-builder.js'
import { ensureConvertedGraph } from '../src/model/onnx/onnx-cache.js'
import type { ColbertTokenizer, TokenizedText } from '../src/tokenizer/colbert-tokenizer.js'
import { BERT_BASE_SHAPE, makeRandomCheckpoint } from '../test/helpers/make-checkpoint.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean' }, threads: { type: 'string' }, json: { type: 'string' }, profile: { type: 'boolean' },
    dir: { type: 'string' }, help: { type: 'boolean', short: 'h' }, 'jsquad-questions': { type: 'string' },
  },
})
if (args.help) {
  process.stdout.write('usage: npm run bench:encoder -- [--quick] [--threads N] [--json FILE] [--profile] [--dir CHECKPOINT_DIR]\n')
  process.exit(0)
}
const quick = !!args.quick
const threads = Number(args.threads ?? availableParallelism())
const dir = resolve(args.dir ?? join(ROOT, 'bench', 'results', 'encoder-bert-base'))
const jsonPath = resolve(args.json ?? join(ROOT, 'bench', 'results', 'encoder.json'))
const CFG = BERT_BASE_SHAPE
const DOC_LEN = 300
const QUERY_LEN = 32

const log = (s: string): void => void process.stderr.write(`${s}\n`)
const flopsPerToken = (seq: number): number => CFG.layers * (2 * (4 * CFG.hidden ** 2 + 2 * CFG.hidden * CFG.intermediate) + 4 * seq * CFG.hidden) + 2 * CFG.hidden * CFG.dim
const sessionOptions = (extra: Partial<ort.InferenceSession.SessionOptions> = {}): ort.InferenceSession.SessionOptions => ({
  executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', ...extra,
})

/** Deterministic ids: [CLS] marker tokens… [SEP]; queries end with [MASK] padding (attention 0). */
function makeBatch(batch: number, seq: number, kind: 'query' | 'document', seed = 1): Record<string, ort.Tensor> {
  const ids = new BigInt64Array(batch * seq)
  const mask = new BigInt64Array(batch * seq)
  let s = seed
  for (let b = 0; b < batch; b++) {
    const real = kind === 'query' ? 18 + (b % 8) : seq
    for (let i = 0; i < seq; i++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0
      const id = i === 0 ? 2 : i === 1 ? (kind === 'query' ? 5 : 6) : i === real - 1 ? 3 : i >= real ? 4 : 1000 + (s % 30000)
      ids[b * seq + i] = BigInt(id)
      mask[b * seq + i] = i < real ? 1n : 0n
    }
  }
  return { input_ids: new ort.Tensor('int64', ids, [batch, seq]), attention_mask: new ort.Tensor('int64', mask, [batch, seq]) }
}

/** Runs until minMs elapsed (at least minReps); returns ms per run. */
async function timeRuns(fn: () => Promise<unknown>, minMs: number, minReps: number): Promise<{ msPerRun: number; reps: number }> {
  await fn() // warm-up (arena allocation, prepacking)
  let reps = 0
  const t0 = performance.now()
  while (reps < minReps || performance.now() - t0 < minMs) {
    await fn()
    reps++
  }
  return { msPerRun: (performance.now() - t0) / reps, reps }
}

/**
 * The practical limit: one MatMul of the FFN's shape ([m x 768] x [768 x 3072], weights as an initializer so
 * onnxruntime prepacks them, like the model's). Measured right before and after every model measurement, because
 * this machine is shared and its speed drifts; each row's fraction uses the mean of those two.
 */
async function createMatmulProbe(m: number): Promise<{ shape: string; measure(): Promise<number>; release(): Promise<void> }> {
  const k = CFG.hidden
  const n = CFG.intermediate
  const g = createGraphBuilder()
  const w = new Float32Array(k * n)
  for (let i = 0; i < w.length; i++) w[i] = ((i * 2654435761) % 1000) / 1000 - 0.5
  g.input('x', DataType.FLOAT, ['m', k])
  g.node('MatMul', ['x', g.floats('w', [k, n], w)], {}, { outputs: ['y'] })
  g.output('y', DataType.FLOAT, ['m', n])
  const bytes = encodeModel(g.build({ graphName: 'matmul', opsets: { '': 17 } }))
  const s = await ort.InferenceSession.create(bytes, sessionOptions())
  const x = new Float32Array(m * k)
  for (let i = 0; i < x.length; i++) x[i] = ((i * 40503) % 1000) / 1000 - 0.5
  const feeds = { x: new ort.Tensor('float32', x, [m, k]) }
  await s.run(feeds)
  return {
    shape: `[${m}x${k}]x[${k}x${n}]`,
    async measure() {
      const { msPerRun } = await timeRuns(() => s.run(feeds), quick ? 300 : 1000, 2)
      return (2 * m * k * n) / (msPerRun / 1000) / 1e9
    },
    release: () => s.release(),
  }
}

function syntheticTokenizer(): ColbertTokenizer {
  const settings = { dim: CFG.dim, queryMaxlen: QUERY_LEN, docMaxlen: DOC_LEN, queryToken: '[unused0]', docToken: '[unused1]', attendToMaskTokens: false, maskPunctuation: true, similarity: 'cosine' as const }
  const make = (text: string): TokenizedText => {
    const ids = Int32Array.from({ length: DOC_LEN }, (_, i) => (i === 0 ? 2 : i === DOC_LEN - 1 ? 3 : i === 1 ? 6 : 1000 + ((i * 7919 + text.length * 31) % 30000)))
    return { words: [], tokens: [], ids, attentionMask: new Uint8Array(DOC_LEN).fill(1), keepMask: new Uint8Array(DOC_LEN).fill(1) }
  }
  return { settings, vocabSize: CFG.vocabSize, padId: 0, tokenizeQuery: make, tokenizeDocument: make }
}

async function profileOps(path: string, batch: number): Promise<Array<{ op: string; ms: number; share: number }>> {
  const prefix = join(tmpdir(), `jacolbert-ort-profile-${process.pid}`)
  const s = await ort.InferenceSession.create(path, sessionOptions({ enableProfiling: true, profileFilePrefix: prefix }))
  const feeds = makeBatch(batch, DOC_LEN, 'document')
  await s.run(feeds)
  await s.run(feeds)
  s.endProfiling()
  await s.release()
  const file = readdirSync(tmpdir()).filter((f) => f.startsWith(`jacolbert-ort-profile-${process.pid}`)).map((f) => join(tmpdir(), f))[0]
  if (!file) return []
  const events = JSON.parse(readFileSync(file, 'utf8')) as Array<{ cat: string; name: string; dur: number; args?: { op_name?: string } }>
  rmSync(file)
  const byOp = new Map<string, number>()
  for (const e of events) if (e.cat === 'Node' && e.name.endsWith('_kernel_time')) byOp.set(e.args?.op_name ?? '?', (byOp.get(e.args?.op_name ?? '?') ?? 0) + e.dur)
  const total = [...byOp.values()].reduce((a, b) => a + b, 0)
  return [...byOp.entries()].sort((a, b) => b[1] - a[1]).map(([op, us]) => ({ op, ms: us / 2000, share: us / total }))
}

async function main(): Promise<void> {
  log(`encoder bench: ${quick ? 'quick' : 'full'}, ${threads} threads, CPU ${cpus()[0]?.model ?? '?'} (${availableParallelism()} logical), load ${loadavg().map((x) => x.toFixed(1)).join(' ')}`)
  if (!existsSync(join(dir, 'model.safetensors'))) {
    const t0 = performance.now()
    log(`generating a random BERT-base checkpoint in ${dir} ...`)
    const vocab = resolve(ROOT, '..', 'shared', 'fixtures', 'vocab-bert-base-japanese-v3.txt')
    await makeRandomCheckpoint(dir, { ...CFG, dtype: 'F32', seed: 2025, std: 0.002, docMaxlen: DOC_LEN, queryMaxlen: QUERY_LEN, ...(existsSync(vocab) ? { vocabPath: vocab } : {}) })
    log(`  generated in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  }
  const ckpt = await loadCheckpoint(dir)
  // A real first start also hashes every weight byte for the cache key (later starts reuse a size/mtime stamp).
  const th = performance.now()
  const hasher = createHash('sha256')
  for (const f of ckpt.weightFiles) for await (const c of createReadStream(f, { highWaterMark: 4 << 20 })) hasher.update(c as Buffer)
  hasher.digest()
  const coldHashMs = performance.now() - th
  log(`  cold hash of the weights: ${coldHashMs.toFixed(0)} ms`)
  const variants: GraphVariant[] = ['fp32-fused', 'int8-fused', 'int8-u8u8-fused', 'fp32']

  // Start-up: conversion (first start) vs cache hit (second start), each followed by session creation.
  const startup: Record<string, { firstStartMs: number; convertMs: number; cachedStartMs: number; cacheCheckMs: number; sessionMs: number; graphBytes: number }> = {}
  const graphs: Record<string, string> = {}
  for (const v of variants) {
    rmSync(join(dir, 'onnx'), { recursive: true, force: true })
    const t0 = performance.now()
    const g1 = await ensureConvertedGraph(ckpt, v, { force: true })
    const s1 = await ort.InferenceSession.create(g1.path, sessionOptions())
    const first = performance.now() - t0 + coldHashMs
    await s1.release()
    const t1 = performance.now()
    const g2 = await ensureConvertedGraph(ckpt, v)
    const check = performance.now() - t1
    const s2 = await ort.InferenceSession.create(g2.path, sessionOptions())
    const cached = performance.now() - t1
    await s2.release()
    if (g2.converted) throw new Error('second start converted again: the cache did not hit')
    graphs[v] = g2.path
    startup[v] = { firstStartMs: first, convertMs: g1.convertMs, cachedStartMs: cached, cacheCheckMs: check, sessionMs: cached - check, graphBytes: readFileSync(g2.path).byteLength }
    log(`  ${v}: first start ${(first / 1000).toFixed(2)} s (convert ${(g1.convertMs / 1000).toFixed(2)} s), cached start ${(cached / 1000).toFixed(2)} s (cache check ${check.toFixed(0)} ms)`)
  }
  // keep both graphs cached for the runs below
  for (const v of variants) if (!existsSync(graphs[v]!)) graphs[v] = (await ensureConvertedGraph(ckpt, v)).path

  const probe = await createMatmulProbe(1200)
  const ceilings: number[] = []

  const docBatches = quick ? [1, 4] : [1, 4, 16]
  const queryBatches = quick ? [1, 16] : [1, 16, 64]
  const minMs = quick ? 1000 : 4000
  const rows: Array<{ variant: string; kind: string; batch: number; seq: number; msPerBatch: number; perSecond: number; gflops: number; matmulGflops: number; fractionOfMatmul: number }> = []
  for (const v of variants) {
    const s = await ort.InferenceSession.create(graphs[v]!, sessionOptions())
    for (const [kind, seq, batches] of [['document', DOC_LEN, docBatches], ['query', QUERY_LEN, queryBatches]] as const) {
      for (const b of batches) {
        const feeds = makeBatch(b, seq, kind)
        const before = await probe.measure()
        const { msPerRun } = await timeRuns(() => s.run(feeds), minMs, 2)
        const matmulGflops = (before + (await probe.measure())) / 2
        ceilings.push(matmulGflops)
        const perSecond = b / (msPerRun / 1000)
        const gflops = (perSecond * seq * flopsPerToken(seq)) / 1e9
        rows.push({ variant: v, kind, batch: b, seq, msPerBatch: msPerRun, perSecond, gflops, matmulGflops, fractionOfMatmul: gflops / matmulGflops })
        log(`  ${v} ${kind} x${b}: ${perSecond.toFixed(2)}/s, ${gflops.toFixed(1)} GFLOP/s; MatMul ${matmulGflops.toFixed(1)} GFLOP/s around it (${((gflops / matmulGflops) * 100).toFixed(0)}%)`)
      }
    }
    await s.release()
  }

  // int8 vs fp32 head to head: alternate the two sessions batch by batch; ratio of the summed times.
  const h2hBatch = 4
  const s32 = await ort.InferenceSession.create(graphs['fp32-fused']!, sessionOptions())
  const s8 = await ort.InferenceSession.create(graphs['int8-fused']!, sessionOptions())
  const docFeeds = makeBatch(h2hBatch, DOC_LEN, 'document')
  const out32 = (await s32.run(docFeeds)).vectors!.data as Float32Array
  const out8 = (await s8.run(docFeeds)).vectors!.data as Float32Array
  let ms32 = 0
  let ms8 = 0
  const rounds = quick ? 4 : 10
  for (let r = 0; r < rounds; r++) {
    let t0 = performance.now()
    await s32.run(docFeeds)
    ms32 += performance.now() - t0
    t0 = performance.now()
    await s8.run(docFeeds)
    ms8 += performance.now() - t0
  }
  const qFeeds = makeBatch(16, QUERY_LEN, 'query')
  const q32 = (await s32.run(qFeeds)).vectors!.data as Float32Array
  const q8 = (await s8.run(qFeeds)).vectors!.data as Float32Array
  await s32.release()
  await s8.release()
  const rowCos = (a: Float32Array, b: Float32Array, mask: (row: number) => boolean): { worst: number; mean: number; n: number } => {
    let worst = 1
    let sum = 0
    let n = 0
    for (let r = 0; r < a.length / CFG.dim; r++) {
      if (!mask(r)) continue
      let dot = 0
      for (let k = 0; k < CFG.dim; k++) dot += a[r * CFG.dim + k]! * b[r * CFG.dim + k]!
      worst = Math.min(worst, dot)
      sum += dot
      n++
    }
    return { worst, mean: sum / n, n }
  }
  const qMask = qFeeds.attention_mask!.data as BigInt64Array
  const int8 = {
    batch: h2hBatch, rounds,
    fp32DocsPerS: (h2hBatch * rounds) / (ms32 / 1000),
    int8DocsPerS: (h2hBatch * rounds) / (ms8 / 1000),
    speedup: ms32 / ms8,
    documentCosine: rowCos(out32, out8, () => true),
    // Queries: every position is kept (the [MASK] padding too), so all rows count.
    queryCosine: rowCos(q32, q8, () => true),
    queryRealTokenCosine: rowCos(q32, q8, (r) => qMask[r] === 1n),
    jsquad: hasShared ? await jsquadAgreement(Number(args['jsquad-questions'] ?? 1000)) : undefined,
  }
  log(`  int8 vs fp32 head to head (documents x${h2hBatch}, ${rounds} alternating rounds): ${int8.int8DocsPerS.toFixed(2)} vs ${int8.fp32DocsPerS.toFixed(2)} docs/s = ${int8.speedup.toFixed(2)}x`)

  // End to end through the encoder (worker thread, batching, post-processing) at one document batch size.
  await probe.release()
  const ceiling = { shape: probe.shape, gflops: ceilings.reduce((a, b) => a + b, 0) / ceilings.length, min: Math.min(...ceilings), max: Math.max(...ceilings) }
  const e2eBatch = quick ? 4 : 8
  const enc = await createEncoder({ modelDir: dir, providers: ['cpu'], threads, tokenizer: syntheticTokenizer(), maxBatchTokens: e2eBatch * DOC_LEN })
  const texts = Array.from({ length: e2eBatch }, (_, i) => 'x'.repeat(i + 1))
  const e2e = await timeRuns(() => enc.encodeDocuments(texts), minMs, 2)
  await enc.close()
  const e2eDocsPerS = e2eBatch / (e2e.msPerRun / 1000)
  log(`  createEncoder documents x${e2eBatch}: ${e2eDocsPerS.toFixed(2)}/s`)

  const bestDoc = rows.filter((r) => r.variant === 'fp32-fused' && r.kind === 'document').sort((a, b) => b.gflops - a.gflops)[0]!
  let profile: Array<{ op: string; ms: number; share: number }> = []
  if (args.profile || bestDoc.fractionOfMatmul < 0.6) profile = await profileOps(graphs['fp32-fused']!, quick ? 2 : 4)

  // Table
  const fmt = (x: number, d = 2): string => x.toFixed(d)
  const out: string[] = []
  out.push(`threads ${threads}; MatMul ceiling ${ceiling.shape}: mean ${fmt(ceiling.gflops, 1)} GFLOP/s (range ${fmt(ceiling.min, 1)}–${fmt(ceiling.max, 1)} over the run); load avg now ${loadavg()[0]!.toFixed(1)}`)
  out.push(`first start = cold hash of the weights (${fmt(coldHashMs / 1000)} s) + conversion + session; cached start = stamp check + session`)
  out.push('| graph | start-up: first (convert) | cached | graph size |')
  out.push('| --- | --- | --- | --- |')
  for (const v of variants) out.push(`| ${v} | ${fmt(startup[v]!.firstStartMs / 1000)} s (${fmt(startup[v]!.convertMs / 1000)} s convert) | ${fmt(startup[v]!.cachedStartMs / 1000)} s (${fmt(startup[v]!.cacheCheckMs, 0)} ms cache check) | ${(startup[v]!.graphBytes / 2 ** 20).toFixed(0)} MiB |`)
  out.push('')
  out.push('| graph | kind | batch × tokens | ms / batch | texts/s | GFLOP/s | MatMul GFLOP/s (around) | fraction |')
  out.push('| --- | --- | --- | --- | --- | --- | --- | --- |')
  for (const r of rows) out.push(`| ${r.variant} | ${r.kind} | ${r.batch} × ${r.seq} | ${fmt(r.msPerBatch, 0)} | ${fmt(r.perSecond)} | ${fmt(r.gflops, 1)} | ${fmt(r.matmulGflops, 1)} | ${fmt(r.fractionOfMatmul * 100, 0)}% |`)
  out.push('')
  out.push(`createEncoder (worker thread) documents ${e2eBatch} × ${DOC_LEN}: ${fmt(e2eDocsPerS)} docs/s`)
  out.push(`best fused document FLOP/s: ${fmt(bestDoc.gflops, 1)} GFLOP/s = ${fmt(bestDoc.fractionOfMatmul * 100, 0)}% of the MatMul ceiling (target ≥ 60%)`)
  out.push('')
  out.push(`int8-fused vs fp32-fused, same run, alternating batches of ${int8.batch} × ${DOC_LEN}: ${fmt(int8.int8DocsPerS)} vs ${fmt(int8.fp32DocsPerS)} docs/s = **${fmt(int8.speedup)}×** (target ≥ 1.8×)`)
  out.push('| int8 vs fp32 (BERT-base-shaped random weights, std 0.002) | tokens | cosine worst | cosine mean |')
  out.push('| --- | --- | --- | --- |')
  for (const [name, c] of [['documents (300 tokens)', int8.documentCosine], ['queries, all 32 positions', int8.queryCosine], ['queries, real tokens only', int8.queryRealTokenCosine]] as const) out.push(`| ${name} | ${c.n} | ${c.worst.toFixed(5)} | ${c.mean.toFixed(5)} |`)
  if (int8.jsquad) {
    const j = int8.jsquad
    out.push(`JSQuAD, tiny fixture model, exact MaxSim over ${j.passages} passages, first ${j.questions} questions: top-10 overlap int8 vs fp32 mean ${fmt(j.top10Overlap * 100, 1)}% (worst query ${fmt(j.worstTop10Overlap * 100, 0)}%), same top-1 ${fmt(j.sameTop1 * 100, 1)}%; Recall@3 fp32 ${fmt(j.recall3Fp32 * 100, 1)}% / int8 ${fmt(j.recall3Int8 * 100, 1)}%; token cosine worst ${j.tokenCosine.worst.toFixed(4)}, mean ${j.tokenCosine.mean.toFixed(5)}`)
  } else out.push('JSQuAD agreement: skipped (../shared fixtures not found)')
  if (profile.length) {
    out.push('')
    out.push('profile (fp32-fused, documents, kernel time by op):')
    for (const p of profile.slice(0, 10)) out.push(`  ${p.op.padEnd(26)} ${fmt(p.share * 100, 1).padStart(5)}%  ${fmt(p.ms, 1)} ms/run`)
  }
  process.stdout.write(`${out.join('\n')}\n`)
  mkdirSync(dirname(jsonPath), { recursive: true })
  writeFileSync(jsonPath, JSON.stringify({ date: new Date().toISOString(), quick, threads, cpu: cpus()[0]?.model, loadavg: loadavg(), config: CFG, coldHashMs, flopsPerDocToken: flopsPerToken(DOC_LEN), ceiling, startup, rows, int8, e2e: { batch: e2eBatch, docsPerS: e2eDocsPerS }, profile }, null, 2))
  log(`wrote ${jsonPath}`)
}

/**
 * Retrieval agreement of int8 with fp32 on real Japanese text: the tiny fixture checkpoint (random weights, so the
 * absolute recall means little) through the real tokenizer (MeCab IPADIC), exact MaxSim over every JSQuAD passage.
 * Cost: questions × passages × 32 × ~64 × 16 multiply-adds.
 */
async function jsquadAgreement(nQuestions: number) {
  const passages = loadJsquad()
  const qs: Array<{ text: string; gold: number }> = []
  passages.forEach((p, i) => p.questions.forEach((q) => qs.push({ text: q, gold: i })))
  const questions = qs.slice(0, nQuestions)
  const encodeAll = async (precision: 'fp32' | 'int8'): Promise<{ docs: EncodedText[]; queries: EncodedText[] }> => {
    const enc = await createEncoder({ modelDir: TINY_MODEL_DIR, dicdir: IPADIC_DIR, providers: ['cpu'], threads, precision, graphCacheDir: join(ROOT, 'bench', 'results', 'tiny-onnx'), maxQueueTexts: 100_000 })
    const docs = await enc.encodeDocuments(passages.map((p) => p.text))
    const queries = await enc.encodeQueries(questions.map((q) => q.text))
    await enc.close()
    return { docs, queries }
  }
  const a = await encodeAll('fp32')
  const b = await encodeAll('int8')
  const top = (e: { docs: EncodedText[] }, q: EncodedText): number[] =>
    e.docs.map((d, i) => ({ i, s: maxSim(q.vectors, q.n, d.vectors, 0, d.n, d.dim) })).sort((x, y) => y.s - x.s || x.i - y.i).slice(0, 10).map((x) => x.i)
  let overlap = 0
  let worst = 1
  let sameTop1 = 0
  let r3a = 0
  let r3b = 0
  for (let i = 0; i < questions.length; i++) {
    const ta = top(a, a.queries[i]!)
    const tb = top(b, b.queries[i]!)
    const o = tb.filter((x) => ta.includes(x)).length / 10
    overlap += o
    worst = Math.min(worst, o)
    if (ta[0] === tb[0]) sameTop1++
    if (ta.slice(0, 3).includes(questions[i]!.gold)) r3a++
    if (tb.slice(0, 3).includes(questions[i]!.gold)) r3b++
  }
  let cw = 1
  let cs = 0
  let cn = 0
  for (let d = 0; d < a.docs.length; d++) {
    const x = a.docs[d]!
    const y = b.docs[d]!
    for (let r = 0; r < x.n; r++) {
      let dot = 0
      for (let k = 0; k < x.dim; k++) dot += x.vectors[r * x.dim + k]! * y.vectors[r * x.dim + k]!
      cw = Math.min(cw, dot)
      cs += dot
      cn++
    }
  }
  const n = questions.length
  return { passages: passages.length, questions: n, top10Overlap: overlap / n, worstTop10Overlap: worst, sameTop1: sameTop1 / n, recall3Fp32: r3a / n, recall3Int8: r3b / n, tokenCosine: { worst: cw, mean: cs / cn, n: cn } }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
