/**
 * Does onnxruntime's u8·s8 integer GEMM give exact sums on this CPU?
 *
 * The int8-fused graph quantises activations to uint8 and weights to int8. onnxruntime (MLAS) computes u8·s8 with
 * VNNI (vpdpbusd: four products summed straight into int32) where the CPU has AVX-512 VNNI or AVX-VNNI; without it,
 * on AVX2 or AVX-512 without VNNI, it uses vpmaddubsw, which adds two u8·s8 products in int16 with saturation:
 * 255·127 + 255·127 = 64770 becomes 32767. Measured on an AVX2 host (and on this project's CI), that took the tiny
 * model's worst token cosine against the reference from 0.9995 to 0.973. Unsigned weights with a zero point (u8·u8)
 * are widened to int16 before multiplying on every x86 path, so they stay exact, at ~0.6× the VNNI speed.
 *
 * Rather than guess the kernel from CPU flags (which a VM or an emulator may misreport), ask the runtime: one
 * MatMulInteger whose pairs of products overflow int16, compared with the exact sum. Once per process, ~100 ms (most of
 * it loading onnxruntime on the main thread), and only with ENCODER_PRECISION=int8.
 */
import { createGraphBuilder, DataType, encodeModel } from '../model/onnx/graph-builder.js'

// Shaped like a small real GEMM so MLAS takes its packed-kernel path, not a special case for tiny matrices.
const M = 16
const K = 64
const N = 32
const A_VALUE = 255
const B_VALUE = 127

function probeModel(): Uint8Array {
  const g = createGraphBuilder()
  g.input('a', DataType.UINT8, [M, K])
  g.int8s('b', [K, N], new Int8Array(K * N).fill(B_VALUE))
  g.node('MatMulInteger', ['a', 'b'], {}, { outputs: ['sums'] })
  g.output('sums', DataType.INT32, [M, N])
  return encodeModel(g.build({ graphName: 'u8s8-probe', opsets: { '': 17 } }))
}

let cached: Promise<boolean> | undefined

/** true when every u8·s8 sum comes back exact (VNNI, or a CPU that is not x86); false when int16 pairs saturate. */
export function signedInt8GemmIsExact(): Promise<boolean> {
  cached ??= (async () => {
    const ort = await import('onnxruntime-node')
    const session = await ort.InferenceSession.create(probeModel(), { executionProviders: ['cpu'], intraOpNumThreads: 1, graphOptimizationLevel: 'disabled' })
    try {
      const a = new ort.Tensor('uint8', new Uint8Array(M * K).fill(A_VALUE), [M, K])
      const sums = (await session.run({ a })).sums!.data as Int32Array
      const exact = A_VALUE * B_VALUE * K
      return sums.every((s) => s === exact)
    } finally {
      await session.release()
    }
  })()
  return cached
}
