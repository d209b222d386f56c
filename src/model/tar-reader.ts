/**
 * Streaming reader for (gzip-compressed) tar archives: enough of ustar, GNU and pax to unpack a Python sdist
 * (`unidic-lite-1.0.8.tar.gz`). Entries are read in one pass and selected ones are written straight to disk,
 * so a 250 MB dictionary never sits in memory. Cost: O(archive bytes) time, O(largest header) memory.
 */
import { createReadStream } from 'node:fs'
import { mkdir, open, type FileHandle } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { createGunzip } from 'node:zlib'
import { AppError } from '../errors.js'
import { safeRelativePath, type ExtractedEntry, type SelectEntry } from './zip-reader.js'

const BLOCK = 512

interface TarHeader {
  name: string
  size: number
  type: string
}

type State =
  | { kind: 'header' }
  | { kind: 'body'; header: TarHeader; remaining: number; pad: number; out: FileHandle | undefined; dest: string | undefined; collect: Buffer[] | undefined }
  | { kind: 'pad'; remaining: number }
  | { kind: 'end' }

/**
 * Unpacks the entries of a `.tar` or `.tar.gz` file (detected by its magic bytes) that `select` maps to a relative
 * destination path, under `destDir`. Only regular files are written; links and devices are ignored, names with
 * `..` or absolute paths are refused by `safeRelativePath`.
 */
export async function extractTar(archivePath: string, destDir: string, select: SelectEntry): Promise<ExtractedEntry[]> {
  const head = await readHead(archivePath, 2)
  const gz = head[0] === 0x1f && head[1] === 0x8b
  const source = createReadStream(archivePath)
  let stream: NodeJS.ReadableStream = source
  if (gz) {
    const gunzip = createGunzip()
    source.on('error', (e) => gunzip.destroy(e))
    source.pipe(gunzip)
    stream = gunzip
  }
  const extracted: ExtractedEntry[] = []
  let state: State = { kind: 'header' }
  let leftover: Buffer = Buffer.alloc(0)
  let pendingName: string | undefined // from a GNU 'L' entry or a pax 'x' header, for the next entry
  let pendingSize: number | undefined
  const fail = (problem: string): never => {
    throw new AppError('DOWNLOAD_FAILED', `${archivePath}: not a valid tar archive (${problem})`)
  }
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (state.kind === 'end') continue // drain the rest (zero padding up to the record size)
      const data = leftover.length > 0 ? Buffer.concat([leftover, chunk]) : chunk
      leftover = Buffer.alloc(0)
      let off = 0
      while (off < data.length && state.kind !== 'end') {
        if (state.kind === 'header') {
          if (data.length - off < BLOCK) {
            leftover = Buffer.from(data.subarray(off))
            break
          }
          const block = data.subarray(off, off + BLOCK)
          off += BLOCK
          if (isZeroBlock(block)) {
            state = { kind: 'end' }
            break
          }
          const header = parseHeader(block, fail)
          if (pendingName !== undefined) header.name = pendingName
          if (pendingSize !== undefined && header.type !== 'x' && header.type !== 'L') header.size = pendingSize
          if (header.type !== 'x' && header.type !== 'g' && header.type !== 'L' && header.type !== 'K') {
            pendingName = undefined
            pendingSize = undefined
          }
          state = await openBody(header, destDir, select)
          if (state.kind === 'body' && state.dest !== undefined) extracted.push({ name: header.name, path: state.dest, size: header.size })
          if (state.kind === 'body' && state.remaining === 0) state = await finishBody(state)
          continue
        }
        if (state.kind === 'body') {
          const take = Math.min(state.remaining, data.length - off)
          const piece = data.subarray(off, off + take)
          if (state.out) await writeAll(state.out, piece)
          else if (state.collect) state.collect.push(Buffer.from(piece))
          state.remaining -= take
          off += take
          if (state.remaining === 0) {
            const done = state
            state = await finishBody(done)
            if (done.collect) {
              const body = Buffer.concat(done.collect)
              if (done.header.type === 'L') pendingName = body.toString('utf8').replace(/\0+$/, '')
              else if (done.header.type === 'x') {
                const pax = parsePax(body, fail)
                if (pax.path !== undefined) pendingName = pax.path
                if (pax.size !== undefined) pendingSize = pax.size
              }
            }
          }
          continue
        }
        if (state.kind === 'pad') {
          const take = Math.min(state.remaining, data.length - off)
          off += take
          state.remaining -= take
          if (state.remaining === 0) state = { kind: 'header' }
        }
      }
    }
  } catch (err) {
    if (state.kind === 'body' && state.out) await state.out.close().catch(() => undefined)
    if (err instanceof AppError) throw err
    throw new AppError('DOWNLOAD_FAILED', `${archivePath}: cannot read the archive (${(err as Error).message})`, undefined, { cause: err })
  }
  if (state.kind !== 'end' && !(state.kind === 'header' && leftover.length === 0)) fail('truncated')
  return extracted
}

