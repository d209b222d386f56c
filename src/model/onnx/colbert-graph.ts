/**
 * Writes the whole ColBERT encoder as one ONNX graph: input_ids, attention_mask [batch, seq] int64 -> `vectors`
 * [batch, seq, dim] float32, L2-normalised (BERT embeddings + LayerNorm, N post-LN encoder layers, linear without bias,
 * x / max(||x||, 1e-12)). Every position gets a vector; the encoder drops padding/punctuation afterwards.
 *
 * Variants:
 *  - `fp32`: standard ONNX ops only (opset 17: MatMul, Softmax, LayerNormalization, Erf, ...). Portable reference.
 *  - `fp32-fused`: onnxruntime's com.microsoft ops (EmbedLayerNormalization, Attention, SkipLayerNormalization,
 *    BiasGelu), which the CPU and CUDA providers implement as single kernels.
 *  - `fp16-fused`: the fused graph with fp16 weights and activations for CUDA; the final projection and normalisation
 *    run in fp32 (a Cast before `linear`) so the unit vectors keep float32 precision.
 *  - `int8-fused`: the fused graph for the CPU provider with the encoder layers' weights quantised to int8 (symmetric,
 *    one scale per output column) and activations quantised per tensor at run time: QAttention for the Q/K/V
 *    projection and DynamicQuantizeMatMul for the attention output and both FFN matrices, which onnxruntime runs as
 *    u8·s8 integer GEMMs (AVX-512 VNNI / AVX-VNNI where the CPU has them). Everything that needs float stays float:
 *    embeddings, LayerNorm, softmax (inside QAttention), GELU, the ColBERT projection and the final normalisation.
 *    The error it adds depends on the model's activations (trained BERTs have outlier channels that random weights
 *    lack), so it is opt-in (ENCODER_PRECISION=int8) and meant to be checked with `jacolbert eval` on the real model.
 *  - `int8-u8u8-fused`: the same quantised values stored as uint8 with zero point 128, so onnxruntime runs u8·u8
 *    GEMMs. On x86 CPUs without VNNI its u8·s8 kernels add pairs of products in int16 with saturation (see
 *    src/encoder/int8-gemm-probe.ts); u8·u8 ones widen first and stay exact, so this is what those CPUs get.
 * The token-type embedding of segment 0 is folded into the position table (every ColBERT input is one segment).
 */
import type { BertConfig, ColbertWeights } from '../checkpoint.js'
import { createGraphBuilder, DataType, type ElemType, type OnnxModel } from './graph-builder.js'

export type GraphVariant = 'fp32' | 'fp32-fused' | 'fp16-fused' | 'int8-fused' | 'int8-u8u8-fused'
export const GRAPH_VARIANTS: GraphVariant[] = ['fp32', 'fp32-fused', 'fp16-fused', 'int8-fused', 'int8-u8u8-fused']
/** Bump when the graph changes: it is part of the cache key. */
export const CONVERTER_VERSION = 1

const MS = 'com.microsoft'
/** Added to attention scores of masked keys (exp underflows to exactly 0 in fp32 and fp16 alike). */
const MASK_VALUE = -10000

/** PyTorch Linear weight [out, in] -> ONNX MatMul operand [in, out]. */
function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length)
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c]!
  return out
}

/**
 * Symmetric int8 quantisation of a [rows, cols] MatMul operand, one scale per output column (max |w| / 127): a
 * column's values keep their own range, so one large column does not flatten the others. O(rows·cols).
 */
export function quantizeColumns(w: Float32Array, rows: number, cols: number): { q: Int8Array; scale: Float32Array } {
  const scale = new Float32Array(cols)
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) scale[c] = Math.max(scale[c]!, Math.abs(w[r * cols + c]!))
  for (let c = 0; c < cols; c++) scale[c] = scale[c]! > 0 ? scale[c]! / 127 : 1
  const q = new Int8Array(w.length)
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) q[r * cols + c] = Math.max(-127, Math.min(127, Math.round(w[r * cols + c]! / scale[c]!)))
  return { q, scale }
}

