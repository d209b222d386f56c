/**
 * The tests' own ColBERT MaxSim, independent of src/: float64 over the rows /encode returns. For each query row, the
 * best dot product over the document's rows; summed.
 */
export function maxSimF64(query: number[][], doc: number[][]): number {
  let total = 0
  for (const q of query) {
    let best = -Infinity
    for (const d of doc) {
      let dot = 0
      for (let k = 0; k < q.length; k++) dot += q[k] * d[k]
      if (dot > best) best = dot
    }
    total += best
  }
  return total
}

/** Indexes of `scores` best first (ties by index), as a reranker orders them. */
export function rankOf(scores: number[]): number[] {
  return scores.map((s, i) => ({ s, i })).sort((a, b) => b.s - a.s || a.i - b.i).map((x) => x.i)
}
