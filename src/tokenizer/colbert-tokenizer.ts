/**
 * The ColBERT layout over BertJapaneseTokenizer, as Stanford ColBERT's QueryTokenizer/DocTokenizer produce it for
 * JaColBERT:
 *   query:    [CLS] <query_token_id> pieces… [SEP] [MASK]… (exactly query_maxlen; attention 0 on the [MASK] padding
 *             unless attend_to_mask_tokens)
 *   document: [CLS] <doc_token_id> pieces… [SEP] (at most doc_maxlen; keepMask drops punctuation and [PAD])
 * ColBERT builds these by tokenising `". " + text` and overwriting the "." at position 1 with the marker. The "." is
 * also what MeCab sees first, and it can change how the text's first word is segmented (27 of 5,587 JSQuAD lines with
 * IPADIC), so we segment `". " + text` too and drop the leading "." word.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { AppError } from '../errors.js'
import { loadColbertSettings, type ColbertSettings } from './colbert-settings.js'
import { createMecabAnalyzer } from './mecab/index.js'
import { isWellFormedText, normalizeText } from './normalize.js'
import { buildSkipTable } from './punctuation.js'
import { splitOnSpecialTokens } from './special-tokens.js'
import { DEFAULT_TOKENIZER_CONFIG, loadTokenizerConfig, type TokenizerConfig } from './tokenizer-config.js'
import { loadVocab, type Vocab } from './vocab.js'
import { createWordPiece } from './wordpiece.js'

export interface TokenizedText {
  words: string[]
  tokens: string[]
  ids: Int32Array
  attentionMask: Uint8Array
  /** documents: 1 where the output vector is kept (not punctuation, not [PAD]); undefined for queries */
  keepMask: Uint8Array | undefined
}

export interface QueryOptions {
  /** JaColBERTv2.5's dynamic query length: pad with [MASK] to the next multiple of 32 holding at least 8 [MASK]s */
  dynamicLength?: boolean
}

export interface DocumentOptions {
  /** Fewer tokens than doc_maxlen (the whole, [CLS] marker … [SEP] included; at least 3); never more */
  maxLength?: number
}

export interface ColbertTokenizer {
  readonly settings: ColbertSettings
  readonly vocabSize: number
  readonly padId: number
  tokenizeQuery(text: string, opts?: QueryOptions): TokenizedText
  tokenizeDocument(text: string, opts?: DocumentOptions): TokenizedText
}

/** Anything that splits normalised text into words (the MeCab analyser; tests may inject another). */
export interface Segmenter {
  segment(text: string): string[]
}

export interface ColbertTokenizerParts {
  vocab: Vocab
  settings: ColbertSettings
  segmenter: Segmenter
  tokenizerConfig?: TokenizerConfig
  /** the model's position limit; bounds dynamic query lengths and validates the max lengths (default 512) */
  maxPositions?: number
}

/** Dynamic query length granularity and minimum number of [MASK] tokens (JaColBERTv2.5 paper). */
export const DYNAMIC_QUERY_MULTIPLE = 32
export const DYNAMIC_QUERY_MIN_MASKS = 8
/** [CLS], marker, [SEP] */
const FRAME = 3

function requireId(vocab: Vocab, token: string, role: string): number {
  const id = vocab.idOf(token)
  if (id < 0) throw new AppError('CHECKPOINT_INVALID', `the vocabulary has no ${role} token '${token}'`, { token })
  return id
}

