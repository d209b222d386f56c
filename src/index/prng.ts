/**
 * Seeded pseudo-random numbers (SplitMix32 seeding + Mulberry32 stream) so that training is reproducible:
 * the same vectors and seed give the same centroids, codec and therefore the same search results.
 */
export interface Prng {
  /** uniform in [0, 1) */
  next(): number
  /** uniform integer in [0, n) */
  int(n: number): number
}

export function createPrng(seed: number): Prng {
  // mix the seed once so that small consecutive seeds give unrelated streams
  let s = (seed | 0) + 0x9e3779b9
  s = Math.imul(s ^ (s >>> 16), 0x85ebca6b)
  s = Math.imul(s ^ (s >>> 13), 0xc2b2ae35)
  let state = (s ^ (s >>> 16)) >>> 0
  const next = (): number => {
    state = (state + 0x6d2b79f5) | 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return { next, int: (n: number) => Math.floor(next() * n) }
}

/** `m` distinct indices from [0, n), in increasing order (partial Fisher–Yates over a virtual array; O(m) memory). */
export function sampleIndices(n: number, m: number, rng: Prng): Uint32Array {
  if (m >= n) {
    const all = new Uint32Array(n)
    for (let i = 0; i < n; i++) all[i] = i
    return all
  }
  const swapped = new Map<number, number>()
  const out = new Uint32Array(m)
  for (let i = 0; i < m; i++) {
    const j = i + rng.int(n - i)
    const vj = swapped.get(j) ?? j
    const vi = swapped.get(i) ?? i
    swapped.set(j, vi)
    out[i] = vj
  }
  out.sort()
  return out
}
