/**
 * Seeded k-means for the PLAID centroids.
 *
 * Flat Lloyd (L2) for small K. For large K (the reference formula gives K = 16384 for 1.8 M vectors) an exact
 * assignment of every vector costs n·K·dim multiply-adds (3.8e12 for that set: far beyond a 5-minute build on two
 * cores), so training and coding are two-level: G ≈ √K coarse centroids, then each coarse cell's points are
 * clustered into a share of the K fine centroids proportional to its size. Fine centroids are stored grouped by
 * coarse cell, and a vector's code is found by scoring the G coarse centroids and then only the fine centroids of
 * its `probes` best cells: cost (G + probes·K/G)·dim instead of K·dim. Measured on 20,000 vectors of the bench's set
 * (K = 16384, G = 128) against the exhaustive argmax: probes 2 agree 95.5%, 4 98.1%, 8 99.4% (mean dot product lost
 * 6·10⁻⁵), at 435 ms vs 6.3 s exhaustive.
 */
import { assignNearest, dotTile, normalizeRows } from './dense-kernels.js'
import { createSimdArena, roundToInt16, type SimdArena, unitTableI16 } from './simd-kernels.js'
import { type Prng, sampleIndices } from './prng.js'

/**
 * Fine centroids are stored as int16 (value = int16 · CENTROID_SCALE; unit rows so |value| ≤ 1 fits with room):
 * half the memory of float32, one copy only, living in the set's WebAssembly memory when SIMD is used, and scored
 * with the int16 dot kernel (1.6× the float32 one). The rounding (≤ 3·10⁻⁵ per component) is far below the residual
 * codec's error, and every consumer (coding, decoding, scoring) uses the same rounded centroids.
 */
export const CENTROID_SCALE = 2 ** -14

export interface CentroidSet {
  k: number
  dim: number
  /** k×dim int16 rows (× CENTROID_SCALE), grouped by coarse cell; re-read after arena growth (a getter) */
  readonly centroids: Int16Array
  groups: number
  /** groups×dim, unit rows */
  coarse: Float32Array
  /** groups+1 offsets into the fine centroids */
  groupOffsets: Uint32Array
  /** the WebAssembly arena holding the centroids, or null (no SIMD, or dim % 8 ≠ 0) */
  readonly arena: CentroidArena | null
  /** bytes held: the int16 centroids (in the arena: the whole arena, scratch included), coarse and offsets */
  bytes(): number
}

/**
 * A set's WebAssembly memory: int16 fine centroids at 0, float32 coarse centroids at coarsePtr, then scratch from
 * `scratch` (a byte offset) for query/point blocks and score tiles, shared by coding and search.
 */
export interface CentroidArena {
  arena: SimdArena
  coarsePtr: number
  /** first free byte; grows once when a decode table is installed */
  scratch: number
  /** decode unit table (simd-kernels unitTableI16) of the codec paired with these centroids, once installed */
  tablePtr: number
  tableWeights: Float32Array | null
}

/** Builds a set from int16 rows (adopted) or from unit float32 rows (rounded to int16). */
export function createCentroidSet(
  k: number, dim: number, rows: Int16Array | Float32Array, coarse: Float32Array, groupOffsets: Uint32Array,
): CentroidSet {
  let q: Int16Array
  if (rows instanceof Int16Array) q = rows
  else {
    q = new Int16Array(k * dim)
    for (let i = 0; i < k * dim; i++) q[i] = roundToInt16(rows[i] / CENTROID_SCALE)
  }
  const fine = k * dim * 2, coarseBytes = coarse.byteLength
  const simd = dim % 8 === 0 ? createSimdArena(fine + coarseBytes + 65536) : null
  let ca: CentroidArena | null = null
  let view = q
  if (simd !== null) {
    simd.i16(0, k * dim).set(q)
    simd.f32(fine, coarse.length).set(coarse)
    ca = { arena: simd, coarsePtr: fine, scratch: fine + coarseBytes, tablePtr: 0, tableWeights: null }
    view = simd.i16(0, k * dim)
  }
  const groups = groupOffsets.length - 1
  return {
    k, dim, groups, coarse, groupOffsets, arena: ca,
    get centroids(): Int16Array {
      // a growth of the WebAssembly memory detaches old views (length 0): take a fresh one
      if (ca !== null && view.length !== k * dim) view = ca.arena.i16(0, k * dim)
      return view
    },
    bytes: () => (ca !== null ? ca.arena.byteLength() : q.byteLength) + coarse.byteLength + groupOffsets.byteLength,
  }
}