/** The zero point of unsigned weights: symmetric int8 values shifted into 1…255. */
const UNSIGNED_ZERO = 128

function toUnsigned(q: Int8Array): Uint8Array {
  const u = new Uint8Array(q.length)
  for (let i = 0; i < q.length; i++) u[i] = q[i]! + UNSIGNED_ZERO
  return u
}

/** Position table with token_type_embeddings[0] added to every row. */
function foldTypeIntoPositions(pos: Float32Array, type: Float32Array, hidden: number): Float32Array {
  const out = new Float32Array(pos.length)
  for (let i = 0; i < pos.length; i++) out[i] = pos[i]! + type[i % hidden]!
  return out
}

export function buildColbertGraph(cfg: BertConfig, w: ColbertWeights, dim: number, variant: GraphVariant): OnnxModel {
  const g = createGraphBuilder()
  const H = cfg.hiddenSize
  const I = cfg.intermediateSize
  const nh = cfg.numHeads
  const hd = H / nh
  const eps = { float: cfg.layerNormEps }
  const fused = variant !== 'fp32'
  const t: ElemType = variant === 'fp16-fused' ? 'float16' : 'float32'
  const int8 = variant === 'int8-fused' || variant === 'int8-u8u8-fused'
  const unsignedWeights = variant === 'int8-u8u8-fused'
  /** Quantised weights as graph inputs: [values, zero point] (the zero point is '' for signed weights, whose zero is 0). */
  const quantizedWeights = (name: string, rows: number, cols: number, q: Int8Array): [string, string] => {
    if (!unsignedWeights) return [g.int8s(`${name}_q`, [rows, cols], q), '']
    return [g.uint8s(`${name}_q`, [rows, cols], toUnsigned(q)), g.uint8s(`${name}_zp`, [], new Uint8Array([UNSIGNED_ZERO]))]
  }
  /** x·W for W given as [rows, cols]: float MatMul, or int8 weights with activations quantised at run time. */
  const matmul = (inp: string, name: string, wT: Float32Array, rows: number, cols: number): string => {
    if (!int8) return g.op('MatMul', [inp, g.floats(name, [rows, cols], wT, t)])
    const { q, scale } = quantizeColumns(wT, rows, cols)
    const [wq, wzp] = quantizedWeights(name, rows, cols, q)
    return g.op('DynamicQuantizeMatMul', [inp, wq, g.floats(`${name}_scale`, [cols], scale), ...(wzp ? [wzp] : [])], {}, MS)
  }

  g.input('input_ids', DataType.INT64, ['batch', 'seq'])
  g.input('attention_mask', DataType.INT64, ['batch', 'seq'])
  const posTable = foldTypeIntoPositions(w.posEmb, w.typeEmb, H)
  let x: string

  if (fused) {
    const ids32 = g.op('Cast', ['input_ids'], { to: DataType.INT32 })
    const mask32 = g.op('Cast', ['attention_mask'], { to: DataType.INT32 })
    x = g.node('EmbedLayerNormalization', [ids32, '', g.floats('word_embeddings', [cfg.vocabSize, H], w.wordEmb, t), g.floats('position_embeddings', [cfg.maxPositions, H], posTable, t), '', g.floats('emb_ln_gamma', [H], w.embLnG, t), g.floats('emb_ln_beta', [H], w.embLnB, t)], { epsilon: eps }, { domain: MS, outputs: 2 })[0]!
    for (let l = 0; l < cfg.numLayers; l++) {
      const L = w.layers[l]!
      const p = `layer${l}_`
      // Attention weights: [H, 3H] = [Wq^T | Wk^T | Wv^T], bias [3H].
      const qkv = new Float32Array(H * 3 * H)
      const parts = [transpose(L.qW, H, H), transpose(L.kW, H, H), transpose(L.vW, H, H)]
      for (let r = 0; r < H; r++) for (let k = 0; k < 3; k++) qkv.set(parts[k]!.subarray(r * H, (r + 1) * H), r * 3 * H + k * H)
      const qkvB = new Float32Array(3 * H)
      qkvB.set(L.qB, 0)
      qkvB.set(L.kB, H)
      qkvB.set(L.vB, 2 * H)
      let att: string
      if (int8) {
        // QAttention takes the input already quantised (uint8 + scale + zero point, per tensor, computed per batch).
        const [xq, xs, xzp] = g.node('DynamicQuantizeLinear', [x], {}, { outputs: 3 }) as [string, string, string]
        const { q, scale } = quantizeColumns(qkv, H, 3 * H)
        const [wq, wzp] = quantizedWeights(`${p}qkv`, H, 3 * H, q)
        att = g.node('QAttention', [xq, wq, g.floats(`${p}qkv_b`, [3 * H], qkvB), xs, g.floats(`${p}qkv_scale`, [3 * H], scale), mask32, xzp, ...(wzp ? [wzp] : [])], { num_heads: nh }, { domain: MS })[0]!
      } else {
        att = g.node('Attention', [x, g.floats(`${p}qkv_w`, [H, 3 * H], qkv, t), g.floats(`${p}qkv_b`, [3 * H], qkvB, t), mask32], { num_heads: nh, mask_filter_value: { float: MASK_VALUE } }, { domain: MS })[0]!
      }
      const proj = matmul(att, `${p}attn_out_w`, transpose(L.oW, H, H), H, H)
      const h = g.node('SkipLayerNormalization', [proj, x, g.floats(`${p}ln1_gamma`, [H], L.ln1G, t), g.floats(`${p}ln1_beta`, [H], L.ln1B, t), g.floats(`${p}attn_out_b`, [H], L.oB, t)], { epsilon: eps }, { domain: MS })[0]!
      const inter = matmul(h, `${p}ffn_in_w`, transpose(L.iW, I, H), H, I)
      const gelu = g.op('BiasGelu', [inter, g.floats(`${p}ffn_in_b`, [I], L.iB, t)], {}, MS)
      const out = matmul(gelu, `${p}ffn_out_w`, transpose(L.fW, H, I), I, H)
      x = g.node('SkipLayerNormalization', [out, h, g.floats(`${p}ln2_gamma`, [H], L.ln2G, t), g.floats(`${p}ln2_beta`, [H], L.ln2B, t), g.floats(`${p}ffn_out_b`, [H], L.fB, t)], { epsilon: eps }, { domain: MS })[0]!
    }
    if (t === 'float16') x = g.op('Cast', [x], { to: DataType.FLOAT })
  } else {
    // Embeddings: word[ids] + (position + type0)[0..seq) -> LayerNorm.
    const words = g.op('Gather', [g.floats('word_embeddings', [cfg.vocabSize, H], w.wordEmb), 'input_ids'], { axis: 0 })
    const shape = g.op('Shape', ['input_ids'])
    const seq = g.op('Gather', [shape, g.int64s('const_1', [], [1])], { axis: 0 })
    const positions = g.op('Range', [g.int64s('const_0', [], [0]), seq, g.int64s('const_step', [], [1])])
    const pos = g.op('Gather', [g.floats('position_embeddings', [cfg.maxPositions, H], posTable), positions], { axis: 0 })
    x = g.op('LayerNormalization', [g.op('Add', [words, pos]), g.floats('emb_ln_gamma', [H], w.embLnG), g.floats('emb_ln_beta', [H], w.embLnB)], { axis: -1, epsilon: eps })
    // Additive mask [batch, 1, 1, seq]: 0 where attended, MASK_VALUE elsewhere.
    const maskF = g.op('Cast', ['attention_mask'], { to: DataType.FLOAT })
    const inv = g.op('Sub', [g.floats('const_one', [], new Float32Array([1])), maskF])
    const addMask = g.op('Unsqueeze', [g.op('Mul', [inv, g.floats('const_mask_value', [], new Float32Array([MASK_VALUE]))]), g.int64s('const_axes_12', [2], [1, 2])])
    const headShape = g.int64s('const_head_shape', [4], [0, 0, nh, hd])
    const mergeShape = g.int64s('const_merge_shape', [3], [0, 0, H])
    const scale = g.floats('const_scale', [], new Float32Array([1 / Math.sqrt(hd)]))
    const halfC = g.floats('const_half', [], new Float32Array([0.5]))
    const oneC = 'const_one'
    const sqrt2 = g.floats('const_inv_sqrt2', [], new Float32Array([Math.SQRT1_2]))
    const linearB = (inp: string, name: string, wT: Float32Array, rows: number, cols: number, b: Float32Array): string =>
      g.op('Add', [g.op('MatMul', [inp, g.floats(`${name}_w`, [rows, cols], wT)]), g.floats(`${name}_b`, [cols], b)])
    for (let l = 0; l < cfg.numLayers; l++) {
      const L = w.layers[l]!
      const p = `layer${l}_`
      const heads = (y: string, perm: number[]): string => g.op('Transpose', [g.op('Reshape', [y, headShape])], { perm })
      const q = heads(linearB(x, `${p}q`, transpose(L.qW, H, H), H, H, L.qB), [0, 2, 1, 3])
      const k = heads(linearB(x, `${p}k`, transpose(L.kW, H, H), H, H, L.kB), [0, 2, 3, 1])
      const v = heads(linearB(x, `${p}v`, transpose(L.vW, H, H), H, H, L.vB), [0, 2, 1, 3])
      const scores = g.op('Add', [g.op('Mul', [g.op('MatMul', [q, k]), scale]), addMask])
      const ctx = g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), v])
      const merged = g.op('Reshape', [g.op('Transpose', [ctx], { perm: [0, 2, 1, 3] }), mergeShape])
      const attnOut = linearB(merged, `${p}attn_out`, transpose(L.oW, H, H), H, H, L.oB)
      const h = g.op('LayerNormalization', [g.op('Add', [attnOut, x]), g.floats(`${p}ln1_gamma`, [H], L.ln1G), g.floats(`${p}ln1_beta`, [H], L.ln1B)], { axis: -1, epsilon: eps })
      const inter = linearB(h, `${p}ffn_in`, transpose(L.iW, I, H), H, I, L.iB)
      // gelu(x) = 0.5 x (1 + erf(x / sqrt 2)), the exact form BERT uses.
      const gelu = g.op('Mul', [g.op('Mul', [inter, halfC]), g.op('Add', [g.op('Erf', [g.op('Mul', [inter, sqrt2])]), oneC])])
      const out = linearB(gelu, `${p}ffn_out`, transpose(L.fW, H, I), I, H, L.fB)
      x = g.op('LayerNormalization', [g.op('Add', [out, h]), g.floats(`${p}ln2_gamma`, [H], L.ln2G), g.floats(`${p}ln2_beta`, [H], L.ln2B)], { axis: -1, epsilon: eps })
    }
  }

  // ColBERT head: linear (no bias) then x / max(||x||, 1e-12), in fp32 for every variant.
  const proj = g.op('MatMul', [x, g.floats('linear_w', [H, dim], transpose(w.linear, dim, H))])
  const norm = g.op('ReduceL2', [proj], { axes: [-1], keepdims: 1 })
  const denom = g.op('Max', [norm, g.floats('const_norm_eps', [], new Float32Array([1e-12]))])
  g.node('Div', [proj, denom], {}, { outputs: ['vectors'] })
  g.output('vectors', DataType.FLOAT, ['batch', 'seq', dim])
  return g.build({
    graphName: `colbert_${variant}`,
    opsets: fused ? { '': 17, [MS]: 1 } : { '': 17 },
    docString: `ColBERT encoder (${cfg.numLayers} layers, hidden ${cfg.hiddenSize}, dim ${dim}), variant ${variant}`,
    metadata: { variant, converter_version: String(CONVERTER_VERSION), dim: String(dim) },
  })
}
