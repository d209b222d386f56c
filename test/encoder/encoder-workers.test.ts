/**
 * The encoder's multi-worker paths (ENCODER_WORKERS > 1): the same vectors as one worker, both workers really used,
 * and a worker that dies for real in the middle of a batch fails only that batch and is replaced.
 */
import t from 'tap'
import { join } from 'node:path'
import { createEncoder, type EncodedText } from '../../src/encoder/index.js'
import { AppError } from '../../src/errors.js'
import type { ColbertTokenizer } from '../../src/tokenizer/colbert-tokenizer.js'
import { makeRandomCheckpoint } from '../helpers/make-checkpoint.js'
import { syntheticTokenizer } from '../helpers/synthetic-tokenizer.js'

const MODEL = { vocabSize: 200, hidden: 64, heads: 4, intermediate: 128, layers: 2, dim: 16, docMaxlen: 300 }
/** Never produced by syntheticTokenizer (ids 2, 3, 5, 6, 10 and 11..vocab-1): only the 'crash' text carries it. */
const CRASH_ID = 4

function crashingTokenizer(): ColbertTokenizer {
  const base = syntheticTokenizer(16, 200)
  return {
    ...base,
    tokenizeDocument: (x) => {
      if (x !== 'crash') return base.tokenizeDocument(x)
      const tok = base.tokenizeDocument('120:77')
      tok.ids[5] = CRASH_ID
      return tok
    },
  }
}

const same = (a: EncodedText, b: EncodedText): boolean => a.n === b.n && a.vectors.length === b.vectors.length && a.vectors.every((v, i) => v === b.vectors[i])

t.test('ENCODER_WORKERS=3 gives the vectors of one worker, bit for bit, and uses every worker', async (t) => {
  const dir = await makeRandomCheckpoint(join(t.testdir(), 'm'), MODEL)
  // One text per batch (maxBatchTokens = the longest text) so batch composition cannot differ between the pools.
  const common = { modelDir: dir, providers: ['cpu'], threads: 1, tokenizer: syntheticTokenizer(16, 200), maxBatchTokens: 300 }
  const one = await createEncoder({ ...common, workers: 1 })
  t.teardown(() => one.close())
  const used = new Set<number>()
  const three = await createEncoder({ ...common, workers: 3, onBatch: (e) => used.add(e.worker) })
  t.teardown(() => three.close())
  const texts = Array.from({ length: 24 }, (_, i) => `${40 + ((i * 37) % 260)}:${i + 1}`)
  const ref = await Promise.all(texts.map((x) => one.encodeDocuments([x]).then((r) => r[0]!)))
  const got = await Promise.all(texts.map((x) => three.encodeDocuments([x]).then((r) => r[0]!)))
  const refQ = await one.encodeQueries(['32:5', '20:6'])
  const gotQ = await Promise.all(['32:5', '20:6'].map((x) => three.encodeQueries([x]).then((r) => r[0]!)))
  t.equal(got.filter((g, i) => same(g, ref[i]!)).length, texts.length, 'every document vector identical to the one-worker encoder')
  t.ok(gotQ.every((g, i) => same(g, refQ[i]!)), 'query vectors identical')
  t.equal(used.size, 3, `batches ran on ${used.size} distinct workers`)
})

t.test('a worker that dies mid-batch fails only its batch, with a clear error, and is replaced', async (t) => {
  const dir = await makeRandomCheckpoint(join(t.testdir(), 'm'), MODEL)
  const used: number[] = []
  const warnings: string[] = []
  const enc = await createEncoder({
    modelDir: dir, providers: ['cpu'], threads: 1, workers: 2, tokenizer: crashingTokenizer(), maxBatchTokens: 300,
    testWorkerExitOnTokenId: CRASH_ID, onBatch: (e) => used.push(e.worker),
    logger: { info() {}, warn: (_o, msg) => void warnings.push(msg ?? '') },
  })
  t.teardown(() => enc.close())
  const texts = Array.from({ length: 8 }, (_, i) => `300:${i + 1}`)
  const ref = await Promise.all(texts.map((x) => enc.encodeDocuments([x]).then((r) => r[0]!)))
  const before = new Set(used)
  t.equal(before.size, 2, 'both workers ran batches before the crash')

  // The crash batch is dispatched among others; its worker exits while the others keep running.
  const results = await Promise.allSettled([...texts.slice(0, 4), 'crash', ...texts.slice(4)].map((x) => enc.encodeDocuments([x]).then((r) => r[0]!)))
  const crash = results[4]!
  t.equal(crash.status, 'rejected', 'the crashed batch fails')
  const err = (crash as PromiseRejectedResult).reason as AppError
  t.ok(err instanceof AppError && err.code === 'ENCODER_FAILED', `ENCODER_FAILED (${err.code})`)
  t.match(err.message, /encoder worker stopped: worker exited with code 3/, 'the message says the worker stopped')
  const others = results.filter((_, i) => i !== 4)
  t.ok(others.every((r) => r.status === 'fulfilled'), 'every other batch succeeds')
  const values = others.map((r) => (r as PromiseFulfilledResult<EncodedText>).value)
  t.ok(values.every((v, i) => same(v, ref[i]!)), 'and returns the same vectors as before the crash')
  t.ok(warnings.includes('encoder worker stopped; starting a new one'), 'the crash is logged')

  // The replacement starts in the background; wait until a batch runs on a worker id not seen before.
  const deadline = Date.now() + 60_000
  let fresh: number[] = []
  while (Date.now() < deadline && !fresh.length) {
    used.length = 0
    await Promise.all(texts.slice(0, 4).map((x) => enc.encodeDocuments([x])))
    fresh = used.filter((w) => !before.has(w))
  }
  t.ok(fresh.length > 0, `a new worker (id ${fresh[0]}) runs batches`)
  used.length = 0
  const again = await Promise.all(texts.map((x) => enc.encodeDocuments([x]).then((r) => r[0]!)))
  t.ok(again.every((v, i) => same(v, ref[i]!)), 'the pool gives the same vectors after the replacement')
  t.equal(new Set(used).size, 2, 'two workers serve again')
})