/**
 * The same centroids in a fresh arena sized to them alone. WebAssembly memory never shrinks, so a set that coded a
 * bulk of vectors keeps its coding scratch for life; an index installs this copy after (re)training instead (measured
 * 0.5–4.3 bytes/vector of scratch on the 10k presets). Identical values, so codes and scores are unchanged.
 */
export function compactCentroidSet(set: CentroidSet): CentroidSet {
  if (set.arena === null) return set
  return createCentroidSet(set.k, set.dim, set.centroids.slice(), set.coarse, set.groupOffsets)
}

/** Float32 copy of the centroids (for the TypeScript fallbacks and small flat sets; cached per set). */
const dequantized = new WeakMap<CentroidSet, Float32Array>()
export function centroidsF32(set: CentroidSet): Float32Array {
  let f = dequantized.get(set)
  if (f === undefined) {
    const q = set.centroids
    f = new Float32Array(q.length)
    for (let i = 0; i < q.length; i++) f[i] = q[i] * CENTROID_SCALE
    dequantized.set(set, f)
  }
  return f
}

/** Rounds rows of x to int16 at a scale that keeps int32 dot products with unit int16 centroids from overflowing. */
export function quantizeRows(x: Float32Array, xOff: number, n: number, dim: number, out: Int16Array): number {
  let maxNorm2 = 0
  for (let i = 0; i < n; i++) {
    let s = 0
    for (let d = 0; d < dim; d++) s += x[xOff + i * dim + d] ** 2
    if (s > maxNorm2) maxNorm2 = s
  }
  // |x·c| ≤ ‖x‖·‖c‖: with ‖x‖·scale ≤ 2^15 and ‖c‖/CENTROID_SCALE ≤ 2^14 every partial sum stays below 2^29
  const scale = Math.min(2 ** 14, 2 ** 15 / Math.max(1e-30, Math.sqrt(maxNorm2)))
  for (let i = 0; i < n * dim; i++) out[i] = roundToInt16(x[xOff + i] * scale)
  return scale
}

/** The reference's K: 2^floor(log2(16·√n)). */
export function referenceNumCentroids(nVectors: number): number {
  return 2 ** Math.floor(Math.log2(16 * Math.sqrt(Math.max(1, nVectors))))
}

/**
 * Bytes per stored vector the int16 fine centroids may take. An index's 40-byte budget per vector at nbits 2 holds
 * 32 of residual, 2 of code, 2.1–2.6 of IVF (0.125 of it the base lists' entry points, ivf.ts baseSkips) and ~0.5 per
 * document (slots, ids), which leaves ~3 for the centroids: 2.625 for the fine ones, the rest for the coarse ones
 * (K·dim/16 bytes) and the arena's headroom. (2.75 before the entry points: with them, 1.07 M vectors at the trimmed
 * K came to 40.07 B/vector.)
 */
export const CENTROID_BYTES_PER_VECTOR = 2.625

/**
 * The reference's K, trimmed to CENTROID_BYTES_PER_VECTOR. The reference doubles K each time n quadruples, so just past
 * each step its centroids cost twice the bytes per vector they cost just before it (at dim 128: 4 B/vector at 2^20
 * vectors, 2 B/vector just below 2^22). Where a K of at least half the reference's fits the budget, that K is used
 * (not a power of two: nothing depends on one); below that the reference's K stands, since on a small collection
 * halving K costs quality and saves little memory in absolute terms (and would still not fit the budget).
 */
export function defaultNumCentroids(nVectors: number, dim: number): number {
  const reference = referenceNumCentroids(nVectors)
  const fits = Math.floor((CENTROID_BYTES_PER_VECTOR * Math.max(1, nVectors)) / (2 * dim))
  return fits < reference && fits >= reference / 2 ? fits : reference
}

/** Fine-centroid count below which training and assignment stay flat and exact. */
export const FLAT_MAX_CENTROIDS = 256
/** Default number of coarse cells probed when coding a vector with two-level centroids. */
export const DEFAULT_PROBES = 8

/** Points per centroid that k-means++ seeding looks at (a subsample: seeding is sequential, k passes over it). */
const KPP_POINTS_PER_CENTROID = 8

/**
 * k-means++ seeding (D² sampling) on a subsample of ≤ 8·k points: random seeds put two centroids in one cluster and
 * merge two others more often than Lloyd can repair in 4 iterations. Cost k·min(n, 8k)·dim.
 */
