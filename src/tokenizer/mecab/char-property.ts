/**
 * Reader for MeCab's `char.bin` (compiled char.def): character categories per UCS-2 code point.
 *
 * Layout: u32 category count n, n × char[32] category names (in char.def order; the index is the
 * category id), then 0xffff u32 CharInfo words for code points 0..0xfffe. A CharInfo is a GCC
 * bit-field on a little-endian machine: bits 0-17 type (bit set of categories), 18-25 default
 * category id, 26-29 length (max chars of length-based unknown words), bit 30 group, bit 31 invoke.
 */
import { AppError } from '../../errors.js'

export const CHAR_INFO_ENTRIES = 0xffff

export interface CharProperty {
  readonly names: string[]
  /** CharInfo word per code point; index 0xffff (one past MeCab's table) holds 0 like the zero page MeCab reads there. */
  readonly map: Uint32Array
}

/** Parses char.bin held in memory; AppError('DICTIONARY_INVALID') naming `path` when malformed. */
export function parseCharProperty(bytes: Uint8Array, path: string): CharProperty {
  const fail = (problem: string): never => {
    throw new AppError('DICTIONARY_INVALID', `${path}: ${problem}`, { file: path })
  }
  if (bytes.length < 4) fail('file is too small to be a MeCab char.bin')
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const n = dv.getUint32(0, true)
  if (n === 0 || n >= 18 || bytes.length !== 4 + 32 * n + 4 * CHAR_INFO_ENTRIES) fail('invalid size or category count (not compiled by mecab-dict-index?)')
  const names: string[] = []
  for (let i = 0; i < n; i++) {
    const start = 4 + 32 * i
    let end = start
    while (end < start + 32 && bytes[end] !== 0) end++
    names.push(Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('latin1'))
  }
  // 256 KiB: copied once so that the extra 0xffff slot exists and alignment never matters.
  const map = new Uint32Array(CHAR_INFO_ENTRIES + 1)
  const base = 4 + 32 * n
  for (let i = 0; i < CHAR_INFO_ENTRIES; i++) map[i] = dv.getUint32(base + 4 * i, true)
  return { names, map }
}
