/**
 * A JSON Schema (draft-07) validator for the keywords our chart's values.schema.json uses: type (one or several),
 * properties, required, additionalProperties (boolean or schema), items, enum, minimum, maximum, minLength, minItems,
 * pattern. A schema using any other keyword is rejected, so the schema cannot grow a rule these tests would ignore.
 */
type Schema = Record<string, unknown>

const KNOWN = new Set([
  '$schema', 'title', 'description', 'type', 'properties', 'required', 'additionalProperties', 'items', 'enum',
  'minimum', 'maximum', 'minLength', 'minItems', 'pattern',
])

function typeOf(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'array'
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number'
  return typeof v
}

function typeMatches(v: unknown, t: string): boolean {
  const actual = typeOf(v)
  return actual === t || (t === 'number' && actual === 'integer')
}

/** Every violation as "path: problem"; an empty list means valid. */
export function validateJsonSchema(schema: Schema, value: unknown, path = '$'): string[] {
  for (const k of Object.keys(schema)) if (!KNOWN.has(k)) throw new Error(`${path}: schema keyword "${k}" is not supported`)
  const errors: string[] = []
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string]
    if (!types.some((t) => typeMatches(value, t))) {
      return [`${path}: expected ${types.join(' or ')}, got ${typeOf(value)}`]
    }
  }
  if (schema.enum !== undefined && !(schema.enum as unknown[]).some((e) => e === value)) {
    errors.push(`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`)
  }
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum) errors.push(`${path}: ${value} < minimum ${schema.minimum}`)
    if (typeof schema.maximum === 'number' && value > schema.maximum) errors.push(`${path}: ${value} > maximum ${schema.maximum}`)
  }
  if (typeof value === 'string') {
    if (typeof schema.minLength === 'number' && [...value].length < schema.minLength) errors.push(`${path}: shorter than ${schema.minLength}`)
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value)) {
      errors.push(`${path}: ${JSON.stringify(value)} does not match ${schema.pattern}`)
    }
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems) errors.push(`${path}: fewer than ${schema.minItems} items`)
    if (schema.items) value.forEach((x, i) => errors.push(...validateJsonSchema(schema.items as Schema, x, `${path}[${i}]`)))
  }
  if (typeOf(value) === 'object') {
    const obj = value as Record<string, unknown>
    const props = (schema.properties ?? {}) as Record<string, Schema>
    for (const r of (schema.required ?? []) as string[]) if (!(r in obj)) errors.push(`${path}: missing required "${r}"`)
    for (const [k, v] of Object.entries(obj)) {
      if (props[k]) errors.push(...validateJsonSchema(props[k], v, `${path}.${k}`))
      else if (schema.additionalProperties === false) errors.push(`${path}: unknown key "${k}"`)
      else if (typeof schema.additionalProperties === 'object') {
        errors.push(...validateJsonSchema(schema.additionalProperties as Schema, v, `${path}.${k}`))
      }
    }
  }
  return errors
}
