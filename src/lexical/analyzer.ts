/**
 * Text -> BM25 terms, with the same analyser the encoder uses (NFKC, then MeCab words).
 *
 * Term = the MeCab word's surface form after NFKC, lower-cased (NFKC already folds full-width Latin to ASCII; lower
 * case makes product codes and names match regardless of case, as Lucene's analysers do with LowerCaseFilter). Words
 * made only of punctuation or symbols (、。「」・… and ASCII punctuation) are dropped: they match almost every
 * document and only add postings (Kuromoji's `discardPunctuation` default does the same).
 *
 * Why the surface form: it is exactly what the encoder sees, needs no dictionary feature strings, and behaves the same
 * with every dictionary (IPADIC, JumanDIC, UniDic lay out their features differently). Inflected verbs and adjectives
 * then match only in the same form; the dictionary base form is future work (see README § Hybrid search).
 */
import { normalizeText } from '../tokenizer/normalize.js'

export interface WordSegmenter {
  segment(text: string): string[]
}

export interface LexicalAnalyzer {
  /** The terms of `text`, in order, repeats kept (tf counts them). AppError INVALID_TEXT on a lone surrogate. */
  terms(text: string): string[]
}

// Letters, marks and numbers make a word a term; anything else alone (punctuation, symbols, separators) does not.
const HAS_CONTENT = /[\p{L}\p{M}\p{N}]/u

export function createLexicalAnalyzer(segmenter: WordSegmenter): LexicalAnalyzer {
  return {
    terms(text) {
      const out: string[] = []
      for (const w of segmenter.segment(normalizeText(text))) {
        if (HAS_CONTENT.test(w)) out.push(w.toLowerCase())
      }
      return out
    },
  }
}
