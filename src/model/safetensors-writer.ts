/**
 * Streaming safetensors writer: the header first (names, dtypes, shapes, offsets), then each tensor's bytes as the
 * caller produces them, so a checkpoint is written without holding all of it in memory. The file appears atomically
 * (written to a temporary name, then renamed). Layout as the reference writer's: 8-byte little-endian header length,
 * JSON header padded with spaces to a multiple of 8, data in header order.
 */
import { open, rename, rm } from 'node:fs/promises'
import { safetensorsHeader, type TensorPlan } from './safetensors.js'

export type { TensorPlan }

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
