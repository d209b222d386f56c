/**
 * PLAID residual codec: a vector x is stored as its centroid code plus, per dimension, the bucket (nbits) of the
 * residual r = x − C[code]. The reference takes cutoffs at the pooled residual quantiles i/n (i = 1..n−1) and bucket
 * weights at the quantiles (i+0.5)/n, n = 2^nbits; we start there and refine with Lloyd–Max rounds (weights = mean of
 * their bucket's values, cutoffs = midpoints), the least-squares scalar quantizer for the pooled distribution: on the
 * bench's 10k-document set it raised success@10 from 0.906 to 0.926 (k=10, ndocs 256) and from 0.928 to 0.948
 * (k=100) at the same 2 bits. A value's bucket = number of cutoffs strictly below it. Decompression is
 * C[code] + weights[bucket], L2-normalised. Radial-free codecs (index format 2): with unit centroids, x − C has a
 * systematic component −a·C along the centroid (a = ‖x − C‖²/2 for unit x), which a per-dimension quantizer only
 * blurs; the stored residual is x − C with that component removed, and decoding uses C·centroidWeight + residual,
 * centroidWeight = 1 − mean(a) on the training sample. On the bench's 10k-document set (same pools, all 500 queries)
 * this raised success@10 from 0.948 to 0.958 and top-10 overlap with exact MaxSim from 0.884 to 0.889, at no cost in
 * bytes (one scalar per index) or time (the weight folds into the decode kernel's centroid scale). Packing: 8/nbits dimensions per byte, dimension t of a byte at bits
 * nbits·(t mod (8/nbits)), so dim=128, nbits=2 takes 32 bytes (plus a 2-byte code when K ≤ 65536).
 *
 * Per-dimension quantizers (index format 3, nbits 1 and 2): each dimension gets its own cutoffs and weights, trained
 * on that dimension's residuals. A pooled quantizer fits the average spread, so where dimensions spread unevenly
 * (learned projections rarely produce isotropic vectors) it wastes levels on the narrow ones and clips the wide
 * ones. On the bench's uneven-dims preset (per-dimension scales of max/min 4): squared error per decoded vector 0.82×
 * the pooled quantizer's (mean cosine to the originals 0.966 → 0.972, the isotropic presets' level); on the isotropic
 * presets the two are equal (BENCHMARKS.md § Per-dimension codec). Same bytes per vector; the probe's tables cost the
 * same, the decode kernel's table grows from 4 KB to 128 KB (exact stage +0.1–0.3 ms). Not for nbits 4: its decode
 * table (65,536 entries per 4-dimension unit) would be 1 MB per unit.
 */
import { AppError } from '../errors.js'

export interface ResidualCodec {
  nbits: 1 | 2 | 4
  dim: number
  /** 2^nbits − 1 increasing values; per dimension (dim rows of them, row d for dimension d) when perDimension */
  cutoffs: Float32Array
  /** 2^nbits values; per dimension (dim rows) when perDimension */
  weights: Float32Array
  /** one quantizer per dimension (format 3) instead of one pooled quantizer */
  perDimension: boolean
  /** every quantizer's cutoffs ascend (trained ones do): encodeResidual may count cutoffs branch-free */
  sortedCutoffs: boolean
  /** dim·nbits/8 */
  bytesPerVector: number
  /**
   * bytesPerVector × 256 × valuesPerByte: entry (p·256 + x)·valuesPerByte + t is the weight byte value x at byte
   * position p decodes to in its t-th dimension (per position, so that pooled and per-dimension codecs read it alike)
   */
  byteTable: Float32Array
  valuesPerByte: number
  /** true: residuals are stored without their component along the centroid (format 2); false: plain x − C (format 1) */
  radialFree: boolean
  /** decode = normalise(C·centroidWeight + residual); 1 for format-1 codecs */
  centroidWeight: number
}

/**
 * Removes from r[rOff..+dim) its component along c (c[cOff..+dim)·scale) in place and returns the removed
 * coefficient a = −(r·c)/(c·c), so that r_before = r_after − a·c. O(dim).
 */
export function removeRadial(r: Float32Array, rOff: number, c: Float32Array | Int16Array, cOff: number, dim: number, scale = 1): number {
  let rc = 0, cc = 0
  for (let d = 0; d < dim; d++) {
    const cv = c[cOff + d] * scale
    rc += r[rOff + d] * cv
    cc += cv * cv
  }
  if (cc === 0) return 0
  const a = -rc / cc
  for (let d = 0; d < dim; d++) r[rOff + d] += a * c[cOff + d] * scale
  return a
}

/** Linear-interpolation quantile of an ascending array (like numpy/torch defaults). */
function quantile(sorted: Float32Array, q: number): number {
  const pos = q * (sorted.length - 1)
  const lo = Math.floor(pos)
  const hi = Math.min(sorted.length - 1, lo + 1)
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo)
}

/**
 * Lloyd–Max refinement of a scalar quantizer on sorted values: weights := mean of the values in their bucket,
 * cutoffs := midpoints of adjacent weights, repeated. Prefix sums make each round O(buckets · log n).
 */
