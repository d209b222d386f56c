import t from 'tap'
import { assignCodes, CENTROID_BYTES_PER_VECTOR, centroidsF32, compactCentroidSet, createCentroidSet, defaultNumCentroids, lloydKmeans, referenceNumCentroids, trainCentroids } from '../../src/index/kmeans.js'
import { createPrng, sampleIndices } from '../../src/index/prng.js'
import { gaussian, normalize } from './synthetic-vectors.js'

/** n points around `k` random unit centres with small noise; returns points and their true cluster. */
function clusters(seed: number, k: number, perCluster: number, dim: number, noise: number) {
  const rng = createPrng(seed)
  const centres = new Float32Array(k * dim)
  for (let i = 0; i < centres.length; i++) centres[i] = gaussian(rng)
  for (let c = 0; c < k; c++) normalize(centres, c * dim, dim)
  const n = k * perCluster
  const points = new Float32Array(n * dim)
  const truth = new Uint32Array(n)
  for (let p = 0; p < n; p++) {
    const c = p % k
    truth[p] = c
    for (let d = 0; d < dim; d++) points[p * dim + d] = centres[c * dim + d] + (noise / Math.sqrt(dim)) * gaussian(rng)
    normalize(points, p * dim, dim)
  }
  return { centres, points, truth, n }
}

/** Every true cluster maps to one code and every code to one true cluster. */
function purity(truth: Uint32Array, codes: Uint32Array, k: number): { pure: boolean; used: number } {
  const map = new Map<number, number>()
  const back = new Map<number, number>()
  let pure = true
  for (let p = 0; p < truth.length; p++) {
    const a = map.get(truth[p]), b = back.get(codes[p])
    if (a === undefined) map.set(truth[p], codes[p]); else if (a !== codes[p]) pure = false
    if (b === undefined) back.set(codes[p], truth[p]); else if (b !== truth[p]) pure = false
  }
  return { pure, used: map.size === k ? back.size : -1 }
}

t.test('the reference K formula', async (t) => {
  t.equal(referenceNumCentroids(1_802_902), 16384)
  t.equal(referenceNumCentroids(100_000), 4096)
  t.equal(referenceNumCentroids(1), 16)
})

t.test('the default K keeps the fine centroids within their bytes per vector where half the reference K allows', async (t) => {
  // the reference's K where its centroids fit: 16384 × 128 × 2 B over 1.8 M vectors is 2.33 B/vector
  t.equal(defaultNumCentroids(1_802_902, 128), 16384)
  // just past 2^20 vectors the reference's 16384 would take 4 B/vector: trimmed to what 2.625 B/vector allows
  const n = 1_251_641, k = defaultNumCentroids(n, 128)
  t.equal(k, Math.floor((2.625 * n) / 256))
  t.ok(k * 128 * 2 <= CENTROID_BYTES_PER_VECTOR * n && (k + 1) * 128 * 2 > CENTROID_BYTES_PER_VECTOR * n)
  t.ok(k >= referenceNumCentroids(n) / 2 && k < referenceNumCentroids(n))
  // a small collection keeps the reference's K (the budget would need less than half of it)
  t.equal(defaultNumCentroids(100_000, 128), 4096)
  t.equal(defaultNumCentroids(1, 128), 16)
  // a narrower model's centroids cost less: more of the reference's K fits
  t.equal(defaultNumCentroids(n, 64), 16384)
  // the step at 2^20: the budget binds from there until K = 16384 fits again
  t.equal(defaultNumCentroids(2 ** 20, 128), 10752)
  t.equal(defaultNumCentroids(2 ** 20 - 1, 128), 8192)
  // from 16384 × 256 / 2.625 vectors on, the reference's K fits
  t.equal(defaultNumCentroids(1_597_830, 128), 16383)
  t.equal(defaultNumCentroids(1_597_831, 128), 16384)
})

