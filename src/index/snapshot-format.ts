/**
 * The on-disk snapshot format (version 2; documented in docs/snapshot-format.md): one folder holding
 * - `manifest.json`: format name and version, the index's own state version, settings, scalars, the change-log
 *   position the snapshot covers (`log.seq`, version 2), and for every file its name, dtype, element count, byte size
 *   and CRC-32;
 * - one raw little-endian file per typed array (`<name>.bin`), written straight from the array's memory;
 * - `documents.jsonl`: one line per document slot, `[id, metadata | null]`.
 * Reading verifies sizes and checksums before any byte is trusted and refuses anything else with
 * AppError('SNAPSHOT_INVALID') naming the file. Cost: one sequential pass over each file (CRC) plus one copy at most.
 */
import { open, readFile } from 'node:fs/promises'
import { endianness } from 'node:os'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { AppError } from '../errors.js'
import { readInPieces } from './read-in-pieces.js'
import type { IndexSettings, IndexState, Metadata } from './types.js'
import { writeFileDurable, type SnapshotHooks } from './snapshot-atomic.js'

export const SNAPSHOT_FORMAT = 'jacolbert-plaid-snapshot'
export const SNAPSHOT_FORMAT_VERSION = 2
/** Versions this build reads: 1 (before the change log; covers no log position) and 2. */
export const READABLE_SNAPSHOT_VERSIONS: readonly number[] = [1, 2]
export const MANIFEST_FILE = 'manifest.json'
export const DOCUMENTS_FILE = 'documents.jsonl'

type StateArray = IndexState['arrays'][string]

const DTYPES = {
  float32: Float32Array,
  float64: Float64Array,
  int32: Int32Array,
  uint32: Uint32Array,
  uint16: Uint16Array,
  uint8: Uint8Array,
} as const
export type Dtype = keyof typeof DTYPES

export interface ArrayEntry { name: string; file: string; dtype: Dtype; length: number; bytes: number; crc32: number }
export interface SnapshotManifest {
  /** SNAPSHOT_FORMAT for the PLAID index; other engines (the lexical index) store their own state under their own name */
  format: string
  version: number
  byteOrder: 'little-endian'
  createdAt: string
  index: { formatVersion: number; settings: IndexSettings; scalars: IndexState['scalars'] }
  /** Version 2: the seq of the last change-log record the snapshot contains (0 = none). */
  log?: { seq: number }
  arrays: ArrayEntry[]
  documents: { file: string; count: number; bytes: number; crc32: number }
}

const ARRAY_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/

function dtypeOf(arr: StateArray): Dtype {
  if (arr instanceof Float32Array) return 'float32'
  if (arr instanceof Float64Array) return 'float64'
  if (arr instanceof Int32Array) return 'int32'
  if (arr instanceof Uint32Array) return 'uint32'
  if (arr instanceof Uint16Array) return 'uint16'
  if (arr instanceof Uint8Array) return 'uint8'
  throw new TypeError('unsupported typed array in index state')
}

function assertLittleEndian(): void {
  // Files are the arrays' memory verbatim; on a big-endian host that would silently change every number.
  if (endianness() !== 'LE') throw new AppError('SNAPSHOT_INVALID', 'snapshots need a little-endian host')
}

function bytesOf(arr: ArrayBufferView): Buffer {
  return Buffer.from(arr.buffer, arr.byteOffset, arr.byteLength)
}

/**
 * Writes `state` as snapshot files into the (empty) folder `dir`, fsyncing each; the manifest goes last.
 * `opts.format`: the manifest's format name (another engine's state, e.g. the lexical index, under its own name);
 * `opts.seq`: the change-log position the state contains (default 0).
 */
