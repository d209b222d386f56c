/**
 * The encoder end to end (worker threads, batching, post-processing), with a tokenizer that replays golden ids so
 * these checks do not depend on MeCab; encoder-text.test.ts does the same from text through the real tokenizer.
 */
import t from 'tap'
import { join } from 'node:path'
import { createEncoder } from '../../src/encoder/index.js'
import { AppError } from '../../src/errors.js'
import { GOLDEN_PATH, TINY_MODEL_DIR, sharedOnly } from '../helpers/shared.js'
import { makeRandomCheckpoint } from '../helpers/make-checkpoint.js'
import { goldenTokenizer, loadGolden, maxAbsDiff } from '../helpers/golden-encoding.js'
import { syntheticTokenizer } from '../helpers/synthetic-tokenizer.js'

t.test('golden vectors through the encoder (ids replayed), one concurrent burst', sharedOnly(), async (t) => {
  const golden = loadGolden(GOLDEN_PATH)
  const events: Array<{ kind: string; texts: number }> = []
  const enc = await createEncoder({
    modelDir: TINY_MODEL_DIR, providers: ['cpu'], threads: 1, graphCacheDir: t.testdir(),
    tokenizer: goldenTokenizer(golden, join(TINY_MODEL_DIR, 'artifact.metadata')), onBatch: (e) => events.push(e),
  })
  t.teardown(() => enc.close())
  t.equal(enc.provider, 'cpu')
  t.equal(enc.dim, 16)
  const results = await Promise.all(golden.encoding.map((e) => (e.kind === 'query' ? enc.encodeQueries([e.text]) : enc.encodeDocuments([e.text])).then((r) => r[0]!)))
  let worst = 0
  golden.encoding.forEach((e, i) => {
    const r = results[i]!
    t.same([r.n, r.dim], e.shape, `${e.kind} ${i} shape`)
    worst = Math.max(worst, maxAbsDiff(r.vectors, e.vectors))
  })
  t.ok(worst < 1e-5, `all ${golden.encoding.length} within 1e-5 (worst ${worst.toExponential(2)})`)
  t.ok(events.length < golden.encoding.length, `concurrent requests were batched (${events.length} batches)`)
  t.ok(events.every((e) => e.kind === 'query' || e.kind === 'document'))
})

t.test('batching invariance: alone, with longer texts, in other orders', async (t) => {
  const dir = await makeRandomCheckpoint(join(t.testdir(), 'm'), { vocabSize: 200, hidden: 32, heads: 4, intermediate: 64, layers: 2, dim: 16, docMaxlen: 300 })
  const enc = await createEncoder({ modelDir: dir, providers: ['cpu'], threads: 1, tokenizer: syntheticTokenizer(16, 200), batchWaitMs: 20 })
  t.teardown(() => enc.close())
  const texts = ['12:1', '40:2', '7:3', '150:4', '33:5', '90:6']
  const alone = []
  for (const x of texts) alone.push((await enc.encodeDocuments([x]))[0]!)
  const together = await enc.encodeDocuments(texts)
  const reversed = (await enc.encodeDocuments([...texts].reverse())).reverse()
  const concurrent = await Promise.all(texts.map((x) => enc.encodeDocuments([x]).then((r) => r[0]!)))
  let worst = 0
  for (let i = 0; i < texts.length; i++) {
    const n = Number(texts[i]!.split(':')[0])
    const punct = Math.floor((n - 1) / 7) - (n - 1 >= 7 && (n - 1) % 7 === 0 ? 1 : 0)
    t.equal(alone[i]!.n, n - punct, `${texts[i]}: punctuation vectors dropped`)
    for (const other of [together[i]!, reversed[i]!, concurrent[i]!]) {
      t.equal(other.n, alone[i]!.n)
      worst = Math.max(worst, maxAbsDiff(other.vectors, Array.from(alone[i]!.vectors)))
    }
  }
  t.ok(worst < 1e-6, `identical within 1e-6 (worst ${worst.toExponential(2)})`)
  const q = await enc.encodeQueries(['20:9'], { returnTokens: true })
  t.equal(q[0]!.n, 20, 'queries keep every position')
  t.equal(q[0]!.tokens!.length, 20)
  const d = await enc.encodeDocuments(['15:9'], { returnTokens: true })
  t.equal(d[0]!.tokens!.length, d[0]!.n, 'document tokens match kept vectors')
  t.notOk(d[0]!.tokens!.includes('10'), 'punctuation token dropped')
})

