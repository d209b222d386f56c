/**
 * The original vectors of an index, kept beside its compressed vectors for the final ranking: the exact stage scores
 * its documents by these instead of decompressing (on 2-bit residuals the decompressed ranking lost 0.012–0.056
 * success@10 against exact MaxSim; ranked by the originals, the same documents come within 0.014: BENCHMARKS.md
 * § Original vectors for the final ranking).
 *
 * One record per stored vector, in the index's stored-vector order: a float32 scale, then dim int8 values q with
 * x ≈ scale·q (scale = max |x_d| / 127, per vector; dim + 4 bytes, 132 for dim 128). A unit vector's components then
 * carry an error of at most scale/2 ≈ 10⁻³ each, a hundredth of a 2-bit bucket.
 *
 * Two homes:
 *  - memory: a growable byte array on shared memory (search workers read it in place); for an index without a data
 *    folder, whose snapshot then carries the array;
 *  - file: an append-only file in a folder of its own (beside the snapshot folder, which a save replaces wholesale);
 *    the exact stage reads each document's records with one positioned read; a snapshot names the file and its record
 *    count, and the file is fsynced before the snapshot is written, so a loaded snapshot's records are on disk.
 *    Records past that count (written after the snapshot) are cut off at load: the change log re-appends them.
 * A compaction or re-training renumbers the stored vectors: `select` writes the live records to a new store (a new
 * file), the index adopts it, and the old one stays readable (its descriptor open) for a minute, for searches still
 * running on the version before. Files no snapshot and no index use are deleted after the next snapshot (`prune`).
 */
import { closeSync, fsync, fstatSync, ftruncateSync, mkdirSync, openSync, readdirSync, readSync, rmdirSync, unlinkSync, writeSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { ensureCapacity } from './growable.js'
import { fsyncDir } from './snapshot-atomic.js'
import { createSimdArena, type SimdArena } from './simd-kernels.js'

const fsyncAsync = promisify(fsync)

/** Bytes of one record: the scale, then the values. */
export function originalRowBytes(dim: number): number {
  return dim + 4
}

let arena: SimdArena | null | undefined
/** Rows quantized per kernel call (bounds the arena: 2 MiB of input at dim 128). */
const KERNEL_ROWS = 4096

/**
 * Quantizes n vectors (rows of x from row 0) into records at out[outOff…]: in the WebAssembly kernel where it runs
 * (dim % 16 == 0; ~0.15 µs per 128-dim vector, the TypeScript loop ~1.7), else in TypeScript; both round to the
 * nearest integer, ties to even.
 */
export function quantizeOriginalRows(x: Float32Array, n: number, dim: number, out: Uint8Array, outOff: number): void {
  if (arena === undefined) arena = createSimdArena(0)
  if (arena === null || dim % 16 !== 0) { quantizeInTypeScript(x, n, dim, out, outOff); return }
  const bpr = dim + 4
  const chunk = Math.min(n, KERNEL_ROWS)
  const outPtr = chunk * dim * 4
  arena.reserve(outPtr + chunk * bpr)
  for (let r0 = 0; r0 < n; r0 += chunk) {
    const m = Math.min(chunk, n - r0)
    arena.f32(0, m * dim).set(x.subarray(r0 * dim, (r0 + m) * dim))
    arena.quantizeRows(0, m, dim, outPtr, bpr)
    out.set(arena.u8(outPtr, m * bpr), outOff + r0 * bpr)
  }
}

function quantizeInTypeScript(x: Float32Array, n: number, dim: number, out: Uint8Array, outOff: number): void {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength)
  const q = new Int8Array(out.buffer, out.byteOffset, out.byteLength)
  const bpr = dim + 4
  for (let r = 0; r < n; r++) {
    const xo = r * dim, o = outOff + r * bpr
    let max = 0
    for (let d = 0; d < dim; d++) {
      const v = x[xo + d]
      if (v > max) max = v
      else if (-v > max) max = -v
    }
    const scale = Math.fround(max / 127)
    view.setFloat32(o, scale, true)
    // |x_d|·inv ≤ 127 (to float rounding), so the rounded value needs no clamp;
    // in float32 like the kernel, so both give the same records
    const inv = scale > 0 ? Math.fround(1 / scale) : 0
    const qo = o + 4
    for (let d = 0; d < dim; d++) {
      // nearest, ties to even as the kernel's f32x4.nearest (Math.round takes ties up)
      const v = Math.fround(x[xo + d] * inv), r = Math.round(v)
      q[qo + d] = r - v === 0.5 && (r & 1) !== 0 ? r - 1 : r
    }
  }
}