export async function writeStateFiles(
  state: IndexState, dir: string, hooks?: SnapshotHooks, opts?: { format?: string; seq?: number },
): Promise<{ bytes: number }> {
  const format = opts?.format ?? SNAPSHOT_FORMAT
  const seq = opts?.seq ?? 0
  if (!isUint(seq)) throw new TypeError(`snapshot seq must be a non-negative safe integer, got ${seq}`)
  assertLittleEndian()
  if (state.metadata.length !== state.ids.length) {
    throw new TypeError(`index state has ${state.ids.length} ids but ${state.metadata.length} metadata entries`)
  }
  for (const [k, v] of Object.entries(state.scalars)) {
    // JSON would turn NaN/Infinity into null and -0 into 0: refuse rather than load back something else.
    if (typeof v === 'number' && (!Number.isFinite(v) || Object.is(v, -0))) throw new TypeError(`index state scalar ${k} = ${v} cannot be stored exactly`)
  }
  let total = 0
  const arrays: ArrayEntry[] = []
  for (const [name, arr] of Object.entries(state.arrays)) {
    if (!ARRAY_NAME.test(name)) throw new TypeError(`index state array name ${JSON.stringify(name)} is not a safe file name`)
    const buf = bytesOf(arr)
    const file = `${name}.bin`
    await writeFileDurable(join(dir, file), buf)
    arrays.push({ name, file, dtype: dtypeOf(arr), length: arr.length, bytes: buf.byteLength, crc32: crc32(buf) })
    total += buf.byteLength
    await hooks?.afterFile?.(file)
  }
  const lines: string[] = new Array(state.ids.length)
  for (let i = 0; i < state.ids.length; i++) lines[i] = JSON.stringify([state.ids[i], state.metadata[i] ?? null])
  const docs = Buffer.from(lines.length === 0 ? '' : lines.join('\n') + '\n', 'utf8')
  await writeFileDurable(join(dir, DOCUMENTS_FILE), docs)
  total += docs.byteLength
  await hooks?.afterFile?.(DOCUMENTS_FILE)
  const manifest: SnapshotManifest = {
    format,
    version: SNAPSHOT_FORMAT_VERSION,
    byteOrder: 'little-endian',
    createdAt: new Date().toISOString(),
    index: { formatVersion: state.formatVersion, settings: state.settings, scalars: state.scalars },
    log: { seq },
    arrays,
    documents: { file: DOCUMENTS_FILE, count: state.ids.length, bytes: docs.byteLength, crc32: crc32(docs) },
  }
  const json = JSON.stringify(manifest, null, 2) + '\n'
  await writeFileDurable(join(dir, MANIFEST_FILE), json)
  return { bytes: total + Buffer.byteLength(json) }
}

function invalid(file: string, problem: string): never {
  throw new AppError('SNAPSHOT_INVALID', `snapshot file ${file}: ${problem}`, { file })
}

/**
 * Reads `file` into a fresh, 8-byte-aligned ArrayBuffer after checking its size, and verifies its CRC-32 as it goes.
 * Cost: one sequential read and one CRC pass, no extra copy.
 */
async function readChecked(dir: string, file: string, bytes: number, crc: number): Promise<Uint8Array> {
  const path = join(dir, file)
  let fh
  try {
    fh = await open(path, 'r')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    return invalid(path, code === 'ENOENT' ? 'missing' : `unreadable (${code ?? String(err)})`)
  }
  try {
    const size = (await fh.stat()).size
    if (size !== bytes) invalid(path, `size ${size} bytes, manifest says ${bytes} (truncated or foreign)`)
    const buffer = new ArrayBuffer(bytes)
    let value = 0
    const got = await readInPieces(fh, buffer, 0, bytes, (piece) => { value = crc32(piece, value) })
    if (got < bytes) invalid(path, `ended after ${got} of ${bytes} bytes (truncated while reading)`)
    if (value !== crc) invalid(path, 'CRC-32 mismatch (corrupt)')
    return new Uint8Array(buffer)
  } finally {
    await fh.close()
  }
}

function isUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
}

