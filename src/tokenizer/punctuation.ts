/**
 * ColBERT's document skiplist: the vocabulary ids of the single characters of Python's `string.punctuation`.
 * ColBERT takes `encode(symbol)[0]` for each symbol; a lone ASCII punctuation character is one MeCab word and NFKC
 * leaves it unchanged, so that is the symbol's WordPiece id — or `[UNK]` when the vocabulary lacks it, which the
 * reference then also skips, and so do we.
 */
import type { Vocab } from './vocab.js'
import type { WordPiece } from './wordpiece.js'

/** Python's `string.punctuation`. */
export const ASCII_PUNCTUATION = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~'

/** Sorted unique ids of the skiplist. */
export function punctuationIds(wordpiece: WordPiece): number[] {
  const ids = new Set<number>()
  for (const ch of ASCII_PUNCTUATION) {
    const out: number[] = []
    wordpiece.tokenizeWord(ch, out)
    if (out.length > 0) ids.add(out[0])
  }
  return [...ids].sort((a, b) => a - b)
}

/** A 0/1 table over the vocabulary, 1 for skiplist ids (an O(1) check per token on the hot path). */
export function buildSkipTable(vocab: Vocab, wordpiece: WordPiece): Uint8Array {
  const table = new Uint8Array(vocab.size)
  for (const id of punctuationIds(wordpiece)) table[id] = 1
  return table
}
