import t, { type Test } from 'tap'
import { compileFilter, validateMetadata, FILTER_LIMITS, METADATA_LIMITS } from '../../src/index/metadata-filter.js'
import { AppError } from '../../src/errors.js'
import type { Metadata } from '../../src/index/types.js'

const docs: Array<{ id: string; m: Metadata | undefined }> = [
  { id: 'a', m: { lang: 'ja', year: 2020, draft: false, src: 'wiki' } },
  { id: 'b', m: { lang: 'en', year: 2018, draft: true, src: null } },
  { id: 'c', m: { lang: 'ja', year: 2023, src: 'news' } },
  { id: 'd', m: { lang: 'ja', year: '2021' } },
  { id: 'e', m: undefined },
  { id: 'f', m: { lang: 'fr', year: 2020.5, draft: false, constructor: 'x' } },
]

function ids(filter: unknown): string[] {
  const p = compileFilter(filter)
  return docs.filter((d) => p(d.m, d.id)).map((d) => d.id)
}

/** Asserts the filter is refused with INVALID_FILTER and the error names `path`. */
function refused(t: Test, filter: unknown, path: string, msg?: RegExp): void {
  try {
    compileFilter(filter)
    t.fail(`expected INVALID_FILTER for ${JSON.stringify(filter)}`)
  } catch (err) {
    t.ok(err instanceof AppError, 'AppError')
    const e = err as AppError
    t.equal(e.code, 'INVALID_FILTER')
    t.equal(e.details?.path, path, `path of ${JSON.stringify(filter)}`)
    t.ok(e.message.startsWith(path + ':'), 'message starts with the path')
    if (msg) t.match(e.message, msg)
  }
}

t.test('empty filters match everything', async (t) => {
  t.same(ids(undefined), ['a', 'b', 'c', 'd', 'e', 'f'])
  t.same(ids(null), ['a', 'b', 'c', 'd', 'e', 'f'])
  t.same(ids({}), ['a', 'b', 'c', 'd', 'e', 'f'])
})

t.test('equality, null and missing fields', async (t) => {
  t.same(ids({ lang: 'ja' }), ['a', 'c', 'd'])
  t.same(ids({ lang: { $eq: 'ja' } }), ['a', 'c', 'd'])
  t.same(ids({ year: 2020 }), ['a'], 'number equality is exact (2020.5 and "2021" differ)')
  t.same(ids({ year: '2021' }), ['d'], 'types are not coerced')
  t.same(ids({ draft: false }), ['a', 'f'])
  t.same(ids({ src: null }), ['b'], 'null matches a stored null only, not a missing field')
  t.same(ids({ lang: 'ja', year: 2023 }), ['c'], 'several keys are ANDed')
  t.same(ids({ lang: { $ne: 'ja' } }), ['b', 'e', 'f'], '$ne is true on a missing field')
  t.same(ids({ constructor: 'x' }), ['f'], 'prototype names are ordinary fields')
  t.same(ids({ toString: { $exists: true } }), [], 'inherited properties do not exist')
})

t.test('$in, $nin, $exists', async (t) => {
  t.same(ids({ lang: { $in: ['en', 'fr'] } }), ['b', 'f'])
  t.same(ids({ lang: { $nin: ['en', 'fr'] } }), ['a', 'c', 'd', 'e'])
  t.same(ids({ src: { $in: [null, 'news'] } }), ['b', 'c'])
  t.same(ids({ lang: { $in: [] } }), [])
  t.same(ids({ draft: { $exists: true } }), ['a', 'b', 'f'])
  t.same(ids({ draft: { $exists: false } }), ['c', 'd', 'e'])
})

t.test('ranges compare like with like', async (t) => {
  t.same(ids({ year: { $gte: 2020 } }), ['a', 'c', 'f'], 'the string "2021" is not a number')
  t.same(ids({ year: { $gt: 2020, $lt: 2023 } }), ['f'])
  t.same(ids({ year: { $lte: 2018 } }), ['b'])
  t.same(ids({ year: { $gte: '2000' } }), ['d'], 'string ranges only see strings')
  t.same(ids({ lang: { $gte: 'f', $lt: 'j' } }), ['f'])
  t.same(ids({ missing: { $lt: 1e9 } }), [])
})