function lloydMax(sorted: Float32Array, cutoffs: Float32Array, weights: Float32Array, rounds = 20): void {
  const m = sorted.length
  const prefix = new Float64Array(m + 1)
  for (let i = 0; i < m; i++) prefix[i + 1] = prefix[i] + sorted[i]
  const firstAbove = (v: number): number => { let lo = 0, hi = m; while (lo < hi) { const mid = (lo + hi) >> 1; if (sorted[mid] <= v) lo = mid + 1; else hi = mid } return lo }
  for (let r = 0; r < rounds; r++) {
    let start = 0
    for (let b = 0; b < weights.length; b++) {
      const end = b < cutoffs.length ? firstAbove(cutoffs[b]) : m
      if (end > start) weights[b] = (prefix[end] - prefix[start]) / (end - start)
      start = end
    }
    for (let b = 0; b < cutoffs.length; b++) cutoffs[b] = (weights[b] + weights[b + 1]) / 2
  }
}

/** Builds the codec from pooled residual values (any length ≥ 1; the array is sorted in place). */
export function trainCodec(residualValues: Float32Array, nbits: 1 | 2 | 4, dim: number): ResidualCodec {
  if (residualValues.length === 0) throw new Error('codec: no residual values')
  residualValues.sort()
  const n = 1 << nbits
  const cutoffs = new Float32Array(n - 1)
  for (let i = 1; i < n; i++) cutoffs[i - 1] = quantile(residualValues, i / n)
  const weights = new Float32Array(n)
  for (let i = 0; i < n; i++) weights[i] = quantile(residualValues, (i + 0.5) / n)
  lloydMax(residualValues, cutoffs, weights)
  return makeCodec(nbits, dim, cutoffs, weights)
}

/**
 * Per-dimension quantizers from residual rows (`rows`: m × dim values, m ≥ 1): dimension d's Lloyd–Max quantizer is
 * trained on column d alone, as trainCodec does on pooled values. O(m·dim·log m).
 */
export function trainCodecPerDimension(rows: Float32Array, nbits: 1 | 2, dim: number): ResidualCodec {
  const m = rows.length / dim
  if (!Number.isInteger(m) || m === 0) throw new Error('codec: residual rows are not a non-empty multiple of dim')
  const n = 1 << nbits
  const cutoffs = new Float32Array(dim * (n - 1)), weights = new Float32Array(dim * n)
  const column = new Float32Array(m)
  for (let d = 0; d < dim; d++) {
    for (let i = 0; i < m; i++) column[i] = rows[i * dim + d]
    const one = trainCodec(column, nbits, 8)
    cutoffs.set(one.cutoffs, d * (n - 1))
    weights.set(one.weights, d * n)
  }
  return makeCodec(nbits, dim, cutoffs, weights)
}

/**
 * A codec from stored cutoffs and weights (snapshot restore); radial-free with its centroid weight when given. Pooled
 * (2^nbits − 1 cutoffs, 2^nbits weights) or per dimension (dim times as many, nbits 1 and 2), told by their lengths.
 */
export function makeCodec(
  nbits: 1 | 2 | 4, dim: number, cutoffs: Float32Array, weights: Float32Array, radial?: { centroidWeight: number },
): ResidualCodec {
  const n = 1 << nbits
  const perDimension = nbits !== 4 && cutoffs.length === dim * (n - 1) && weights.length === dim * n && dim > 1
  if (!perDimension && (cutoffs.length !== n - 1 || weights.length !== n)) {
    throw new AppError('SNAPSHOT_INVALID', `codec: expected ${n - 1} cutoffs and ${n} weights for nbits=${nbits}` +
      (nbits === 4 ? '' : `, or ${dim * (n - 1)} and ${dim * n} (one quantizer per dimension)`))
  }
  if ((dim * nbits) % 8 !== 0) throw new AppError('VALIDATION_ERROR', `dim ${dim} × nbits ${nbits} must be a multiple of 8 bits`)
  let sortedCutoffs = true
  for (let r = 0; r < cutoffs.length; r += n - 1) {
    for (let i = r + 1; i < r + n - 1; i++) if (!(cutoffs[i - 1] <= cutoffs[i])) sortedCutoffs = false
  }
  const valuesPerByte = 8 / nbits
  const mask = n - 1
  const bytesPerVector = (dim * nbits) / 8
  const byteTable = new Float32Array(bytesPerVector * 256 * valuesPerByte)
  for (let p = 0; p < bytesPerVector; p++) {
    for (let b = 0; b < 256; b++) {
      for (let t = 0; t < valuesPerByte; t++) {
        const row = perDimension ? (p * valuesPerByte + t) * n : 0
        byteTable[(p * 256 + b) * valuesPerByte + t] = weights[row + ((b >> (nbits * t)) & mask)]
      }
    }
  }
  const centroidWeight = radial?.centroidWeight ?? 1
  if (!(centroidWeight > 0 && centroidWeight <= 1)) throw new AppError('SNAPSHOT_INVALID', `codec: centroid weight ${centroidWeight} is not in (0, 1]`)
  return {
    nbits, dim, cutoffs, weights, perDimension, sortedCutoffs, bytesPerVector, byteTable, valuesPerByte, radialFree: radial !== undefined, centroidWeight,
  }
}

