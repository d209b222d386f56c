/**
 * Metadata validation and the filter language for searches.
 *
 * Metadata is a flat JSON object whose values are strings, numbers, booleans or null. A filter is compiled once per
 * request into a closure tree, so the per-document cost is a few property reads and comparisons (no parsing, no
 * allocation). Semantics (chosen to match what users of document stores expect, close to MongoDB's):
 * - `{field: value}` is equality (same as `{field: {$eq: value}}`); several keys in one object are ANDed.
 * - A missing field equals nothing: `$eq`, `$in` and the range operators are false on it, `$ne` and `$nin` are true,
 *   `$exists: false` is true. `null` is a value: `{f: null}` matches only documents that store `f: null`.
 * - Range operators compare numbers with numbers and strings with strings (UTF-16 code unit order); a value of any
 *   other type never matches a range.
 * - `$and` / `$or` take non-empty arrays of filters; `$not` takes one filter.
 */
import { AppError } from '../errors.js'
import type { Metadata, MetadataValue } from './types.js'

export type MetadataPredicate = (metadata: Metadata | undefined, id: string) => boolean

/** Limits that keep a hostile filter or metadata object from costing more than a normal one. */
export const FILTER_LIMITS = {
  /** Nesting of `$and` / `$or` / `$not` (a flat filter has depth 1). */
  maxDepth: 8,
  /** Conditions (field operators) plus logical nodes in one filter. */
  maxNodes: 256,
  /** Values in one `$in` / `$nin` list. */
  maxListLength: 1024,
  /** Characters in a string operand or a field name. */
  maxStringLength: 1024,
} as const

export const METADATA_LIMITS = {
  maxKeys: 64,
  maxKeyLength: 128,
  maxStringLength: 4096,
} as const

const COMPARISON_OPS = new Set(['$eq', '$ne', '$in', '$nin', '$gt', '$gte', '$lt', '$lte', '$exists'])
const LOGICAL_OPS = new Set(['$and', '$or', '$not'])

const matchAll: MetadataPredicate = () => true

/**
 * Compiles a filter into a predicate over (metadata, id); `undefined`, `null` and `{}` match everything.
 * Throws AppError('INVALID_FILTER') naming the path of the offending part (e.g. `filter.$or[1].year.$gte`).
 */
export function compileFilter(filter: unknown): MetadataPredicate {
  if (filter === undefined || filter === null) return matchAll
  const budget = { nodes: 0 }
  return compileObject(filter, 'filter', 1, budget)
}

function fail(path: string, problem: string): never {
  throw new AppError('INVALID_FILTER', `${path}: ${problem}`, { path })
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function isScalar(v: unknown): v is MetadataValue {
  return v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))
}

function countNode(budget: { nodes: number }, path: string): void {
  budget.nodes++
  if (budget.nodes > FILTER_LIMITS.maxNodes) fail(path, `filter has more than ${FILTER_LIMITS.maxNodes} conditions`)
}

function checkScalar(v: unknown, path: string): MetadataValue {
  if (!isScalar(v)) {
    fail(path, `expected a string, finite number, boolean or null, got ${describe(v)}`)
  }
  if (typeof v === 'string' && v.length > FILTER_LIMITS.maxStringLength) {
    fail(path, `string operand longer than ${FILTER_LIMITS.maxStringLength} characters`)
  }
  return v
}

