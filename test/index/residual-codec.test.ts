import t from 'tap'
import { assignCodes, centroidsF32, trainCentroids } from '../../src/index/kmeans.js'
import { createPrng } from '../../src/index/prng.js'
import { decodeVector, encodeResidual, makeCodec, removeRadial, trainCodec, trainCodecPerDimension, unpackResidual } from '../../src/index/residual-codec.js'
import { gaussian, makeDocs } from './synthetic-vectors.js'

const dim = 64
const set = makeDocs({ seed: 3, dim, nDocs: 120, nTopics: 12, minLen: 20, maxLen: 40, noise: 0.6 })
const n = set.docs.reduce((s, d) => s + d.vectors.length / dim, 0)
const all = new Float32Array(n * dim)
set.docs.reduce((at, d) => { all.set(d.vectors, at); return at + d.vectors.length }, 0)
const cset = trainCentroids(all, n, dim, 64, 4, createPrng(1))
const codes = new Uint32Array(n)
const C32 = centroidsF32(cset)
assignCodes(cset, all, 0, n, codes, 0, null)

function meanCosine(nbits: 1 | 2 | 4): { cos: number; codec: ReturnType<typeof trainCodec> } {
  const res = new Float32Array(n * dim)
  for (let v = 0; v < n; v++) for (let d = 0; d < dim; d++) res[v * dim + d] = all[v * dim + d] - C32[codes[v] * dim + d]
  const codec = trainCodec(res, nbits, dim)
  const packed = new Uint8Array(n * codec.bytesPerVector)
  const out = new Float32Array(dim)
  let sum = 0
  for (let v = 0; v < n; v++) {
    encodeResidual(codec, all, v * dim, C32, codes[v] * dim, packed, v * codec.bytesPerVector)
    decodeVector(codec, C32, codes[v], packed, v * codec.bytesPerVector, out)
    let c = 0
    for (let d = 0; d < dim; d++) c += out[d] * all[v * dim + d]
    sum += c
  }
  return { cos: sum / n, codec }
}

/** Mean cosine of the radial-free codec (residual less its component along the unit centroid, centroid weighted). */
function meanCosineRadialFree(nbits: 1 | 2 | 4): { cos: number; centroidWeight: number } {
  const res = new Float32Array(n * dim)
  let aSum = 0
  for (let v = 0; v < n; v++) {
    for (let d = 0; d < dim; d++) res[v * dim + d] = all[v * dim + d] - C32[codes[v] * dim + d]
    aSum += removeRadial(res, v * dim, C32, codes[v] * dim, dim)
  }
  const pooled = trainCodec(res, nbits, dim)
  const codec = makeCodec(nbits, dim, pooled.cutoffs, pooled.weights, { centroidWeight: 1 - aSum / n })
  const packed = new Uint8Array(codec.bytesPerVector)
  const out = new Float32Array(dim)
  let sum = 0
  for (let v = 0; v < n; v++) {
    encodeResidual(codec, all, v * dim, C32, codes[v] * dim, packed, 0)
    decodeVector(codec, C32, codes[v], packed, 0, out)
    let c = 0
    for (let d = 0; d < dim; d++) c += out[d] * all[v * dim + d]
    sum += c
  }
  return { cos: sum / n, centroidWeight: codec.centroidWeight }
}

t.test('removeRadial leaves a residual orthogonal to the centroid and returns the removed coefficient', async (t) => {
  const rng = createPrng(7)
  const c = Float32Array.from({ length: 16 }, () => gaussian(rng))
  const r = Float32Array.from({ length: 16 }, () => gaussian(rng))
  const before = r.slice()
  let rc = 0, cc = 0
  for (let d = 0; d < 16; d++) { rc += r[d] * c[d]; cc += c[d] * c[d] }
  const a = removeRadial(r, 0, c, 0, 16)
  t.ok(Math.abs(a + rc / cc) < 1e-6, `coefficient ${a} vs ${-rc / cc}`)
  let dot = 0
  for (let d = 0; d < 16; d++) dot += r[d] * c[d]
  t.ok(Math.abs(dot) < 1e-4, `orthogonal: ${dot}`)
  for (let d = 0; d < 16; d++) t.ok(Math.abs(r[d] - a * c[d] - before[d]) < 1e-5, `dimension ${d} reconstructs`)
})