/** Record r of `bytes` (at byteOff) as float32 values into out[outOff…]. */
export function dequantizeOriginalRow(bytes: Uint8Array, byteOff: number, dim: number, out: Float32Array, outOff: number): void {
  const scale = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getFloat32(byteOff, true)
  const q = new Int8Array(bytes.buffer, bytes.byteOffset + byteOff + 4, dim)
  for (let d = 0; d < dim; d++) out[outOff + d] = q[d] * scale
}

/** What a search needs: records [v, v + n) copied to dst from dstOff. */
export interface OriginalRowsReader {
  readonly dim: number
  readonly bytesPerRow: number
  read(v: number, n: number, dst: Uint8Array, dstOff: number): void
  /** for search workers (absent on a worker's own reader) */
  source?(): OriginalRowsSource
}

/** How a search worker reaches the same records: the shared array, or the open file (descriptors are per process). */
export type OriginalRowsSource = { home: 'memory'; dim: number; bytes: Uint8Array } | { home: 'file'; dim: number; fd: number }

export interface OriginalRows extends OriginalRowsReader {
  readonly home: 'memory' | 'file'
  /** records held */
  readonly rows: number
  /** quantizes and appends n vectors (rows of x) */
  append(x: Float32Array, n: number): void
  /** a new store with the records of runs [starts[i], starts[i] + lens[i]), in order */
  select(starts: Uint32Array, lens: Uint32Array, count: number): OriginalRows
  source(): OriginalRowsSource
  /** memory: the first `rows` records (a copy); file: its name in the folder */
  snapshotPart(): { bytes: Uint8Array } | { file: string }
  /** makes every record appended so far durable (file; memory: nothing to do) */
  sync(): Promise<void>
  /** deletes the folder's other record files, except `keep` (file names) */
  prune(keep: string[]): void
  bytesInMemory(): number
  bytesOnDisk(): number
  /** stops using the store: a file's descriptor is closed after `graceMs` (searches may still read it); remove: delete it */
  close(opts?: { remove?: boolean; graceMs?: number }): void
}

export function readerOf(source: OriginalRowsSource): OriginalRowsReader {
  const bpr = originalRowBytes(source.dim)
  if (source.home === 'memory') {
    const bytes = source.bytes
    return { dim: source.dim, bytesPerRow: bpr, read: (v, n, dst, off) => { dst.set(bytes.subarray(v * bpr, (v + n) * bpr), off) } }
  }
  const fd = source.fd
  return { dim: source.dim, bytesPerRow: bpr, read: (v, n, dst, off) => readFully(fd, dst, off, n * bpr, v * bpr) }
}

function writeFully(fd: number, src: Uint8Array, len: number, pos: number): void {
  for (let off = 0; off < len;) off += writeSync(fd, src, off, len - off, pos + off)
}

function readFully(fd: number, dst: Uint8Array, off: number, len: number, pos: number): void {
  while (len > 0) {
    const got = readSync(fd, dst, off, len, pos)
    if (got === 0) throw new Error(`original vectors: the file ends before byte ${pos + len}`)
    off += got
    len -= got
    pos += got
  }
}

/** A store in memory: empty, or adopting `bytes` whose first `used` records are held (a restored or selected one). */
export function createMemoryOriginalRows(dim: number, bytes?: Uint8Array, used?: number): OriginalRows {
  const bpr = originalRowBytes(dim)
  let data = bytes ?? new Uint8Array(0)
  let rows = used ?? Math.floor(data.length / bpr)
  const self: OriginalRows = {
    home: 'memory', dim, bytesPerRow: bpr,
    get rows() { return rows },
    read: (v, n, dst, off) => { dst.set(data.subarray(v * bpr, (v + n) * bpr), off) },
    append(x, n) {
      data = ensureCapacity(data, (rows + n) * bpr)
      quantizeOriginalRows(x, n, dim, data, rows * bpr)
      rows += n
    },
    select(starts, lens, count) {
      let total = 0
      for (let i = 0; i < count; i++) total += lens[i]
      const out = ensureCapacity(new Uint8Array(0), total * bpr)
      for (let i = 0, at = 0; i < count; i++) {
        out.set(data.subarray(starts[i] * bpr, (starts[i] + lens[i]) * bpr), at * bpr)
        at += lens[i]
      }
      return createMemoryOriginalRows(dim, out, total)
    },
    source: () => ({ home: 'memory', dim, bytes: data }),
    snapshotPart: () => ({ bytes: data.slice(0, rows * bpr) }),
    sync: async () => {},
    prune: () => {},
    bytesInMemory: () => data.byteLength,
    bytesOnDisk: () => 0,
    close: () => {},
  }
  return self
}

