/**
 * Hard-negative mining (JaColBERT v1's training data): for each query with known positives, the retrieval ranking
 * (top N), positives removed, negatives drawn from a rank window, and the training files two ecosystems read:
 *
 * - ColBERT / RAGatouille: `triples.train.colbert.jsonl` with one `[qid, pos_pid, neg_pid, …]` array per (query,
 *   positive), integer ids into `corpus.train.colbert.tsv` (`pid \t text`, pid = 0-based line number, as ColBERT's
 *   collection.tsv) and `queries.train.colbert.tsv` (`qid \t text`); `corpus.ids.tsv` / `queries.ids.tsv` map the
 *   integers back to the dataset's own ids.
 * - PyLate / sentence-transformers: `triplets.jsonl`, one `{"query", "positive", "negative"}` object per triple.
 *
 * Window: ranks `from..to` (1-based, inclusive) of the retrieval ranking, counted before positives are removed, so
 * "ranks 10–100" means what the retriever put there. Sampling: `count` negatives without replacement from the window,
 * with a generator seeded from (seed, query id) — the same seed gives the same files whatever the query order.
 */
import { createHash } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createPrng, sampleIndices } from '../index/prng.js'
import type { EvalDataset } from '../eval/datasets.js'

export interface MiningOptions { from: number; to: number; count: number; seed: number }
export interface MinedQuery { qid: string; positives: string[]; negatives: string[] }

function querySeed(seed: number, qid: string): number {
  return createHash('sha256').update(`${seed}\u0000${qid}`).digest().readInt32LE(0)
}

/** Negatives for one query from its ranking (document ids, best first). */
export function pickNegatives(qid: string, ranking: readonly string[], qrels: ReadonlyMap<string, number>, o: MiningOptions): string[] {
  const window = ranking.slice(o.from - 1, o.to).filter((id) => !((qrels.get(id) ?? 0) > 0))
  const picked = sampleIndices(window.length, Math.min(o.count, window.length), createPrng(querySeed(o.seed, qid)))
  return Array.from(picked, (i) => window[i]!)
}

export interface WrittenFiles { triples: number; pylateTriplets: number; queries: number; passages: number; files: string[] }

export async function writeTrainingData(out: string, ds: EvalDataset, mined: MinedQuery[], formats: { colbert: boolean; pylate: boolean }): Promise<WrittenFiles> {
  await mkdir(out, { recursive: true })
  const qtext = new Map(ds.queries.map((q) => [q.id, q.text]))
  const files: string[] = []
  let triples = 0, pylate = 0
  const pids = new Map<string, number>()
  const qids = new Map<string, number>()
  const pid = (id: string): number => {
    let p = pids.get(id)
    if (p === undefined) pids.set(id, (p = pids.size))
    return p
  }
  const lines: string[] = []
  const pyl: string[] = []
  for (const m of mined) {
    if (m.negatives.length === 0) continue
    let q = qids.get(m.qid)
    if (q === undefined) qids.set(m.qid, (q = qids.size))
    for (const pos of m.positives) {
      lines.push(JSON.stringify([q, pid(pos), ...m.negatives.map(pid)]))
      triples++
      for (const neg of m.negatives) {
        pyl.push(JSON.stringify({ query: qtext.get(m.qid), positive: ds.docs.get(pos), negative: ds.docs.get(neg) }))
        pylate++
      }
    }
  }
  // TSV cells cannot hold tabs or newlines: ColBERT would split them; they become spaces
  const cell = (s: string | undefined): string => (s ?? '').replace(/[\t\r\n]+/g, ' ')
  const write = async (name: string, text: string): Promise<void> => {
    await writeFile(join(out, name), text)
    files.push(name)
  }
  if (formats.colbert) {
    await write('triples.train.colbert.jsonl', lines.map((l) => `${l}\n`).join(''))
    await write('corpus.train.colbert.tsv', [...pids].map(([id, p]) => `${p}\t${cell(ds.docs.get(id))}\n`).join(''))
    await write('queries.train.colbert.tsv', [...qids].map(([id, q]) => `${q}\t${cell(qtext.get(id))}\n`).join(''))
    await write('corpus.ids.tsv', [...pids].map(([id, p]) => `${p}\t${cell(id)}\n`).join(''))
    await write('queries.ids.tsv', [...qids].map(([id, q]) => `${q}\t${cell(id)}\n`).join(''))
  }
  if (formats.pylate) await write('triplets.jsonl', pyl.map((l) => `${l}\n`).join(''))
  return { triples, pylateTriplets: pylate, queries: qids.size, passages: pids.size, files }
}