t.test('radial-free codec: decodes closer to the originals than the plain codec at 1 and 2 bits', async (t) => {
  for (const nbits of [1, 2] as const) {
    const plain = meanCosine(nbits).cos
    const { cos, centroidWeight } = meanCosineRadialFree(nbits)
    t.comment(`${nbits} bit(s): plain ${plain.toFixed(4)}, radial-free ${cos.toFixed(4)} (centroid weight ${centroidWeight.toFixed(3)})`)
    t.ok(centroidWeight > 0.5 && centroidWeight < 1, `centroid weight ${centroidWeight}`)
    t.ok(cos > plain, `${nbits} bit(s): ${cos} > ${plain}`)
  }
  t.throws(() => makeCodec(2, 8, new Float32Array(3), new Float32Array(4), { centroidWeight: 0 }), { code: 'SNAPSHOT_INVALID' })
})

t.test('round trip: mean cosine of decompressed vs original grows with nbits and clears measured bounds', async (t) => {
  // centroid alone (no residual) as the floor
  let floor = 0
  for (let v = 0; v < n; v++) {
    let c = 0
    for (let d = 0; d < dim; d++) c += C32[codes[v] * dim + d] * all[v * dim + d]
    floor += c
  }
  floor /= n
  const c1 = meanCosine(1).cos, c2 = meanCosine(2).cos, c4 = meanCosine(4).cos
  t.comment(`mean cosine: centroid only ${floor.toFixed(4)}, 1 bit ${c1.toFixed(4)}, 2 bits ${c2.toFixed(4)}, 4 bits ${c4.toFixed(4)}`)
  t.ok(c1 > floor + 0.02, 'one bit beats the centroid alone')
  t.ok(c2 > c1 + 0.01 && c4 > c2 + 0.01, 'more bits, closer vectors')
  // measured on this seeded data: centroid 0.867, 1 bit 0.952, 2 bits 0.985, 4 bits 0.999 (the reference's quantile
  // codec without Lloyd–Max rounds: 0.949 / 0.980 / 0.997); bounds leave a small margin
  t.ok(c1 >= 0.948, `1 bit ${c1}`)
  t.ok(c2 >= 0.982, `2 bits ${c2}`)
  t.ok(c4 >= 0.998, `4 bits ${c4}`)
})

t.test('cutoffs and weights form the Lloyd–Max quantizer of the pooled values', async (t) => {
  const rng = createPrng(5)
  const sigma = 0.1
  const values = Float32Array.from({ length: 200000 }, () => gaussian(rng) * sigma)
  const codec = trainCodec(values.slice(), 2, 8)
  t.same([codec.cutoffs.length, codec.weights.length], [3, 4])
  // known optimum for a Gaussian, 4 levels: thresholds 0, ±0.9816σ; levels ±0.4528σ, ±1.510σ
  const expect = { cutoffs: [-0.9816, 0, 0.9816], weights: [-1.51, -0.4528, 0.4528, 1.51] }
  expect.cutoffs.forEach((c, i) => t.ok(Math.abs(codec.cutoffs[i] - c * sigma) < 0.03 * sigma, `cutoff ${i}: ${codec.cutoffs[i]}`))
  expect.weights.forEach((w, i) => t.ok(Math.abs(codec.weights[i] - w * sigma) < 0.03 * sigma, `weight ${i}: ${codec.weights[i]}`))
  // fixed point: each weight is the mean of its bucket, each cutoff the midpoint of its neighbours
  const sums = [0, 0, 0, 0], counts = [0, 0, 0, 0]
  const bucket = (v: number, cut: ArrayLike<number>) => { let b = 0; while (b < cut.length && cut[b] < v) b++; return b }
  for (const v of values) { const b = bucket(v, codec.cutoffs); sums[b] += v; counts[b]++ }
  for (let b = 0; b < 4; b++) t.ok(Math.abs(sums[b] / counts[b] - codec.weights[b]) < 1e-3 * sigma, `bucket ${b} mean`)
  for (let b = 0; b < 3; b++) t.ok(Math.abs(codec.cutoffs[b] - (codec.weights[b] + codec.weights[b + 1]) / 2) < 1e-6)
  // lower squared error than the reference's quantile quantizer on the same values
  const sorted = values.slice().sort()
  const q = (p: number) => sorted[Math.floor(p * (sorted.length - 1))]
  const refCut = [q(0.25), q(0.5), q(0.75)], refW = [q(0.125), q(0.375), q(0.625), q(0.875)]
  let eOurs = 0, eRef = 0
  for (const v of values) { eOurs += (v - codec.weights[bucket(v, codec.cutoffs)]) ** 2; eRef += (v - refW[bucket(v, refCut)]) ** 2 }
  t.ok(eOurs < eRef, `MSE ${(eOurs / values.length / sigma ** 2).toFixed(4)}σ² vs quantiles ${(eRef / values.length / sigma ** 2).toFixed(4)}σ²`)
})

