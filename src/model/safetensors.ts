/**
 * Reader (and small writer) for the safetensors format: an 8-byte little-endian header length, a JSON header
 * mapping tensor names to {dtype, shape, data_offsets}, then the raw little-endian data.
 * Only the floating-point dtypes a BERT checkpoint uses are decoded (F32, F16, BF16 -> Float32Array).
 */
import { open, readFile } from 'node:fs/promises'
import { basename } from 'node:path'
import { AppError } from '../errors.js'

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16'
const DTYPE_BYTES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 }

export interface TensorInfo { name: string; dtype: string; shape: number[]; begin: number; end: number }
export interface SafetensorsFile {
  readonly path: string
  readonly tensors: Map<string, TensorInfo>
  readonly metadata: Record<string, string> | undefined
  /** Decoded tensor as float32 (copy), or AppError when the dtype is not a float type. */
  getFloat32(name: string): Float32Array
}

function invalid(file: string, message: string, details?: Record<string, unknown>): AppError {
  return new AppError('CHECKPOINT_INVALID', `${basename(file)}: ${message}`, { file, ...details })
}

/** Validate a safetensors header given its first bytes (at least 8 + header length) and the file's total length. */
export function parseSafetensorsHeader(head: Uint8Array, totalLength: number, file = 'model.safetensors'): { tensors: Map<string, TensorInfo>; metadata: Record<string, string> | undefined } {
  if (totalLength < 8 || head.byteLength < 8) throw invalid(file, `truncated: ${totalLength} bytes, the 8-byte header length is missing`)
  const dv = new DataView(head.buffer, head.byteOffset, head.byteLength)
  const headerLen = Number(dv.getBigUint64(0, true))
  if (headerLen > 100_000_000) throw invalid(file, `header length ${headerLen} is implausible (not a safetensors file?)`)
  if (8 + headerLen > totalLength || 8 + headerLen > head.byteLength) throw invalid(file, `truncated: header needs ${headerLen} bytes, file has ${totalLength - 8} after the length`)
  let header: unknown
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(head.subarray(8, 8 + headerLen)))
  } catch (err) {
    throw invalid(file, `header is not valid JSON: ${(err as Error).message}`)
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) throw invalid(file, 'header is not a JSON object')
  const dataStart = 8 + headerLen
  const dataLen = totalLength - dataStart
  const tensors = new Map<string, TensorInfo>()
  let metadata: Record<string, string> | undefined
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = raw as Record<string, string>
      continue
    }
    const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown }
    if (!info || typeof info !== 'object') throw invalid(file, `tensor '${name}': entry is not an object`, { tensor: name })
    const { dtype, shape, data_offsets: offsets } = info
    if (typeof dtype !== 'string' || !(dtype in DTYPE_BYTES)) throw invalid(file, `tensor '${name}': unsupported dtype ${JSON.stringify(dtype)}`, { tensor: name })
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) throw invalid(file, `tensor '${name}': bad shape ${JSON.stringify(shape)}`, { tensor: name })
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0) || offsets[1] < offsets[0]) {
      throw invalid(file, `tensor '${name}': bad data_offsets ${JSON.stringify(offsets)}`, { tensor: name })
    }
    const [begin, end] = offsets as [number, number]
    const expected = (shape as number[]).reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype]!
    if (end - begin !== expected) throw invalid(file, `tensor '${name}': ${end - begin} bytes for shape [${shape.join(', ')}] ${dtype} (expected ${expected})`, { tensor: name })
    if (end > dataLen) throw invalid(file, `truncated: tensor '${name}' ends at byte ${end} of the data section, which has ${dataLen} bytes`, { tensor: name })
    tensors.set(name, { name, dtype, shape: shape as number[], begin: dataStart + begin, end: dataStart + end })
  }
  return { tensors, metadata }
}

/** Parse a safetensors buffer; validates header, dtypes, shapes, offsets and truncation. */
export function parseSafetensors(buf: Uint8Array, file = 'model.safetensors'): SafetensorsFile {
  const { tensors, metadata } = parseSafetensorsHeader(buf, buf.byteLength, file)
  return {
    path: file,
    tensors,
    metadata,
    getFloat32(name: string): Float32Array {
      const t = tensors.get(name)
      if (!t) throw invalid(file, `missing tensor '${name}'`, { tensor: name })
      return decodeFloat(buf, t, file)
    },
  }
}

/** Read and parse a safetensors file (the whole file is held in memory: BERT-base is ~440 MB in F32). */
export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  let buf: Buffer
  try {
    buf = await readFile(path)
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    throw new AppError('CHECKPOINT_INVALID', `${basename(path)}: cannot read (${e.code ?? e.message})`, { file: path })
  }
  return parseSafetensors(buf, path)
}

/** Only the header, validated against the file's size (no tensor data is read). */
export async function readSafetensorsHeader(path: string): Promise<{ tensors: Map<string, TensorInfo>; metadata: Record<string, string> | undefined }> {
  let fh
  try {
    fh = await open(path, 'r')
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    throw new AppError('CHECKPOINT_INVALID', `${basename(path)}: cannot read (${e.code ?? e.message})`, { file: path })
  }
  try {
    const { size } = await fh.stat()
    const lenBuf = Buffer.alloc(8)
    await fh.read(lenBuf, 0, 8, 0)
    const n = size >= 8 ? Math.min(Number(lenBuf.readBigUInt64LE(0)), size - 8, 100_000_001) : 0
    const head = Buffer.alloc(8 + n)
    lenBuf.copy(head)
    if (n > 0) await fh.read(head, 8, n, 8)
    return parseSafetensorsHeader(head, size, path)
  } finally {
    await fh.close()
  }
}