t.test('flat k-means recovers well-separated clusters exactly', async (t) => {
  const dim = 32, k = 16
  const { centres, points, truth, n } = clusters(11, k, 40, dim, 0.2)
  const cs = trainCentroids(points, n, dim, k, 8, createPrng(2))
  t.equal(cs.groups, 1)
  const codes = new Uint32Array(n)
  assignCodes(cs, points, 0, n, codes, 0, null)
  const { pure, used } = purity(truth, codes, k)
  t.ok(pure, 'each cluster has its own centroid')
  t.equal(used, k)
  // each learned centroid is close to its true centre and unit length
  for (let c = 0; c < k; c++) {
    let best = -1, norm = 0
    for (let d = 0; d < dim; d++) norm += centroidsF32(cs)[c * dim + d] ** 2
    for (let g = 0; g < k; g++) {
      let s = 0
      for (let d = 0; d < dim; d++) s += centroidsF32(cs)[c * dim + d] * centres[g * dim + d]
      best = Math.max(best, s)
    }
    t.ok(Math.abs(norm - 1) < 1e-3 && best > 0.99, `centroid ${c}: cos to truth ${best.toFixed(4)}`)
  }
})

t.test('two-level training recovers the clusters, and probing agrees with the exact argmax', async (t) => {
  const dim = 32, k = 64
  const { points, truth, n } = clusters(12, k, 30, dim, 0.2)
  const cs = trainCentroids(points, n, dim, k, 8, createPrng(3), 16)
  t.equal(cs.groups, 8, '√64 coarse cells')
  t.equal(cs.groupOffsets[cs.groups], k)
  const probed = new Uint32Array(n), exact = new Uint32Array(n)
  assignCodes(cs, points, 0, n, probed, 0, null, 2)
  assignCodes(cs, points, 0, n, exact, 0, null, cs.groups) // probes ≥ groups: exhaustive
  let agree = 0
  for (let p = 0; p < n; p++) if (probed[p] === exact[p]) agree++
  t.ok(agree / n >= 0.98, `probe agreement ${agree / n}`)
  // a cell boundary can cut a true cluster, so two-level is not always pure; it must stay close to flat k-means
  const flat = trainCentroids(points, n, dim, k, 8, createPrng(3))
  const flatCodes = new Uint32Array(n)
  assignCodes(flat, points, 0, n, flatCodes, 0, null)
  const fit = (c: Float32Array, codes: Uint32Array) => {
    let s = 0
    for (let p = 0; p < n; p++) for (let d = 0; d < dim; d++) s += points[p * dim + d] * c[codes[p] * dim + d]
    return s / n
  }
  const f2 = fit(centroidsF32(cs), exact), f1 = fit(centroidsF32(flat), flatCodes)
  t.comment(`mean cosine to centroid: two-level ${f2.toFixed(4)}, flat ${f1.toFixed(4)}`)
  t.ok(f2 > f1 - 0.02, 'two-level fits almost as well as flat')
  let majority = 0
  const byCode = new Map<number, Map<number, number>>()
  for (let p = 0; p < n; p++) {
    const m = byCode.get(exact[p]) ?? new Map<number, number>()
    m.set(truth[p], (m.get(truth[p]) ?? 0) + 1)
    byCode.set(exact[p], m)
  }
  for (const m of byCode.values()) majority += Math.max(...m.values())
  t.ok(majority / n >= 0.9, `points in their code's majority cluster: ${majority / n}`)
  // exhaustive equals brute force
  let same = 0
  for (let p = 0; p < n; p++) {
    let bi = 0, bs = -Infinity
    for (let c = 0; c < k; c++) {
      let s = 0
      for (let d = 0; d < dim; d++) s += points[p * dim + d] * centroidsF32(cs)[c * dim + d]
      if (s > bs) { bs = s; bi = c }
    }
    if (bi === exact[p]) same++
  }
  t.equal(same, n)
})