t.test('bit layout: dimension t of byte p sits at bits nbits·(t mod 8/nbits)', async (t) => {
  for (const nbits of [1, 2, 4] as const) {
    const nb = 1 << nbits
    const cutoffs = Float32Array.from({ length: nb - 1 }, (_, i) => i + 0.5)
    const weights = Float32Array.from({ length: nb }, (_, i) => i)
    const codec = makeCodec(nbits, 16, cutoffs, weights)
    // residual value = bucket index; centroid zero
    const x = Float32Array.from({ length: 16 }, (_, d) => (d * 7 + 3) % nb)
    const packed = new Uint8Array(codec.bytesPerVector)
    encodeResidual(codec, x, 0, new Float32Array(16), 0, packed, 0)
    const per = 8 / nbits
    for (let d = 0; d < 16; d++) {
      t.equal((packed[Math.floor(d / per)] >> (nbits * (d % per))) & (nb - 1), x[d], `nbits ${nbits} dim ${d}`)
    }
    const un = new Float32Array(16)
    unpackResidual(codec, packed, 0, un)
    t.same(Array.from(un), Array.from(x))
  }
})

t.test('encodeResidual writes the documented buckets: values on and near the cutoffs, radial-free or not, int16 or float32 centroids', async (t) => {
  // reference: the format's arithmetic written plainly (float32 residual, radial part removed, bucket = number of
  // cutoffs strictly below the value, little-end packing), with no fused passes or branch-free counting
  const reference = (codec: ReturnType<typeof makeCodec>, x: Float32Array, cents: Float32Array | Int16Array, cOff: number, scale: number): Uint8Array => {
    const r = new Float32Array(dim)
    for (let d = 0; d < dim; d++) r[d] = x[d] - cents[cOff + d] * scale
    if (codec.radialFree) removeRadial(r, 0, cents, cOff, dim, scale)
    const out = new Uint8Array(codec.bytesPerVector)
    const per = 8 / codec.nbits
    for (let d = 0; d < dim; d++) {
      let b = 0
      for (const c of codec.cutoffs) if (c < r[d]) b++
      out[Math.floor(d / per)] |= b << (codec.nbits * (d % per))
    }
    return out
  }
  const rng = createPrng(17)
  const i16 = new Int16Array(dim * 4).map(() => Math.round(gaussian(rng) * 2000))
  let checked = 0
  for (const nbits of [1, 2, 4] as const) {
    const nb = 1 << nbits
    const cutoffs = Float32Array.from({ length: nb - 1 }, (_, i) => (i - (nb - 2) / 2) * 0.03)
    const weights = Float32Array.from({ length: nb }, (_, i) => (i - (nb - 1) / 2) * 0.03)
    for (const radial of [undefined, { centroidWeight: 0.9 }]) {
      const codec = makeCodec(nbits, dim, cutoffs, weights, radial)
      for (let v = 0; v < 200; v++) {
        const x = new Float32Array(dim)
        const c = v % 4
        for (let d = 0; d < dim; d++) {
          // a quarter of the values sit exactly on a cutoff (plain codec, float32 centroid 0): ties must go down
          x[d] = v % 8 === 0 ? cutoffs[d % cutoffs.length] : i16[c * dim + d] * 2 ** -14 + 0.04 * gaussian(rng)
        }
        const useF32 = v % 8 === 0
        const cents: Float32Array | Int16Array = useF32 ? new Float32Array(dim * 4) : i16
        const scale = useF32 ? 1 : 2 ** -14
        const got = new Uint8Array(codec.bytesPerVector)
        encodeResidual(codec, x, 0, cents, c * dim, got, 0, scale)
        const want = reference(codec, x, cents, c * dim, scale)
        if (Buffer.compare(Buffer.from(got), Buffer.from(want)) !== 0) t.fail(`nbits ${nbits} radial ${radial !== undefined} vector ${v}`)
        checked++
      }
    }
  }
  t.equal(checked, 1200, 'every vector matched the reference bytes')
})

t.test('a bad dim/nbits combination is refused', async (t) => {
  t.throws(() => makeCodec(2, 6, new Float32Array(3), new Float32Array(4)), { code: 'VALIDATION_ERROR' })
  t.throws(() => makeCodec(2, 8, new Float32Array(2), new Float32Array(4)), { code: 'SNAPSHOT_INVALID' })
})

