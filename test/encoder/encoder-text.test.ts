/**
 * Golden vectors from TEXT: our MeCab tokenizer (with Debian's ipadic, as the golden file was made) -> encoder ->
 * vectors, every golden.json `encoding[]` case within 1e-5 absolute per component.
 */
import t from 'tap'
import { createEncoder } from '../../src/encoder/index.js'
import { GOLDEN_PATH, IPADIC_DIR, TINY_MODEL_DIR, dictionaryOnly, sharedOnly } from '../helpers/shared.js'
import { loadGolden, maxAbsDiff } from '../helpers/golden-encoding.js'

const skip = sharedOnly().skip || dictionaryOnly(IPADIC_DIR).skip
t.test('golden encoding from text through the tokenizer', { skip }, async (t) => {
  const golden = loadGolden(GOLDEN_PATH)
  const enc = await createEncoder({ modelDir: TINY_MODEL_DIR, dicdir: IPADIC_DIR, providers: ['cpu'], threads: 1, graphCacheDir: t.testdir() })
  t.teardown(() => enc.close())
  const queries = golden.encoding.filter((e) => e.kind === 'query')
  const docs = golden.encoding.filter((e) => e.kind === 'document')
  const [qOut, dOut] = await Promise.all([
    enc.encodeQueries(queries.map((e) => e.text), { returnTokens: true }),
    enc.encodeDocuments(docs.map((e) => e.text), { returnTokens: true }),
  ])
  let worst = 0
  const check = (e: (typeof queries)[number], r: (typeof qOut)[number]): void => {
    t.same([r.n, r.dim], e.shape, `${e.kind} '${e.text.slice(0, 20)}' shape`)
    worst = Math.max(worst, maxAbsDiff(r.vectors, e.vectors))
  }
  queries.forEach((e, i) => check(e, qOut[i]!))
  docs.forEach((e, i) => check(e, dOut[i]!))
  t.equal(qOut[0]!.tokens![0], '[CLS]')
  t.ok(worst < 1e-5, `all ${golden.encoding.length} cases within 1e-5 (worst ${worst.toExponential(2)})`)
})
