/**
 * Dense float32 kernels shared by k-means, coding and search: blocks of dot products and argmax assignment.
 * Plain TypeScript over Float32Array; row-major matrices, dot-product form (both operands have `dim` contiguous).
 */

/**
 * out[outOff + i*nb + j] = a_i · b_j for i < na, j < nb, where a_i = a[aOff + i*dim ...], b_j = b[bOff + j*dim ...].
 * Cost na·nb·dim multiply-adds. Four rows of `a` share each pass over b_j (register blocking) so b is read na/4 times.
 */
export function dotTile(
  a: Float32Array, aOff: number, na: number,
  b: Float32Array, bOff: number, nb: number,
  dim: number, out: Float32Array, outOff = 0,
): void {
  let i = 0
  for (; i + 4 <= na; i += 4) {
    const a0 = aOff + i * dim, a1 = a0 + dim, a2 = a1 + dim, a3 = a2 + dim
    const o = outOff + i * nb
    for (let j = 0; j < nb; j++) {
      const bj = bOff + j * dim
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0
      for (let d = 0; d < dim; d++) {
        const v = b[bj + d]
        s0 += a[a0 + d] * v
        s1 += a[a1 + d] * v
        s2 += a[a2 + d] * v
        s3 += a[a3 + d] * v
      }
      out[o + j] = s0
      out[o + nb + j] = s1
      out[o + 2 * nb + j] = s2
      out[o + 3 * nb + j] = s3
    }
  }
  for (; i < na; i++) {
    const ai = aOff + i * dim
    const o = outOff + i * nb
    for (let j = 0; j < nb; j++) {
      const bj = bOff + j * dim
      let s = 0
      for (let d = 0; d < dim; d++) s += a[ai + d] * b[bj + d]
      out[o + j] = s
    }
  }
}

const POINT_BLOCK = 32
const CENTROID_BLOCK = 256

/**
 * For each point p < n: best[p] = argmax_c (x_p · c + bias[c]) over the `k` rows of `cents` (first index wins ties),
 * score[p] = that maximum. bias = −‖c‖²/2 turns this into nearest-centroid in L2. Cost n·k·dim multiply-adds,
 * tiled so a block of centroids stays in cache while a block of points is scored against it.
 */
export function assignNearest(
  points: Float32Array, pOff: number, n: number, dim: number,
  cents: Float32Array, k: number, bias: Float32Array | null,
  best: Int32Array | Uint32Array, bestOff: number, score: Float32Array | null,
): void {
  const tile = new Float32Array(POINT_BLOCK * CENTROID_BLOCK)
  const bestScore = new Float32Array(POINT_BLOCK)
  const bestIdx = new Int32Array(POINT_BLOCK)
  for (let p0 = 0; p0 < n; p0 += POINT_BLOCK) {
    const np = Math.min(POINT_BLOCK, n - p0)
    bestScore.fill(-Infinity)
    bestIdx.fill(0)
    for (let c0 = 0; c0 < k; c0 += CENTROID_BLOCK) {
      const nc = Math.min(CENTROID_BLOCK, k - c0)
      dotTile(points, pOff + p0 * dim, np, cents, c0 * dim, nc, dim, tile, 0)
      for (let i = 0; i < np; i++) {
        let bs = bestScore[i], bi = bestIdx[i]
        const row = i * nc
        for (let j = 0; j < nc; j++) {
          const s = bias === null ? tile[row + j] : tile[row + j] + bias[c0 + j]
          if (s > bs) { bs = s; bi = c0 + j }
        }
        bestScore[i] = bs
        bestIdx[i] = bi
      }
    }
    for (let i = 0; i < np; i++) {
      best[bestOff + p0 + i] = bestIdx[i]
      if (score !== null) score[p0 + i] = bestScore[i]
    }
  }
}

/** Scales each of the n rows to unit L2 norm in place (zero rows stay zero). */
export function normalizeRows(m: Float32Array, n: number, dim: number): void {
  for (let i = 0; i < n; i++) {
    const o = i * dim
    let s = 0
    for (let d = 0; d < dim; d++) s += m[o + d] * m[o + d]
    if (s > 0) {
      const inv = 1 / Math.sqrt(s)
      for (let d = 0; d < dim; d++) m[o + d] *= inv
    }
  }
}
