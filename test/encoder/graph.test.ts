/**
 * The converted ONNX graphs, run directly with onnxruntime (no batching layer): golden vectors from ids for every
 * CPU variant, dtype round trips (F16/BF16 checkpoints vs. F32 ones holding the same values), and the graph cache.
 */
import t from 'tap'
import { join } from 'node:path'
import { statSync, writeFileSync, readFileSync } from 'node:fs'
import * as ort from 'onnxruntime-node'
import onnxProto from 'onnx-proto'
import { ensureConvertedGraph } from '../../src/model/onnx/onnx-cache.js'
import type { GraphVariant } from '../../src/model/onnx/colbert-graph.js'
import { parseSafetensors, encodeSafetensors } from '../../src/model/safetensors.js'
import { GOLDEN_PATH, TINY_MODEL_DIR, sharedOnly } from '../helpers/shared.js'
import { makeRandomCheckpoint } from '../helpers/make-checkpoint.js'
import { loadGolden, maxAbsDiff } from '../helpers/golden-encoding.js'
import { goldenAgreement } from '../helpers/int8-golden.js'
import { signedInt8GemmIsExact } from '../../src/encoder/int8-gemm-probe.js'

async function runGraph(path: string, ids: number[][], masks: number[][]): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const s = await ort.InferenceSession.create(path, { executionProviders: ['cpu'], intraOpNumThreads: 1 })
  const B = ids.length
  const S = ids[0]!.length
  const feeds = {
    input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.flat().map(BigInt)), [B, S]),
    attention_mask: new ort.Tensor('int64', BigInt64Array.from(masks.flat().map(BigInt)), [B, S]),
  }
  const out = (await s.run(feeds)).vectors!
  await s.release()
  return { data: out.data as Float32Array, dims: out.dims }
}

for (const variant of ['fp32', 'fp32-fused'] as GraphVariant[]) {
  t.test(`golden vectors from ids (${variant})`, sharedOnly(), async (t) => {
    const golden = loadGolden(GOLDEN_PATH)
    const skip = new Set(golden.skiplist_ids)
    const g = await ensureConvertedGraph(TINY_MODEL_DIR, variant, { cacheDir: t.testdir() })
    let worst = 0
    for (const e of golden.encoding) {
      const { data, dims } = await runGraph(g.path, [e.ids], [e.attention_mask])
      const dim = dims[2]!
      const rows = e.ids.map((_, i) => i).filter((i) => e.kind === 'query' || (e.attention_mask[i] && !skip.has(e.ids[i]!)))
      t.equal(rows.length, e.shape[0], `${e.kind} row count`)
      const got = new Float32Array(rows.length * dim)
      rows.forEach((r, j) => got.set(data.subarray(r * dim, (r + 1) * dim), j * dim))
      worst = Math.max(worst, maxAbsDiff(got, e.vectors))
    }
    t.ok(worst < 1e-5, `all ${golden.encoding.length} cases within 1e-5 (worst ${worst.toExponential(2)})`)
  })
}

t.test('the fp16 graph (for CUDA) runs on the CPU provider within 2e-3 of golden', sharedOnly(), async (t) => {
  // No CUDA provider here; onnxruntime's CPU kernels for these com.microsoft ops accept fp16, so this checks the fp16
  // graph's structure and the precision lost by fp16 weights/activations (CUDA's kernels may round differently).
  const golden = loadGolden(GOLDEN_PATH)
  const skip = new Set(golden.skiplist_ids)
  const g = await ensureConvertedGraph(TINY_MODEL_DIR, 'fp16-fused', { cacheDir: t.testdir() })
  let worst = 0
  for (const e of golden.encoding) {
    const { data, dims } = await runGraph(g.path, [e.ids], [e.attention_mask])
    const dim = dims[2]!
    const rows = e.ids.map((_, i) => i).filter((i) => e.kind === 'query' || (e.attention_mask[i] && !skip.has(e.ids[i]!)))
    const got = new Float32Array(rows.length * dim)
    rows.forEach((r, j) => got.set(data.subarray(r * dim, (r + 1) * dim), j * dim))
    worst = Math.max(worst, maxAbsDiff(got, e.vectors))
  }
  t.ok(worst < 2e-3 && worst > 1e-6, `fp16 graph within 2e-3 of golden (worst ${worst.toExponential(2)})`)
})

