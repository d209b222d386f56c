/**
 * BM25 on the JSQuAD validation set (1,145 passages, 4,442 questions) with the IPADIC analyser: the lexical index's
 * top 10 per question, and Recall@1/3/10, must equal an exhaustive BM25 written here from the formula (Lucene ≥ 8:
 * idf = ln(1 + (N − df + 0.5)/(df + 0.5)), idf · tf/(tf + k1·(1 − b + b·dl/avgdl)), query terms counted with their
 * multiplicity), computed over the same analyser's words: scores to 1e-6, rankings identical (ties by id).
 */
import t from 'tap'
import { createLexicalAnalyzer } from '../../src/lexical/analyzer.js'
import { createLexicalIndex } from '../../src/lexical/lexical-index.js'
import { createMecabAnalyzer } from '../../src/tokenizer/mecab/index.js'
import { IPADIC_DIR, dictionaryOnly, hasShared, sharedOnly } from '../helpers/shared.js'
import { loadJsquad } from '../server/jsquad.js'
import { bruteForceBm25 as bruteForce, type Ranked } from '../helpers/brute-bm25.js'

function recall(rankings: Ranked[][], gold: string[], at: number): number {
  let hit = 0
  for (let i = 0; i < rankings.length; i++) if (rankings[i].slice(0, at).some((h) => h.id === gold[i])) hit++
  return hit / rankings.length
}

const skip = !hasShared ? sharedOnly() : dictionaryOnly(IPADIC_DIR)

t.test('BM25 on JSQuAD equals an exhaustive BM25 (scores 1e-6, identical rankings, same Recall@1/3/10)', skip, async (t) => {
  const analyzer = createLexicalAnalyzer(createMecabAnalyzer(IPADIC_DIR))
  const passages = loadJsquad()
  const docs = passages.map((p) => ({ id: p.id, terms: analyzer.terms(p.text) }))
  const queries: Array<{ terms: string[]; gold: string }> = []
  for (const p of passages) for (const q of p.questions) queries.push({ terms: analyzer.terms(q), gold: p.id })
  t.equal(passages.length, 1145)
  t.equal(queries.length, 4442)

  // all questions with the defaults; every 7th with other settings (k1 and b are per index), to keep CI time down
  for (const [k1, b, step] of [[1.2, 0.75, 1], [0.9, 0.4, 7]] as const) {
    const index = createLexicalIndex({ k1, b })
    index.upsert(docs)
    const brute = bruteForce(docs, k1, b)
    const got: Ranked[][] = [], want: Ranked[][] = []
    let worst = 0, orderMismatches = 0
    const sample = queries.filter((_, i) => i % step === 0)
    for (const q of sample) {
      const g = index.search(q.terms, { k: 10 }).hits
      const w = brute(q.terms, 10)
      got.push(g)
      want.push(w)
      if (g.length !== w.length || g.some((h, i) => h.id !== w[i].id)) orderMismatches++
      for (let i = 0; i < Math.min(g.length, w.length); i++) worst = Math.max(worst, Math.abs(g[i].score - w[i].score))
    }
    t.equal(orderMismatches, 0, `k1=${k1} b=${b}: every top-10 ranking identical`)
    t.ok(worst <= 1e-6, `k1=${k1} b=${b}: largest score difference ${worst} ≤ 1e-6`)
    const gold = sample.map((q) => q.gold)
    const r = [1, 3, 10].map((at) => [recall(got, gold, at), recall(want, gold, at)])
    t.same(r.map((x) => x[0]), r.map((x) => x[1]), `k1=${k1} b=${b}: Recall@1/3/10 = ${r.map((x) => x[0].toFixed(4)).join(' / ')}`)
    // sanity: BM25 on JSQuAD is a strong baseline (questions reuse the passage's words); far below would mean broken terms
    t.ok(r[2][0] > 0.8, `Recall@10 ${r[2][0]} is plausible for BM25 on JSQuAD`)
  }
})
