/**
 * BM25 as Lucene ≥ 8 computes it (org.apache.lucene.search.similarities.BM25Similarity):
 *   idf(t)      = ln(1 + (N − df + 0.5) / (df + 0.5))
 *   score(t, d) = idf(t) · tf / (tf + k1 · (1 − b + b · dl / avgdl))
 * Lucene 8 dropped the constant (k1 + 1) factor of the textbook numerator (LUCENE-8563): rankings are unchanged, scores
 * are (k1 + 1)× smaller. We follow the current Lucene form. Differences from Lucene, on purpose:
 * - dl is the exact term count of the document; Lucene stores it lossily in one byte (SmallFloat norms), so its
 *   scores differ slightly for long documents;
 * - N and df count live documents only (Lucene counts deleted-but-unmerged documents until a merge).
 * A query term that occurs q times in the query contributes q times (what Lucene's BooleanQuery of a match query with
 * repeated SHOULD clauses does).
 */
/** Per-index settings of the lexical side: the BM25 parameters and which word form is a term (analyzer.ts). */
export interface Bm25Settings {
  k1: number
  b: number
  terms: 'surface' | 'base'
}

export const DEFAULT_BM25: Readonly<Bm25Settings> = { k1: 1.2, b: 0.75, terms: 'surface' }

export function bm25Idf(n: number, df: number): number {
  return Math.log(1 + (n - df + 0.5) / (df + 0.5))
}
