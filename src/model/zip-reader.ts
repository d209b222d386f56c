/**
 * Reader for zip archives (Python wheels): finds the central directory at the end of the file, then streams each
 * selected entry (stored or deflated) to disk and checks its CRC-32 and size. Zip64 sizes and offsets are understood.
 * Cost: O(central directory) memory, O(selected bytes) time.
 */
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, open, type FileHandle } from 'node:fs/promises'
import { dirname, join, posix } from 'node:path'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { crc32, createInflateRaw } from 'node:zlib'
import { AppError } from '../errors.js'

/** Maps an archive entry name to a relative destination path, or `undefined` to skip it. */
export type SelectEntry = (name: string) => string | undefined

export interface ExtractedEntry {
  name: string
  path: string
  size: number
}

export interface ZipEntry {
  name: string
  method: number
  flags: number
  crc: number
  compressedSize: number
  size: number
  localHeaderOffset: number
  isDirectory: boolean
}

const EOCD_SIG = 0x06054b50
const ZIP64_LOCATOR_SIG = 0x07064b50
const ZIP64_EOCD_SIG = 0x06064b50
const CENTRAL_SIG = 0x02014b50
const LOCAL_SIG = 0x04034b50

/**
 * A relative path that cannot leave its folder: refuses absolute paths, drive letters, backslashes and `..`
 * (an archive from the network decides these names).
 */
export function safeRelativePath(rel: string, entryName: string): string {
  const parts = rel.split('/')
  if (rel === '' || rel.startsWith('/') || /^[A-Za-z]:/.test(rel) || rel.includes('\\') || parts.some((p) => p === '..' || p === '.' || p === '')) {
    throw new AppError('DOWNLOAD_FAILED', `archive entry '${entryName}' has an unsafe path`)
  }
  return posix.join(...parts)
}

/** Lists the entries of a zip file from its central directory. */
export async function listZipEntries(zipPath: string): Promise<ZipEntry[]> {
  const fh = await open(zipPath, 'r')
  try {
    return await readCentralDirectory(fh, zipPath)
  } finally {
    await fh.close()
  }
}

/** Unpacks the entries that `select` maps to a destination path, under `destDir`. */
export async function extractZip(zipPath: string, destDir: string, select: SelectEntry): Promise<ExtractedEntry[]> {
  const fh = await open(zipPath, 'r')
  const out: ExtractedEntry[] = []
  try {
    const entries = await readCentralDirectory(fh, zipPath)
    for (const entry of entries) {
      if (entry.isDirectory) continue
      const rel = select(entry.name)
      if (rel === undefined) continue
      const dest = join(destDir, safeRelativePath(rel, entry.name))
      await extractEntry(fh, zipPath, entry, dest)
      out.push({ name: entry.name, path: dest, size: entry.size })
    }
  } finally {
    await fh.close()
  }
  return out
}

