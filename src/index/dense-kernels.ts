/**
 * Dense float32 kernels shared by k-means, coding and search: blocks of dot products and argmax assignment.
 * Row-major matrices, dot-product form (both operands have `dim` contiguous). Large tiles run in the WebAssembly
 * SIMD kernel (simd-kernels.ts; 9–12× the TypeScript loop here, measured in bench/index-profile.ts), operands copied
 * into its memory (copy cost (na + nb)·dim against na·nb·dim multiply-adds); small ones and dim % 4 ≠ 0 stay in
 * TypeScript.
 */
import { createSimdArena, type SimdArena, simdAvailable } from './simd-kernels.js'

/** Below this many multiply-adds a tile is not worth the copies. */
const SIMD_MIN_WORK = 8192
/** The shared scratch arena's size bound (it lives as long as the process). */
const SHARED_ARENA_BYTES = 8 << 20
let shared: SimdArena | null | undefined

function sharedArena(): SimdArena | null {
  if (shared === undefined) shared = createSimdArena(SHARED_ARENA_BYTES)
  return shared
}

function useSimd(na: number, nb: number, dim: number): boolean {
  return dim % 4 === 0 && na * nb * dim >= SIMD_MIN_WORK && simdAvailable()
}

/**
 * out[outOff + i*nb + j] = a_i · b_j for i < na, j < nb, where a_i = a[aOff + i*dim ...], b_j = b[bOff + j*dim ...].
 * Cost na·nb·dim multiply-adds. Four rows of `a` share each pass over b_j (register blocking) so b is read na/4 times.
 */
export function dotTile(
  a: Float32Array, aOff: number, na: number,
  b: Float32Array, bOff: number, nb: number,
  dim: number, out: Float32Array, outOff = 0,
): void {
  if (useSimd(na, nb, dim)) {
    const arena = sharedArena()
    if (arena !== null) { simdTile(arena, a, aOff, na, b, bOff, nb, dim, out, outOff); return }
  }
  jsDotTile(a, aOff, na, b, bOff, nb, dim, out, outOff)
}

/** dotTile through the shared arena, in chunks of rows of a and b that fit it. */
function simdTile(
  arena: SimdArena, a: Float32Array, aOff: number, na: number, b: Float32Array, bOff: number, nb: number,
  dim: number, out: Float32Array, outOff: number,
): void {
  const floats = SHARED_ARENA_BYTES / 4
  const nbC = Math.max(1, Math.min(nb, Math.floor(floats / 2 / dim)))
  // a chunk: naC·dim + naC·nbC floats in the other half
  const naC = Math.max(1, Math.min(na, Math.floor(floats / 2 / (dim + nbC))))
  arena.reserve(SHARED_ARENA_BYTES + 64 * 1024)
  const bPtr = 0, aPtr = nbC * dim * 4, oPtr = aPtr + naC * dim * 4
  for (let j0 = 0; j0 < nb; j0 += nbC) {
    const nbj = Math.min(nbC, nb - j0)
    arena.f32(bPtr, nbj * dim).set(b.subarray(bOff + j0 * dim, bOff + (j0 + nbj) * dim))
    for (let i0 = 0; i0 < na; i0 += naC) {
      const nai = Math.min(naC, na - i0)
      arena.f32(aPtr, nai * dim).set(a.subarray(aOff + i0 * dim, aOff + (i0 + nai) * dim))
      arena.dotTile(aPtr, nai, bPtr, nbj, dim, oPtr)
      const res = arena.f32(oPtr, nai * nbj)
      if (nbj === nb) out.set(res, outOff + i0 * nb)
      else for (let i = 0; i < nai; i++) out.set(res.subarray(i * nbj, (i + 1) * nbj), outOff + (i0 + i) * nb + j0)
    }
  }
}

function jsDotTile(
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
  if (useSimd(POINT_BLOCK, k, dim)) {
    simdAssign(points, pOff, n, dim, cents, k, bias, best, bestOff, score)
    return
  }
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

const SIMD_POINT_BLOCK = 256

/** assignNearest with the centroids resident in a temporary WebAssembly memory and tiles of 256 points × k. */
function simdAssign(
  points: Float32Array, pOff: number, n: number, dim: number, cents: Float32Array, k: number, bias: Float32Array | null,
  best: Int32Array | Uint32Array, bestOff: number, score: Float32Array | null,
): void {
  const cBytes = k * dim * 4
  const pPtr = cBytes, oPtr = pPtr + SIMD_POINT_BLOCK * dim * 4
  const arena = createSimdArena(oPtr + SIMD_POINT_BLOCK * k * 4)!
  arena.f32(0, k * dim).set(cents.subarray(0, k * dim))
  for (let p0 = 0; p0 < n; p0 += SIMD_POINT_BLOCK) {
    const np = Math.min(SIMD_POINT_BLOCK, n - p0)
    arena.f32(pPtr, np * dim).set(points.subarray(pOff + p0 * dim, pOff + (p0 + np) * dim))
    arena.dotTile(pPtr, np, 0, k, dim, oPtr)
    const tile = arena.f32(oPtr, np * k)
    for (let i = 0; i < np; i++) {
      const row = i * k
      let bs = -Infinity, bi = 0
      if (bias === null) {
        for (let c = 0; c < k; c++) if (tile[row + c] > bs) { bs = tile[row + c]; bi = c }
      } else {
        for (let c = 0; c < k; c++) { const s = tile[row + c] + bias[c]; if (s > bs) { bs = s; bi = c } }
      }
      best[bestOff + p0 + i] = bi
      if (score !== null) score[p0 + i] = bs
    }
  }
}
