/**
 * Selection of the best m of n scored items without sorting all of them: quickselect on an index array
 * (expected O(n)), then a sort of the m winners (O(m log m)). Ties break toward the smaller key so results are
 * deterministic.
 */

/** Indices i < n of the m largest scores[i], best first; ties by smaller keys[i]. `idx` is scratch of length ≥ n. */
export function topIndices(scores: Float32Array, keys: Uint32Array, n: number, m: number, idx: Uint32Array): Uint32Array {
  const out = bestIndices(scores, keys, n, m, idx)
  sortBest(out, scores, keys)
  return out
}

/**
 * The indices of the m best items, in no particular order (the same order for the same input: a set to score, not a
 * ranking). The set is the one topIndices returns, since ties are broken by key; O(n), without topIndices' sort.
 */
export function bestIndices(scores: Float32Array, keys: Uint32Array, n: number, m: number, idx: Uint32Array): Uint32Array {
  for (let i = 0; i < n; i++) idx[i] = i
  if (m < n) select(scores, keys, idx, 0, n - 1, m)
  return idx.slice(0, Math.min(m, n))
}

/** true when item a ranks before item b */
function better(scores: Float32Array, keys: Uint32Array, a: number, b: number): boolean {
  return scores[a] > scores[b] || (scores[a] === scores[b] && keys[a] < keys[b])
}

function select(scores: Float32Array, keys: Uint32Array, idx: Uint32Array, lo: number, hi: number, m: number): void {
  // partitions so that idx[0..m) hold the m best (in any order)
  while (hi > lo) {
    const mid = (lo + hi) >>> 1
    const pivot = idx[mid]
    let i = lo, j = hi
    while (i <= j) {
      while (better(scores, keys, idx[i], pivot)) i++
      while (better(scores, keys, pivot, idx[j])) j--
      if (i <= j) { const t = idx[i]; idx[i] = idx[j]; idx[j] = t; i++; j-- }
    }
    if (m - 1 <= j) hi = j
    else if (m - 1 >= i) lo = i
    else return
  }
}

export function sortBest(items: Uint32Array, scores: Float32Array, keys: Uint32Array): void {
  const arr = Array.from(items)
  arr.sort((a, b) => (scores[b] - scores[a]) || (keys[a] - keys[b]))
  items.set(arr)
}
