/**
 * The search's two big dense products, timed on the engine's WebAssembly int16 kernel and on onnxruntime's CPU
 * kernels (MLAS: AVX2 / AVX-512 / VNNI where the CPU has them), one thread each, in the same run:
 *   centroids: the centroid scores S = C·Qᵀ of one query (K × dim centroids, qlen tokens), as the centroid stage
 *              computes them (plaid-search.ts centroidScoreRows: dotTileI16 into a K × qlen tile);
 *   exact:     a query against the stacked vectors of the documents the exact stage scores (n × dim).
 * A measurement for deciding whether the search should take these products from onnxruntime (BENCHMARKS.md
 * § The reference's defaults ranked as the reference ranks, "Session 21"); nothing in the engine uses onnxruntime.
 * Rounds alternate the variants, so the ratios hold on a machine whose speed swings within minutes.
 *
 *   npx tsx bench/dense-products.ts [--k 16384] [--qlen 32] [--dim 128] [--rows 13824] [--reps 200] [--rounds 3] [--json FILE]
 *
 * onnxruntime variants: f32 C·Qᵀ (K × qlen, the engine's layout; C a constant), f32 Q·Cᵀ (qlen × K, C a constant
 * onnxruntime prepacks), u8·s8 MatMulInteger Q·Cᵀ (int32 sums; the query as uint8 with zero point 128), f32 V·Qᵀ for
 * the exact stage (both inputs vary per query). Times include onnxruntime's asynchronous `run` round trip.
 */
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import * as ort from 'onnxruntime-node'
import { createGraphBuilder, DataType, encodeModel } from '../src/model/onnx/graph-builder.js'
import { createSimdArena } from '../src/index/simd-kernels.js'
import { createPrng } from '../src/index/prng.js'

const { values } = parseArgs({
  options: {
    k: { type: 'string', default: '16384' }, qlen: { type: 'string', default: '32' }, dim: { type: 'string', default: '128' },
    rows: { type: 'string', default: '13824' }, reps: { type: 'string', default: '200' }, rounds: { type: 'string', default: '3' },
    json: { type: 'string' },
  },
})
const K = Number(values.k), Q = Number(values.qlen), D = Number(values.dim), N = Number(values.rows)
const reps = Number(values.reps), rounds = Number(values.rounds)
if (D % 8 !== 0) throw new Error('--dim must be a multiple of 8 (the int16 kernel)')

const rng = createPrng(21)
const unitRows = (n: number): Float32Array => {
  const x = new Float32Array(n * D)
  for (let r = 0; r < n; r++) {
    let s = 0
    for (let d = 0; d < D; d++) s += (x[r * D + d] = rng.next() - 0.5) ** 2
    const inv = 1 / Math.sqrt(s)
    for (let d = 0; d < D; d++) x[r * D + d] *= inv
  }
  return x
}
const transpose = (x: Float32Array, rows: number): Float32Array => {
  const t = new Float32Array(x.length)
  for (let r = 0; r < rows; r++) for (let d = 0; d < D; d++) t[d * rows + r] = x[r * D + d]
  return t
}
const C = unitRows(K), Ct = transpose(C, K), q = unitRows(Q), V = unitRows(N)
/** 8-bit steps per unit for the MatMulInteger variant (unit vectors' components stay well within ±1/4) */
const INT8_STEPS = 127 * 4

// the engine's kernel: int16 rows (× 2^14 here; the engine scales centroids and queries alike), int32 sums
const SCALE = 1 << 14
const arena = createSimdArena((K + N + Q) * D * 2 + Math.max(K, N) * Q * 4)
if (arena === null) throw new Error('WebAssembly SIMD is not available')
const cPtr = 0, vPtr = K * D * 2, qPtr = vPtr + N * D * 2, outPtr = qPtr + Q * D * 2
const toI16 = (src: Float32Array, ptr: number): void => {
  const dst = arena.i16(ptr, src.length)
  for (let i = 0; i < src.length; i++) dst[i] = Math.round(src[i] * SCALE)
}
toI16(C, cPtr)
toI16(V, vPtr)
toI16(q, qPtr)

async function session(build: (b: ReturnType<typeof createGraphBuilder>) => void): Promise<ort.InferenceSession> {
  const b = createGraphBuilder()
  build(b)
  const model = encodeModel(b.build({ graphName: 'dense-product', opsets: { '': 17 } }))
  return ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' })
}
const cqT = await session((b) => {
  b.input('qt', DataType.FLOAT, [D, Q])
  b.node('MatMul', [b.floats('c', [K, D], C), 'qt'], {}, { outputs: ['s'] })
  b.output('s', DataType.FLOAT, [K, Q])
})
const qcT = await session((b) => {
  b.input('q', DataType.FLOAT, [Q, D])
  b.node('MatMul', ['q', b.floats('ct', [D, K], Ct)], {}, { outputs: ['s'] })
  b.output('s', DataType.FLOAT, [Q, K])
})
const qcTInt = await session((b) => {
  b.input('q', DataType.UINT8, [Q, D])
  const c8 = b.int8s('ct', [D, K], Int8Array.from(Ct, (x) => Math.max(-127, Math.min(127, Math.round(x * INT8_STEPS)))))
  b.node('MatMulInteger', ['q', c8, b.uint8s('zq', [], Uint8Array.of(128))], {}, { outputs: ['s'] })
  b.output('s', DataType.INT32, [Q, K])
})
const vqT = await session((b) => {
  b.input('v', DataType.FLOAT, ['n', D])
  b.input('qt', DataType.FLOAT, [D, Q])
  b.node('MatMul', ['v', 'qt'], {}, { outputs: ['s'] })
  b.output('s', DataType.FLOAT, ['n', Q])
})
const qtTensor = new ort.Tensor('float32', transpose(q, Q), [D, Q])
const qTensor = new ort.Tensor('float32', q, [Q, D])
const qU8 = new ort.Tensor('uint8', Uint8Array.from(q, (x) => Math.max(0, Math.min(255, Math.round(128 + x * INT8_STEPS)))), [Q, D])
const vTensor = new ort.Tensor('float32', V, [N, D])

