import t from 'tap'
import { findPreset, generate, modelKey, type DataModel } from '../../bench/data-models.js'

t.test('<name>-d<dim>: the same model in another dimension, under its own data key', async (t) => {
  const base = findPreset('short-12k')
  const d96 = findPreset('short-12k-d96')
  t.equal(d96.name, 'short-12k-d96')
  t.equal(d96.model.dim, 96)
  t.equal(d96.seed, base.seed)
  t.same({ ...d96.model, dim: base.model.dim }, base.model, 'only the dimension differs')
  t.equal(d96.exactSuccessAt10, undefined, 'the base preset\'s measured exact figure does not carry over')
  t.not(modelKey(d96.model, d96.seed), modelKey(base.model, base.seed), 'another data set, cached apart')
  const drawn = findPreset('drawn-7-d64')
  t.equal(drawn.model.dim, 64)
  t.same({ ...drawn.model, dim: 128 }, findPreset('drawn-7').model)
  t.throws(() => findPreset('short-12k-d100'), /multiple of 8/)
  t.throws(() => findPreset('nothing-d96'), /unknown preset/)
})

t.test('<name>-q<len>: queries of another length; both suffixes combine', async (t) => {
  const q64 = findPreset('zipf-quarter-q64')
  t.equal(q64.model.queryLen, 64)
  t.same({ ...q64.model, queryLen: 32 }, findPreset('zipf-quarter').model)
  const both = findPreset('short-12k-d96-q64')
  t.equal(both.model.dim, 96)
  t.equal(both.model.queryLen, 64)
  t.throws(() => findPreset('short-12k-q0'), /query length/)
})

t.test('<name>-l<max>: documents scaled to at most max tokens, the same shape', async (t) => {
  const l40 = findPreset('zipf-quarter-l40')
  const base = findPreset('zipf-quarter').model
  t.same(l40.model.kind === 'mixture' && l40.model.lengths, { kind: 'uniform', min: 8, max: 40 }, '60-300 scaled by 40/300')
  t.same({ ...l40.model, lengths: base.kind === 'mixture' && base.lengths }, base, 'only the lengths differ')
  const short = findPreset('short-12k-l32').model
  t.same(short.kind === 'mixture' && short.lengths, { kind: 'lognormal', min: 6, max: 32, median: 14, sigma: 0.5 }, '30-160 median 70 scaled by 32/160')
  const legacy = findPreset('uniform-l30').model
  t.same(legacy.kind === 'uniform' && [legacy.minLen, legacy.maxLen], [6, 30])
  t.equal(findPreset('drawn-3-l20-d64').model.dim, 64, 'combines with the other suffixes')
  t.throws(() => findPreset('uniform-l1'), /longest document/)
})

t.test('<name>-o<percent>: chunks repeat the end of the previous one; the rest is the model\'s own', async (t) => {
  const o20 = findPreset('zipf-quarter-o20')
  t.equal(o20.model.kind === 'mixture' && o20.model.overlap, 0.2)
  t.throws(() => findPreset('uniform-o20'), /mixture preset/)
  t.throws(() => findPreset('zipf-quarter-o95'), /1 to 90/)
  const small = (m: DataModel): DataModel => ({ ...m, docs: 40, queries: 8 })
  // uneven-dims: its per-dimension scaling changes each yielded document in place
  for (const name of ['zipf-quarter', 'uneven-dims']) t.test(name, async (t) => {
    const preset = findPreset(`${name}-o20`)
    const plain = generate(small(findPreset(name).model), preset.seed)
    const over = generate(small(preset.model), preset.seed)
    t.same(Array.from(over.doclens), Array.from(plain.doclens), 'same lengths')
    const dim = over.dim
    const a = [...plain.docs], b = [...over.docs]
    t.same(b[0], a[0], 'the first chunk has no predecessor')
    let repeated = 0, own = 0
    const wrong: string[] = []
    for (let d = 1; d < b.length; d++) {
      const len = b[d].length / dim, prevLen = b[d - 1].length / dim
      const n = Math.min(prevLen, Math.round(0.2 * len))
      for (let i = 0; i < len; i++) {
        const row = b[d].subarray(i * dim, (i + 1) * dim)
        if (i >= n) {
          own++
          if (row.some((x, j) => x !== a[d][i * dim + j])) wrong.push(`doc ${d} token ${i} differs from the model's own`)
          continue
        }
        repeated++
        const src = b[d - 1].subarray((prevLen - n + i) * dim, (prevLen - n + i + 1) * dim)
        let cos = 0
        for (let x = 0; x < dim; x++) cos += row[x] * src[x]
        if (!(cos > 0.95 && cos < 0.9999)) wrong.push(`doc ${d} token ${i}: cosine ${cos} with its original`)
      }
    }
    t.same(wrong.slice(0, 5), [], 'repeated tokens lie near their originals; the others are the model\'s own')
    t.ok(repeated > 100 && own > 4 * repeated - 200, `${repeated} repeated tokens, ${own} own`)
    t.not(Array.from(over.queries).join(), Array.from(plain.queries).join(), 'queries may copy a repeated token')
  })
})