const f16Table = buildF16Table()
function buildF16Table(): Float32Array {
  const table = new Float32Array(65536)
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1
    const e = (h >> 10) & 0x1f
    const m = h & 0x3ff
    if (e === 0) table[h] = s * m * 2 ** -24
    else if (e === 31) table[h] = m ? NaN : s * Infinity
    else table[h] = s * (1 + m / 1024) * 2 ** (e - 15)
  }
  return table
}

function decodeFloat(buf: Uint8Array, t: TensorInfo, file: string): Float32Array {
  const n = (t.end - t.begin) / DTYPE_BYTES[t.dtype]!
  const out = new Float32Array(n)
  const bytes = buf.subarray(t.begin, t.end)
  if (t.dtype === 'F32') {
    new Uint8Array(out.buffer).set(bytes)
  } else if (t.dtype === 'F16') {
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    for (let i = 0; i < n; i++) out[i] = f16Table[dv.getUint16(2 * i, true)]!
  } else if (t.dtype === 'BF16') {
    // bf16 is the top half of a float32: shift into place.
    const u32 = new Uint32Array(out.buffer)
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    for (let i = 0; i < n; i++) u32[i] = dv.getUint16(2 * i, true) << 16
  } else if (t.dtype === 'F64') {
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    for (let i = 0; i < n; i++) out[i] = dv.getFloat64(8 * i, true)
  } else {
    throw invalid(file, `tensor '${t.name}': dtype ${t.dtype} is not a floating-point type`, { tensor: t.name })
  }
  return out
}

/** float32 -> IEEE half (round to nearest even). */
export function float32ToFloat16Bits(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length)
  const f = new Float32Array(1)
  const u = new Uint32Array(f.buffer)
  for (let i = 0; i < values.length; i++) {
    f[0] = values[i]!
    const x = u[0]!
    const sign = (x >>> 16) & 0x8000
    const exp = (x >>> 23) & 0xff
    let mant = x & 0x7fffff
    if (exp === 0xff) {
      out[i] = sign | 0x7c00 | (mant ? 0x200 : 0)
      continue
    }
    let e = exp - 127 + 15
    if (e >= 31) {
      out[i] = sign | 0x7c00
      continue
    }
    if (e <= 0) {
      if (e < -10) {
        out[i] = sign
        continue
      }
      mant |= 0x800000
      const shift = 14 - e
      let h = mant >>> shift
      const rem = mant & ((1 << shift) - 1)
      const half = 1 << (shift - 1)
      if (rem > half || (rem === half && h & 1)) h++
      out[i] = sign | h
      continue
    }
    let h = (e << 10) | (mant >>> 13)
    const rem = mant & 0x1fff
    if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++
    out[i] = sign | h
  }
  return out
}

/** float32 -> bfloat16 bits (round to nearest even). */
export function float32ToBfloat16Bits(values: Float32Array): Uint16Array {
  const u = new Uint32Array(values.buffer, values.byteOffset, values.length)
  const out = new Uint16Array(values.length)
  for (let i = 0; i < values.length; i++) {
    const x = u[i]!
    out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16
  }
  return out
}

export interface TensorPlan { name: string; dtype: string; shape: number[]; byteLength: number }

/** The 8-byte length + JSON header (padded with spaces to a multiple of 8, as the reference writer does) for `plan`, data in plan order. */
export function safetensorsHeader(plan: TensorPlan[], metadata: Record<string, string>): Buffer {
  const header: Record<string, unknown> = { __metadata__: metadata }
  let offset = 0
  for (const t of plan) {
    const expected = t.shape.reduce((a, b) => a * b, 1) * (DTYPE_BYTES[t.dtype] ?? NaN)
    if (expected !== t.byteLength) throw new Error(`tensor '${t.name}': ${t.byteLength} bytes for ${t.dtype}${JSON.stringify(t.shape)}, expected ${expected}`)
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.byteLength] }
    offset += t.byteLength
  }
  let json = JSON.stringify(header)
  while ((Buffer.byteLength(json) + 8) % 8 !== 0) json += ' '
  const hb = Buffer.from(json)
  const len = Buffer.alloc(8)
  len.writeBigUInt64LE(BigInt(hb.byteLength))
  return Buffer.concat([len, hb])
}

/** Serialise tensors to safetensors bytes (used by tests and the bench to make checkpoints). */
export function encodeSafetensors(tensors: Array<{ name: string; dtype: SafetensorsDtype; shape: number[]; data: Float32Array }>, metadata: Record<string, string> = { format: 'pt' }): Buffer {
  const parts = tensors.map((t): Uint8Array => {
    if (t.dtype === 'F32') return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)
    const bits = t.dtype === 'F16' ? float32ToFloat16Bits(t.data) : float32ToBfloat16Bits(t.data)
    return new Uint8Array(bits.buffer)
  })
  const plan = tensors.map((t, i) => ({ name: t.name, dtype: t.dtype, shape: t.shape, byteLength: parts[i]!.byteLength }))
  return Buffer.concat([safetensorsHeader(plan, metadata), ...parts])
}
