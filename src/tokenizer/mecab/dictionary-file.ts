/**
 * Reader for MeCab's compiled dictionaries (`sys.dic`, `unk.dic`, written by mecab-dict-index).
 *
 * Layout (little-endian, as mecab-dict-index writes it on x86/ARM):
 *   u32 magic (file size XOR 0xef718f77), u32 version (102), u32 type (0 system, 1 user, 2 unknown),
 *   u32 lexsize, u32 lsize, u32 rsize, u32 dsize, u32 tsize, u32 fsize, u32 reserved,
 *   char[32] charset, then dsize bytes of double-array units (i32 base, u32 check),
 *   tsize bytes of 16-byte tokens (u16 lcAttr, u16 rcAttr, u16 posid, i16 wcost, u32 feature, u32 compound),
 *   fsize bytes of NUL-terminated feature strings (not needed for segmentation; decoded only for the lexical base form).
 * A trie value v encodes the tokens of one surface: first token v >> 8, count v & 0xff.
 */
import { AppError } from '../../errors.js'

const DICTIONARY_MAGIC = 0xef718f77
const DICTIONARY_VERSION = 102
const HEADER_BYTES = 10 * 4 + 32
const TOKEN_BYTES = 16

export interface DictionaryFile {
  readonly path: string
  readonly type: number
  readonly charset: string
  readonly lexsize: number
  readonly lsize: number
  readonly rsize: number
  /** Double-array units interleaved: base at [2i], check at [2i + 1] (compared as raw 32-bit patterns). */
  readonly trie: Int32Array
  /** Token fields as u16 (8 per token): lcAttr at [8t], rcAttr at [8t + 1]. */
  readonly tokenU16: Uint16Array
  /** Token fields as i16 (8 per token): wcost at [8t + 3]. */
  readonly tokenI16: Int16Array
  readonly tokenCount: number
  /** The feature section: NUL-terminated CSV strings; token t's starts at byte tokenU16[8t + 4] | tokenU16[8t + 5] << 16. */
  readonly features: Uint8Array
}

/** A typed-array view over `bytes` (copied only when the section is not aligned for the element size). */
function view<T>(bytes: Uint8Array, offset: number, length: number, align: number, make: (buf: ArrayBufferLike, off: number, len: number) => T): T {
  if ((bytes.byteOffset + offset) % align !== 0) {
    const copy = new Uint8Array(length)
    copy.set(bytes.subarray(offset, offset + length))
    return make(copy.buffer, 0, length / align)
  }
  return make(bytes.buffer, bytes.byteOffset + offset, length / align)
}

/** Parse one compiled dictionary file held in memory (no per-entry objects: views over `bytes`). */
export function parseDictionaryFile(bytes: Uint8Array, path: string): DictionaryFile {
  const fail = (problem: string): never => {
    throw new AppError('DICTIONARY_INVALID', `${path}: ${problem}`, { file: path })
  }
  if (bytes.length < 100) fail('file is too small to be a MeCab dictionary')
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const u32 = (i: number): number => dv.getUint32(i * 4, true)
  if (((u32(0) ^ DICTIONARY_MAGIC) >>> 0) !== bytes.length) fail('bad magic number or truncated file (not compiled by mecab-dict-index?)')
  const version = u32(1)
  if (version !== DICTIONARY_VERSION) fail(`unsupported dictionary version ${version} (expected ${DICTIONARY_VERSION})`)
  const type = u32(2)
  const lexsize = u32(3)
  const lsize = u32(4)
  const rsize = u32(5)
  const dsize = u32(6)
  const tsize = u32(7)
  const fsize = u32(8)
  if (HEADER_BYTES + dsize + tsize + fsize !== bytes.length) fail('section sizes do not add up to the file size')
  if (dsize % 8 !== 0 || tsize % TOKEN_BYTES !== 0) fail('section sizes are not multiples of their record sizes')
  let charsetEnd = 40
  while (charsetEnd < HEADER_BYTES && bytes[charsetEnd] !== 0) charsetEnd++
  const charset = Buffer.from(bytes.buffer, bytes.byteOffset + 40, charsetEnd - 40).toString('latin1')
  const trie = view(bytes, HEADER_BYTES, dsize, 4, (b, o, n) => new Int32Array(b, o, n))
  const tokenU16 = view(bytes, HEADER_BYTES + dsize, tsize, 2, (b, o, n) => new Uint16Array(b, o, n))
  const tokenI16 = new Int16Array(tokenU16.buffer, tokenU16.byteOffset, tokenU16.length)
  const features = bytes.subarray(HEADER_BYTES + dsize + tsize, HEADER_BYTES + dsize + tsize + fsize)
  return { path, type, charset, lexsize, lsize, rsize, trie, tokenU16, tokenI16, tokenCount: tsize / TOKEN_BYTES, features }
}

/** The feature CSV of token `t` (UTF-8 decoded), or '' when its offset is outside the section. */
export function tokenFeature(d: DictionaryFile, t: number): string {
  const off = (d.tokenU16[8 * t + 4] | (d.tokenU16[8 * t + 5] << 16)) >>> 0
  const f = d.features
  if (off >= f.length) return ''
  let end = off
  while (end < f.length && f[end] !== 0) end++
  return Buffer.from(f.buffer, f.byteOffset + off, end - off).toString('utf8')
}

/**
 * Exact-match lookup of `key` (bytes) in a double-array trie: the stored value, or -1.
 * Cost O(key length). Used at load time only (unknown-word categories).
 */
export function exactMatch(trie: Int32Array, key: Uint8Array): number {
  let b = trie[0]
  for (let i = 0; i < key.length; i++) {
    const p = b + key[i] + 1
    if (p >= trie.length >> 1 || b !== trie[2 * p + 1]) return -1
    b = trie[2 * p]
  }
  if (b < 0 || b >= trie.length >> 1) return -1
  const n = trie[2 * b]
  return b === trie[2 * b + 1] && n < 0 ? -n - 1 : -1
}
