/**
 * What a checkpoint's `tokenizer_config.json` says about tokenisation, reduced to the cases we reproduce exactly:
 * transformers' BertJapaneseTokenizer with MeCab words and WordPiece subwords. Anything else is refused with a clear
 * CHECKPOINT_INVALID rather than tokenised differently from the model's training.
 */
import { existsSync, readFileSync } from 'node:fs'
import { AppError } from '../errors.js'

export interface TokenizerConfig {
  /** lower-case the text and each word (transformers' `do_lower_case`) */
  doLowerCase: boolean
  /** NFKC before MeCab (`mecab_kwargs.normalize_text`, default true) */
  normalizeText: boolean
  /** `mecab_kwargs.mecab_dic` ('unidic_lite', 'unidic', 'ipadic') or undefined; informs error messages only */
  mecabDic: string | undefined
  unkToken: string
  sepToken: string
  padToken: string
  clsToken: string
  maskToken: string
  /** strings the reference never segments: they are cut out of the text before MeCab and map to their own id */
  specialTokens: string[]
  /** `model_max_length` when it is a real limit (transformers writes ~1e30 for "none") */
  modelMaxLength: number | undefined
}

/** JaColBERTv2.5's tokenizer_config, assumed when a checkpoint has none. */
export const DEFAULT_TOKENIZER_CONFIG: Readonly<TokenizerConfig> = Object.freeze({
  doLowerCase: false,
  normalizeText: true,
  mecabDic: 'unidic_lite',
  unkToken: '[UNK]',
  sepToken: '[SEP]',
  padToken: '[PAD]',
  clsToken: '[CLS]',
  maskToken: '[MASK]',
  specialTokens: ['[UNK]', '[SEP]', '[PAD]', '[CLS]', '[MASK]'],
  modelMaxLength: 512,
})

const SUPPORTED_CLASSES = new Set(['BertJapaneseTokenizer'])

function refuse(source: string, field: string, problem: string): AppError {
  return new AppError('CHECKPOINT_INVALID', `${source}: ${field} ${problem}`, { file: source, field })
}

/** A special token is a string or an AddedToken object `{content: string, ...}`. */
function tokenString(v: unknown, fallback: string, source: string, field: string): string {
  if (v === undefined || v === null) return fallback
  if (typeof v === 'string' && v.length > 0) return v
  if (typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string' && (v as { content: string }).content.length > 0) {
    return (v as { content: string }).content
  }
  throw refuse(source, field, 'must be a token string')
}

/** Validate parsed tokenizer_config.json. */
export function parseTokenizerConfig(json: unknown, source = 'tokenizer_config.json'): TokenizerConfig {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw refuse(source, 'the file', 'must hold a JSON object')
  const c = json as Record<string, unknown>
  const cls = c.tokenizer_class
  if (cls !== undefined && (typeof cls !== 'string' || !SUPPORTED_CLASSES.has(cls))) {
    throw refuse(source, 'tokenizer_class', `is ${JSON.stringify(cls)}; only BertJapaneseTokenizer (MeCab + WordPiece) is supported`)
  }
  // transformers' BertJapaneseTokenizer defaults word_tokenizer_type to "basic", which we do not implement
  const wordType = c.word_tokenizer_type ?? (cls === undefined ? 'mecab' : 'basic')
  if (wordType !== 'mecab') throw refuse(source, 'word_tokenizer_type', `is ${JSON.stringify(wordType)}; only "mecab" is supported`)
  const subType = c.subword_tokenizer_type ?? 'wordpiece'
  if (subType !== 'wordpiece') throw refuse(source, 'subword_tokenizer_type', `is ${JSON.stringify(subType)}; only "wordpiece" is supported`)
  for (const flag of ['do_word_tokenize', 'do_subword_tokenize'] as const) {
    if (c[flag] !== undefined && c[flag] !== true) throw refuse(source, flag, 'must be true (turning it off is not supported)')
  }
  const lower = c.do_lower_case ?? false
  if (typeof lower !== 'boolean') throw refuse(source, 'do_lower_case', 'must be true or false')
  const kw = (c.mecab_kwargs ?? {}) as Record<string, unknown>
  if (typeof kw !== 'object' || Array.isArray(kw)) throw refuse(source, 'mecab_kwargs', 'must be an object')
  if (kw.mecab_option !== undefined && kw.mecab_option !== null && kw.mecab_option !== '') {
    throw refuse(source, 'mecab_kwargs.mecab_option', 'is set; custom MeCab options are not supported (point MECAB_DICDIR at the dictionary instead)')
  }
  const normalizeText = kw.normalize_text ?? true
  if (typeof normalizeText !== 'boolean') throw refuse(source, 'mecab_kwargs.normalize_text', 'must be true or false')
  const mecabDic = typeof kw.mecab_dic === 'string' ? kw.mecab_dic : kw.mecab_dic == null ? undefined : String(kw.mecab_dic)
  const d = DEFAULT_TOKENIZER_CONFIG
  const unkToken = tokenString(c.unk_token, d.unkToken, source, 'unk_token')
  const sepToken = tokenString(c.sep_token, d.sepToken, source, 'sep_token')
  const padToken = tokenString(c.pad_token, d.padToken, source, 'pad_token')
  const clsToken = tokenString(c.cls_token, d.clsToken, source, 'cls_token')
  const maskToken = tokenString(c.mask_token, d.maskToken, source, 'mask_token')
  const specials = new Set([unkToken, sepToken, padToken, clsToken, maskToken])
  if (Array.isArray(c.additional_special_tokens)) {
    c.additional_special_tokens.forEach((t, i) => {
      if (t !== null && t !== undefined) specials.add(tokenString(t, '', source, `additional_special_tokens[${i}]`))
    })
  }
  const mml = c.model_max_length
  const modelMaxLength = typeof mml === 'number' && Number.isInteger(mml) && mml > 0 && mml <= 1_000_000 ? mml : undefined
  return {
    doLowerCase: lower,
    normalizeText,
    mecabDic,
    unkToken,
    sepToken,
    padToken,
    clsToken,
    maskToken,
    specialTokens: [...specials],
    modelMaxLength,
  }
}

/** Read `<path>`; a missing file means JaColBERT's configuration (the issue: vocab.txt + artifact.metadata suffice). */
export function loadTokenizerConfig(path: string): TokenizerConfig {
  if (!existsSync(path)) return { ...DEFAULT_TOKENIZER_CONFIG, specialTokens: [...DEFAULT_TOKENIZER_CONFIG.specialTokens] }
  let json: unknown
  try {
    json = JSON.parse(readFileSync(path, 'utf8')) as unknown
  } catch (err) {
    throw new AppError('CHECKPOINT_INVALID', `${path}: cannot read or parse: ${(err as Error).message}`, { file: path }, { cause: err })
  }
  return parseTokenizerConfig(json, path)
}
