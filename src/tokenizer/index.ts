/** Public API of the tokenizer: NFKC → MeCab → WordPiece → ColBERT layout, and batch packing for ONNX. */
export { normalizeText, isWellFormedText } from './normalize.js'
export { loadVocab, parseVocab, type Vocab } from './vocab.js'
export { createWordPiece, isPythonSpace, type WordPiece, type WordPieceOptions } from './wordpiece.js'
export {
  parseColbertSettings,
  loadColbertSettings,
  DEFAULT_COLBERT_SETTINGS,
  type ColbertSettings,
} from './colbert-settings.js'
export { parseTokenizerConfig, loadTokenizerConfig, DEFAULT_TOKENIZER_CONFIG, type TokenizerConfig } from './tokenizer-config.js'
export { ASCII_PUNCTUATION, punctuationIds, buildSkipTable } from './punctuation.js'
export { splitOnSpecialTokens, type TextChunk } from './special-tokens.js'
export {
  createColbertTokenizer,
  loadColbertTokenizer,
  resolveDictionaryDir,
  MODEL_DICTIONARY_SUBDIR,
  DYNAMIC_QUERY_MULTIPLE,
  DYNAMIC_QUERY_MIN_MASKS,
  type ColbertTokenizer,
  type ColbertTokenizerParts,
  type QueryOptions,
  type Segmenter,
  type TokenizedText,
} from './colbert-tokenizer.js'
export { createMecabAnalyzer, type MecabAnalyzer } from './mecab/index.js'
export { packBatch, orderByLength, splitByTokenBudget, type PackedBatch } from './batch.js'