/** Assemble a tokenizer from loaded parts (no file access). */
export function createColbertTokenizer(parts: ColbertTokenizerParts): ColbertTokenizer {
  const { vocab, settings, segmenter } = parts
  const config = parts.tokenizerConfig ?? DEFAULT_TOKENIZER_CONFIG
  const maxPositions = parts.maxPositions ?? 512
  if (settings.queryMaxlen > maxPositions || settings.docMaxlen > maxPositions) {
    throw new AppError(
      'CHECKPOINT_INVALID',
      `query_maxlen ${settings.queryMaxlen} / doc_maxlen ${settings.docMaxlen} exceed the model's ${maxPositions} positions`,
      { field: settings.queryMaxlen > maxPositions ? 'query_maxlen' : 'doc_maxlen' },
    )
  }
  const wordpiece = createWordPiece(vocab, { unkToken: config.unkToken })
  const clsId = requireId(vocab, config.clsToken, 'CLS')
  const sepId = requireId(vocab, config.sepToken, 'SEP')
  const padId = requireId(vocab, config.padToken, 'PAD')
  const maskId = requireId(vocab, config.maskToken, 'MASK')
  const queryMarkerId = requireId(vocab, settings.queryToken, 'query marker (query_token_id)')
  const docMarkerId = requireId(vocab, settings.docToken, 'document marker (doc_token_id)')
  // special tokens the vocabulary lacks cannot be produced by the reference either; keep only real ones
  const specials = config.specialTokens.filter((s) => vocab.has(s))
  const skip = settings.maskPunctuation ? buildSkipTable(vocab, wordpiece) : new Uint8Array(vocab.size)
  const lower = config.doLowerCase

  /** MeCab words of `text` with special tokens cut out first, as transformers' `tokenize` does. */
  function segmentAll(text: string): string[] {
    const words: string[] = []
    for (const chunk of splitOnSpecialTokens(text, specials)) {
      if (chunk.special) {
        words.push(chunk.text)
        continue
      }
      const t = lower ? chunk.text.toLowerCase() : chunk.text
      if (!isWellFormedText(t)) throw new AppError('INVALID_TEXT', 'text contains an unpaired UTF-16 surrogate and cannot be tokenised')
      for (const w of segmenter.segment(config.normalizeText ? normalizeText(t) : t)) words.push(lower ? w.toLowerCase() : w)
    }
    return words
  }

  /** Words of `text` as the reference sees them; see the file comment for the ". " prefix. */
  function wordsOf(text: string): string[] {
    const words = segmentAll('. ' + text)
    if (words[0] === '.') {
      words.shift()
      return words
    }
    // not reachable with MeCab ("." is followed by a space); fall back to the text alone rather than drop a real word
    return segmentAll(text)
  }

  /** WordPiece the words into at most `limit` pieces (stops early: long documents are cut anyway). */
  function pieces(words: string[], limit: number, ids: number[], tokens: string[]): void {
    for (const w of words) {
      if (ids.length >= limit) break
      // a special word ("[SEP]") is a whole vocabulary entry, so WordPiece maps it to its own id
      wordpiece.tokenizeWord(w, ids, tokens)
    }
    if (ids.length > limit) {
      ids.length = limit
      tokens.length = limit
    }
  }

  return {
    settings,
    vocabSize: vocab.size,
    padId,
    tokenizeQuery(text, opts) {
      const words = wordsOf(text)
      const ids: number[] = []
      const tokens: string[] = []
      let total: number
      if (opts?.dynamicLength) {
        pieces(words, maxPositions - FRAME - DYNAMIC_QUERY_MIN_MASKS, ids, tokens)
        const real = ids.length + FRAME
        const rounded = Math.ceil((real + DYNAMIC_QUERY_MIN_MASKS) / DYNAMIC_QUERY_MULTIPLE) * DYNAMIC_QUERY_MULTIPLE
        total = Math.min(maxPositions, Math.max(settings.queryMaxlen, rounded))
      } else {
        pieces(words, settings.queryMaxlen - FRAME, ids, tokens)
        total = settings.queryMaxlen
      }
      const out = new Int32Array(total).fill(maskId)
      const outTokens = new Array<string>(total).fill(config.maskToken)
      const attention = new Uint8Array(total)
      if (settings.attendToMaskTokens) attention.fill(1)
      out[0] = clsId
      outTokens[0] = config.clsToken
      out[1] = queryMarkerId
      outTokens[1] = settings.queryToken
      for (let i = 0; i < ids.length; i++) {
        // ColBERT turns every [PAD] id into [MASK], a literal "[PAD]" in the text included
        const isPad = ids[i] === padId
        out[i + 2] = isPad ? maskId : ids[i]
        outTokens[i + 2] = isPad ? config.maskToken : tokens[i]
      }
      const sepAt = ids.length + 2
      out[sepAt] = sepId
      outTokens[sepAt] = config.sepToken
      attention.fill(1, 0, sepAt + 1)
      return { words, tokens: outTokens, ids: out, attentionMask: attention, keepMask: undefined }
    },
    tokenizeDocument(text, opts) {
      const words = wordsOf(text)
      const ids: number[] = [clsId, docMarkerId]
      const tokens: string[] = [config.clsToken, settings.docToken]
      const maxLength = opts?.maxLength !== undefined ? Math.max(FRAME, Math.min(settings.docMaxlen, opts.maxLength)) : settings.docMaxlen
      pieces(words, maxLength - 1, ids, tokens)
      ids.push(sepId)
      tokens.push(config.sepToken)
      const n = ids.length
      const out = Int32Array.from(ids)
      const keep = new Uint8Array(n)
      for (let i = 0; i < n; i++) keep[i] = skip[out[i]] === 1 || out[i] === padId ? 0 : 1
      return { words, tokens, ids: out, attentionMask: new Uint8Array(n).fill(1), keepMask: keep }
    },
  }
}

