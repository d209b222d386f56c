/** createEncoder with precision int8 (ENCODER_PRECISION=int8): the CPU provider runs the int8 graph; CUDA keeps fp16. */
import t from 'tap'
import { join } from 'node:path'
import { createEncoder } from '../../src/encoder/index.js'
import { variantFor } from '../../src/encoder/graph-selection.js'
import { signedInt8GemmIsExact } from '../../src/encoder/int8-gemm-probe.js'
import { makeRandomCheckpoint } from '../helpers/make-checkpoint.js'
import { syntheticTokenizer } from '../helpers/synthetic-tokenizer.js'

t.test('variant per provider and precision', async (t) => {
  t.equal(variantFor('cpu'), 'fp32-fused')
  t.equal(variantFor('cpu', undefined, 'int8'), 'int8-fused')
  t.equal(variantFor('cpu', undefined, 'int8', false), 'int8-u8u8-fused', 'unsigned weights where u8·s8 GEMMs saturate')
  t.equal(variantFor('cpu', undefined, 'fp32', false), 'fp32-fused')
  t.equal(variantFor('cuda', undefined, 'int8'), 'fp16-fused', 'int8 is a CPU-provider setting')
  t.equal(variantFor('cpu', 'fp32', 'int8'), 'fp32', 'an explicit variant wins')
})

t.test('precision int8 loads the int8 graph and gives vectors close to fp32 ones', async (t) => {
  const dir = await makeRandomCheckpoint(join(t.testdir(), 'm'), { vocabSize: 200, hidden: 64, heads: 4, intermediate: 256, layers: 2, dim: 16, docMaxlen: 300, std: 0.02 }) // BERT's initializer_range; see BENCHMARKS.md for how larger weights (sharper attention) widen the int8 error
  const logs: Array<Record<string, unknown>> = []
  const logger = { info: (o: object) => void logs.push(o as Record<string, unknown>), warn() {} }
  const common = { modelDir: dir, providers: ['cpu'], threads: 1, tokenizer: syntheticTokenizer(16, 200) }
  const fp32 = await createEncoder(common)
  t.teardown(() => fp32.close())
  const int8 = await createEncoder({ ...common, precision: 'int8', logger })
  t.teardown(() => int8.close())
  const expected = (await signedInt8GemmIsExact()) ? 'int8-fused' : 'int8-u8u8-fused'
  t.ok(logs.some((o) => o.variant === expected && typeof o.graph === 'string' && (o.graph as string).includes(`${expected}-`)), `the ${expected} graph, the one this CPU runs exactly, is converted and cached`)
  const texts = ['300:1', '120:2', '40:3']
  const a = await fp32.encodeDocuments(texts)
  const b = await int8.encodeDocuments(texts)
  let worst = 1
  let differs = false
  for (let i = 0; i < texts.length; i++) {
    t.equal(b[i]!.n, a[i]!.n)
    for (let r = 0; r < a[i]!.n; r++) {
      let dot = 0
      for (let k = 0; k < 16; k++) {
        dot += a[i]!.vectors[r * 16 + k]! * b[i]!.vectors[r * 16 + k]!
        if (a[i]!.vectors[r * 16 + k] !== b[i]!.vectors[r * 16 + k]) differs = true
      }
      worst = Math.min(worst, dot)
    }
  }
  t.ok(differs, 'int8 vectors are not the fp32 ones (the int8 graph really ran)')
  t.ok(worst > 0.98, `cosine per token vs fp32 ≥ 0.98 (worst ${worst.toFixed(5)})`)
})
