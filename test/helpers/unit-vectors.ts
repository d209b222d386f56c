/** n random unit vectors of `dim` from `rnd` (uniform in [0, 1)): each component rnd()·2 − 1, then normalised. */
export function unitVectors(n: number, dim: number, rnd: () => number): Float32Array {
  const v = new Float32Array(n * dim)
  for (let i = 0; i < n; i++) {
    let norm = 0
    for (let d = 0; d < dim; d++) norm += (v[i * dim + d] = rnd() * 2 - 1) ** 2
    for (let d = 0; d < dim; d++) v[i * dim + d] /= Math.sqrt(norm)
  }
  return v
}