t.test('$and, $or, $not', async (t) => {
  t.same(ids({ $or: [{ lang: 'en' }, { year: { $gte: 2023 } }] }), ['b', 'c'])
  t.same(ids({ $and: [{ lang: 'ja' }, { year: { $lt: 2023 } }] }), ['a'])
  t.same(ids({ $not: { lang: 'ja' } }), ['b', 'e', 'f'])
  t.same(ids({ lang: 'ja', $or: [{ src: 'wiki' }, { src: { $exists: false } }] }), ['a', 'd'])
  t.same(ids({ $or: [{ $and: [{ lang: 'ja' }, { draft: false }] }, { $not: { year: { $exists: true } } }] }), ['a', 'e'])
})

t.test('compiled filters agree with a brute-force reference on random data', async (t) => {
  // Independent reference: a direct recursive interpreter with the documented semantics.
  const ref = (f: Record<string, unknown>, m: Metadata | undefined): boolean =>
    Object.entries(f).every(([k, v]) => {
      if (k === '$and') return (v as Record<string, unknown>[]).every((x) => ref(x, m))
      if (k === '$or') return (v as Record<string, unknown>[]).some((x) => ref(x, m))
      if (k === '$not') return !ref(v as Record<string, unknown>, m)
      const has = m !== undefined && Object.prototype.hasOwnProperty.call(m, k)
      const val = has ? m![k] : undefined
      const ops = typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : { $eq: v }
      return Object.entries(ops).every(([op, x]) => {
        switch (op) {
          case '$eq': return has && val === x
          case '$ne': return !(has && val === x)
          case '$in': return has && (x as unknown[]).includes(val)
          case '$nin': return !(has && (x as unknown[]).includes(val))
          case '$gt': return typeof val === typeof x && (val as number) > (x as number)
          case '$lt': return typeof val === typeof x && (val as number) < (x as number)
          case '$exists': return has === x
          default: throw new Error(op)
        }
      })
    })
  let seed = 7
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    return seed % n
  }
  const values = [0, 1, 2, 'x', 'y', null, true, false]
  const fields = ['p', 'q', 'r']
  const randomMeta = (): Metadata | undefined => {
    if (rnd(10) === 0) return undefined
    const m: Metadata = {}
    for (const f of fields) if (rnd(3) > 0) m[f] = values[rnd(values.length)]
    return m
  }
  const randomCond = (): Record<string, unknown> => {
    const f = fields[rnd(3)]
    const v = values[rnd(values.length)]
    switch (rnd(7)) {
      case 0: return { [f]: v }
      case 1: return { [f]: { $ne: v } }
      case 2: return { [f]: { $in: [v, values[rnd(values.length)]] } }
      case 3: return { [f]: { $nin: [v] } }
      case 4: return { [f]: { $gt: rnd(2) ? 1 : 'x' } }
      case 5: return { [f]: { $lt: rnd(2) ? 1 : 'y' } }
      default: return { [f]: { $exists: rnd(2) === 0 } }
    }
  }
  const randomFilter = (depth: number): Record<string, unknown> => {
    if (depth === 0 || rnd(3) === 0) return randomCond()
    const op = ['$and', '$or', '$not'][rnd(3)]
    if (op === '$not') return { $not: randomFilter(depth - 1) }
    return { [op]: [randomFilter(depth - 1), randomFilter(depth - 1), randomFilter(depth - 1)].slice(0, 1 + rnd(3)) }
  }
  const metas = Array.from({ length: 200 }, randomMeta)
  let checked = 0
  let matched = 0
  for (let i = 0; i < 300; i++) {
    const f = randomFilter(3)
    const p = compileFilter(f)
    for (const m of metas) {
      const want = ref(f, m)
      if (p(m, 'id') !== want) {
        t.fail(`mismatch for ${JSON.stringify(f)} on ${JSON.stringify(m)}`)
        return
      }
      checked++
      if (want) matched++
    }
  }
  t.equal(checked, 60000)
  t.ok(matched > 5000 && matched < 55000, `both outcomes exercised (${matched} matches)`)
})

