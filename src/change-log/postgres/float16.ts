/**
 * IEEE 754 half precision for vectors stored in PostgreSQL (bytea, little-endian): half the bytes of float32, and
 * ColBERT's unit-length vectors lose nothing that matters (relative error ≤ 2^-11, below the 1–4-bit residual codec's).
 * Node 20 has no Float16Array, so the conversion is done by hand, round-to-nearest-even. O(n), no allocation per value.
 */
const f32 = new Float32Array(1)
const u32 = new Uint32Array(f32.buffer)

function toHalf(x: number): number {
  f32[0] = x
  const bits = u32[0]
  const sign = (bits >>> 16) & 0x8000
  const exp = (bits >>> 23) & 0xff
  let mant = bits & 0x7fffff
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0) // Inf / NaN
  const e = exp - 127 + 15
  if (e >= 0x1f) return sign | 0x7c00 // overflow -> Inf
  if (e <= 0) {
    if (e < -10) return sign // underflow -> ±0
    mant |= 0x800000
    const shift = 14 - e
    let half = mant >>> shift
    const rem = mant & ((1 << shift) - 1)
    const mid = 1 << (shift - 1)
    if (rem > mid || (rem === mid && (half & 1) !== 0)) half++
    return sign | half
  }
  let half = sign | (e << 10) | (mant >>> 13)
  const rem = mant & 0x1fff
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1) !== 0)) half++ // may carry into the exponent: still correct
  return half
}

function fromHalf(h: number): number {
  const sign = h & 0x8000 ? -1 : 1
  const exp = (h >>> 10) & 0x1f
  const mant = h & 0x3ff
  if (exp === 0) return sign * mant * 2 ** -24
  if (exp === 0x1f) return mant !== 0 ? NaN : sign * Infinity
  return sign * (1 + mant / 1024) * 2 ** (exp - 15)
}

/** float32 values -> little-endian float16 bytes (2 per value). */
export function encodeFloat16(values: Float32Array): Buffer {
  const out = Buffer.allocUnsafe(values.length * 2)
  for (let i = 0; i < values.length; i++) out.writeUInt16LE(toHalf(values[i]), i * 2)
  return out
}

/** Little-endian float16 bytes -> float32 values. */
export function decodeFloat16(bytes: Uint8Array): Float32Array {
  if (bytes.length % 2 !== 0) throw new RangeError(`float16 data has an odd byte length ${bytes.length}`)
  const n = bytes.length / 2
  const out = new Float32Array(n)
  for (let i = 0; i < n; i++) out[i] = fromHalf(bytes[2 * i] | (bytes[2 * i + 1] << 8))
  return out
}

/** What a vector becomes after a round trip through the database (so the writer's replica holds what others load). */
export function roundToFloat16(values: Float32Array): Float32Array {
  return decodeFloat16(encodeFloat16(values))
}
