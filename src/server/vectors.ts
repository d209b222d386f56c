/**
 * Vector conversions at the HTTP boundary: request embeddings (rows of numbers or base64 float32) into one Float32Array,
 * and encoder output into the response forms. One pass over the numbers each way, O(n·dim).
 */
import { endianness } from 'node:os'
import { AppError } from '../errors.js'

const LITTLE_ENDIAN = endianness() === 'LE'

/** Decode `embeddings` (+ optional `shape`) for a model/index of dimension `dim`; `field` names it in errors. */
export function decodeEmbeddings(
  value: number[][] | string,
  shape: number[] | undefined,
  dim: number,
  field: string,
): { vectors: Float32Array; n: number } {
  if (typeof value === 'string') return decodeBase64(value, shape, dim, field)
  const n = value.length
  if (n === 0) throw new AppError('INVALID_VECTOR', `${field} is empty; give at least one vector`, { field })
  if (shape && (shape[0] !== n || shape[1] !== value[0].length)) {
    throw new AppError('INVALID_VECTOR', `${field} has ${n}×${value[0].length} values but shape says ${shape[0]}×${shape[1]}`, { field })
  }
  const out = new Float32Array(n * dim)
  for (let i = 0; i < n; i++) {
    const row = value[i]
    if (row.length !== dim) {
      throw new AppError('DIMENSION_MISMATCH', `${field}[${i}] has ${row.length} values; the index dimension is ${dim}`, {
        field: `${field}[${i}]`,
        expected: dim,
        got: row.length,
      })
    }
    const base = i * dim
    for (let j = 0; j < dim; j++) {
      const x = row[j]
      // JSON cannot carry NaN, but 1e999 parses to Infinity and float32 overflows above ~3.4e38.
      if (!Number.isFinite(x) || !Number.isFinite(Math.fround(x))) {
        throw new AppError('INVALID_VECTOR', `${field}[${i}][${j}] is not a finite float32 (${x})`, { field: `${field}[${i}][${j}]` })
      }
      out[base + j] = x
    }
  }
  return { vectors: out, n }
}

const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/

function decodeBase64(value: string, shape: number[] | undefined, dim: number, field: string): { vectors: Float32Array; n: number } {
  if (value.length % 4 !== 0 || !BASE64_RE.test(value)) {
    throw new AppError('INVALID_VECTOR', `${field} is not valid base64`, { field })
  }
  const bytes = Buffer.from(value, 'base64')
  if (bytes.length === 0 || bytes.length % 4 !== 0) {
    throw new AppError('INVALID_VECTOR', `${field} decodes to ${bytes.length} bytes, not a positive multiple of 4 (float32)`, { field })
  }
  const floats = bytes.length / 4
  if (shape) {
    if (shape[1] !== dim) {
      throw new AppError('DIMENSION_MISMATCH', `${field}: shape[1] is ${shape[1]}; the index dimension is ${dim}`, { field, expected: dim, got: shape[1] })
    }
    if (shape[0] * shape[1] !== floats) {
      throw new AppError('INVALID_VECTOR', `${field} holds ${floats} floats but shape ${shape[0]}×${shape[1]} needs ${shape[0] * shape[1]}`, { field })
    }
  } else if (floats % dim !== 0) {
    throw new AppError('DIMENSION_MISMATCH', `${field} holds ${floats} floats, not a multiple of the index dimension ${dim}`, { field, expected: dim })
  }
  const n = floats / dim
  if (n === 0) throw new AppError('INVALID_VECTOR', `${field} is empty; give at least one vector`, { field })
  const out = new Float32Array(floats)
  if (LITTLE_ENDIAN) {
    new Uint8Array(out.buffer).set(bytes)
  } else {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    for (let i = 0; i < floats; i++) out[i] = view.getFloat32(i * 4, true)
  }
  for (let i = 0; i < floats; i++) {
    if (!Number.isFinite(out[i])) {
      const r = Math.floor(i / dim)
      throw new AppError('INVALID_VECTOR', `${field}: row ${r}, column ${i - r * dim} is not finite (${out[i]})`, { field })
    }
  }
  return { vectors: out, n }
}

/** n×dim rows as plain number arrays (JSON output). */
export function toRows(vectors: Float32Array, n: number, dim: number): number[][] {
  const rows: number[][] = new Array(n)
  for (let i = 0; i < n; i++) {
    const row: number[] = new Array(dim)
    const base = i * dim
    for (let j = 0; j < dim; j++) row[j] = vectors[base + j]
    rows[i] = row
  }
  return rows
}

/** Little-endian float32 bytes, base64. */
export function toBase64(vectors: Float32Array): string {
  if (LITTLE_ENDIAN) return Buffer.from(vectors.buffer, vectors.byteOffset, vectors.byteLength).toString('base64')
  const buf = Buffer.alloc(vectors.length * 4)
  for (let i = 0; i < vectors.length; i++) buf.writeFloatLE(vectors[i], i * 4)
  return buf.toString('base64')
}

/**
 * ColBERT late-interaction score: Σ over query rows of the best dot product with any document row.
 * O(qn·dn·dim); vectors are L2-normalised so dot = cosine.
 */
export function maxSim(q: Float32Array, qn: number, d: Float32Array, dn: number, dim: number): number {
  let total = 0
  for (let i = 0; i < qn; i++) {
    const qb = i * dim
    let best = -Infinity
    for (let j = 0; j < dn; j++) {
      const db = j * dim
      let dot = 0
      for (let k = 0; k < dim; k++) dot += q[qb + k] * d[db + k]
      if (dot > best) best = dot
    }
    if (dn > 0) total += best
  }
  return total
}