function describe(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'number') return Number.isFinite(v) ? 'a number' : String(v)
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`
}

function compileObject(node: unknown, path: string, depth: number, budget: { nodes: number }): MetadataPredicate {
  if (depth > FILTER_LIMITS.maxDepth) fail(path, `filter nested deeper than ${FILTER_LIMITS.maxDepth} levels`)
  if (!isPlainObject(node)) fail(path, `expected an object, got ${describe(node)}`)
  const parts: MetadataPredicate[] = []
  for (const key of Object.keys(node)) {
    const value = node[key]
    const at = `${path}.${key}`
    if (key.startsWith('$')) {
      if (!LOGICAL_OPS.has(key)) {
        fail(at, COMPARISON_OPS.has(key) ? `${key} must be applied to a field, e.g. {"field": {"${key}": …}}` : `unknown operator ${key}`)
      }
      countNode(budget, at)
      parts.push(compileLogical(key, value, at, depth, budget))
    } else {
      if (key.length === 0) fail(path, 'empty field name')
      if (key.length > FILTER_LIMITS.maxStringLength) fail(path, `field name longer than ${FILTER_LIMITS.maxStringLength} characters`)
      parts.push(compileField(key, value, at, budget))
    }
  }
  return allOf(parts)
}

function compileLogical(op: string, value: unknown, path: string, depth: number, budget: { nodes: number }): MetadataPredicate {
  if (op === '$not') {
    const inner = compileObject(value, path, depth + 1, budget)
    return (m, id) => !inner(m, id)
  }
  if (!Array.isArray(value)) fail(path, `${op} takes an array of filters, got ${describe(value)}`)
  if (value.length === 0) fail(path, `${op} takes a non-empty array`)
  const parts = value.map((item, i) => compileObject(item, `${path}[${i}]`, depth + 1, budget))
  return op === '$and' ? allOf(parts) : anyOf(parts)
}

function allOf(parts: MetadataPredicate[]): MetadataPredicate {
  if (parts.length === 0) return matchAll
  if (parts.length === 1) return parts[0]
  if (parts.length === 2) {
    const [a, b] = parts
    return (m, id) => a(m, id) && b(m, id)
  }
  return (m, id) => {
    for (const p of parts) if (!p(m, id)) return false
    return true
  }
}

function anyOf(parts: MetadataPredicate[]): MetadataPredicate {
  if (parts.length === 1) return parts[0]
  return (m, id) => {
    for (const p of parts) if (p(m, id)) return true
    return false
  }
}

function compileField(field: string, spec: unknown, path: string, budget: { nodes: number }): MetadataPredicate {
  if (Array.isArray(spec)) fail(path, 'an array is not a value; use {"$in": [...]} to match any of several values')
  if (!isPlainObject(spec)) {
    countNode(budget, path)
    return equals(field, checkScalar(spec, path))
  }
  const keys = Object.keys(spec)
  if (keys.length === 0) fail(path, 'empty operator object')
  const parts: MetadataPredicate[] = []
  for (const op of keys) {
    const at = `${path}.${op}`
    if (!op.startsWith('$')) fail(at, `metadata is flat: nested field "${op}" is not supported (did you mean an operator like $eq?)`)
    if (!COMPARISON_OPS.has(op)) {
      fail(at, LOGICAL_OPS.has(op) ? `${op} belongs at the filter level, not inside a field` : `unknown operator ${op}`)
    }
    countNode(budget, at)
    parts.push(compileComparison(field, op, spec[op], at))
  }
  return allOf(parts)
}

function compileComparison(field: string, op: string, operand: unknown, path: string): MetadataPredicate {
  switch (op) {
    case '$eq':
      return equals(field, checkScalar(operand, path))
    case '$ne': {
      const eq = equals(field, checkScalar(operand, path))
      return (m, id) => !eq(m, id)
    }
    case '$in':
    case '$nin': {
      if (!Array.isArray(operand)) fail(path, `${op} takes an array of values, got ${describe(operand)}`)
      if (operand.length > FILTER_LIMITS.maxListLength) fail(path, `${op} list longer than ${FILTER_LIMITS.maxListLength} values`)
      // Set membership is SameValueZero: exact for strings, booleans, null and finite numbers (0 === -0).
      const values = new Set(operand.map((v, i) => checkScalar(v, `${path}[${i}]`)))
      const isIn: MetadataPredicate = (m) => m !== undefined && Object.hasOwn(m, field) && values.has(m[field])
      return op === '$in' ? isIn : (m, id) => !isIn(m, id)
    }
    case '$gt':
    case '$gte':
    case '$lt':
    case '$lte': {
      if (!(typeof operand === 'number' && Number.isFinite(operand)) && typeof operand !== 'string') {
        fail(path, `${op} takes a finite number or a string, got ${describe(operand)}`)
      }
      if (typeof operand === 'string') checkScalar(operand, path)
      const kind = typeof operand
      const cmp = RANGE[op]
      return (m) => {
        if (m === undefined) return false
        const v = m[field]
        // typeof on a missing key is 'undefined', so a missing field never matches a range.
        return typeof v === kind && cmp(v as number | string, operand)
      }
    }
    case '$exists': {
      if (typeof operand !== 'boolean') fail(path, `$exists takes true or false, got ${describe(operand)}`)
      return operand ? (m) => m !== undefined && Object.hasOwn(m, field) : (m) => m === undefined || !Object.hasOwn(m, field)
    }
    default:
      return fail(path, `unknown operator ${op}`)
  }
}

const RANGE: Record<string, (a: number | string, b: number | string) => boolean> = {
  $gt: (a, b) => a > b,
  $gte: (a, b) => a >= b,
  $lt: (a, b) => a < b,
  $lte: (a, b) => a <= b,
}

function equals(field: string, value: MetadataValue): MetadataPredicate {
  // Object.hasOwn guards against prototype keys ("constructor") and keeps missing distinct from null.
  return (m) => m !== undefined && Object.hasOwn(m, field) && m[field] === value
}

/**
 * Checks that `value` is a flat metadata object and returns it typed (the same object, not a copy).
 * Throws AppError('INVALID_METADATA') naming the offending key under `path`.
 */
export function validateMetadata(value: unknown, path = 'metadata'): Metadata {
  const bad = (at: string, problem: string): never => {
    throw new AppError('INVALID_METADATA', `${at}: ${problem}`, { path: at })
  }
  if (!isPlainObject(value)) return bad(path, `expected a flat object, got ${describe(value)}`)
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return bad(path, 'expected a plain JSON object')
  const keys = Object.keys(value)
  if (keys.length > METADATA_LIMITS.maxKeys) bad(path, `more than ${METADATA_LIMITS.maxKeys} keys (${keys.length})`)
  for (const key of keys) {
    const at = `${path}.${key}`
    if (key.length === 0) bad(path, 'empty key')
    if (key.length > METADATA_LIMITS.maxKeyLength) bad(path, `key longer than ${METADATA_LIMITS.maxKeyLength} characters`)
    // A key starting with "$" could never be addressed by a filter (it would parse as an operator).
    if (key.startsWith('$')) bad(at, 'keys must not start with "$"')
    const v = value[key]
    if (v === null || typeof v === 'boolean') continue
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) bad(at, 'numbers must be finite')
      continue
    }
    if (typeof v === 'string') {
      if (v.length > METADATA_LIMITS.maxStringLength) bad(at, `string longer than ${METADATA_LIMITS.maxStringLength} characters`)
      continue
    }
    bad(at, `values must be strings, numbers, booleans or null (metadata is flat), got ${describe(v)}`)
  }
  return value as Metadata
}
