import t from 'tap'
import { createRandom, createZipf, drawIndex, drawLength, gammaVariate, mixtureWeights } from '../../bench/data-random.js'

t.test('the stream is a pure function of the seed', async (t) => {
  const a = createRandom(7), b = createRandom(7), c = createRandom(8)
  const xs = Array.from({ length: 5 }, () => a.uniform())
  t.same(Array.from({ length: 5 }, () => b.uniform()), xs)
  t.not(c.uniform(), xs[0])
  for (const x of xs) t.ok(x >= 0 && x < 1)
})

t.test('Zipf sampler: empirical frequencies follow (r+1)^-s', async (t) => {
  const n = 50, s = 1.1, draws = 40000
  const z = createZipf(n, s)
  let total = 0
  for (let r = 0; r < n; r++) total += Math.pow(r + 1, -s)
  for (const r of [0, 1, 9, 49]) t.ok(Math.abs(z.probability(r) - Math.pow(r + 1, -s) / total) < 1e-12, `probability(${r})`)
  const counts = new Array<number>(n).fill(0)
  const rnd = createRandom(3)
  for (let i = 0; i < draws; i++) counts[z.sample(rnd)]++
  t.equal(counts.reduce((a, b) => a + b, 0), draws, 'every draw lands in 0..n-1')
  for (const r of [0, 1, 4]) {
    const p = z.probability(r)
    const sd = Math.sqrt(p * (1 - p) / draws)
    t.ok(Math.abs(counts[r] / draws - p) < 5 * sd, `rank ${r}: ${counts[r] / draws} vs ${p}`)
  }
  const u = createZipf(4, 0)
  t.equal(u.probability(3), 0.25, 'exponent 0 is uniform')
  t.throws(() => createZipf(0, 1))
})

t.test('gamma mean, mixture weights and lengths', async (t) => {
  const rnd = createRandom(5)
  for (const shape of [0.3, 1, 2.5]) {
    let sum = 0
    const m = 20000
    for (let i = 0; i < m; i++) sum += gammaVariate(shape, rnd)
    // Var = shape: the mean of m draws is within 5 standard errors of shape
    t.ok(Math.abs(sum / m - shape) < 5 * Math.sqrt(shape / m), `Gamma(${shape}) mean ${sum / m}`)
  }
  for (const spec of [{ kind: 'uniform' as const }, { kind: 'geometric' as const, ratio: 0.5 }, { kind: 'dirichlet' as const, alpha: 0.3 }]) {
    const w = mixtureWeights(5, spec, rnd)
    t.ok(Math.abs(w.reduce((a, b) => a + b, 0) - 1) < 1e-12, `${spec.kind} sums to 1`)
    t.ok(w.every((x) => x >= 0))
  }
  t.same(Array.from(mixtureWeights(3, { kind: 'geometric', ratio: 0.5 }, rnd)), [4 / 7, 2 / 7, 1 / 7])
  t.equal(drawIndex(new Float64Array([0, 1, 0]), rnd), 1)
  const lens = Array.from({ length: 500 }, () => drawLength({ kind: 'lognormal', min: 30, max: 160, median: 70, sigma: 1.5 }, rnd))
  t.ok(lens.every((l) => Number.isInteger(l) && l >= 30 && l <= 160), 'log-normal lengths are clipped integers')
  t.ok(lens.includes(30) && lens.includes(160), 'a wide log-normal reaches both clips')
})
