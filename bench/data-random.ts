/**
 * Seeded random helpers for the bench's synthetic data models (bench/data-models.ts). Pure and deterministic: the same
 * seed gives the same stream on every machine, so a preset names one data set.
 */

/** Seeded uniform [0,1) stream (Mulberry32) plus Box–Muller normals. The legacy generator's exact stream: keep it. */
export function createRandom(seed: number): { uniform(): number; int(n: number): number; normal(): number } {
  let state = (seed ^ 0x9e3779b9) >>> 0
  const uniform = (): number => {
    state = (state + 0x6d2b79f5) | 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  let spare = Number.NaN
  const normal = (): number => {
    if (!Number.isNaN(spare)) {
      const s = spare
      spare = Number.NaN
      return s
    }
    const u = 1 - uniform()
    const v = uniform()
    const r = Math.sqrt(-2 * Math.log(u))
    spare = r * Math.sin(2 * Math.PI * v)
    return r * Math.cos(2 * Math.PI * v)
  }
  return { uniform, int: (n) => Math.floor(uniform() * n), normal }
}

export type Random = ReturnType<typeof createRandom>

/** out[o..o+dim) = normalize(base[b..b+dim) + noise·g), g ~ N(0, I/dim). */
export function noisyUnit(out: Float32Array, o: number, base: Float32Array, b: number, dim: number, noise: number, rnd: Random): void {
  const s = noise / Math.sqrt(dim)
  let norm = 0
  for (let i = 0; i < dim; i++) {
    const v = base[b + i] + s * rnd.normal()
    out[o + i] = v
    norm += v * v
  }
  const inv = 1 / Math.sqrt(norm)
  for (let i = 0; i < dim; i++) out[o + i] *= inv
}

/**
 * Sampler of ranks 0..n−1 with P(r) ∝ (r+1)^−s (Zipf; s = 0 is uniform). Cumulative table + binary search:
 * O(n) to build, O(log n) per draw, one uniform per draw.
 */
export function createZipf(n: number, s: number): { probability(r: number): number; sample(rnd: Random): number } {
  if (!Number.isInteger(n) || n <= 0) throw new RangeError('zipf: n must be a positive integer')
  if (!(s >= 0)) throw new RangeError('zipf: exponent must be ≥ 0')
  const cdf = new Float64Array(n)
  let total = 0
  for (let r = 0; r < n; r++) {
    total += Math.pow(r + 1, -s)
    cdf[r] = total
  }
  return {
    probability: (r) => Math.pow(r + 1, -s) / total,
    sample: (rnd) => {
      const u = rnd.uniform() * total
      let lo = 0
      let hi = n - 1
      while (lo < hi) {
        const mid = (lo + hi) >>> 1
        if (cdf[mid] > u) hi = mid
        else lo = mid + 1
      }
      return lo
    },
  }
}

/** Gamma(shape, 1) variate (Marsaglia–Tsang; shape < 1 via Gamma(shape+1)·U^(1/shape)). */
export function gammaVariate(shape: number, rnd: Random): number {
  if (!(shape > 0)) throw new RangeError('gamma: shape must be > 0')
  if (shape < 1) return gammaVariate(shape + 1, rnd) * Math.pow(1 - rnd.uniform(), 1 / shape)
  const d = shape - 1 / 3
  const c = 1 / Math.sqrt(9 * d)
  for (;;) {
    let x: number
    let v: number
    do {
      x = rnd.normal()
      v = 1 + c * x
    } while (v <= 0)
    v = v * v * v
    const u = 1 - rnd.uniform()
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v
  }
}

export type MixtureWeights = { kind: 'uniform' } | { kind: 'geometric'; ratio: number } | { kind: 'dirichlet'; alpha: number }

/**
 * Mixture weights of `m` topics, summing to 1: equal, geometric (w_i ∝ ratio^i, a dominant topic and a tail) or
 * symmetric Dirichlet(alpha) (alpha < 1: very uneven, alpha = 1: uniform on the simplex).
 */
export function mixtureWeights(m: number, spec: MixtureWeights, rnd: Random): Float64Array {
  const w = new Float64Array(m)
  for (let i = 0; i < m; i++) {
    w[i] = spec.kind === 'uniform' ? 1 : spec.kind === 'geometric' ? Math.pow(spec.ratio, i) : gammaVariate(spec.alpha, rnd)
  }
  let sum = 0
  for (let i = 0; i < m; i++) sum += w[i]
  // a Dirichlet draw with tiny alpha may underflow to all zeros: fall back to the first topic alone
  if (!(sum > 0)) {
    w.fill(0)
    w[0] = 1
    return w
  }
  for (let i = 0; i < m; i++) w[i] /= sum
  return w
}

/** Index drawn from normalised weights `w` (one uniform). */
export function drawIndex(w: Float64Array, rnd: Random): number {
  let u = rnd.uniform()
  for (let i = 0; i < w.length - 1; i++) {
    u -= w[i]
    if (u < 0) return i
  }
  return w.length - 1
}

export type LengthDistribution =
  | { kind: 'uniform'; min: number; max: number }
  | { kind: 'lognormal'; min: number; max: number; median: number; sigma: number }

/** A document length from `spec`, always an integer in [min, max]. */
export function drawLength(spec: LengthDistribution, rnd: Random): number {
  if (spec.kind === 'uniform') return spec.min + rnd.int(spec.max - spec.min + 1)
  const x = Math.round(spec.median * Math.exp(spec.sigma * rnd.normal()))
  return Math.min(spec.max, Math.max(spec.min, x))
}
