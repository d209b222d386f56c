/**
 * ColBERT settings of a checkpoint, read from its `artifact.metadata` (the JSON that Stanford ColBERT's config
 * export writes). Only the keys that change tokenisation or vector shape are read; everything else is ignored.
 */
import { readFileSync } from 'node:fs'
import { AppError } from '../errors.js'

export interface ColbertSettings {
  dim: number
  queryMaxlen: number
  docMaxlen: number
  /** vocabulary token that replaces position 1 of a query (ColBERT's `query_token_id`, e.g. "[unused0]") */
  queryToken: string
  /** vocabulary token that replaces position 1 of a document (`doc_token_id`, e.g. "[unused1]") */
  docToken: string
  attendToMaskTokens: boolean
  maskPunctuation: boolean
  similarity: 'cosine' | 'l2'
}

/** JaColBERTv2.x values, used for keys the metadata leaves out. */
export const DEFAULT_COLBERT_SETTINGS: Readonly<ColbertSettings> = Object.freeze({
  dim: 128,
  queryMaxlen: 32,
  docMaxlen: 300,
  queryToken: '[unused0]',
  docToken: '[unused1]',
  attendToMaskTokens: false,
  maskPunctuation: true,
  similarity: 'cosine',
})

// Upper bounds only catch nonsense (a BERT has at most a few thousand positions); the model's own limit is checked
// where the vocabulary and config are known.
const MAX_DIM = 65536
const MAX_LEN = 65536

function invalid(source: string, field: string, problem: string, value?: unknown): AppError {
  const shown = value === undefined ? '' : ` (got ${JSON.stringify(value)})`
  return new AppError('CHECKPOINT_INVALID', `${source}: field '${field}' ${problem}${shown}`, { file: source, field })
}

function readInt(obj: Record<string, unknown>, key: string, min: number, max: number, fallback: number, source: string): number {
  const v = obj[key]
  if (v === undefined || v === null) return fallback
  if (typeof v !== 'number' || !Number.isInteger(v)) throw invalid(source, key, 'must be an integer', v)
  if (v < min || v > max) throw invalid(source, key, `must be between ${min} and ${max}`, v)
  return v
}

function readBool(obj: Record<string, unknown>, key: string, fallback: boolean, source: string): boolean {
  const v = obj[key]
  if (v === undefined || v === null) return fallback
  if (typeof v !== 'boolean') throw invalid(source, key, 'must be true or false', v)
  return v
}

function readToken(obj: Record<string, unknown>, key: string, fallback: string, source: string): string {
  const v = obj[key]
  if (v === undefined || v === null) return fallback
  if (typeof v !== 'string' || v.length === 0) throw invalid(source, key, 'must be a non-empty vocabulary token string', v)
  return v
}

/**
 * Validate ColBERT settings from parsed `artifact.metadata` JSON (or its text). Missing or null keys take the
 * JaColBERTv2.x defaults; a present key of the wrong type or range is an AppError('CHECKPOINT_INVALID') naming
 * `source` and the field. The marker tokens come from `query_token_id`/`doc_token_id` (the vocabulary tokens ColBERT
 * writes at position 1); `query_token`/`doc_token` ("[Q]"/"[D]") are display names there and are not used.
 */
export function parseColbertSettings(json: unknown, source = 'artifact.metadata'): ColbertSettings {
  let value = json
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value) as unknown
    } catch (err) {
      throw new AppError('CHECKPOINT_INVALID', `${source}: not valid JSON: ${(err as Error).message}`, { file: source }, { cause: err })
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new AppError('CHECKPOINT_INVALID', `${source}: expected a JSON object of ColBERT settings`, { file: source })
  }
  const obj = value as Record<string, unknown>
  const d = DEFAULT_COLBERT_SETTINGS
  const similarity = obj.similarity ?? d.similarity
  if (similarity !== 'cosine' && similarity !== 'l2') throw invalid(source, 'similarity', "must be 'cosine' or 'l2'", similarity)
  return {
    dim: readInt(obj, 'dim', 1, MAX_DIM, d.dim, source),
    // 3 = [CLS] + marker + [SEP]: the smallest sequence the layout can produce
    queryMaxlen: readInt(obj, 'query_maxlen', 3, MAX_LEN, d.queryMaxlen, source),
    docMaxlen: readInt(obj, 'doc_maxlen', 3, MAX_LEN, d.docMaxlen, source),
    queryToken: readToken(obj, 'query_token_id', d.queryToken, source),
    docToken: readToken(obj, 'doc_token_id', d.docToken, source),
    attendToMaskTokens: readBool(obj, 'attend_to_mask_tokens', d.attendToMaskTokens, source),
    maskPunctuation: readBool(obj, 'mask_punctuation', d.maskPunctuation, source),
    similarity,
  }
}

/** Read and validate `<path>` (an artifact.metadata file). */
export function loadColbertSettings(path: string): ColbertSettings {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new AppError('CHECKPOINT_INVALID', `cannot read ColBERT settings ${path}: ${(err as Error).message}`, { file: path }, { cause: err })
  }
  return parseColbertSettings(text, path)
}