t.test('the event loop stays responsive while a 64-document batch encodes', async (t) => {
  // Big enough that one 64 x 300 batch takes a good fraction of a second on one thread.
  const dir = await makeRandomCheckpoint(join(t.testdir(), 'm'), { vocabSize: 200, hidden: 128, heads: 4, intermediate: 512, layers: 2, dim: 16 })
  const batches: number[] = []
  const enc = await createEncoder({ modelDir: dir, providers: ['cpu'], threads: 1, tokenizer: syntheticTokenizer(16, 200), maxBatchTokens: 64 * 300, onBatch: (e) => batches.push(e.texts) })
  t.teardown(() => enc.close())
  await enc.encodeDocuments(['300:1']) // warm-up: first run allocates ORT's arenas
  batches.length = 0
  let worstLag = 0
  let ticks = 0
  let last = performance.now()
  const iv = setInterval(() => {
    const now = performance.now()
    worstLag = Math.max(worstLag, now - last - 5)
    last = now
    ticks++
  }, 5)
  // A "health request": how long until a timer scheduled mid-encode fires.
  const t0 = performance.now()
  const work = enc.encodeDocuments(Array.from({ length: 64 }, (_, i) => `300:${i + 1}`))
  const healthDelays: number[] = []
  for (let k = 0; k < 5; k++) {
    await new Promise((r) => setTimeout(r, 20))
    const s = performance.now()
    await new Promise((r) => setImmediate(r))
    healthDelays.push(performance.now() - s)
  }
  const out = await work
  const encodeMs = performance.now() - t0
  clearInterval(iv)
  t.equal(out.length, 64)
  t.same(batches, [64], 'one batch of 64 documents')
  t.ok(encodeMs > 100, `the encode took long enough to matter (${encodeMs.toFixed(0)} ms)`)
  t.ok(worstLag < 50, `worst timer lag ${worstLag.toFixed(1)} ms < 50 ms over ${ticks} ticks`)
  t.ok(Math.max(...healthDelays) < 50, `health-like callbacks answered in ${Math.max(...healthDelays).toFixed(1)} ms`)
})

t.test('a full queue rejects with OVERLOADED and a retry hint', async (t) => {
  const dir = await makeRandomCheckpoint(join(t.testdir(), 'm'), { vocabSize: 200, hidden: 64, heads: 4, intermediate: 128, layers: 2, dim: 16 })
  const enc = await createEncoder({ modelDir: dir, providers: ['cpu'], threads: 1, tokenizer: syntheticTokenizer(16, 200), maxQueueTexts: 8, maxBatchTokens: 300 })
  t.teardown(() => enc.close())
  const first = enc.encodeDocuments(Array.from({ length: 8 }, (_, i) => `300:${i + 1}`))
  await new Promise((r) => setImmediate(r))
  t.ok(enc.queueDepth() > 0, `queue depth ${enc.queueDepth()}`)
  try {
    await enc.encodeDocuments(Array.from({ length: 8 }, (_, i) => `300:${i + 1}`))
    t.fail('expected OVERLOADED')
  } catch (e) {
    t.ok(e instanceof AppError && e.code === 'OVERLOADED', 'OVERLOADED')
    const s = (e as AppError).details?.retryAfterS as number
    t.ok(Number.isInteger(s) && s >= 1, `retryAfterS ${s}`)
  }
  t.equal((await first).length, 8, 'queued work still completes')
  t.equal(enc.queueDepth(), 0)
})

t.test('providers: cuda without its library falls back to cpu with a warning; nothing usable is an error', async (t) => {
  const dir = await makeRandomCheckpoint(join(t.testdir(), 'm'), { vocabSize: 200, hidden: 16, heads: 2, intermediate: 32, layers: 1, dim: 8 })
  const warnings: string[] = []
  const infos: string[] = []
  const logger = { info: (_o: object, m?: string) => infos.push(m ?? ''), warn: (_o: object, m?: string) => warnings.push(m ?? '') }
  const enc = await createEncoder({ modelDir: dir, providers: ['cuda', 'cpu'], threads: 1, tokenizer: syntheticTokenizer(8, 200), logger })
  t.teardown(() => enc.close())
  t.equal(enc.provider, 'cpu')
  t.ok(warnings.some((w) => /cuda/.test(w)), `warned: ${warnings.join(' | ')}`)
  t.ok(infos.some((m) => /encoder running on cpu/.test(m)), 'logged the provider that runs')
  try {
    await createEncoder({ modelDir: dir, providers: ['tpu'], tokenizer: syntheticTokenizer(8, 200) })
    t.fail('expected an error')
  } catch (e) {
    t.match((e as Error).message, /none of the execution providers tpu/)
  }
})
