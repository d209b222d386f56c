/**
 * Exhaustive BM25 over term lists, written from the formula and independent of src/lexical: Lucene ≥ 8's
 * idf = ln(1 + (N − df + 0.5)/(df + 0.5)) and idf · tf/(tf + k1·(1 − b + b·dl/avgdl)), each query term weighted by its
 * count in the query, summed in the query's first-appearance order; documents sharing no term are not returned; ties by id.
 */
export interface Ranked { id: string; score: number }

export function bruteForceBm25(docs: Array<{ id: string; terms: string[] }>, k1: number, b: number) {
  const tfs = docs.map((d) => {
    const m = new Map<string, number>()
    for (const w of d.terms) m.set(w, (m.get(w) ?? 0) + 1)
    return m
  })
  const df = new Map<string, number>()
  for (const m of tfs) for (const w of m.keys()) df.set(w, (df.get(w) ?? 0) + 1)
  const n = docs.length
  let total = 0
  for (const d of docs) total += d.terms.length
  const avgdl = total / n
  return (query: string[], k: number): Ranked[] => {
    const qtf = new Map<string, number>()
    for (const w of query) qtf.set(w, (qtf.get(w) ?? 0) + 1)
    const out: Ranked[] = []
    for (let i = 0; i < n; i++) {
      let score = 0
      let matched = false
      for (const [w, q] of qtf) {
        const tf = tfs[i].get(w)
        if (tf === undefined) continue
        const d = df.get(w)!
        const idf = Math.log(1 + (n - d + 0.5) / (d + 0.5))
        score += q * idf * tf / (tf + k1 * (1 - b + b * docs[i].terms.length / avgdl))
        matched = true
      }
      if (matched) out.push({ id: docs[i].id, score })
    }
    out.sort((x, y) => (y.score - x.score) || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0))
    return out.slice(0, k)
  }
}

