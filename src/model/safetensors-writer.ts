/**
 * Streaming safetensors writer: the header first (names, dtypes, shapes, offsets), then each tensor's bytes as the
 * caller produces them, so a checkpoint is written without holding all of it in memory. The file appears atomically
 * (written to a temporary name, then renamed). Layout as the reference writer's: 8-byte little-endian header length,
 * JSON header padded with spaces to a multiple of 8, data in header order.
 */
import { open, rename, rm } from 'node:fs/promises'

export interface TensorPlan { name: string; dtype: string; shape: number[]; byteLength: number }

const DTYPE_BYTES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 }

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

/** Writes `path` from `plan`, calling `bytesOf(i)` for tensor i's data (in order, one at a time). */
export async function writeSafetensorsFile(path: string, plan: TensorPlan[], metadata: Record<string, string>, bytesOf: (i: number) => Promise<Uint8Array>): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`
  const fh = await open(tmp, 'w')
  try {
    await fh.write(safetensorsHeader(plan, metadata))
    for (let i = 0; i < plan.length; i++) {
      const bytes = await bytesOf(i)
      if (bytes.byteLength !== plan[i]!.byteLength) throw new Error(`tensor '${plan[i]!.name}': got ${bytes.byteLength} bytes, planned ${plan[i]!.byteLength}`)
      await fh.write(bytes)
    }
    await fh.sync()
  } catch (err) {
    await fh.close().catch(() => undefined)
    await rm(tmp, { force: true })
    throw err
  }
  await fh.close()
  await rename(tmp, path)
}
