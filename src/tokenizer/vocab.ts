/**
 * WordPiece vocabulary (`vocab.txt`): one token per line, id = line number from 0. Mirrors transformers' `load_vocab`:
 * lines split on \n, \r\n or \r (Python's universal newlines), only the line break is removed, an empty line is a token
 * (the bert-base-japanese-v3 vocabulary has one at id 15), and a repeated token maps to its last line.
 */
import { readFileSync } from 'node:fs'
import { AppError } from '../errors.js'

export interface Vocab {
  /** token string of each id */
  readonly tokens: readonly string[]
  readonly size: number
  /** longest token in code points, as written (a word's first piece is matched literally); bounds WordPiece */
  readonly maxTokenCodePoints: number
  /** longest continuation piece in code points, its `##` excluded; bounds WordPiece after the first piece */
  readonly maxContinuationCodePoints: number
  /** id of `token`, or -1 */
  idOf(token: string): number
  has(token: string): boolean
}

function codePointLength(s: string): number {
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1)
      if (d >= 0xdc00 && d <= 0xdfff) i++
    }
    n++
  }
  return n
}

/** Build a vocabulary from the text of a vocab.txt file; `source` names the file in errors. */
export function parseVocab(text: string, source = 'vocab.txt'): Vocab {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
  const tokens = text.split(/\r\n|\r|\n/)
  // a final line break ends the last line; it does not start an empty one (Python's readlines)
  if (tokens.length > 0 && tokens[tokens.length - 1] === '') tokens.pop()
  if (tokens.length === 0) throw new AppError('CHECKPOINT_INVALID', `${source}: the vocabulary is empty`, { file: source })
  const ids = new Map<string, number>()
  let maxTokenCodePoints = 0
  let maxContinuationCodePoints = 0
  for (let id = 0; id < tokens.length; id++) {
    const tok = tokens[id]
    ids.set(tok, id)
    const len = codePointLength(tok)
    if (len > maxTokenCodePoints) maxTokenCodePoints = len
    if (tok.startsWith('##') && len - 2 > maxContinuationCodePoints) maxContinuationCodePoints = len - 2
  }
  return {
    tokens,
    size: tokens.length,
    maxTokenCodePoints,
    maxContinuationCodePoints,
    idOf: (token) => ids.get(token) ?? -1,
    has: (token) => ids.has(token),
  }
}

/** Read and parse a vocab.txt file. */
export function loadVocab(path: string): Vocab {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new AppError('CHECKPOINT_INVALID', `cannot read the vocabulary ${path}: ${(err as Error).message}`, { file: path }, { cause: err })
  }
  return parseVocab(text, path)
}
