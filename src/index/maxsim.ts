/**
 * Exact late-interaction scoring: MaxSim(Q, D) = Σ_j max_i q_j · d_i. The reference for tests and the scorer of an
 * untrained index. Cost qlen·dlen·dim per document.
 */
import { dotTile } from './dense-kernels.js'

let scratch = new Float32Array(4096)

/** MaxSim of a query (qlen×dim at query[0..]) against dlen document vectors at doc[dOff..]. */
export function maxSim(query: Float32Array, qlen: number, doc: Float32Array, dOff: number, dlen: number, dim: number): number {
  if (dlen === 0) return 0
  if (scratch.length < qlen * dlen) scratch = new Float32Array(qlen * dlen * 2)
  dotTile(query, 0, qlen, doc, dOff, dlen, dim, scratch, 0)
  let total = 0
  for (let j = 0; j < qlen; j++) {
    let m = -Infinity
    const row = j * dlen
    for (let i = 0; i < dlen; i++) if (scratch[row + i] > m) m = scratch[row + i]
    total += m
  }
  return total
}

/**
 * Brute-force top-k by exact MaxSim over documents given as (vectors, offset, length) triples in one array.
 * Returns document indices and scores, best first (ties: lower index first).
 */
export function bruteForceTopK(
  query: Float32Array, qlen: number, vectors: Float32Array, docOffsets: ArrayLike<number>, docLens: ArrayLike<number>,
  nDocs: number, dim: number, k: number,
): Array<{ doc: number; score: number }> {
  const all: Array<{ doc: number; score: number }> = []
  for (let d = 0; d < nDocs; d++) all.push({ doc: d, score: maxSim(query, qlen, vectors, docOffsets[d] * dim, docLens[d], dim) })
  all.sort((a, b) => b.score - a.score || a.doc - b.doc)
  return all.slice(0, k)
}
