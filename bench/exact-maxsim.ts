/**
 * Exact (brute-force) MaxSim over every document vector of an embedding set: the reference the index benches compare
 * against. All queries in one pass over the documents (per block of ≤ 256 document vectors, one dot tile of all S·L
 * query tokens), so the cost is S·L·T·dim multiply-adds plus S·L·T comparisons (T document vectors).
 */
import { dotTile } from '../src/index/dense-kernels.js'
import type { EmbeddingSet } from '../src/index/embedding-set.js'

export type DocumentSide = Pick<EmbeddingSet, 'dim' | 'nDocs' | 'docs' | 'doclens' | 'docOffsets'>

/** Exact MaxSim of S queries (`qs`: S × L × dim) against every document: S × nDocs scores (row per query). */
export function exactScores(set: DocumentSide, qs: Float32Array, L: number): Float32Array {
  const { dim, nDocs } = set
  const S = qs.length / (L * dim)
  if (!Number.isInteger(S)) throw new RangeError('queries length is not a multiple of L × dim')
  const scores = new Float32Array(S * nDocs)
  const BLOCK = 256
  const tile = new Float32Array(S * L * BLOCK * 2 + 1)
  let d0 = 0
  while (d0 < nDocs) {
    // a block of whole documents of at most BLOCK vectors (a longer document is a block on its own)
    let d1 = d0 + 1
    while (d1 < nDocs && set.docOffsets[d1 + 1] - set.docOffsets[d0] <= BLOCK) d1++
    const first = set.docOffsets[d0]
    const nb = set.docOffsets[d1] - first
    const out = nb <= BLOCK * 2 ? tile : new Float32Array(S * L * nb)
    dotTile(qs, 0, S * L, set.docs, first * dim, nb, dim, out, 0)
    for (let s = 0; s < S; s++) {
      for (let d = d0; d < d1; d++) {
        const a = set.docOffsets[d] - first
        const b = a + set.doclens[d]
        let total = 0
        for (let j = 0; j < L; j++) {
          const row = (s * L + j) * nb
          let m = -Infinity
          for (let t = row + a; t < row + b; t++) if (out[t] > m) m = out[t]
          total += set.doclens[d] === 0 ? 0 : m
        }
        scores[s * nDocs + d] = total
      }
    }
    d0 = d1
  }
  return scores
}

/** Indices of the top `k` entries of scores[off .. off+n) (ties: lower index first), best first. */
export function topK(scores: Float32Array, off: number, n: number, k: number): number[] {
  const idx: number[] = []
  for (let i = 0; i < n; i++) if (scores[off + i] > -Infinity) idx.push(i)
  idx.sort((a, b) => scores[off + b] - scores[off + a] || a - b)
  return idx.slice(0, k)
}