type Variant = { name: string; stage: 'centroids' | 'exact'; run: () => Promise<unknown> | unknown }
const variants: Variant[] = [
  { name: 'wasm int16 C·Qᵀ', stage: 'centroids', run: () => arena.dotTileI16(cPtr, K, qPtr, Q, D, outPtr, 1 / (SCALE * SCALE)) },
  { name: 'onnxruntime f32 C·Qᵀ', stage: 'centroids', run: () => cqT.run({ qt: qtTensor }) },
  { name: 'onnxruntime f32 Q·Cᵀ', stage: 'centroids', run: () => qcT.run({ q: qTensor }) },
  { name: 'onnxruntime u8·s8 Q·Cᵀ', stage: 'centroids', run: () => qcTInt.run({ q: qU8 }) },
  { name: 'wasm int16 V·Qᵀ', stage: 'exact', run: () => arena.dotTileI16(vPtr, N, qPtr, Q, D, outPtr, 1 / (SCALE * SCALE)) },
  { name: 'onnxruntime f32 V·Qᵀ', stage: 'exact', run: () => vqT.run({ v: vTensor, qt: qtTensor }) },
]

// the variants compute the same products (float32 and int8 rounding aside): checked before timing them
const gap = (wasmRows: number, ptr: number, got: Float32Array | Int32Array, transposed: boolean, scale: number): number => {
  arena.dotTileI16(ptr, wasmRows, qPtr, Q, D, outPtr, 1 / (SCALE * SCALE))
  const ours = arena.f32(outPtr, wasmRows * Q)
  let worst = 0
  for (let r = 0; r < wasmRows; r++) for (let j = 0; j < Q; j++) {
    worst = Math.max(worst, Math.abs(ours[r * Q + j] - scale * got[transposed ? j * wasmRows + r : r * Q + j]))
  }
  return worst
}
const agreement = {
  'onnxruntime f32 C·Qᵀ': gap(K, cPtr, (await cqT.run({ qt: qtTensor })).s.data as Float32Array, false, 1),
  'onnxruntime f32 Q·Cᵀ': gap(K, cPtr, (await qcT.run({ q: qTensor })).s.data as Float32Array, true, 1),
  // int8 centroids × (uint8 query − 128), both at INT8_STEPS per unit
  'onnxruntime u8·s8 Q·Cᵀ': gap(K, cPtr, (await qcTInt.run({ q: qU8 })).s.data as Int32Array, true, 1 / INT8_STEPS ** 2),
  'onnxruntime f32 V·Qᵀ': gap(N, vPtr, (await vqT.run({ v: vTensor, qt: qtTensor })).s.data as Float32Array, false, 1),
}
for (const [name, worst] of Object.entries(agreement)) {
  const bound = name.includes('u8') ? 0.05 : 1e-3
  if (!(worst <= bound)) throw new Error(`${name} differs from the int16 kernel by ${worst} (> ${bound}): not the same product`)
}

const times = new Map<string, number[]>(variants.map((v) => [v.name, []]))
for (const v of variants) for (let i = 0; i < 20; i++) await v.run() // warm-up (prepacking, JIT)
for (let r = 0; r < rounds; r++) {
  for (const v of variants) {
    const t = times.get(v.name)!
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now()
      await v.run()
      t.push(performance.now() - t0)
    }
  }
}
const median = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1]!
const rowsOut = variants.map((v) => {
  const p50 = median(times.get(v.name)!)
  const base = median(times.get(variants.find((b) => b.stage === v.stage)!.name)!)
  const macs = (v.stage === 'centroids' ? K : N) * Q * D
  return { stage: v.stage, variant: v.name, p50_ms: p50, speedup_vs_wasm: base / p50, g_mac_per_s: macs / p50 / 1e6 }
})
console.log(`dense products, one thread, ${rounds} rounds × ${reps}: centroids ${K} × ${D} × ${Q}, exact ${N} × ${D} × ${Q}\n`)
console.log('| stage | variant | p50 ms | × the wasm kernel | G multiply-adds/s | largest difference from the wasm kernel |')
console.log('|---|---|---|---|---|---|')
for (const r of rowsOut) {
  const d = (agreement as Record<string, number>)[r.variant]
  console.log(`| ${r.stage} | ${r.variant} | ${r.p50_ms.toFixed(3)} | ${r.speedup_vs_wasm.toFixed(2)} | ${r.g_mac_per_s.toFixed(1)} | ${d === undefined ? '–' : d.toExponential(1)} |`)
}
if (values.json) writeFileSync(values.json, JSON.stringify({ date: new Date().toISOString(), k: K, qlen: Q, dim: D, rows: N, reps, rounds, results: rowsOut, largest_difference: agreement }, null, 2) + '\n')
