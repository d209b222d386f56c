/**
 * Text -> BM25 terms, with the same analyser the encoder uses (NFKC, then MeCab words).
 *
 * Term = by default the MeCab word's surface form after NFKC, lower-cased (NFKC already folds full-width Latin to
 * ASCII; lower case makes product codes and names match regardless of case, as Lucene's analysers do with
 * LowerCaseFilter). Words made only of punctuation or symbols (、。「」・… and ASCII punctuation) are dropped: they match
 * almost every document and only add postings (Kuromoji's `discardPunctuation` default does the same).
 *
 * Why the surface form by default: it is exactly what the encoder sees, needs no dictionary features, and behaves the
 * same with every dictionary. The `base` form (per index) uses the dictionary's base form instead, so inflections match
 * (食べた and 食べる both give 食べる): IPADIC's 原形 (feature field 7), UniDic's orthBase (field 11; unidic-lite
 * and UniDic 2.x/3.x share the first 17 fields), JumanDIC's 基本形 (field 5); a word whose dictionary gives none ('*',
 * or an unknown word) keeps its surface form. The layout is recognised from the number of fields of a probe word's
 * features; a dictionary laid out otherwise has no base form (hasBaseForm false).
 */
import { normalizeText } from '../tokenizer/normalize.js'

export type TermForm = 'surface' | 'base'

export interface WordSegmenter {
  segment(text: string): string[]
  /** Words with their dictionary feature CSV (the MeCab analyser has it); needed for base forms. */
  segmentWithFeatures?(text: string): { words: string[]; features: string[] }
}

export interface LexicalAnalyzer {
  /** The terms of `text`, in order, repeats kept (tf counts them). AppError INVALID_TEXT on a lone surrogate. */
  terms(text: string, form?: TermForm): string[]
  /** Whether `base` differs from `surface`: the dictionary's features have a base form field this code knows. */
  readonly hasBaseForm: boolean
}

// Letters, marks and numbers make a word a term; anything else alone (punctuation, symbols, separators) does not.
const HAS_CONTENT = /[\p{L}\p{M}\p{N}]/u

/** MeCab feature CSV fields (a field in double quotes may hold commas; "" is a quote). */
export function featureFields(csv: string): string[] {
  const out: string[] = []
  let i = 0
  for (;;) {
    let field = ''
    if (csv[i] === '"') {
      i++
      for (; i < csv.length; i++) {
        if (csv[i] === '"') {
          if (csv[i + 1] === '"') { field += '"'; i++ } else { i++; break }
        } else field += csv[i]
      }
      const comma = csv.indexOf(',', i)
      i = comma < 0 ? csv.length : comma
    } else {
      const comma = csv.indexOf(',', i)
      field = csv.slice(i, comma < 0 ? csv.length : comma)
      i = comma < 0 ? csv.length : comma
    }
    out.push(field)
    if (i >= csv.length) return out
    i++ // the comma
  }
}

/** 0-based base-form field for a dictionary whose known words have `fields` feature fields, or undefined. */
export function baseFormField(fields: number): number | undefined {
  if (fields === 9) return 6 // IPADIC: pos ×4, cType, cForm, base, reading, pronunciation
  if (fields === 7) return 4 // JumanDIC: pos, pos2, cType, cForm, base, reading, semantic info
  if (fields >= 17) return 10 // UniDic: pos ×4, cType, cForm, lForm, lemma, orth, pron, orthBase, …
  return undefined
}

export function createLexicalAnalyzer(segmenter: WordSegmenter): LexicalAnalyzer {
  let field: number | undefined
  if (segmenter.segmentWithFeatures !== undefined) {
    // 食べる is in every Japanese dictionary as a known verb; its feature count tells the layout
    const probe = segmenter.segmentWithFeatures('食べる')
    if (probe.features.length > 0) field = baseFormField(featureFields(probe.features[0]).length)
  }
  const keep = (out: string[], w: string): void => {
    if (HAS_CONTENT.test(w)) out.push(w.toLowerCase())
  }
  return {
    hasBaseForm: field !== undefined,
    terms(text, form = 'surface') {
      const out: string[] = []
      const norm = normalizeText(text)
      if (form === 'base' && field !== undefined) {
        const { words, features } = segmenter.segmentWithFeatures!(norm)
        for (let i = 0; i < words.length; i++) {
          const base = featureFields(features[i])[field]
          keep(out, base === undefined || base === '' || base === '*' ? words[i] : base)
        }
        return out
      }
      for (const w of segmenter.segment(norm)) keep(out, w)
      return out
    },
  }
}
