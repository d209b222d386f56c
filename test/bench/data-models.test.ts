import t from 'tap'
import { findPreset, modelKey } from '../../bench/data-models.js'

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