/** Parses and checks the manifest's shape (not the files). */
export async function readManifest(dir: string, opts?: { format?: string }): Promise<SnapshotManifest> {
  const format = opts?.format ?? SNAPSHOT_FORMAT
  const path = join(dir, MANIFEST_FILE)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    return invalid(path, code === 'ENOENT' ? 'missing (not a snapshot folder, or an incomplete one)' : `unreadable (${code})`)
  }
  let m: SnapshotManifest
  try {
    m = JSON.parse(text) as SnapshotManifest
  } catch {
    return invalid(path, 'not valid JSON (truncated or corrupt)')
  }
  if (typeof m !== 'object' || m === null || m.format !== format) invalid(path, `not a ${format} manifest`)
  if (!READABLE_SNAPSHOT_VERSIONS.includes(m.version)) {
    invalid(path, `format version ${JSON.stringify(m.version)} is not supported (this build reads versions ${READABLE_SNAPSHOT_VERSIONS.join(' and ')})`)
  }
  if (m.version >= 2 && (typeof m.log !== 'object' || m.log === null || !isUint(m.log.seq))) invalid(path, 'log section malformed')
  if (m.byteOrder !== 'little-endian') invalid(path, `byte order ${JSON.stringify(m.byteOrder)} is not supported`)
  const idx = m.index
  if (typeof idx !== 'object' || idx === null || typeof idx.formatVersion !== 'number' || typeof idx.settings !== 'object' ||
      idx.settings === null || typeof idx.scalars !== 'object' || idx.scalars === null) {
    invalid(path, 'index section malformed')
  }
  if (!Array.isArray(m.arrays)) invalid(path, 'arrays section malformed')
  const seen = new Set<string>()
  for (const a of m.arrays) {
    if (typeof a !== 'object' || a === null || typeof a.name !== 'string' || !ARRAY_NAME.test(a.name) || seen.has(a.name) ||
        a.file !== `${a.name}.bin` || !Object.hasOwn(DTYPES, a.dtype) || !isUint(a.length) || !isUint(a.bytes) || !isUint(a.crc32) ||
        a.bytes !== a.length * DTYPES[a.dtype].BYTES_PER_ELEMENT) {
      invalid(path, `array entry ${JSON.stringify(a)} malformed`)
    }
    seen.add(a.name)
  }
  const d = m.documents
  if (typeof d !== 'object' || d === null || d.file !== DOCUMENTS_FILE || !isUint(d.count) || !isUint(d.bytes) || !isUint(d.crc32)) {
    invalid(path, 'documents section malformed')
  }
  return m
}

/** Reads and verifies the snapshot files in `dir` into an IndexState (arrays own aligned memory). */
export async function readStateFiles(dir: string, opts?: { format?: string }): Promise<IndexState> {
  return (await readSnapshotFiles(dir, opts)).state
}

/** readStateFiles plus the change-log position the snapshot covers (0 for version 1). */
export async function readSnapshotFiles(dir: string, opts?: { format?: string }): Promise<{ state: IndexState; seq: number }> {
  assertLittleEndian()
  const m = await readManifest(dir, opts)
  const arrays: IndexState['arrays'] = {}
  for (const a of m.arrays) {
    const buf = await readChecked(dir, a.file, a.bytes, a.crc32)
    // readChecked returns memory of its own starting at offset 0, so every dtype can view it without a copy
    arrays[a.name] = new DTYPES[a.dtype](buf.buffer as ArrayBuffer, 0, a.length)
  }
  const docsPath = join(dir, m.documents.file)
  const docBytes = await readChecked(dir, m.documents.file, m.documents.bytes, m.documents.crc32)
  let docs = ''
  try {
    docs = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(docBytes)
  } catch {
    invalid(docsPath, 'not valid UTF-8')
  }
  const ids: string[] = new Array(m.documents.count)
  const metadata: Array<Metadata | null> = new Array(m.documents.count)
  let pos = 0
  for (let i = 0; i < m.documents.count; i++) {
    const nl = docs.indexOf('\n', pos)
    if (nl < 0) invalid(docsPath, `has ${i} lines, manifest says ${m.documents.count}`)
    let row: unknown
    try {
      row = JSON.parse(docs.slice(pos, nl))
    } catch {
      invalid(docsPath, `line ${i + 1} is not valid JSON`)
    }
    if (!Array.isArray(row) || row.length !== 2 || typeof row[0] !== 'string' || (row[1] !== null && (typeof row[1] !== 'object' || Array.isArray(row[1])))) {
      invalid(docsPath, `line ${i + 1} is not [id, metadata|null]`)
    }
    ids[i] = row[0]
    metadata[i] = row[1] as Metadata | null
    pos = nl + 1
  }
  if (pos !== docs.length) invalid(docsPath, `has more lines than the ${m.documents.count} the manifest says`)
  const state: IndexState = {
    formatVersion: m.index.formatVersion,
    settings: m.index.settings,
    scalars: m.index.scalars,
    arrays,
    ids,
    metadata,
  }
  return { state, seq: m.log?.seq ?? 0 }
}