function kmeansPlusPlus(points: Float32Array, n: number, dim: number, k: number, rng: Prng): Float32Array {
  const pick = sampleIndices(n, Math.min(n, KPP_POINTS_PER_CENTROID * k), rng)
  const m = pick.length
  // With SIMD the subsample is resident in a WebAssembly memory and each new centre's m dot products are one kernel
  // call (no copies): seeding is sequential, k passes over 8k points, which made it the largest share of k-means on
  // skewed data (cells of 1000+ centroids: quadratic in the cell's centroid count) in the TypeScript loop.
  const arena = dim % 4 === 0 && m * k * dim >= 1 << 20 ? createSimdArena(m * dim * 4 + m * 4) : null
  const sub = arena !== null ? arena.f32(0, m * dim) : new Float32Array(m * dim)
  const dotPtr = m * dim * 4
  const dots = arena !== null ? arena.f32(dotPtr, m) : new Float32Array(m)
  const norms = new Float64Array(m)
  for (let i = 0; i < m; i++) {
    const o = pick[i] * dim
    let s = 0
    for (let d = 0; d < dim; d++) { sub[i * dim + d] = points[o + d]; s += points[o + d] ** 2 }
    norms[i] = s
  }
  const cents = new Float32Array(k * dim)
  const d2 = new Float64Array(m).fill(Infinity)
  let chosen = rng.int(m)
  for (let c = 0; c < k; c++) {
    cents.set(sub.subarray(chosen * dim, chosen * dim + dim), c * dim)
    const co = chosen * dim, cn = norms[chosen]
    if (arena !== null) arena.dotTile(0, m, co * 4, 1, dim, dotPtr)
    else {
      for (let i = 0; i < m; i++) {
        let dot = 0
        const o = i * dim
        for (let d = 0; d < dim; d++) dot += sub[o + d] * sub[co + d]
        dots[i] = dot
      }
    }
    let total = 0
    for (let i = 0; i < m; i++) {
      const dist = Math.max(0, norms[i] + cn - 2 * dots[i])
      if (dist < d2[i]) d2[i] = dist
      total += d2[i]
    }
    if (c === k - 1) break
    if (total <= 0) { chosen = rng.int(m); continue }
    let r = rng.next() * total
    chosen = m - 1
    for (let i = 0; i < m; i++) { r -= d2[i]; if (r <= 0) { chosen = i; break } }
  }
  return cents
}

/**
 * L2 Lloyd iterations on n points (rows of `points`), k ≤ n, seeded by k-means++; an emptied cluster is re-seeded
 * with a random point. Returns k×dim means (not normalised). Cost iters·n·k·dim.
 */
export function lloydKmeans(points: Float32Array, n: number, dim: number, k: number, iters: number, rng: Prng): Float32Array {
  if (k > n) throw new Error(`k-means: k=${k} exceeds the ${n} points`)
  const cents = kmeansPlusPlus(points, n, dim, k, rng)
  const bias = new Float32Array(k)
  const assign = new Int32Array(n)
  const sums = new Float64Array(k * dim)
  const counts = new Uint32Array(k)
  for (let it = 0; it < iters; it++) {
    for (let c = 0; c < k; c++) {
      let s = 0
      for (let d = 0; d < dim; d++) s += cents[c * dim + d] * cents[c * dim + d]
      bias[c] = -0.5 * s
    }
    assignNearest(points, 0, n, dim, cents, k, bias, assign, 0, null)
    sums.fill(0)
    counts.fill(0)
    for (let p = 0; p < n; p++) {
      const c = assign[p]
      counts[c]++
      const so = c * dim, po = p * dim
      for (let d = 0; d < dim; d++) sums[so + d] += points[po + d]
    }
    for (let c = 0; c < k; c++) {
      const o = c * dim
      if (counts[c] === 0) {
        const p = rng.int(n)
        cents.set(points.subarray(p * dim, p * dim + dim), o)
      } else {
        const inv = 1 / counts[c]
        for (let d = 0; d < dim; d++) cents[o + d] = sums[o + d] * inv
      }
    }
  }
  return cents
}

