/**
 * WordPiece as transformers' `WordpieceTokenizer` applies it to each MeCab word: the word is first split on Python's
 * whitespace (`str.split()`), then each part is matched greedily longest-first from the left over code points, pieces
 * after the first carrying `##`. A part longer than `maxInputCharsPerWord` code points, or with any position where no
 * piece matches, becomes one `[UNK]`.
 *
 * Cost per part of n code points: at most n · min(n, P) Map lookups, P = the vocabulary's longest piece in code points
 * (the search never tries a substring longer than any vocabulary entry of its kind, which could not match anyway).
 */
import type { Vocab } from './vocab.js'
import { AppError } from '../errors.js'

export interface WordPieceOptions {
  unkToken?: string
  maxInputCharsPerWord?: number
}

export interface WordPiece {
  readonly unkId: number
  readonly unkToken: string
  /** Append the piece ids (and, when `tokens` is given, the piece strings) of one word. Returns the number appended. */
  tokenizeWord(word: string, ids: number[], tokens?: string[]): number
}

/** Characters for which Python's `str.isspace()` is true (what `whitespace_tokenize` splits on). */
export function isPythonSpace(c: number): boolean {
  if (c <= 0x20) return c === 0x20 || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f)
  if (c < 0x85) return false
  return (
    c === 0x85 || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000
  )
}

export function createWordPiece(vocab: Vocab, opts: WordPieceOptions = {}): WordPiece {
  const unkToken = opts.unkToken ?? '[UNK]'
  const maxChars = opts.maxInputCharsPerWord ?? 100
  const unkId = vocab.idOf(unkToken)
  if (unkId < 0) throw new AppError('CHECKPOINT_INVALID', `the vocabulary has no unknown token '${unkToken}'`)
  const maxFirst = Math.max(1, vocab.maxTokenCodePoints)
  const maxContinuation = Math.max(1, vocab.maxContinuationCodePoints)
  // UTF-16 offset of each code point boundary of the current part; reused across calls
  let bounds = new Int32Array(128)

  /** WordPiece over word[from, to) (no whitespace inside). */
  function tokenizePart(word: string, from: number, to: number, ids: number[], tokens: string[] | undefined): number {
    let n = 0
    for (let i = from; i < to; i++) {
      if (n + 1 >= bounds.length) {
        const grown = new Int32Array(bounds.length * 2)
        grown.set(bounds)
        bounds = grown
      }
      bounds[n++] = i
      const c = word.charCodeAt(i)
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < to) {
        const d = word.charCodeAt(i + 1)
        if (d >= 0xdc00 && d <= 0xdfff) i++
      }
      if (n > maxChars) break
    }
    if (n > maxChars) {
      ids.push(unkId)
      tokens?.push(unkToken)
      return 1
    }
    bounds[n] = to
    const mark = ids.length
    let start = 0
    while (start < n) {
      let end = Math.min(n, start + (start === 0 ? maxFirst : maxContinuation))
      let found = -1
      let piece = ''
      while (end > start) {
        const sub = word.slice(bounds[start], bounds[end])
        piece = start > 0 ? '##' + sub : sub
        found = vocab.idOf(piece)
        if (found >= 0) break
        end--
      }
      if (found < 0) return -1 // the caller rolls back what this part appended
      ids.push(found)
      tokens?.push(piece)
      start = end
    }
    return ids.length - mark
  }

  return {
    unkId,
    unkToken,
    tokenizeWord(word, ids, tokens) {
      let added = 0
      let i = 0
      const len = word.length
      while (i < len) {
        while (i < len && isPythonSpace(word.charCodeAt(i))) i++
        if (i >= len) break
        let j = i
        while (j < len && !isPythonSpace(word.charCodeAt(j))) j++
        const idsMark = ids.length
        const tokMark = tokens?.length ?? 0
        const got = tokenizePart(word, i, j, ids, tokens)
        if (got < 0) {
          ids.length = idsMark
          if (tokens) tokens.length = tokMark
          ids.push(unkId)
          tokens?.push(unkToken)
          added += 1
        } else {
          added += got
        }
        i = j
      }
      return added
    },
  }
}
