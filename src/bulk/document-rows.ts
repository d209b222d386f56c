/**
 * Documents from data rows for bulk indexing: the id, text and metadata columns chosen by the user, validated per
 * row so a bad row is reported with its line (and can be skipped) instead of failing a whole batch later.
 */
import { cellAsId, readRecords, type ReadRecordsOptions } from '../data/record-reader.js'
import type { Metadata } from '../index/plaid-index.js'
import { isWellFormedText } from '../tokenizer/normalize.js'

export interface DocumentColumns {
  id: string
  /** joined with a space (e.g. title + text) */
  text: string[]
  metadata: string[]
}

export interface BulkDocument { line: number; id: string; text: string; metadata?: Metadata }
export type DocumentItem = { doc: BulkDocument; error?: undefined } | { doc?: undefined; line: number; error: string }

export async function* readDocuments(path: string, cols: DocumentColumns, opts: ReadRecordsOptions = {}): AsyncGenerator<DocumentItem> {
  const firstLine = new Map<string, number>()
  for await (const r of readRecords(path, opts)) {
    if (r.error !== undefined) {
      yield { line: r.line, error: r.error }
      continue
    }
    const row = r.row
    const id = cellAsId(row[cols.id])
    if (id === undefined) {
      yield { line: r.line, error: Object.prototype.hasOwnProperty.call(row, cols.id) ? `id column '${cols.id}' is empty or not a string/number` : `no id column '${cols.id}' (row has ${Object.keys(row).join(', ')})` }
      continue
    }
    const prev = firstLine.get(id)
    if (prev !== undefined) {
      yield { line: r.line, error: `id ${JSON.stringify(id)} repeats the one on line ${prev}` }
      continue
    }
    const parts: string[] = []
    let bad: string | undefined
    for (const c of cols.text) {
      const v = row[c]
      if (v === undefined || v === null) continue
      if (typeof v !== 'string') { bad = `text column '${c}' is not a string`; break }
      if (v !== '') parts.push(v)
    }
    if (bad === undefined && parts.length === 0) bad = `no text in column${cols.text.length > 1 ? 's' : ''} ${cols.text.map((c) => `'${c}'`).join(', ')}`
    if (bad === undefined && !parts.every(isWellFormedText)) bad = 'text has lone surrogates'
    let metadata: Metadata | undefined
    for (const c of cols.metadata) {
      if (bad !== undefined) break
      const v = row[c]
      if (v === undefined) continue
      if (v !== null && typeof v !== 'string' && typeof v !== 'boolean' && !(typeof v === 'number' && Number.isFinite(v))) {
        bad = `metadata column '${c}' holds ${Array.isArray(v) ? 'an array' : typeof v}; metadata values are strings, numbers, booleans or null`
        break
      }
      ;(metadata ??= {})[c] = v as Metadata[string]
    }
    if (bad !== undefined) {
      yield { line: r.line, error: bad }
      continue
    }
    firstLine.set(id, r.line)
    yield { doc: { line: r.line, id, text: parts.join(' '), ...(metadata ? { metadata } : {}) } }
  }
}