/** Splits k fine centroids over cells proportionally to their point counts (largest remainder), never more than a cell has points. */
function allocate(k: number, sizes: Uint32Array, total: number): Uint32Array {
  const g = sizes.length
  const out = new Uint32Array(g)
  const frac = new Float64Array(g)
  let used = 0
  for (let i = 0; i < g; i++) {
    const exact = (k * sizes[i]) / total
    out[i] = Math.min(sizes[i], Math.floor(exact))
    frac[i] = exact - Math.floor(exact)
    used += out[i]
  }
  // hand out the rest one by one to the cells with the largest remainder that still have room
  const order = Array.from({ length: g }, (_, i) => i).sort((a, b) => frac[b] - frac[a] || a - b)
  while (used < k) {
    let progressed = false
    for (const i of order) {
      if (used >= k) break
      if (out[i] < sizes[i]) { out[i]++; used++; progressed = true }
    }
    if (!progressed) throw new Error('k-means: not enough points for the requested centroids')
  }
  return out
}

/** Trains k unit centroids on the n sample rows (k ≤ n), two-level when k > FLAT_MAX_CENTROIDS. */
export function trainCentroids(
  sample: Float32Array, n: number, dim: number, k: number, iters: number, rng: Prng, flatMax = FLAT_MAX_CENTROIDS,
): CentroidSet {
  if (k <= flatMax) {
    const centroids = lloydKmeans(sample, n, dim, k, iters, rng)
    normalizeRows(centroids, k, dim)
    const coarse = new Float32Array(dim)
    for (let c = 0; c < k; c++) for (let d = 0; d < dim; d++) coarse[d] += centroids[c * dim + d]
    normalizeRows(coarse, 1, dim)
    return createCentroidSet(k, dim, centroids, coarse, Uint32Array.of(0, k))
  }
  const groups = 2 ** Math.round(Math.log2(Math.sqrt(k)))
  const coarseMeans = lloydKmeans(sample, n, dim, groups, iters, rng)
  const bias = new Float32Array(groups)
  for (let c = 0; c < groups; c++) {
    let s = 0
    for (let d = 0; d < dim; d++) s += coarseMeans[c * dim + d] ** 2
    bias[c] = -0.5 * s
  }
  const cell = new Int32Array(n)
  assignNearest(sample, 0, n, dim, coarseMeans, groups, bias, cell, 0, null)
  const sizes = new Uint32Array(groups)
  for (let p = 0; p < n; p++) sizes[cell[p]]++
  const share = allocate(k, sizes, n)
  const groupOffsets = new Uint32Array(groups + 1)
  for (let g = 0; g < groups; g++) groupOffsets[g + 1] = groupOffsets[g] + share[g]
  // gather each cell's points contiguously (counting sort by cell)
  const start = new Uint32Array(groups + 1)
  for (let g = 0; g < groups; g++) start[g + 1] = start[g] + sizes[g]
  const fill = start.slice(0, groups)
  const byCell = new Float32Array(n * dim)
  for (let p = 0; p < n; p++) {
    const at = fill[cell[p]]++
    byCell.set(sample.subarray(p * dim, p * dim + dim), at * dim)
  }
  const centroids = new Float32Array(k * dim)
  for (let g = 0; g < groups; g++) {
    if (share[g] === 0) continue
    const pts = byCell.subarray(start[g] * dim, start[g + 1] * dim)
    const sub = lloydKmeans(pts, sizes[g], dim, share[g], iters, rng)
    centroids.set(sub, groupOffsets[g] * dim)
  }
  normalizeRows(centroids, k, dim)
  normalizeRows(coarseMeans, groups, dim)
  return createCentroidSet(k, dim, centroids, coarseMeans, groupOffsets)
}

const ASSIGN_BLOCK = 1024
/**
 * Bound on a fine-centroid score tile (floats): a cell's probing points are scored in row chunks of at most this many
 * scores, so the arena scratch coding leaves behind stays ~1.5 MB whatever the largest cell (skewed data gives cells
 * of 1000+ centroids, which unchunked took blk × 1300 × 4 bytes). Rows are independent: chunking changes no result.
 */
const FINE_TILE_FLOATS = 65536

/**
 * Installs the decode table for `weights` (the paired codec's; per dimension when perDimension) in the arena once;
 * returns its byte offset.
 */
export function installDecodeTable(ca: CentroidArena, nbits: 1 | 2 | 4, weights: Float32Array, perDimension: boolean): number {
  if (ca.tableWeights === weights) return ca.tablePtr
  if (ca.tableWeights !== null) throw new Error('centroid arena: a different codec is already installed')
  const table = unitTableI16(nbits, weights, perDimension, CENTROID_SCALE)
  ca.tablePtr = ca.scratch
  ca.arena.reserve(ca.scratch + table.byteLength + 65536)
  ca.arena.i16(ca.tablePtr, table.length).set(table)
  ca.scratch += Math.ceil(table.byteLength / 16) * 16
  ca.tableWeights = weights
  return ca.tablePtr
}
export function centroidArena(set: CentroidSet): CentroidArena | null {
  return set.arena
}

