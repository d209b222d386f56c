/**
 * Text normalisation applied before word segmentation, as BertJapaneseTokenizer does (`unicodedata.normalize('NFKC')`).
 */
import { AppError } from '../errors.js'

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
const hasIsWellFormed = typeof (String.prototype as { isWellFormed?: unknown }).isWellFormed === 'function'

/** True when the string holds no unpaired UTF-16 surrogate (it can then be encoded as UTF-8 for MeCab). */
export function isWellFormedText(text: string): boolean {
  return hasIsWellFormed ? (text as string & { isWellFormed(): boolean }).isWellFormed() : !LONE_SURROGATE.test(text)
}

/**
 * NFKC-normalise `text`. A lone surrogate cannot be encoded for the dictionary (the reference fails on it too), so it is
 * refused with INVALID_TEXT instead of producing an arbitrary token.
 */
export function normalizeText(text: string): string {
  if (!isWellFormedText(text)) {
    throw new AppError('INVALID_TEXT', 'text contains an unpaired UTF-16 surrogate and cannot be tokenised')
  }
  return text.normalize('NFKC')
}