/** Bucket of one residual value: number of cutoffs[from .. from + count) strictly below it. */
function bucketOf(v: number, cutoffs: Float32Array, from: number, count: number): number {
  let b = 0
  while (b < count && cutoffs[from + b] < v) b++
  return b
}

let radialScratch = new Float32Array(0)

/**
 * Packs the residual of x (at xOff) against centroid c (at cOff, value = cents·scale; int16 centroids use
 * kmeans.CENTROID_SCALE, float32 ones 1) into out[outOff .. +bytesPerVector], its radial component removed for a
 * radial-free codec. O(dim·nbits).
 */
export function encodeResidual(
  codec: ResidualCodec, x: Float32Array, xOff: number, cents: Float32Array | Int16Array, cOff: number, out: Uint8Array, outOff: number,
  scale = 1,
): void {
  const { dim, nbits, cutoffs, valuesPerByte } = codec
  if (radialScratch.length < dim) radialScratch = new Float32Array(dim)
  const r = radialScratch
  if (codec.radialFree) {
    // removeRadial fused into the subtraction pass (same float32 roundings and float64 sums: identical bytes); the
    // codec's share of a bulk build's coding was ~20 %
    let rc = 0, cc = 0
    for (let d = 0; d < dim; d++) {
      const cv = cents[cOff + d] * scale
      const rv = Math.fround(x[xOff + d] - cv)
      r[d] = rv
      rc += rv * cv
      cc += cv * cv
    }
    if (cc !== 0) {
      const a = -rc / cc
      for (let d = 0; d < dim; d++) r[d] += a * cents[cOff + d] * scale
    }
  } else {
    for (let d = 0; d < dim; d++) r[d] = x[xOff + d] - cents[cOff + d] * scale
  }
  if (nbits === 2 && codec.perDimension && codec.sortedCutoffs) {
    // per-dimension cutoffs: the same branch-free count over row d's cutoffs
    for (let p = 0, d = 0; d < dim; p++, d += 4) {
      let byte = 0
      for (let t = 0, c = 3 * d; t < 4; t++, c += 3) {
        const v = r[d + t]
        byte |= ((cutoffs[c] < v ? 1 : 0) + (cutoffs[c + 1] < v ? 1 : 0) + (cutoffs[c + 2] < v ? 1 : 0)) << (2 * t)
      }
      out[outOff + p] = byte
    }
    return
  }
  if (nbits === 2 && !codec.perDimension && codec.sortedCutoffs) {
    // ascending cutoffs: a bucket is a count of cutoffs below the value, branch-free
    const c0 = cutoffs[0], c1 = cutoffs[1], c2 = cutoffs[2]
    for (let p = 0, d = 0; d < dim; p++, d += 4) {
      let byte = 0
      for (let t = 0; t < 4; t++) {
        const v = r[d + t]
        byte |= ((c0 < v ? 1 : 0) + (c1 < v ? 1 : 0) + (c2 < v ? 1 : 0)) << (2 * t)
      }
      out[outOff + p] = byte
    }
    return
  }
  const nc = (1 << nbits) - 1, rowStep = codec.perDimension ? nc : 0
  for (let p = 0, d = 0; d < dim; p++) {
    let byte = 0
    for (let t = 0; t < valuesPerByte; t++, d++) byte |= bucketOf(r[d], cutoffs, d * rowStep, nc) << (nbits * t)
    out[outOff + p] = byte
  }
}

/** Writes the unpacked residual (weights, not normalised) of a packed vector to out[0..dim). */
export function unpackResidual(codec: ResidualCodec, packed: Uint8Array, pOff: number, out: Float32Array): void {
  const { bytesPerVector, byteTable, valuesPerByte: v } = codec
  for (let p = 0, d = 0; p < bytesPerVector; p++) {
    const t = ((p << 8) + packed[pOff + p]) * v
    for (let s = 0; s < v; s++) out[d++] = byteTable[t + s]
  }
}

/** Decompresses one vector: normalise(C[code]·scale·centroidWeight + residual) into out[outOff .. +dim). */
export function decodeVector(
  codec: ResidualCodec, cents: Float32Array | Int16Array, code: number, packed: Uint8Array, pOff: number, out: Float32Array, outOff = 0,
  scale = 1,
): void {
  const { dim, bytesPerVector, byteTable, valuesPerByte: v } = codec
  const c = code * dim
  scale *= codec.centroidWeight
  let s = 0
  for (let p = 0, d = 0; p < bytesPerVector; p++) {
    const t = ((p << 8) + packed[pOff + p]) * v
    for (let u = 0; u < v; u++, d++) {
      const x = cents[c + d] * scale + byteTable[t + u]
      out[outOff + d] = x
      s += x * x
    }
  }
  if (s > 0) {
    const inv = 1 / Math.sqrt(s)
    for (let d = 0; d < dim; d++) out[outOff + d] *= inv
  }
}
