/**
 * MeCab-compatible word segmentation over a dictionary folder compiled by mecab-dict-index
 * (`sys.dic`, `unk.dic`, `matrix.bin`, `char.bin`, `dicrc`): `segment(text)` returns the surfaces that
 * `mecab -Owakati -d DIR` prints for that text as one line.
 *
 * Defined behaviour where the `mecab` command has limits or the input cannot be encoded:
 * - the whole text is one sentence of any length: newlines and other control chars are classified by
 *   char.bin like any char (the command would split lines at '\n', stop a line at NUL, and split lines
 *   longer than its input buffer, 8191 bytes unless `-b` is given);
 * - a lone UTF-16 surrogate is analysed as U+FFFD (what UTF-8 encoding makes of it) and the returned word
 *   holds the original code unit, so words are always substrings of the input;
 * - cumulative path costs are exact doubles (MeCab gives up with "too long sentence" past 2^31 - 1).
 */
import { readFileSync, existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { AppError } from '../../errors.js'
import { parseCharProperty } from './char-property.js'
import { parseConnectionMatrix } from './connection-matrix.js'
import { parseDicrc } from './dicrc.js'
import { exactMatch, parseDictionaryFile, tokenFeature, type DictionaryFile } from './dictionary-file.js'
import { createLatticeSegmenter, type ByteSegmentation } from './lattice-segmenter.js'

export interface MecabAnalyzer {
  segment(text: string): string[]
  /** The words of segment(text) with each word's dictionary feature CSV (what `mecab` prints as %H). */
  segmentWithFeatures(text: string): { words: string[]; features: string[] }
  readonly info: { dir: string; charset: string; bytes: number }
}

export interface MecabAnalyzerOptions {
  /** MeCab's `-M` option; the command's default (24) also wins over a dicrc setting, as in MeCab. */
  maxGroupingSize?: number
  /**
   * Lower-bound pruning of the Viterbi step (exact; only speed differs): 'auto' (default) turns it on
   * for connection matrices over 8 M entries such as UniDic's, where it pays.
   */
  viterbiPruning?: 'auto' | 'on' | 'off'
}

const REQUIRED_FILES = ['sys.dic', 'unk.dic', 'matrix.bin', 'char.bin', 'dicrc'] as const
const DEFAULT_MAX_GROUPING_SIZE = 24
// The UTF-8 buffer is kept between calls, but not after an unusually large text.
const RETAINED_BUFFER_BYTES = 1 << 22

/** Charsets MeCab's decode_charset maps to something other than UTF-8 (it reads any other name as UTF-8). */
const NON_UTF8_CHARSETS = new Set(['sjis', 'shift-jis', 'shift_jis', 'cp932', 'euc', 'euc_jp', 'euc-jp', 'utf16', 'utf_16', 'utf-16', 'utf16be', 'utf_16be', 'utf-16be', 'utf16le', 'utf_16le', 'utf-16le', 'ascii'])
const isUtf8Charset = (charset: string): boolean => !NON_UTF8_CHARSETS.has(charset.toLowerCase())

function readDictionaryFile(dir: string, name: string): Buffer {
  const path = join(dir, name)
  try {
    return readFileSync(path)
  } catch (err) {
    throw new AppError('DICTIONARY_INVALID', `MeCab dictionary file ${path} cannot be read: ${(err as Error).message}`, { file: path }, { cause: err })
  }
}

/** Every token's context ids must index the matrix (rcAttr < lsize, lcAttr < rsize); O(tokens), a few ms. */
function checkContextIds(d: DictionaryFile, lsize: number, rsize: number): void {
  const u16 = d.tokenU16
  for (let o = 0; o < u16.length; o += 8) {
    if (u16[o] >= rsize || u16[o + 1] >= lsize) {
      throw new AppError('DICTIONARY_INVALID', `${d.path}: token ${o >> 3} has context ids ${u16[o]}/${u16[o + 1]} outside the ${lsize}×${rsize} matrix`, { file: d.path })
    }
  }
}

/** Loads the dictionary folder (sync; about as long as reading its files) and returns an analyser. */
export function createMecabAnalyzer(dicdir: string, opts: MecabAnalyzerOptions = {}): MecabAnalyzer {
  if (!existsSync(dicdir) || !statSync(dicdir).isDirectory()) {
    throw new AppError('DICTIONARY_INVALID', `MeCab dictionary folder ${dicdir} does not exist or is not a folder`, { dir: dicdir })
  }
  const missing = REQUIRED_FILES.filter((f) => !existsSync(join(dicdir, f)))
  if (missing.length > 0) {
    throw new AppError('DICTIONARY_INVALID', `MeCab dictionary folder ${dicdir} lacks ${missing.join(', ')} (expected the output of mecab-dict-index)`, { dir: dicdir, missing })
  }
  const sysBytes = readDictionaryFile(dicdir, 'sys.dic')
  const unkBytes = readDictionaryFile(dicdir, 'unk.dic')
  const matrixBytes = readDictionaryFile(dicdir, 'matrix.bin')
  const charBytes = readDictionaryFile(dicdir, 'char.bin')
  parseDicrc(readDictionaryFile(dicdir, 'dicrc').toString('utf8'), join(dicdir, 'dicrc'))

  const sys = parseDictionaryFile(sysBytes, join(dicdir, 'sys.dic'))
  const unk = parseDictionaryFile(unkBytes, join(dicdir, 'unk.dic'))
  if (sys.type !== 0) throw new AppError('DICTIONARY_INVALID', `${join(dicdir, 'sys.dic')}: not a system dictionary (type ${sys.type})`, { dir: dicdir })
  if (!isUtf8Charset(sys.charset)) {
    throw new AppError(
      'DICTIONARY_INVALID',
      `${join(dicdir, 'sys.dic')}: dictionary charset is ${sys.charset}; only UTF-8 dictionaries are supported (rebuild it with mecab-dict-index -t utf-8, or install the -utf8 package)`,
      { dir: dicdir, charset: sys.charset },
    )
  }
  const matrix = parseConnectionMatrix(matrixBytes, join(dicdir, 'matrix.bin'))
  if (matrix.lsize !== sys.lsize || matrix.rsize !== sys.rsize) {
    throw new AppError('DICTIONARY_INVALID', `${dicdir}: matrix.bin (${matrix.lsize}×${matrix.rsize}) does not fit sys.dic (${sys.lsize}×${sys.rsize})`, { dir: dicdir })
  }
  checkContextIds(sys, matrix.lsize, matrix.rsize)
  checkContextIds(unk, matrix.lsize, matrix.rsize)
  const chars = parseCharProperty(charBytes, join(dicdir, 'char.bin'))
  const unkFirst = new Int32Array(chars.names.length)
  const unkCount = new Int32Array(chars.names.length)
  chars.names.forEach((name, id) => {
    const v = exactMatch(unk.trie, Buffer.from(name, 'latin1'))
    if (v < 0) throw new AppError('DICTIONARY_INVALID', `${join(dicdir, 'unk.dic')}: no entry for char category ${name}`, { dir: dicdir, category: name })
    unkFirst[id] = v >> 8
    unkCount[id] = v & 0xff
    if ((v >> 8) + (v & 0xff) > unk.tokenCount) throw new AppError('DICTIONARY_INVALID', `${join(dicdir, 'unk.dic')}: token range out of bounds`, { dir: dicdir })
  })
  const maxGroupingSize = opts.maxGroupingSize && opts.maxGroupingSize > 0 ? opts.maxGroupingSize : DEFAULT_MAX_GROUPING_SIZE

  const prune = opts.viterbiPruning === 'on' ? true : opts.viterbiPruning === 'off' ? false : undefined
  const segmenter = createLatticeSegmenter({ sys, unk, unkFirst, unkCount, charMap: chars.map, matrix: matrix.costs, lsize: matrix.lsize, maxGroupingSize, prune })
  const encoder = new TextEncoder()
  let buf = new Uint8Array(4096)

  const info = {
    dir: dicdir,
    charset: sys.charset,
    bytes: sysBytes.length + unkBytes.length + matrixBytes.length + charBytes.length,
  }

  function segment(text: string): string[] {
    if (text.length === 0) return []
    const need = text.length * 3 + 8
    if (buf.length < need) buf = new Uint8Array(Math.max(need, buf.length * 2))
    const len = encoder.encodeInto(text, buf).written
    buf.fill(0, len, len + 8)
    const words = surfaces(text, segmenter.segmentBytes(buf, len))
    if (buf.length > RETAINED_BUFFER_BYTES) buf = new Uint8Array(4096)
    return words
  }

  // decoded feature strings per token (sys: t, unk: -t-1); bounded by the words actually seen
  const featureCache = new Map<number, string>()
  function featureOf(tok: number): string {
    let f = featureCache.get(tok)
    if (f === undefined) {
      f = tok >= 0 ? tokenFeature(sys, tok) : tokenFeature(unk, -tok - 1)
      featureCache.set(tok, f)
    }
    return f
  }

  function segmentWithFeatures(text: string): { words: string[]; features: string[] } {
    if (text.length === 0) return { words: [], features: [] }
    const need = text.length * 3 + 8
    if (buf.length < need) buf = new Uint8Array(Math.max(need, buf.length * 2))
    const len = encoder.encodeInto(text, buf).written
    buf.fill(0, len, len + 8)
    const seg = segmenter.segmentBytes(buf, len)
    const words = surfaces(text, seg)
    const features = new Array<string>(seg.count)
    for (let i = 0; i < seg.count; i++) features[i] = featureOf(seg.tokens[i])
    if (buf.length > RETAINED_BUFFER_BYTES) buf = new Uint8Array(4096)
    return { words, features }
  }

  return { segment, segmentWithFeatures, info }
}

/**
 * Maps the words' byte ranges back to substrings of `text`: one pass over the bytes, counting UTF-16
 * units per UTF-8 lead byte (a 4-byte sequence is a surrogate pair). O(bytes).
 */
function surfaces(text: string, s: ByteSegmentation): string[] {
  const { bytes, starts, ends, count } = s
  const out = new Array<string>(count)
  let bytePos = 0
  let unitPos = 0
  const advance = (target: number): void => {
    while (bytePos < target) {
      const b = bytes[bytePos++]
      if ((b & 0xc0) !== 0x80) unitPos += b >= 0xf0 ? 2 : 1
    }
  }
  const isBoundary = (p: number): boolean => p >= s.length || (bytes[p] & 0xc0) !== 0x80
  for (let i = 0; i < count; i++) {
    const start = starts[i]
    const end = ends[i]
    if (!isBoundary(start) || !isBoundary(end) || end > s.length) {
      // Only when MeCab's 65535-byte look-ahead cuts a char: decode the raw bytes like MeCab would print them.
      out[i] = Buffer.from(bytes.buffer, bytes.byteOffset + start, Math.min(end, s.length) - start).toString('utf8')
      continue
    }
    advance(start)
    const u0 = unitPos
    advance(end)
    out[i] = text.slice(u0, unitPos)
  }
  return out
}