async function readCentralDirectory(fh: FileHandle, zipPath: string): Promise<ZipEntry[]> {
  const fail = (problem: string): never => {
    throw new AppError('DOWNLOAD_FAILED', `${zipPath}: not a valid zip archive (${problem})`)
  }
  const { size: fileSize } = await fh.stat()
  const tailLen = Math.min(fileSize, 22 + 0xffff + 20)
  const tail = await readAt(fh, fileSize - tailLen, tailLen)
  let eocd = -1
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === EOCD_SIG) {
      eocd = i
      break
    }
  }
  if (eocd < 0) fail('no end-of-central-directory record')
  let count = tail.readUInt16LE(eocd + 10)
  let cdSize = tail.readUInt32LE(eocd + 12)
  let cdOffset = tail.readUInt32LE(eocd + 16)
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20
    if (loc < 0 || tail.readUInt32LE(loc) !== ZIP64_LOCATOR_SIG) fail('zip64 locator missing')
    const z64 = await readAt(fh, Number(tail.readBigUInt64LE(loc + 8)), 56)
    if (z64.readUInt32LE(0) !== ZIP64_EOCD_SIG) fail('zip64 end record missing')
    count = Number(z64.readBigUInt64LE(32))
    cdSize = Number(z64.readBigUInt64LE(40))
    cdOffset = Number(z64.readBigUInt64LE(48))
  }
  if (cdOffset + cdSize > fileSize) fail('central directory beyond the end of the file')
  const cd = await readAt(fh, cdOffset, cdSize)
  const entries: ZipEntry[] = []
  let p = 0
  for (let i = 0; i < count; i++) {
    if (p + 46 > cd.length || cd.readUInt32LE(p) !== CENTRAL_SIG) fail(`central directory entry ${i} is malformed`)
    const nameLen = cd.readUInt16LE(p + 28)
    const extraLen = cd.readUInt16LE(p + 30)
    const commentLen = cd.readUInt16LE(p + 32)
    const entry: ZipEntry = {
      flags: cd.readUInt16LE(p + 8),
      method: cd.readUInt16LE(p + 10),
      crc: cd.readUInt32LE(p + 16),
      compressedSize: cd.readUInt32LE(p + 20),
      size: cd.readUInt32LE(p + 24),
      localHeaderOffset: cd.readUInt32LE(p + 42),
      name: cd.subarray(p + 46, p + 46 + nameLen).toString('utf8'),
      isDirectory: false,
    }
    entry.isDirectory = entry.name.endsWith('/')
    applyZip64Extra(entry, cd.subarray(p + 46 + nameLen, p + 46 + nameLen + extraLen))
    entries.push(entry)
    p += 46 + nameLen + extraLen + commentLen
  }
  return entries
}

/** Zip64 extended information (tag 1): the 64-bit values, in this order, for fields that were saturated. */
function applyZip64Extra(entry: ZipEntry, extra: Buffer): void {
  let p = 0
  while (p + 4 <= extra.length) {
    const tag = extra.readUInt16LE(p)
    const len = extra.readUInt16LE(p + 2)
    if (tag === 0x0001) {
      let q = p + 4
      const take = (): number => {
        const v = Number(extra.readBigUInt64LE(q))
        q += 8
        return v
      }
      if (entry.size === 0xffffffff) entry.size = take()
      if (entry.compressedSize === 0xffffffff) entry.compressedSize = take()
      if (entry.localHeaderOffset === 0xffffffff) entry.localHeaderOffset = take()
    }
    p += 4 + len
  }
}

async function extractEntry(fh: FileHandle, zipPath: string, entry: ZipEntry, dest: string): Promise<void> {
  const fail = (problem: string): never => {
    throw new AppError('DOWNLOAD_FAILED', `${zipPath}: entry '${entry.name}' ${problem}`)
  }
  if (entry.flags & 0x1) fail('is encrypted')
  if (entry.method !== 0 && entry.method !== 8) fail(`uses unsupported compression method ${entry.method}`)
  const local = await readAt(fh, entry.localHeaderOffset, 30)
  if (local.length < 30 || local.readUInt32LE(0) !== LOCAL_SIG) fail('has no local header')
  const dataStart = entry.localHeaderOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28)
  await mkdir(dirname(dest), { recursive: true })
  let crc = 0
  let written = 0
  const check = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      crc = crc32(chunk, crc)
      written += chunk.length
      cb(null, chunk)
    },
  })
  if (entry.compressedSize === 0) {
    await open(dest, 'w').then((f) => f.close())
  } else {
    const source = createReadStream('', { fd: fh.fd, autoClose: false, start: dataStart, end: dataStart + entry.compressedSize - 1 })
    if (entry.method === 8) await pipeline(source, createInflateRaw(), check, createWriteStream(dest))
    else await pipeline(source, check, createWriteStream(dest))
  }
  if (written !== entry.size) fail(`has ${written} bytes, the directory says ${entry.size}`)
  if ((crc >>> 0) !== entry.crc) fail(`fails its CRC-32 check`)
}

async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length)
  let off = 0
  while (off < length) {
    const { bytesRead } = await fh.read(buf, off, length - off, position + off)
    if (bytesRead === 0) break
    off += bytesRead
  }
  return buf.subarray(0, off)
}
