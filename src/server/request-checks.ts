/** Checks on request content that JSON Schema cannot express or that need their own error codes. */
import { AppError } from '../errors.js'
import { validateMetadata } from '../index/metadata-filter.js'
import type { Metadata } from './ports.js'

export const INDEX_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/

/** Reserved metadata key under which document text is kept for include: ['text']. */
export const TEXT_KEY = '_text'

export function checkIndexName(name: string): string {
  if (!INDEX_NAME_RE.test(name)) {
    throw new AppError('INVALID_INDEX_NAME', `index name ${JSON.stringify(name.slice(0, 80))} must match [a-z0-9][a-z0-9_-]{0,63}`, {
      field: 'index',
    })
  }
  return name
}

// A high surrogate not followed by a low one, or a low one not preceded by a high one.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

export function checkText(text: string, field: string, maxChars: number): void {
  if (text.length > maxChars) {
    throw new AppError('TEXT_TOO_LONG', `${field} has ${text.length} characters; the limit (MAX_TEXT_CHARS) is ${maxChars}`, { field, limit: maxChars })
  }
  if (LONE_SURROGATE.test(text)) {
    throw new AppError('INVALID_TEXT', `${field} contains a lone UTF-16 surrogate (not valid Unicode text)`, { field })
  }
}

export function checkBatch(count: number, field: string, max: number, limitName = 'MAX_BATCH_TEXTS'): void {
  if (count > max) throw new AppError('TOO_MANY_TEXTS', `${field} has ${count} items; the limit (${limitName}) is ${max}`, { field, limit: max })
}

/** Flat metadata, by the index's own rules (validateMetadata: limits, finite numbers); the reserved text key refused. */
export function checkMetadata(value: Record<string, unknown>, field: string): Metadata {
  if (Object.hasOwn(value, TEXT_KEY)) {
    throw new AppError('INVALID_METADATA', `${field}.${TEXT_KEY}: the key ${TEXT_KEY} is reserved for the stored document text`, {
      field: `${field}.${TEXT_KEY}`,
    })
  }
  return validateMetadata(value, field)
}

/** Metadata for a hit, without the reserved text key. */
export function publicMetadata(m: Metadata | undefined): Metadata | undefined {
  if (!m || !(TEXT_KEY in m)) return m
  const { [TEXT_KEY]: _t, ...rest } = m
  return rest
}

/** Whether query text is encoded with the dynamic length: the request's `query_length`, else the QUERY_LENGTH setting. */
export function dynamicQueries(requested: 'fixed' | 'dynamic' | undefined, configured: 'fixed' | 'dynamic'): boolean {
  return (requested ?? configured) === 'dynamic'
}