t.test('per-dimension codec: each dimension gets the Lloyd–Max quantizer of its own spread, with less squared error than a pooled one', async (t) => {
  const rng = createPrng(11)
  const d8 = 8, m = 120000
  const sigma = Array.from({ length: d8 }, (_, d) => 0.02 * (1 + d)) // spreads 1× to 8×
  const rows = new Float32Array(m * d8)
  for (let i = 0; i < m; i++) for (let d = 0; d < d8; d++) rows[i * d8 + d] = gaussian(rng) * sigma[d]
  const codec = trainCodecPerDimension(rows.slice(), 2, d8)
  t.ok(codec.perDimension)
  t.same([codec.cutoffs.length, codec.weights.length], [3 * d8, 4 * d8])
  // known optimum for a Gaussian, 4 levels: thresholds 0, ±0.9816σ; levels ±0.4528σ, ±1.510σ
  for (let d = 0; d < d8; d++) {
    ;[-0.9816, 0, 0.9816].forEach((c, i) => t.ok(Math.abs(codec.cutoffs[d * 3 + i] - c * sigma[d]) < 0.05 * sigma[d], `dim ${d} cutoff ${i}`))
    ;[-1.51, -0.4528, 0.4528, 1.51].forEach((w, i) => t.ok(Math.abs(codec.weights[d * 4 + i] - w * sigma[d]) < 0.05 * sigma[d], `dim ${d} weight ${i}`))
  }
  // encode + unpack against the per-row quantizer written plainly, and its error against the pooled codec's
  const pooled = trainCodec(rows.slice(), 2, d8)
  const zero = new Float32Array(d8), packed = new Uint8Array(codec.bytesPerVector), un = new Float32Array(d8)
  const packedPooled = new Uint8Array(pooled.bytesPerVector), unPooled = new Float32Array(d8)
  let ePer = 0, ePooled = 0, mismatches = 0
  for (let i = 0; i < 2000; i++) {
    const x = rows.subarray(i * d8, (i + 1) * d8)
    encodeResidual(codec, x, 0, zero, 0, packed, 0)
    unpackResidual(codec, packed, 0, un)
    encodeResidual(pooled, x, 0, zero, 0, packedPooled, 0)
    unpackResidual(pooled, packedPooled, 0, unPooled)
    for (let d = 0; d < d8; d++) {
      let b = 0
      for (let c = 0; c < 3; c++) if (codec.cutoffs[d * 3 + c] < x[d]) b++
      if (un[d] !== codec.weights[d * 4 + b]) mismatches++
      ePer += (x[d] - un[d]) ** 2
      ePooled += (x[d] - unPooled[d]) ** 2
    }
  }
  t.equal(mismatches, 0, 'every value decodes to its own dimension\'s bucket weight')
  t.ok(ePer < 0.8 * ePooled, `squared error per dimension ${ePer.toExponential(3)} vs pooled ${ePooled.toExponential(3)}`)
})

t.test('per-dimension codec: byte layout and tables at 1 and 2 bits (rows told apart by their values)', async (t) => {
  for (const nbits of [1, 2] as const) {
    const nb = 1 << nbits, d16 = 16
    // dimension d's buckets sit at 100·d + bucket; cutoffs between them
    const cutoffs = Float32Array.from({ length: d16 * (nb - 1) }, (_, i) => 100 * Math.floor(i / (nb - 1)) + (i % (nb - 1)) + 0.5)
    const weights = Float32Array.from({ length: d16 * nb }, (_, i) => 100 * Math.floor(i / nb) + (i % nb))
    const codec = makeCodec(nbits, d16, cutoffs, weights)
    t.ok(codec.perDimension, `nbits ${nbits}: per dimension from the lengths`)
    const x = Float32Array.from({ length: d16 }, (_, d) => 100 * d + ((d * 7 + 3) % nb))
    const packed = new Uint8Array(codec.bytesPerVector)
    encodeResidual(codec, x, 0, new Float32Array(d16), 0, packed, 0)
    const per = 8 / nbits
    for (let d = 0; d < d16; d++) t.equal((packed[Math.floor(d / per)] >> (nbits * (d % per))) & (nb - 1), (d * 7 + 3) % nb, `nbits ${nbits} dim ${d}`)
    const un = new Float32Array(d16)
    unpackResidual(codec, packed, 0, un)
    t.same(Array.from(un), Array.from(x))
  }
  t.throws(() => makeCodec(4, 16, new Float32Array(15 * 16), new Float32Array(16 * 16)), { code: 'SNAPSHOT_INVALID' }, 'no per-dimension codec at 4 bits')
})