/** A record file's name; the group is its generation. */
const RECORD_FILE = /^rows-[0-9a-f]+-(\d+)\.bin$/

/** A new, empty store in `dir` (created if absent), in a file no other store uses. */
export function createFileOriginalRows(dir: string, dim: number): OriginalRows {
  mkdirSync(dir, { recursive: true })
  return fileStore(dir, `rows-${newToken()}-1.bin`, dim, 0, 1)
}

/**
 * The store a snapshot names: file `file` in `dir` with `rows` records; records past them are cut off. Throws when
 * the file is missing or shorter.
 */
export function openFileOriginalRows(dir: string, file: string, dim: number, rows: number): OriginalRows {
  const named = RECORD_FILE.exec(file)
  if (named === null) throw new Error(`original vectors: ${JSON.stringify(file)} is not a record file name`)
  const path = join(dir, file)
  const fd = openSync(path, 'r+')
  try {
    const need = rows * originalRowBytes(dim)
    const size = fstatSync(fd).size
    if (size < need) throw new Error(`original vectors: ${path} has ${size} bytes, the snapshot needs ${need}`)
    if (size > need) ftruncateSync(fd, need)
  } catch (err) {
    closeSync(fd)
    throw err
  }
  return fileStore(dir, file, dim, rows, Number(named[1]), fd, true)
}

interface FileStore extends OriginalRows { readonly fd: number; setRows(n: number): void }

/** A random file-name part: each new file gets its own, so two indexes loaded from one snapshot never share a next file. */
function newToken(): string {
  return randomBytes(6).toString('hex')
}

function fileStore(dir: string, file: string, dim: number, rows0: number, gen: number, fd0?: number, named = false): FileStore {
  const bpr = originalRowBytes(dim)
  const path = join(dir, file)
  const fd = fd0 ?? openSync(path, 'w+')
  let rows = rows0
  let closed = false
  let scratch = new Uint8Array(0)
  const self: FileStore = {
    home: 'file', dim, bytesPerRow: bpr, fd,
    setRows: (n) => { rows = n },
    get rows() { return rows },
    read: (v, n, dst, off) => readFully(fd, dst, off, n * bpr, v * bpr),
    append(x, n) {
      if (n === 0) return
      if (scratch.length < n * bpr) scratch = new Uint8Array(n * bpr)
      quantizeOriginalRows(x, n, dim, scratch, 0)
      writeFully(fd, scratch, n * bpr, rows * bpr)
      rows += n
    },
    select(starts, lens, count) {
      const next = fileStore(dir, `rows-${newToken()}-${gen + 1}.bin`, dim, 0, gen + 1)
      // copied in runs of up to 4 MiB: a re-training selects every live record
      const chunkRows = Math.max(1, Math.floor((4 << 20) / bpr))
      const buf = new Uint8Array(chunkRows * bpr)
      let out = 0
      for (let i = 0; i < count; i++) {
        for (let v = starts[i], end = starts[i] + lens[i]; v < end;) {
          const n = Math.min(chunkRows, end - v)
          readFully(fd, buf, 0, n * bpr, v * bpr)
          writeFully(next.fd, buf, n * bpr, out * bpr)
          out += n
          v += n
        }
      }
      next.setRows(out)
      return next
    },
    source: () => ({ home: 'file', dim, fd }),
    snapshotPart: () => ({ file }),
    async sync() {
      if (closed) return
      await fsyncAsync(fd)
      // a new file's name is durable once its folder is synced
      if (!named) {
        await fsyncDir(dir)
        named = true
      }
    },
    prune(keep) {
      const mine = new Set([file, ...keep])
      let names: string[]
      try {
        names = readdirSync(dir)
      } catch {
        return
      }
      for (const name of names) {
        if (!RECORD_FILE.test(name) || mine.has(name)) continue
        try { unlinkSync(join(dir, name)) } catch { /* gone already */ }
      }
    },
    bytesInMemory: () => 0,
    bytesOnDisk: () => rows * bpr,
    close(opts) {
      if (closed) return
      closed = true
      const finish = (): void => {
        try { closeSync(fd) } catch { /* closed */ }
      }
      if (opts?.remove) {
        try { unlinkSync(path) } catch { /* gone already */ }
        try { rmdirSync(dir) } catch { /* other files, or gone */ }
      }
      const grace = opts?.graceMs ?? 0
      if (grace > 0) setTimeout(finish, grace).unref()
      else finish()
    },
  }
  return self
}