/** Where `jacolbert pull` unpacks the unidic-lite dictionary inside a checkpoint folder. */
export const MODEL_DICTIONARY_SUBDIR = join('unidic_lite', 'dicdir')

/** The dictionary folder for `modelDir`: `dicdir` if given, else `<modelDir>/unidic_lite/dicdir`, else an AppError. */
export function resolveDictionaryDir(modelDir: string, dicdir: string | undefined, mecabDic?: string): string {
  if (dicdir) return dicdir
  const bundled = join(modelDir, MODEL_DICTIONARY_SUBDIR)
  if (existsSync(join(bundled, 'sys.dic'))) return bundled
  const wanted = mecabDic ? ` (its tokenizer_config names mecab_dic "${mecabDic}")` : ''
  throw new AppError(
    'DICTIONARY_INVALID',
    `no MeCab dictionary for the model in ${modelDir}${wanted}: ${bundled} does not exist. Set MECAB_DICDIR (CLI: --dic) ` +
      'to a dictionary folder compiled by mecab-dict-index, or run `jacolbert pull`, which unpacks unidic-lite there',
    { modelDir, expected: bundled },
  )
}

/** The model's position limit: tokenizer_config's model_max_length and config.json's max_position_embeddings. */
function maxPositionsOf(modelDir: string, config: TokenizerConfig): number {
  let limit = config.modelMaxLength ?? 512
  const path = join(modelDir, 'config.json')
  if (existsSync(path)) {
    try {
      const mpe = (JSON.parse(readFileSync(path, 'utf8')) as { max_position_embeddings?: unknown }).max_position_embeddings
      if (typeof mpe === 'number' && Number.isInteger(mpe) && mpe > 0) limit = config.modelMaxLength ? Math.min(limit, mpe) : mpe
    } catch (err) {
      throw new AppError('CHECKPOINT_INVALID', `${path}: cannot parse: ${(err as Error).message}`, { file: path }, { cause: err })
    }
  }
  return limit
}

/**
 * Load the tokenizer of a checkpoint folder: vocab.txt, artifact.metadata (ColBERT settings; required),
 * tokenizer_config.json (JaColBERT's when absent), and the MeCab dictionary (see resolveDictionaryDir). Sync.
 */
export function loadColbertTokenizer(modelDir: string, opts: { dicdir?: string; segmenter?: Segmenter } = {}): ColbertTokenizer {
  const vocab = loadVocab(join(modelDir, 'vocab.txt'))
  // a folder without artifact.metadata is not a ColBERT checkpoint; guessing its lengths would encode silently wrong
  const settings = loadColbertSettings(join(modelDir, 'artifact.metadata'))
  const tokenizerConfig = loadTokenizerConfig(join(modelDir, 'tokenizer_config.json'))
  const segmenter = opts.segmenter ?? createMecabAnalyzer(resolveDictionaryDir(modelDir, opts.dicdir, tokenizerConfig.mecabDic))
  return createColbertTokenizer({ vocab, settings, segmenter, tokenizerConfig, maxPositions: maxPositionsOf(modelDir, tokenizerConfig) })
}