t.test('F16 and BF16 checkpoints convert to the same graph outputs as F32 ones with the same values', async (t) => {
  const root = t.testdir()
  const opts = { vocabSize: 64, hidden: 16, heads: 2, intermediate: 32, layers: 2, dim: 8, seed: 99 }
  const ids = [[2, 5, 10, 11, 12, 3, 0, 0], [2, 5, 40, 41, 3, 4, 4, 4]]
  const masks = [[1, 1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 0, 0, 0]]
  for (const dtype of ['F16', 'BF16'] as const) {
    const low = await makeRandomCheckpoint(join(root, dtype), { ...opts, dtype })
    // The F32 twin holds exactly the values the low-precision file decodes to.
    const decoded = parseSafetensors(readFileSync(join(low, 'model.safetensors')))
    const twin = await makeRandomCheckpoint(join(root, `${dtype}-as-f32`), opts)
    writeFileSync(join(twin, 'model.safetensors'), encodeSafetensors([...decoded.tensors.values()].map((i) => ({ name: i.name, dtype: 'F32' as const, shape: i.shape, data: decoded.getFloat32(i.name) }))))
    const a = await runGraph((await ensureConvertedGraph(low, 'fp32-fused')).path, ids, masks)
    const b = await runGraph((await ensureConvertedGraph(twin, 'fp32-fused')).path, ids, masks)
    t.same(a.dims, [2, 8, 8])
    t.equal(maxAbsDiff(a.data, Array.from(b.data)), 0, `${dtype}: identical outputs`)
    // and the low-precision model is a close approximation of the original random F32 one
    const orig = await makeRandomCheckpoint(join(root, `${dtype}-orig`), opts)
    const c = await runGraph((await ensureConvertedGraph(orig, 'fp32')).path, ids, masks)
    const d = maxAbsDiff(a.data, Array.from(c.data))
    t.ok(d > 0 && d < (dtype === 'F16' ? 5e-3 : 5e-2), `${dtype} vs F32 original: ${d.toExponential(2)}`)
  }
})

t.test('fused and plain graphs agree on a random checkpoint; outputs are unit vectors', async (t) => {
  const dir = await makeRandomCheckpoint(join(t.testdir(), 'm'), { vocabSize: 64, hidden: 24, heads: 3, intermediate: 40, layers: 3, dim: 6, seed: 5 })
  const ids = [[2, 5, 7, 8, 9, 10, 3], [2, 6, 20, 3, 0, 0, 0]]
  const masks = [[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0, 0]]
  const a = await runGraph((await ensureConvertedGraph(dir, 'fp32')).path, ids, masks)
  const b = await runGraph((await ensureConvertedGraph(dir, 'fp32-fused')).path, ids, masks)
  t.ok(maxAbsDiff(a.data, Array.from(b.data)) < 1e-5, 'fp32 == fp32-fused')
  for (let r = 0; r < 14; r++) {
    let s = 0
    for (let d = 0; d < 6; d++) s += a.data[r * 6 + d]! ** 2
    t.ok(Math.abs(Math.sqrt(s) - 1) < 1e-5, `row ${r} has norm 1`)
  }
})

