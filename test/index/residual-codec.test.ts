import t from 'tap'
import { assignCodes, centroidsF32, trainCentroids } from '../../src/index/kmeans.js'
import { createPrng } from '../../src/index/prng.js'
import { decodeVector, encodeResidual, makeCodec, trainCodec, unpackResidual } from '../../src/index/residual-codec.js'
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
  // measured on this seeded data: centroid 0.867, 1 bit 0.949, 2 bits 0.980, 4 bits 0.997; bounds leave a small margin
  t.ok(c1 >= 0.94, `1 bit ${c1}`)
  t.ok(c2 >= 0.975, `2 bits ${c2}`)
  t.ok(c4 >= 0.995, `4 bits ${c4}`)
})

t.test('cutoffs and weights are the pooled quantiles; buckets hold equal shares', async (t) => {
  const rng = createPrng(5)
  const values = Float32Array.from({ length: 40000 }, () => gaussian(rng) * 0.1)
  const copy = values.slice()
  const codec = trainCodec(copy, 2, 8)
  t.same(codec.cutoffs.length, 3)
  t.same(codec.weights.length, 4)
  for (let i = 1; i < 3; i++) t.ok(codec.cutoffs[i] > codec.cutoffs[i - 1])
  // each weight lies between the surrounding cutoffs
  t.ok(codec.weights[0] < codec.cutoffs[0] && codec.weights[3] > codec.cutoffs[2])
  for (let i = 1; i < 3; i++) t.ok(codec.weights[i] > codec.cutoffs[i - 1] && codec.weights[i] < codec.cutoffs[i])
  const counts = [0, 0, 0, 0]
  for (const v of values) { let b = 0; while (b < 3 && codec.cutoffs[b] < v) b++; counts[b]++ }
  for (const c of counts) t.ok(Math.abs(c / values.length - 0.25) < 0.01, `bucket share ${c / values.length}`)
  // the median of a zero-mean symmetric sample is close to 0
  t.ok(Math.abs(codec.cutoffs[1]) < 0.005)
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

t.test('a bad dim/nbits combination is refused', async (t) => {
  t.throws(() => makeCodec(2, 6, new Float32Array(3), new Float32Array(4)), { code: 'VALIDATION_ERROR' })
  t.throws(() => makeCodec(2, 8, new Float32Array(2), new Float32Array(4)), { code: 'SNAPSHOT_INVALID' })
})
