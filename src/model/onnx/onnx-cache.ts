/**
 * Converted graphs are cached beside the checkpoint, in <modelDir>/onnx/<variant>-<key>.onnx, where key is a
 * SHA-256 over the converter version, the variant and the bytes of config.json, artifact.metadata and
 * model.safetensors. A changed weight file or converter therefore never reuses a stale graph. Writes are atomic
 * (temp file + rename) so a crash mid-write never leaves a graph that looks complete.
 * When the checkpoint folder is read-only, the cache falls back to <tmpdir>/jacolbert-onnx-cache.
 */
import { createHash } from 'node:crypto'
import { createReadStream, existsSync } from 'node:fs'
import { mkdir, open, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { loadCheckpoint, type Checkpoint } from '../checkpoint.js'
import { buildColbertGraph, CONVERTER_VERSION, type GraphVariant } from './colbert-graph.js'
import { encodeModel } from './graph-builder.js'

export interface ConvertedGraph { path: string; variant: GraphVariant; key: string; converted: boolean; hashMs: number; convertMs: number }

async function hashFile(h: ReturnType<typeof createHash>, path: string): Promise<void> {
  h.update(`${basename(path)}\0`)
  for await (const chunk of createReadStream(path, { highWaterMark: 4 << 20 })) h.update(chunk as Buffer)
  h.update('\0')
}

/** Cache key of a checkpoint + variant; reads every weight byte, O(file size) (~0.5 s for BERT-base). */
export async function graphCacheKey(ckpt: Checkpoint, variant: GraphVariant): Promise<string> {
  // A stamp file remembers the key of an unchanged weights file (same size, mtime and inode), so a second start
  // skips the full read. Any change to those re-hashes.
  const stamps = await Promise.all(ckpt.weightFiles.map(async (f) => {
    const s = await stat(f)
    return `${f}:${s.size}:${s.mtimeMs}:${s.ino}`
  }))
  const stampKey = createHash('sha256').update(`${CONVERTER_VERSION}\0${stamps.join('\n')}`).digest('hex').slice(0, 32)
  const stampFile = join(tmpdir(), 'jacolbert-onnx-cache', `stamp-${stampKey}`)
  let base: string | undefined
  try {
    base = (await readFile(stampFile, 'utf8')).trim() || undefined
  } catch {
    base = undefined
  }
  if (!base) {
    const h = createHash('sha256')
    h.update(`jacolbert-onnx converter ${CONVERTER_VERSION}\0`)
    for (const f of ckpt.weightFiles) await hashFile(h, f)
    base = h.digest('hex')
    try {
      await mkdir(join(tmpdir(), 'jacolbert-onnx-cache'), { recursive: true })
      await writeFile(stampFile, base)
    } catch {
      // The stamp is only an accelerator.
    }
  }
  return createHash('sha256').update(`${base}\0${variant}`).digest('hex').slice(0, 16)
}

/**
 * Whether we may cache in `dir` (<modelDir>/onnx). A checkpoint folder whose mode has no write bit is treated as
 * read-only even when the process could write (root ignores mode bits): it is someone's pristine copy.
 */
async function writable(dir: string): Promise<boolean> {
  try {
    const parent = dirname(dir)
    const ps = await stat(parent).catch(() => undefined)
    if (ps && (ps.mode & 0o222) === 0) return false
    await mkdir(dir, { recursive: true })
    const probe = join(dir, `.probe-${process.pid}-${Date.now()}`)
    await writeFile(probe, '')
    await unlink(probe)
    return true
  } catch {
    return false
  }
}

/** Atomic write: a temp file in the same folder, fsync, then rename over the final name. */
export async function writeFileAtomic(path: string, data: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`
  const fh = await open(tmp, 'w')
  try {
    await fh.writeFile(data)
    await fh.sync()
  } finally {
    await fh.close()
  }
  try {
    await rename(tmp, path)
  } catch (err) {
    await unlink(tmp).catch(() => undefined)
    throw err
  }
}

async function removeStale(dir: string, variant: GraphVariant, keep: string): Promise<void> {
  // Finished graphs only: a .tmp- file may be another process converting right now.
  const pattern = new RegExp(`^${variant}-[0-9a-f]{16}\\.onnx$`)
  for (const f of await readdir(dir).catch(() => [] as string[])) {
    if (f !== keep && pattern.test(f)) await unlink(join(dir, f)).catch(() => undefined)
  }
}

/**
 * Path of the converted graph for a checkpoint folder, converting (and caching) on first use.
 * `cacheDir` overrides <modelDir>/onnx.
 */
export async function ensureConvertedGraph(modelDirOrCkpt: string | Checkpoint, variant: GraphVariant, opts: { cacheDir?: string; force?: boolean } = {}): Promise<ConvertedGraph> {
  const ckpt = typeof modelDirOrCkpt === 'string' ? await loadCheckpoint(modelDirOrCkpt) : modelDirOrCkpt
  const t0 = performance.now()
  const key = await graphCacheKey(ckpt, variant)
  const hashMs = performance.now() - t0
  let dir = opts.cacheDir ?? join(ckpt.dir, 'onnx')
  const name = `${variant}-${key}.onnx`
  if (!opts.force) {
    for (const d of [dir, join(tmpdir(), 'jacolbert-onnx-cache')]) {
      if (existsSync(join(d, name))) return { path: join(d, name), variant, key, converted: false, hashMs, convertMs: 0 }
    }
  }
  const besideCheckpoint = !opts.cacheDir
  if (!(await writable(dir))) dir = join(tmpdir(), 'jacolbert-onnx-cache')
  await mkdir(dir, { recursive: true })
  const t1 = performance.now()
  const weights = await ckpt.loadWeights()
  const bytes = encodeModel(buildColbertGraph(ckpt.config, weights, ckpt.settings.dim, variant))
  const path = join(dir, name)
  await writeFileAtomic(path, bytes)
  // <modelDir>/onnx belongs to this checkpoint: graphs of this variant under another key are stale (changed weights
  // or converter) and would only fill the disk. The shared temp cache holds other checkpoints' graphs: left alone.
  if (besideCheckpoint && dir === join(ckpt.dir, 'onnx')) await removeStale(dir, variant, name)
  return { path, variant, key, converted: true, hashMs, convertMs: performance.now() - t1 }
}
