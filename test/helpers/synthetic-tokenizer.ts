/** A tokenizer for encoder tests that needs no MeCab: the text names the token count and a seed. */
import type { ColbertTokenizer, TokenizedText } from '../../src/tokenizer/colbert-tokenizer.js'
import { parseColbertSettings } from '../../src/tokenizer/colbert-settings.js'

/** Synthetic tokenizer: text "n:seed" -> n tokens ([CLS] marker ids… [SEP]); punctuation id 10 every 7th token. */
export function syntheticTokenizer(dim: number, vocab: number): ColbertTokenizer {
  const settings = { ...parseColbertSettings({ dim, doc_maxlen: 300, query_maxlen: 32 }) }
  const make = (text: string, query: boolean): TokenizedText => {
    const [nStr, seedStr] = text.split(':')
    const n = Number(nStr)
    let s = Number(seedStr ?? 1) >>> 0 || 1
    const ids = new Int32Array(n)
    for (let i = 0; i < n; i++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0
      ids[i] = i === 0 ? 2 : i === n - 1 ? 3 : i === 1 ? (query ? 5 : 6) : i % 7 === 0 ? 10 : 11 + (s % (vocab - 11))
    }
    const keep = query ? undefined : Uint8Array.from(ids, (id) => (id === 10 ? 0 : 1))
    return { words: [], tokens: Array.from(ids, String), ids, attentionMask: new Uint8Array(n).fill(1), keepMask: keep }
  }
  return { settings, vocabSize: vocab, padId: 0, tokenizeQuery: (x) => make(x, true), tokenizeDocument: (x) => make(x, false) }
}