async function openBody(header: TarHeader, destDir: string, select: SelectEntry): Promise<State> {
  const pad = (BLOCK - (header.size % BLOCK)) % BLOCK
  const base = { kind: 'body' as const, header, remaining: header.size, pad, out: undefined, dest: undefined, collect: undefined }
  if (header.type === 'L' || header.type === 'x') {
    if (header.size > 1 << 20) throw new AppError('DOWNLOAD_FAILED', `tar: ${header.type} header of ${header.size} bytes is implausible`)
    return { ...base, collect: [] }
  }
  if (header.type !== '0' && header.type !== '\0' && header.type !== '7') return base
  const rel = select(header.name)
  if (rel === undefined) return base
  const dest = join(destDir, safeRelativePath(rel, header.name))
  await mkdir(dirname(dest), { recursive: true })
  return { ...base, out: await open(dest, 'w'), dest }
}

async function finishBody(state: Extract<State, { kind: 'body' }>): Promise<State> {
  if (state.out) await state.out.close()
  return state.pad > 0 ? { kind: 'pad', remaining: state.pad } : { kind: 'header' }
}

function parseHeader(block: Buffer, fail: (p: string) => never): TarHeader {
  // checksum: sum of all header bytes with the checksum field itself counted as spaces
  let sum = 0
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!
  const stored = parseOctal(block.subarray(148, 156))
  if (stored !== sum) fail(`header checksum ${stored} != ${sum}`)
  let name = cString(block.subarray(0, 100))
  const magic = block.subarray(257, 262).toString('latin1')
  if (magic === 'ustar') {
    const prefix = cString(block.subarray(345, 500))
    if (prefix) name = `${prefix}/${name}`
  }
  const sizeField = block.subarray(124, 136)
  const size = sizeField[0]! & 0x80 ? parseBase256(sizeField) : parseOctal(sizeField)
  if (!Number.isSafeInteger(size) || size < 0) fail(`bad size for ${name}`)
  return { name, size, type: String.fromCharCode(block[156]!) }
}

function parsePax(body: Buffer, fail: (p: string) => never): { path?: string; size?: number } {
  const out: { path?: string; size?: number } = {}
  let pos = 0
  while (pos < body.length) {
    const space = body.indexOf(0x20, pos)
    if (space < 0) break
    const len = Number(body.subarray(pos, space).toString('latin1'))
    if (!Number.isInteger(len) || len <= 0 || pos + len > body.length) fail('bad pax record')
    const record = body.subarray(space + 1, pos + len - 1).toString('utf8') // drop the trailing newline
    const eq = record.indexOf('=')
    const key = record.slice(0, eq)
    const value = record.slice(eq + 1)
    if (key === 'path') out.path = value
    else if (key === 'size') out.size = Number(value)
    pos += len
  }
  return out
}

function cString(b: Buffer): string {
  const end = b.indexOf(0)
  return b.subarray(0, end < 0 ? b.length : end).toString('utf8')
}

function parseOctal(b: Buffer): number {
  const s = b.toString('latin1').replace(/\0.*$/s, '').trim()
  return s === '' ? 0 : parseInt(s, 8)
}

function parseBase256(b: Buffer): number {
  let v = b[0]! & 0x7f
  for (let i = 1; i < b.length; i++) v = v * 256 + b[i]!
  return v
}

function isZeroBlock(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false
  return true
}

async function writeAll(fh: FileHandle, data: Buffer): Promise<void> {
  let off = 0
  while (off < data.length) {
    const { bytesWritten } = await fh.write(data, off, data.length - off)
    off += bytesWritten
  }
}

async function readHead(path: string, n: number): Promise<Buffer> {
  const fh = await open(path, 'r')
  try {
    const buf = Buffer.alloc(n)
    const { bytesRead } = await fh.read(buf, 0, n, 0)
    return buf.subarray(0, bytesRead)
  } finally {
    await fh.close()
  }
}