t.test('malformed filters are refused with the offending path', async (t) => {
  refused(t, 'lang=ja', 'filter', /expected an object/)
  refused(t, [{ a: 1 }], 'filter', /expected an object/)
  refused(t, { $foo: [] }, 'filter.$foo', /unknown operator \$foo/)
  refused(t, { $in: ['a'] }, 'filter.$in', /must be applied to a field/)
  refused(t, { lang: { $regex: 'j.*' } }, 'filter.lang.$regex', /unknown operator/)
  refused(t, { lang: { $or: [] } }, 'filter.lang.$or', /filter level/)
  refused(t, { lang: ['ja', 'en'] }, 'filter.lang', /\$in/)
  refused(t, { lang: { nested: 1 } }, 'filter.lang.nested', /flat/)
  refused(t, { lang: {} }, 'filter.lang', /empty operator/)
  refused(t, { lang: { $in: 'ja' } }, 'filter.lang.$in', /array/)
  refused(t, { lang: { $in: ['ja', { x: 1 }] } }, 'filter.lang.$in[1]', /got an object/)
  refused(t, { year: { $gt: true } }, 'filter.year.$gt', /number or a string/)
  refused(t, { year: { $gt: null } }, 'filter.year.$gt')
  refused(t, { year: { $eq: Number.NaN } }, 'filter.year.$eq', /NaN/)
  refused(t, { year: { $exists: 1 } }, 'filter.year.$exists', /true or false/)
  refused(t, { $or: [] }, 'filter.$or', /non-empty/)
  refused(t, { $or: { a: 1 } }, 'filter.$or', /array/)
  refused(t, { $and: [{ a: 1 }, { b: { $lt: [] } }] }, 'filter.$and[1].b.$lt')
  refused(t, { $not: [{ a: 1 }] }, 'filter.$not', /expected an object/)
  refused(t, { '': 1 }, 'filter', /empty field name/)
})

t.test('size limits', async (t) => {
  let deep: Record<string, unknown> = { a: 1 }
  for (let i = 0; i < FILTER_LIMITS.maxDepth - 1; i++) deep = { $not: deep }
  t.doesNotThrow(() => compileFilter(deep), 'exactly at the depth limit')
  refused(t, { $not: deep }, 'filter' + '.$not'.repeat(FILTER_LIMITS.maxDepth), /deeper than/)
  const wide = { $or: Array.from({ length: FILTER_LIMITS.maxNodes }, (_, i) => ({ a: i })) }
  refused(t, wide, `filter.$or[${FILTER_LIMITS.maxNodes - 1}].a`, /more than/)
  refused(t, { a: { $in: Array.from({ length: FILTER_LIMITS.maxListLength + 1 }, (_, i) => i) } }, 'filter.a.$in', /longer than/)
  t.doesNotThrow(() => compileFilter({ a: { $in: Array.from({ length: FILTER_LIMITS.maxListLength }, (_, i) => i) } }))
  refused(t, { a: 'x'.repeat(FILTER_LIMITS.maxStringLength + 1) }, 'filter.a', /longer than/)
})

t.test('validateMetadata', async (t) => {
  const ok = { a: 'x', b: 1.5, c: true, d: null }
  t.equal(validateMetadata(ok), ok)
  t.same(validateMetadata({}), {})
  const bad = (v: unknown, path: string, msg: RegExp): void => {
    try {
      validateMetadata(v)
      t.fail(`expected INVALID_METADATA for ${JSON.stringify(v)?.slice(0, 60)}`)
    } catch (err) {
      const e = err as AppError
      t.ok(e instanceof AppError && e.code === 'INVALID_METADATA', 'INVALID_METADATA')
      t.equal(e.details?.path, path)
      t.match(e.message, msg)
    }
  }
  bad(null, 'metadata', /flat object/)
  bad([1], 'metadata', /flat object/)
  bad('x', 'metadata', /flat object/)
  bad({ a: { b: 1 } }, 'metadata.a', /flat/)
  bad({ a: [1] }, 'metadata.a', /flat/)
  bad({ a: Number.POSITIVE_INFINITY }, 'metadata.a', /finite/)
  bad({ $a: 1 }, 'metadata.$a', /\$/)
  bad({ '': 1 }, 'metadata', /empty key/)
  bad({ a: 'x'.repeat(METADATA_LIMITS.maxStringLength + 1) }, 'metadata.a', /longer than/)
  bad({ ['k'.repeat(METADATA_LIMITS.maxKeyLength + 1)]: 1 }, 'metadata', /key longer/)
  bad(Object.fromEntries(Array.from({ length: METADATA_LIMITS.maxKeys + 1 }, (_, i) => [`k${i}`, i])), 'metadata', /more than 64 keys/)
  bad(new Date(), 'metadata', /plain JSON object/)
  t.doesNotThrow(() => validateMetadata(Object.fromEntries(Array.from({ length: METADATA_LIMITS.maxKeys }, (_, i) => [`k${i}`, i]))))
})