t.test('graph cache: second call reuses the file; changed weights give a new key', async (t) => {
  const dir = await makeRandomCheckpoint(join(t.testdir(), 'm'), { vocabSize: 64, hidden: 16, heads: 2, intermediate: 32, layers: 1, dim: 8 })
  const first = await ensureConvertedGraph(dir, 'fp32-fused')
  t.equal(first.converted, true)
  t.equal(first.path, join(dir, 'onnx', `fp32-fused-${first.key}.onnx`), 'cached beside the checkpoint')
  const mtime = statSync(first.path).mtimeMs
  const second = await ensureConvertedGraph(dir, 'fp32-fused')
  t.equal(second.converted, false)
  t.equal(second.path, first.path)
  t.equal(statSync(first.path).mtimeMs, mtime, 'not rewritten')
  const other = await ensureConvertedGraph(dir, 'fp16-fused')
  t.not(other.key, first.key, 'variant is part of the key')
  await makeRandomCheckpoint(dir, { vocabSize: 64, hidden: 16, heads: 2, intermediate: 32, layers: 1, dim: 8, seed: 4242 })
  const third = await ensureConvertedGraph(dir, 'fp32-fused')
  t.equal(third.converted, true)
  t.not(third.key, first.key, 'new weights, new key')
  const { existsSync } = await import('node:fs')
  t.notOk(existsSync(first.path), 'the stale fp32-fused graph was removed')
  t.ok(existsSync(other.path), 'other variants are left alone')
})

t.test('a read-only checkpoint folder is never written; the cache falls back to the temp folder', async (t) => {
  const { chmodSync, readdirSync } = await import('node:fs')
  const dir = await makeRandomCheckpoint(join(t.testdir(), 'ro'), { vocabSize: 64, hidden: 16, heads: 2, intermediate: 32, layers: 1, dim: 8, seed: 31 })
  chmodSync(dir, 0o555)
  try {
    const g = await ensureConvertedGraph(dir, 'fp32')
    t.notOk(g.path.startsWith(dir), `cached elsewhere: ${g.path}`)
    t.notOk(readdirSync(dir).includes('onnx'), 'no onnx folder created in the checkpoint')
  } finally {
    chmodSync(dir, 0o755)
  }
})

const INT8_WEIGHT_TYPE = { 'int8-fused': onnxProto.onnx.TensorProto.DataType.INT8, 'int8-u8u8-fused': onnxProto.onnx.TensorProto.DataType.UINT8 } as const

for (const variant of ['int8-fused', 'int8-u8u8-fused'] as const) {
  t.test(`the ${variant} graph (ENCODER_PRECISION=int8): 8-bit weights, integer ops, vectors close to golden`, sharedOnly(), async (t) => {
    const signedExact = await signedInt8GemmIsExact()
    const a = await goldenAgreement(variant, t.testdir())
    const model = onnxProto.onnx.ModelProto.decode(readFileSync(a.graphPath))
    const ops = new Set(model.graph!.node!.map((n) => n.opType))
    t.ok(ops.has('QAttention') && ops.has('DynamicQuantizeMatMul'), `quantised ops in the graph (${[...ops].join(', ')})`)
    t.notOk(ops.has('Attention'), 'no float attention projection left')
    const weights = model.graph!.initializer!.filter((i) => i.dataType === INT8_WEIGHT_TYPE[variant] && i.dims!.length === 2)
    // 2 layers x (QKV, attention output, FFN in, FFN out)
    t.equal(weights.length, 8, 'every encoder-layer weight matrix stored as 8-bit integers')
    t.comment(`${variant} vs float64 golden: cosine per token worst ${a.worstCos.toFixed(5)}, mean ${a.meanCos.toFixed(5)} over ${a.tokens} tokens`)
    t.ok(a.worstAbs > 1e-5, `it really is quantised (differs from golden by up to ${a.worstAbs.toExponential(2)})`)
    if (variant === 'int8-fused' && !signedExact) {
      t.comment(`this CPU's u8·s8 GEMM saturates (no VNNI), so the encoder runs int8-u8u8-fused here; int8-fused's accuracy is checked on VNNI CPUs only (worst ${a.worstCos.toFixed(5)} here)`)
      return
    }
    t.ok(a.worstCos > 0.98, `every token vector within cosine 0.98 of golden (worst ${a.worstCos.toFixed(5)})`)
    t.ok(a.meanCos > 0.995, `mean cosine > 0.995 (${a.meanCos.toFixed(5)})`)
  })
}