/**
 * codes[outOff + p] = argmax over the probed fine centroids of x_p · c (exact when groups ≤ probes), for the n rows
 * of `points` starting at row pOff; score[p] (optional) = that dot product. Points are processed in blocks: coarse
 * scores for the block, then per cell the points that probe it are gathered and scored as one tile.
 */
export function assignCodes(
  set: CentroidSet, points: Float32Array, pOff: number, n: number,
  codes: Uint16Array | Uint32Array | Int32Array, outOff: number, score: Float32Array | null, probes = DEFAULT_PROBES,
): void {
  const { dim, groups, coarse, groupOffsets, k } = set
  if (groups <= probes) {
    const idx = new Int32Array(n)
    assignNearest(points, pOff * dim, n, dim, centroidsF32(set), k, null, idx, 0, score)
    for (let p = 0; p < n; p++) codes[outOff + p] = idx[p]
    return
  }
  const ca = centroidArena(set)
  if (ca !== null) { assignProbedSimd(set, ca, points, pOff, n, codes, outOff, score, probes); return }
  const centroids = centroidsF32(set)
  const blk = Math.min(ASSIGN_BLOCK, n)
  const coarseTile = new Float32Array(blk * groups)
  const probeOf = new Int32Array(blk * probes)
  const bestScore = new Float32Array(blk)
  const bestIdx = new Int32Array(blk)
  const cellCount = new Uint32Array(groups + 1)
  const cellPoints = new Uint32Array(blk * probes)
  const gathered = new Float32Array(blk * dim)
  const maxCell = largestCell(groupOffsets, groups)
  const tile = new Float32Array(blk * maxCell)
  const top = new Float32Array(probes)
  for (let p0 = 0; p0 < n; p0 += blk) {
    const np = Math.min(blk, n - p0)
    dotTile(points, (pOff + p0) * dim, np, coarse, 0, groups, dim, coarseTile, 0)
    // top-`probes` cells per point (insertion into a tiny sorted list)
    groupPointsByProbedCell(coarseTile, np, groups, probes, top, probeOf, cellCount, cellPoints)
    bestScore.fill(-Infinity)
    bestIdx.fill(0)
    for (let g = 0; g < groups; g++) {
      const a = cellCount[g], b = cellCount[g + 1]
      const c0 = groupOffsets[g], nc = groupOffsets[g + 1] - c0
      if (a === b || nc === 0) continue
      for (let t = a; t < b; t++) {
        const src = (pOff + p0 + cellPoints[t]) * dim
        gathered.set(points.subarray(src, src + dim), (t - a) * dim)
      }
      dotTile(gathered, 0, b - a, centroids, c0 * dim, nc, dim, tile, 0)
      keepBestOfTile(tile, a, b, nc, c0, cellPoints, bestScore, bestIdx)
    }
    for (let i = 0; i < np; i++) {
      codes[outOff + p0 + i] = bestIdx[i]
      if (score !== null) score[p0 + i] = bestScore[i]
    }
  }
}

function largestCell(groupOffsets: Uint32Array | Int32Array, groups: number): number {
  let maxCell = 0
  for (let g = 0; g < groups; g++) maxCell = Math.max(maxCell, groupOffsets[g + 1] - groupOffsets[g])
  return maxCell
}

/**
 * For each of the np points, its `probes` best coarse cells (insertion into a tiny sorted list: O(groups) per point
 * for probes ≪ groups), then a counting sort so that cellPoints[cellCount[g] .. cellCount[g+1]) lists the points
 * probing cell g. probeOf is scratch of np·probes entries; top of probes.
 */