t.test('probed coding through one very large cell matches a float64 reference and leaves little arena scratch', async (t) => {
  // skewed data gives a coarse cell 1000+ fine centroids; scoring a block of points against it must not need a
  // block × cell tile in the arena (WebAssembly memory never shrinks)
  const dim = 32, groups = 16, big = 1200, small = 8, k = big + (groups - 1) * small
  const rng = createPrng(77)
  const coarse = new Float32Array(groups * dim)
  for (let i = 0; i < coarse.length; i++) coarse[i] = gaussian(rng)
  for (let g = 0; g < groups; g++) normalize(coarse, g * dim, dim)
  const offsets = new Uint32Array(groups + 1)
  for (let g = 0; g < groups; g++) offsets[g + 1] = offsets[g] + (g === 0 ? big : small)
  const rows = new Float32Array(k * dim)
  for (let g = 0; g < groups; g++) {
    for (let c = offsets[g]; c < offsets[g + 1]; c++) {
      for (let d = 0; d < dim; d++) rows[c * dim + d] = coarse[g * dim + d] + 0.35 * gaussian(rng)
      normalize(rows, c * dim, dim)
    }
  }
  const cs = createCentroidSet(k, dim, rows, coarse, offsets)
  if (cs.arena === null) { t.comment('no WebAssembly SIMD here: the arena path is not exercised'); return }
  const before = cs.arena.arena.byteLength()
  const n = 3000, probes = 2
  const points = new Float32Array(n * dim)
  for (let p = 0; p < n; p++) {
    const g = p % 5 === 0 ? 1 + rng.int(groups - 1) : 0 // most points in the big cell
    for (let d = 0; d < dim; d++) points[p * dim + d] = coarse[g * dim + d] + 0.35 * gaussian(rng)
    normalize(points, p * dim, dim)
  }
  const codes = new Uint32Array(n), score = new Float32Array(n)
  assignCodes(cs, points, 0, n, codes, 0, score, probes)
  const c64 = centroidsF32(cs)
  let checked = 0, agree = 0
  for (let p = 0; p < n; p++) {
    const cscore = Array.from({ length: groups }, (_, g) => {
      let s = 0
      for (let d = 0; d < dim; d++) s += points[p * dim + d] * coarse[g * dim + d]
      return { g, s }
    }).sort((a, b) => b.s - a.s)
    if (cscore[probes - 1].s - cscore[probes].s < 1e-3) continue // probed set not clear-cut in float32
    const fine: number[] = []
    for (const { g } of cscore.slice(0, probes)) {
      for (let c = offsets[g]; c < offsets[g + 1]; c++) {
        let s = 0
        for (let d = 0; d < dim; d++) s += points[p * dim + d] * c64[c * dim + d]
        fine.push(s)
      }
    }
    const best = Math.max(...fine)
    checked++
    if (Math.abs(score[p] - best) < 2e-3) agree++
  }
  t.ok(checked > 0.9 * n, `${checked} points with a clear probed set`)
  t.equal(agree, checked, 'every point gets the best score among its probed cells')
  const grown = cs.arena.arena.byteLength() - before
  t.ok(grown <= 1 << 20, `arena grew ${grown} bytes (a block × cell tile alone would be ${1024 * big * 4})`)
  const compact = compactCentroidSet(cs)
  t.same(Array.from(compact.centroids), Array.from(cs.centroids), 'the compact copy holds the same centroids')
  t.ok(compact.bytes() < cs.bytes(), 'without the coding scratch')
  const again = new Uint32Array(n)
  assignCodes(compact, points, 0, n, again, 0, null, probes)
  t.same(Array.from(again), Array.from(codes), 'and codes the same')
})

t.test('training is deterministic for a seed and differs across seeds', async (t) => {
  const dim = 16
  const { points, n } = clusters(13, 8, 20, dim, 0.5)
  const a = lloydKmeans(points, n, dim, 8, 4, createPrng(9))
  const b = lloydKmeans(points, n, dim, 8, 4, createPrng(9))
  const c = lloydKmeans(points, n, dim, 8, 4, createPrng(10))
  t.same(Array.from(a), Array.from(b))
  t.notSame(Array.from(a), Array.from(c))
})

t.test('sampleIndices gives distinct sorted indices', async (t) => {
  const s = sampleIndices(1000, 300, createPrng(1))
  t.equal(new Set(s).size, 300)
  for (let i = 1; i < s.length; i++) t.ok(s[i] > s[i - 1])
  t.equal(sampleIndices(5, 9, createPrng(1)).length, 5)
})
