/**
 * A small builder over onnx-proto's protobuf classes: named nodes, initializers stored as raw_data, value infos.
 * It keeps the BERT graph code readable (one line per op) and owns the details of the ONNX encoding.
 */
import onnxProto from 'onnx-proto'
import { float32ToFloat16Bits } from '../safetensors.js'

const { onnx } = onnxProto
export type OnnxModel = InstanceType<typeof onnx.ModelProto>
export const DataType = onnx.TensorProto.DataType
export type ElemType = 'float32' | 'float16'

type AttrValue = number | number[] | string | { float: number }

export interface GraphBuilder {
  /** Add a node; returns its output names (one per `outputs` count, or the names given). */
  node(op: string, inputs: string[], attrs?: Record<string, AttrValue>, opts?: { domain?: string; outputs?: number | string[]; name?: string }): string[]
  /** Shorthand for a single-output node. */
  op(op: string, inputs: string[], attrs?: Record<string, AttrValue>, domain?: string): string
  /** A float initializer (stored as float32 or float16 per `type`). */
  floats(name: string, dims: number[], data: Float32Array, type?: ElemType): string
  int64s(name: string, dims: number[], data: number[]): string
  /** An int8 initializer (quantised weights, zero points). */
  int8s(name: string, dims: number[], data: Int8Array): string
  /** A uint8 initializer (quantised weights with a zero point). */
  uint8s(name: string, dims: number[], data: Uint8Array): string
  input(name: string, elem: number, shape: Array<number | string>): void
  output(name: string, elem: number, shape: Array<number | string>): void
  build(opts: { graphName: string; opsets: Record<string, number>; docString?: string; metadata?: Record<string, string> }): OnnxModel
}

export function createGraphBuilder(): GraphBuilder {
  const nodes: InstanceType<typeof onnx.NodeProto>[] = []
  const initializers: InstanceType<typeof onnx.TensorProto>[] = []
  const inputs: InstanceType<typeof onnx.ValueInfoProto>[] = []
  const outputs: InstanceType<typeof onnx.ValueInfoProto>[] = []
  const counts = new Map<string, number>()
  const fresh = (op: string): string => {
    const n = (counts.get(op) ?? 0) + 1
    counts.set(op, n)
    return `${op}_${n}`
  }
  const attribute = (name: string, v: AttrValue): InstanceType<typeof onnx.AttributeProto> => {
    const A = onnx.AttributeProto.AttributeType
    if (typeof v === 'string') return onnx.AttributeProto.create({ name, type: A.STRING, s: new TextEncoder().encode(v) })
    if (Array.isArray(v)) return onnx.AttributeProto.create({ name, type: A.INTS, ints: v })
    if (typeof v === 'object') return onnx.AttributeProto.create({ name, type: A.FLOAT, f: v.float })
    return onnx.AttributeProto.create({ name, type: A.INT, i: v })
  }
  const valueInfo = (name: string, elem: number, shape: Array<number | string>): InstanceType<typeof onnx.ValueInfoProto> =>
    onnx.ValueInfoProto.create({
      name,
      type: {
        tensorType: {
          elemType: elem,
          shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
        },
      },
    })
  /** An initializer of one-byte elements, stored as raw_data over the same bytes. */
  const byteInitializer = (name: string, dims: number[], dataType: number, data: Int8Array | Uint8Array): string => {
    initializers.push(onnx.TensorProto.create({ name, dims, dataType, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) }))
    return name
  }
  const b: GraphBuilder = {
    node(op, ins, attrs = {}, opts = {}) {
      const name = opts.name ?? fresh(op)
      const outs = Array.isArray(opts.outputs) ? opts.outputs : Array.from({ length: opts.outputs ?? 1 }, (_, i) => `${name}_out${i}`)
      nodes.push(
        onnx.NodeProto.create({
          name,
          opType: op,
          domain: opts.domain ?? '',
          input: ins,
          output: outs,
          attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
        }),
      )
      return outs
    },
    op(op, ins, attrs, domain) {
      return b.node(op, ins, attrs, domain ? { domain } : {})[0]!
    },
    floats(name, dims, data, type = 'float32') {
      const raw = type === 'float16' ? new Uint8Array(float32ToFloat16Bits(data).buffer) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      initializers.push(onnx.TensorProto.create({ name, dims, dataType: type === 'float16' ? DataType.FLOAT16 : DataType.FLOAT, rawData: raw }))
      return name
    },
    int64s(name, dims, data) {
      const raw = new Uint8Array(BigInt64Array.from(data.map((x) => BigInt(x))).buffer)
      initializers.push(onnx.TensorProto.create({ name, dims, dataType: DataType.INT64, rawData: raw }))
      return name
    },
    int8s(name, dims, data) {
      return byteInitializer(name, dims, DataType.INT8, data)
    },
    uint8s(name, dims, data) {
      return byteInitializer(name, dims, DataType.UINT8, data)
    },
    input(name, elem, shape) {
      inputs.push(valueInfo(name, elem, shape))
    },
    output(name, elem, shape) {
      outputs.push(valueInfo(name, elem, shape))
    },
    build({ graphName, opsets, docString, metadata }) {
      return onnx.ModelProto.create({
        irVersion: 8,
        producerName: 'jacolbert-server',
        producerVersion: '1',
        docString: docString ?? '',
        opsetImport: Object.entries(opsets).map(([domain, version]) => ({ domain, version })),
        metadataProps: Object.entries(metadata ?? {}).map(([key, value]) => ({ key, value })),
        graph: { name: graphName, node: nodes, initializer: initializers, input: inputs, output: outputs },
      })
    },
  }
  return b
}

/** Serialise a model to protobuf bytes. */
export function encodeModel(model: OnnxModel): Uint8Array {
  return onnx.ModelProto.encode(model).finish()
}