function groupPointsByProbedCell(
  coarseTile: Float32Array, np: number, groups: number, probes: number, top: Float32Array,
  probeOf: Int32Array, cellCount: Uint32Array, cellPoints: Uint32Array | Int32Array,
): void {
  cellCount.fill(0)
  for (let i = 0; i < np; i++) {
    top.fill(-Infinity)
    const row = i * groups, po = i * probes
    for (let g = 0; g < groups; g++) {
      const s = coarseTile[row + g]
      if (s <= top[probes - 1]) continue
      let j = probes - 1
      while (j > 0 && top[j - 1] < s) { top[j] = top[j - 1]; probeOf[po + j] = probeOf[po + j - 1]; j-- }
      top[j] = s
      probeOf[po + j] = g
    }
    for (let j = 0; j < probes; j++) cellCount[probeOf[po + j] + 1]++
  }
  for (let g = 0; g < groups; g++) cellCount[g + 1] += cellCount[g]
  const fill = cellCount.slice(0, groups)
  for (let i = 0; i < np; i++) for (let j = 0; j < probes; j++) cellPoints[fill[probeOf[i * probes + j]]++] = i
}

/** Folds one cell's score tile (rows = the cell's points cellPoints[a..b), nc centroids from c0) into each point's best. */
function keepBestOfTile(
  tile: Float32Array, a: number, b: number, nc: number, c0: number, cellPoints: Uint32Array | Int32Array,
  bestScore: Float32Array, bestIdx: Int32Array,
): void {
  for (let t = a; t < b; t++) {
    const i = cellPoints[t], row = (t - a) * nc
    let bs = bestScore[i], bi = bestIdx[i]
    for (let c = 0; c < nc; c++) if (tile[row + c] > bs) { bs = tile[row + c]; bi = c0 + c }
    bestScore[i] = bs
    bestIdx[i] = bi
  }
}

/** The probed assignment with everything in the centroid arena: points are copied in once per block and scored per cell by index. */
function assignProbedSimd(
  set: CentroidSet, ca: CentroidArena, points: Float32Array, pOff: number, n: number,
  codes: Uint16Array | Uint32Array | Int32Array, outOff: number, score: Float32Array | null, probes: number,
): void {
  const { dim, groups, groupOffsets } = set
  const { arena, coarsePtr } = ca
  const blk = Math.min(ASSIGN_BLOCK, n)
  const maxCell = largestCell(groupOffsets, groups)
  const ptsPtr = ca.scratch, qPtr = ptsPtr + blk * dim * 4, idxPtr = qPtr + blk * dim * 2
  const ctPtr = idxPtr + blk * probes * 4, ftPtr = ctPtr + blk * groups * 4
  const tileRows = Math.max(1, Math.min(blk, Math.floor(FINE_TILE_FLOATS / Math.max(1, maxCell))))
  arena.reserve(ftPtr + tileRows * maxCell * 4)
  const qBlock = new Int16Array(blk * dim)
  const probeOf = new Int32Array(blk * probes)
  const bestScore = new Float32Array(blk)
  const bestIdx = new Int32Array(blk)
  const cellCount = new Uint32Array(groups + 1)
  const cellPoints = new Int32Array(blk * probes)
  const top = new Float32Array(probes)
  for (let p0 = 0; p0 < n; p0 += blk) {
    const np = Math.min(blk, n - p0)
    arena.f32(ptsPtr, np * dim).set(points.subarray((pOff + p0) * dim, (pOff + p0 + np) * dim))
    const qs = quantizeRows(points, (pOff + p0) * dim, np, dim, qBlock)
    arena.i16(qPtr, np * dim).set(qBlock.subarray(0, np * dim))
    arena.dotTile(ptsPtr, np, coarsePtr, groups, dim, ctPtr)
    const coarseTile = arena.f32(ctPtr, np * groups)
    groupPointsByProbedCell(coarseTile, np, groups, probes, top, probeOf, cellCount, cellPoints)
    arena.i32(idxPtr, np * probes).set(cellPoints.subarray(0, np * probes))
    bestScore.fill(-Infinity)
    bestIdx.fill(0)
    for (let g = 0; g < groups; g++) {
      const a = cellCount[g], b = cellCount[g + 1]
      const c0 = groupOffsets[g], nc = groupOffsets[g + 1] - c0
      if (a === b || nc === 0) continue
      for (let t0 = a; t0 < b; t0 += tileRows) {
        const t1 = Math.min(b, t0 + tileRows)
        arena.dotTileIdxI16(idxPtr + t0 * 4, t1 - t0, c0 * dim * 2, nc, dim, ftPtr, qPtr, CENTROID_SCALE / qs)
        keepBestOfTile(arena.f32(ftPtr, (t1 - t0) * nc), t0, t1, nc, c0, cellPoints, bestScore, bestIdx)
      }
    }
    for (let i = 0; i < np; i++) {
      codes[outOff + p0 + i] = bestIdx[i]
      if (score !== null) score[p0 + i] = bestScore[i]
    }
  }
}
