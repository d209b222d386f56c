/**
 * A tokenizer for tests that answers with the ids of ../shared golden.json `encoding[]` (so the encoder can be
 * checked before/independently of the MeCab tokenizer). keepMask follows the golden rules: real tokens that are not
 * in skiplist_ids.
 */
import { readFileSync } from 'node:fs'
import type { ColbertTokenizer, TokenizedText } from '../../src/tokenizer/colbert-tokenizer.js'
import { parseColbertSettings } from '../../src/tokenizer/colbert-settings.js'

export interface GoldenEncoding { kind: 'query' | 'document'; text: string; ids: number[]; attention_mask: number[]; shape: [number, number]; vectors: number[] }
export interface Golden { encoding: GoldenEncoding[]; skiplist_ids: number[] }

export function loadGolden(path: string): Golden {
  return JSON.parse(readFileSync(path, 'utf8')) as Golden
}

export function goldenTokenizer(golden: Golden, metadataPath: string): ColbertTokenizer {
  const skip = new Set(golden.skiplist_ids)
  const byKey = new Map(golden.encoding.map((e) => [`${e.kind}\0${e.text}`, e]))
  const tok = (kind: 'query' | 'document', text: string): TokenizedText => {
    const e = byKey.get(`${kind}\0${text}`)
    if (!e) throw new Error(`golden has no ${kind} '${text}'`)
    return {
      words: [],
      tokens: e.ids.map((i) => `#${i}`),
      ids: Int32Array.from(e.ids),
      attentionMask: Uint8Array.from(e.attention_mask),
      keepMask: kind === 'document' ? Uint8Array.from(e.ids.map((id, i) => (e.attention_mask[i] && !skip.has(id) ? 1 : 0))) : undefined,
    }
  }
  return {
    settings: parseColbertSettings(JSON.parse(readFileSync(metadataPath, 'utf8'))),
    vocabSize: 32768,
    padId: 0,
    tokenizeQuery: (text) => tok('query', text),
    tokenizeDocument: (text) => tok('document', text),
  }
}

/** Largest absolute component difference between our vectors and the golden ones (shape must match). */
export function maxAbsDiff(got: Float32Array, want: number[]): number {
  if (got.length !== want.length) return Infinity
  let m = 0
  for (let i = 0; i < got.length; i++) m = Math.max(m, Math.abs(got[i]! - want[i]!))
  return m
}
