/** `jacolbert mine-negatives`: hard negatives from a retrieval ranking, as ColBERT/RAGatouille and PyLate training data. */
import { readEvalDataset, type DatasetSpec } from '../eval/datasets.js'
import { runEvaluation } from '../eval/runner.js'
import { pickNegatives, writeTrainingData, type MinedQuery } from '../training/negatives.js'
import { parseCommandArgs, usageError } from './command-args.js'
import { ENCODER_HELP, ENCODER_OPTIONS, openEncoder } from './encoder-flags.js'
import { createProgress, type Progress } from './progress.js'

const HELP = `usage: jacolbert mine-negatives --model DIR --format squad|beir PATH --out DIR [options]

For every query with known positives: retrieves the top N documents of the corpus with the model (an index built
in memory: PLAID, or exhaustive MaxSim), drops the positives, samples negatives from a rank window, and writes
  triples.train.colbert.jsonl   [qid, pos_pid, neg_pid, ...] per (query, positive)   (ColBERT / RAGatouille)
  corpus.train.colbert.tsv      pid \\t text (pid = line number)   queries.train.colbert.tsv   qid \\t text
  corpus.ids.tsv, queries.ids.tsv   integer id \\t the dataset's id
  triplets.jsonl                {"query", "positive", "negative"} per triple             (PyLate / sentence-transformers)

options:
  --format F            squad (SQuAD JSON: the question's paragraph is its positive) or beir (folder or the files below)
  --split S  --corpus FILE  --queries FILE  --qrels FILE     BEIR inputs, as for \`jacolbert eval\`
  --out DIR             output folder
  --window FROM-TO      1-based rank window, positives removed (default 10-100; top N = TO)
  --negatives K         negatives per query (default 8)
  --seed N              sampling seed (default 42): the same seed gives the same files
  --search S            plaid (default) or exhaustive
  --query-length L      fixed or dynamic
  --max-queries N       only the first N queries
  --formats LIST        colbert,pylate (default both)
  --batch N             texts per encoder call (default 64)
  --json                JSON summary on stdout
  --quiet               no progress
${ENCODER_HELP}  -h, --help            show this help
`

export async function run(argv: string[]): Promise<number> {
  const args = parseCommandArgs('mine-negatives', argv, {
    ...ENCODER_OPTIONS,
    format: { type: 'string' }, split: { type: 'string' }, corpus: { type: 'string' }, queries: { type: 'string' }, qrels: { type: 'string' },
    out: { type: 'string' }, window: { type: 'string' }, negatives: { type: 'string' }, seed: { type: 'string' }, search: { type: 'string' },
    'query-length': { type: 'string' }, 'max-queries': { type: 'string' }, formats: { type: 'string' }, batch: { type: 'string' },
    json: { type: 'boolean' }, quiet: { type: 'boolean' },
  }, HELP, { positionals: true, require: { option: 'model', env: 'MODEL' } })
  if (typeof args === 'number') return args
  const { values: v, positionals, required: model } = args
  const fail = (m: string): number => usageError('mine-negatives', m, HELP)
  const format = v.format
  if (format !== 'squad' && format !== 'beir') return fail('--format squad or beir is required')
  if (!v.out) return fail('--out DIR is required')
  if (positionals.length > 1) return fail('expected one PATH')
  const path = positionals[0] ?? ''
  if (!path && !(format === 'beir' && v.corpus && v.queries && v.qrels)) return fail('PATH is required')
  const win = /^(\d+)-(\d+)$/.exec(v.window ?? '10-100')
  const from = Number(win?.[1]), to = Number(win?.[2])
  if (!win || from < 1 || to < from) return fail(`--window must be FROM-TO with 1 ≤ FROM ≤ TO, got '${v.window}'`)
  const count = Number(v.negatives ?? 8)
  const seed = Number(v.seed ?? 42)
  const batch = Number(v.batch ?? 64)
  const maxQueries = v['max-queries'] === undefined ? undefined : Number(v['max-queries'])
  for (const [n, x] of [['negatives', count], ['batch', batch], ['max-queries', maxQueries ?? 1]] as const) {
    if (!Number.isInteger(x) || x < 1) return fail(`--${n} must be a positive integer`)
  }
  if (!Number.isInteger(seed)) return fail('--seed must be an integer')
  const search = v.search ?? 'plaid'
  if (search !== 'plaid' && search !== 'exhaustive') return fail('--search must be plaid or exhaustive')
  const queryLength = v['query-length'] ?? 'fixed'
  if (queryLength !== 'fixed' && queryLength !== 'dynamic') return fail('--query-length must be fixed or dynamic')
  const formats = new Set((v.formats ?? 'colbert,pylate').split(',').map((s) => s.trim()))
  if (![...formats].every((f) => f === 'colbert' || f === 'pylate')) return fail('--formats takes colbert and/or pylate')

  const spec: DatasetSpec = { format, path, ...(v.split ? { split: v.split } : {}), ...(v.corpus ? { corpus: v.corpus } : {}), ...(v.queries ? { queries: v.queries } : {}), ...(v.qrels ? { qrels: v.qrels } : {}) }
  const ds = await readEvalDataset(spec)
  if (maxQueries !== undefined) ds.queries = ds.queries.slice(0, maxQueries)
  const encoder = await openEncoder('mine-negatives', model, v, Math.max(2048, batch))
  if (typeof encoder === 'string') return fail(encoder)
  const mined: MinedQuery[] = []
  const bars = new Map<string, Progress>()
  let result
  try {
    await runEvaluation(ds, encoder, {
      mode: 'retrieval', search, metrics: [{ name: 'recall', k: to }], queryLength, ties: 'order', batch,
      onProgress: (phase, done, total) => {
        let bar = bars.get(phase)
        if (!bar) {
          for (const b of bars.values()) b.finish()
          bars.set(phase, (bar = createProgress(`mine-negatives ${phase}`, total, { unit: phase, silent: !!v.quiet })))
        }
        bar.update(done, total)
      },
      onRanking: (qid, ranked) => {
        const qrels = ds.qrels.get(qid) ?? new Map<string, number>()
        const positives = [...qrels].filter(([, g]) => g > 0).map(([id]) => id).filter((id) => ds.docs.has(id))
        if (positives.length === 0) return
        mined.push({ qid, positives, negatives: pickNegatives(qid, ranked.map((r) => r.id), qrels, { from, to, count, seed }) })
      },
    })
    for (const b of bars.values()) b.finish()
    result = await writeTrainingData(v.out, ds, mined, { colbert: formats.has('colbert'), pylate: formats.has('pylate') })
  } finally {
    await encoder.close()
  }
  const summary = { out: v.out, window: [from, to], negativesPerQuery: count, seed, search, queryLength, queriesWithPositives: mined.length, queriesWithoutNegatives: mined.filter((m) => m.negatives.length === 0).length, ...result }
  if (v.json) process.stdout.write(`${JSON.stringify(summary)}\n`)
  else process.stdout.write(`wrote ${result.files.join(', ')} to ${v.out}: ${result.queries} queries, ${result.triples} ColBERT triples, ${result.pylateTriplets} PyLate triplets\n`)
  return 0
}
