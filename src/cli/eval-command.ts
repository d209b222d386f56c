/**
 * `jacolbert eval`: retrieval / reranking evaluation of a checkpoint on a dataset (src/eval does the work).
 */
import { createWriteStream } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { PRESETS, readEvalDataset, type ColumnMap, type DatasetSpec } from '../eval/datasets.js'
import { parseMetric, type MetricSpec } from '../eval/metrics.js'
import { runEvaluation } from '../eval/runner.js'
import { parseCommandArgs, usageError } from './command-args.js'
import { ENCODER_HELP, ENCODER_OPTIONS, openEncoder } from './encoder-flags.js'
import { createProgress, type Progress } from './progress.js'

const HELP = `usage: jacolbert eval --model DIR (--preset NAME | --format F) PATH [options]

Evaluates a checkpoint on a retrieval or reranking set and prints the metrics (a table, or JSON with --json)
with the model, the settings and the timings. Progress goes to stderr.

PATH is a BEIR folder, a SQuAD JSON file, or the reranking rows file (jsonl, tsv or parquet).

presets (format, columns and the JaColBERTv2.5 paper's metric; README § Evaluation says which files):
  jsquad   SQuAD JSON (JGLUE valid-v1.3.json), retrieval over its paragraphs   recall@3
  miracl   BEIR-style files (--corpus, --queries, --qrels), retrieval          ndcg@10
  jqara    hotchpotch/JQaRA parquet (q_id, question, passage_row_id, title, text, label), rerank   ndcg@10
  jacwir   hotchpotch/JaCWIR eval parquet (query, positive, negatives) + --collection (doc_id, title, description), rerank   map@10
  esci     ESCI examples parquet + --collection products parquet, jp test rows, E/S/C/I = 3/2/1/0, rerank   ndcg@10

data options:
  --preset NAME           one of ${Object.keys(PRESETS).join(', ')}
  --format F              beir, squad, rerank-long (a row per query-candidate) or rerank-wide (a row per query)
  --split NAME            BEIR qrels split (default test)
  --corpus FILE  --queries FILE  --qrels FILE    BEIR files given one by one (qrels: BEIR 3-column or TREC 4-column)
  --collection FILE       reranking: file the candidate ids point into
  --query-id-col C  --query-col C  --doc-id-col C  --text-col C (repeatable, joined with a space)
  --label-col C  --positive-col C  --negatives-col C  --collection-id-col C  --collection-text-col C (repeatable)
  --filter COL=VALUE      keep only rows with this value (repeatable)
  --label-map L=G,...     label to gain (e.g. E=3,S=2,C=1,I=0)
  --no-title              BEIR: do not prepend the title to the text
  --max-queries N         evaluate only the first N queries (quick checks)

evaluation options:
  --mode M                retrieval (index the corpus, search it) or rerank (score each query's candidates);
                          default: the preset's, else by format
  --search S              retrieval: plaid (the service's index; default) or exhaustive (exact MaxSim over everything)
  --nbits N  --ncells N  --centroid-score-threshold X  --ndocs N     PLAID index and search settings
  --metrics LIST          e.g. recall@3,ndcg@10 (recall, ndcg, mrr, map, success; default: the preset's metric plus
                          ndcg@10,recall@10,mrr@10,map@10,success@10)
  --query-length L        fixed (query_maxlen with [MASK] padding; default) or dynamic (JaColBERTv2.5's dynamic length)
  --ties T                order (equal scores keep candidate/corpus order; default) or average (scikit-learn's rule)
  --batch N               texts per encoder call (default 64)

output options:
  --json                  print the result as JSON instead of a table
  --output FILE           also write the JSON result to FILE
  --run FILE              write every query's ranking as a TREC run file (qid Q0 docid rank score jacolbert)
  --quiet                 no progress on stderr

encoder options:
${ENCODER_HELP}  -h, --help              show this help
`

export async function run(argv: string[]): Promise<number> {
  const args = parseCommandArgs('eval', argv, {
    ...ENCODER_OPTIONS,
    preset: { type: 'string' }, format: { type: 'string' }, split: { type: 'string' }, corpus: { type: 'string' },
    queries: { type: 'string' }, qrels: { type: 'string' }, collection: { type: 'string' },
    'query-id-col': { type: 'string' }, 'query-col': { type: 'string' }, 'doc-id-col': { type: 'string' },
    'text-col': { type: 'string', multiple: true }, 'label-col': { type: 'string' }, 'positive-col': { type: 'string' },
    'negatives-col': { type: 'string' }, 'collection-id-col': { type: 'string' }, 'collection-text-col': { type: 'string', multiple: true },
    filter: { type: 'string', multiple: true }, 'label-map': { type: 'string' }, 'no-title': { type: 'boolean' },
    'max-queries': { type: 'string' }, mode: { type: 'string' }, search: { type: 'string' }, nbits: { type: 'string' },
    ncells: { type: 'string' }, 'centroid-score-threshold': { type: 'string' }, ndocs: { type: 'string' },
    metrics: { type: 'string' }, 'query-length': { type: 'string' }, ties: { type: 'string' }, batch: { type: 'string' },
    json: { type: 'boolean' }, output: { type: 'string' }, run: { type: 'string' }, quiet: { type: 'boolean' },
  }, HELP, { positionals: true, require: { option: 'model', env: 'MODEL' } })
  if (typeof args === 'number') return args
  const { values: v, positionals, required: model } = args
  const fail = (msg: string): number => usageError('eval', msg, HELP)

  const preset = v.preset !== undefined ? PRESETS[v.preset] : undefined
  if (v.preset !== undefined && !preset) return fail(`unknown preset '${v.preset}' (known: ${Object.keys(PRESETS).join(', ')})`)
  const format = (v.format ?? preset?.format) as DatasetSpec['format'] | undefined
  if (!format || !['beir', 'squad', 'rerank-long', 'rerank-wide'].includes(format)) return fail('--preset or --format (beir, squad, rerank-long, rerank-wide) is required')
  if (positionals.length > 1) return fail(`expected one PATH, got ${positionals.length}`)
  const path = positionals[0] ?? ''
  if (!path && !(format === 'beir' && v.corpus && v.queries && v.qrels)) return fail('PATH is required (or, for beir, --corpus, --queries and --qrels)')

  const int = (name: string, s: string | undefined, min: number): number | undefined | string => {
    if (s === undefined) return undefined
    const n = Number(s)
    return Number.isInteger(n) && n >= min ? n : `--${name} must be an integer ≥ ${min}, got '${s}'`
  }
  const batch = int('batch', v.batch, 1) ?? 64
  const maxQueries = int('max-queries', v['max-queries'], 1)
  const nbits = int('nbits', v.nbits, 1) ?? 2
  const ncells = int('ncells', v.ncells, 1)
  const ndocs = int('ndocs', v.ndocs, 1)
  for (const x of [batch, maxQueries, nbits, ncells, ndocs]) if (typeof x === 'string') return fail(x)
  if (![1, 2, 4].includes(nbits as number)) return fail('--nbits must be 1, 2 or 4')
  const cst = v['centroid-score-threshold'] !== undefined ? Number(v['centroid-score-threshold']) : undefined
  if (cst !== undefined && !Number.isFinite(cst)) return fail('--centroid-score-threshold must be a number')
  const mode = (v.mode ?? preset?.mode ?? (format.startsWith('rerank') ? 'rerank' : 'retrieval'))
  if (mode !== 'retrieval' && mode !== 'rerank') return fail(`--mode must be retrieval or rerank, got '${mode}'`)
  if (mode === 'rerank' && !format.startsWith('rerank')) return fail(`--mode rerank needs a reranking set (--format rerank-long or rerank-wide), not ${format}`)
  const search = v.search ?? 'plaid'
  if (search !== 'plaid' && search !== 'exhaustive') return fail(`--search must be plaid or exhaustive, got '${search}'`)
  const queryLength = v['query-length'] ?? 'fixed'
  if (queryLength !== 'fixed' && queryLength !== 'dynamic') return fail(`--query-length must be fixed or dynamic, got '${queryLength}'`)
  const ties = v.ties ?? 'order'
  if (ties !== 'order' && ties !== 'average') return fail(`--ties must be order or average, got '${ties}'`)
  let metrics: MetricSpec[]
  try {
    const list = v.metrics ? v.metrics.split(',') : [...new Set([...(preset ? [preset.metric] : []), 'ndcg@10', 'recall@10', 'mrr@10', 'map@10', 'success@10'])]
    metrics = list.filter((s) => s.trim() !== '').map(parseMetric)
  } catch (err) {
    return fail((err as Error).message)
  }
  const filters: Array<[string, string]> = [...(preset?.filters ?? [])]
  for (const f of v.filter ?? []) {
    const at = f.indexOf('=')
    if (at < 1) return fail(`--filter must be COL=VALUE, got '${f}'`)
    filters.push([f.slice(0, at), f.slice(at + 1)])
  }
  let labelMap = preset?.labelMap ? new Map(preset.labelMap) : undefined
  if (v['label-map'] !== undefined) {
    labelMap = new Map()
    for (const pair of v['label-map'].split(',')) {
      const [l, g] = pair.split('=')
      if (!l || g === undefined || !Number.isFinite(Number(g))) return fail(`--label-map must be LABEL=GAIN,..., got '${pair}'`)
      labelMap.set(l, Number(g))
    }
  }
  const pc = preset?.columns ?? {}
  const columns: ColumnMap = { ...pc }
  const setCol = <K extends keyof ColumnMap>(k: K, val: ColumnMap[K] | undefined): void => { if (val !== undefined) columns[k] = val }
  setCol('queryId', v['query-id-col']); setCol('query', v['query-col']); setCol('docId', v['doc-id-col'])
  setCol('text', v['text-col']); setCol('label', v['label-col']); setCol('positive', v['positive-col'])
  setCol('negatives', v['negatives-col']); setCol('collectionId', v['collection-id-col']); setCol('collectionText', v['collection-text-col'])

  const spec: DatasetSpec = {
    format, path, columns, filters,
    ...(v.split ? { split: v.split } : {}), ...(v.corpus ? { corpus: v.corpus } : {}), ...(v.queries ? { queries: v.queries } : {}),
    ...(v.qrels ? { qrels: v.qrels } : {}), ...(v.collection ? { collection: v.collection } : {}), ...(labelMap ? { labelMap } : {}),
    ...(v['no-title'] ? { noTitle: true } : {}),
  }
  const t0 = performance.now()
  const ds = await readEvalDataset(spec)
  if (typeof maxQueries === 'number') ds.queries = ds.queries.slice(0, maxQueries)
  const readMs = Math.round(performance.now() - t0)
  if (!v.quiet) process.stderr.write(`jacolbert eval: ${ds.queries.length} queries, ${ds.docs.size} documents (read in ${readMs} ms)\n`)

  const encoder = await openEncoder('eval', model, v, Math.max(2048, batch as number))
  if (typeof encoder === 'string') return fail(encoder)
  const runOut = v.run ? createWriteStream(v.run) : undefined
  const bars = new Map<string, Progress>()
  try {
    const result = await runEvaluation(ds, encoder, {
      mode, search, metrics, queryLength, ties, batch: batch as number,
      plaid: { nbits: nbits as 1 | 2 | 4, ...(ncells !== undefined ? { ncells: ncells as number } : {}), ...(cst !== undefined ? { centroidScoreThreshold: cst } : {}), ...(ndocs !== undefined ? { ndocs: ndocs as number } : {}) },
      onProgress: (phase, done, total) => {
        let bar = bars.get(phase)
        if (!bar) {
          for (const b of bars.values()) b.finish()
          bars.set(phase, (bar = createProgress(`eval ${phase}`, total, { unit: phase, silent: !!v.quiet })))
        }
        bar.update(done, total)
      },
      ...(runOut ? { onRanking: (qid: string, ranked: Array<{ id: string; score: number }>) => {
        runOut.write(ranked.map((r, i) => `${qid} Q0 ${r.id} ${i + 1} ${r.score} jacolbert\n`).join(''))
      } } : {}),
    })
    for (const b of bars.values()) b.finish()
    const report = {
      dataset: { preset: v.preset ?? null, format, path: path || null, split: format === 'beir' ? (v.split ?? 'test') : null, queries: ds.queries.length, documents: ds.docs.size },
      model: { path: model, name: encoder.modelName, dim: encoder.dim, provider: encoder.provider, queryMaxlen: encoder.settings.queryMaxlen, docMaxlen: encoder.settings.docMaxlen },
      settings: {
        mode, search: mode === 'retrieval' ? search : null,
        plaid: mode === 'retrieval' && search === 'plaid' ? { nbits, ncells: ncells ?? null, centroidScoreThreshold: cst ?? null, ndocs: ndocs ?? null } : null,
        queryLength, ties, batch, metrics: metrics.map((m) => `${m.name}@${m.k}`), filters,
      },
      metrics: result.metrics,
      queriesEvaluated: result.queries,
      queriesWithoutRelevant: result.queriesWithoutRelevant,
      timingsMs: { read: readMs, ...result.timingsMs },
    }
    const json = JSON.stringify(report, null, 2)
    if (v.output) await writeFile(v.output, `${json}\n`)
    if (v.json) process.stdout.write(`${json}\n`)
    else {
      const rows = Object.entries(result.metrics).map(([k, val]) => `  ${k.padEnd(12)} ${val.toFixed(4)}`)
      process.stdout.write([
        `model     ${encoder.modelName} (dim ${encoder.dim}, ${encoder.provider})`,
        `dataset   ${v.preset ?? format} ${path} — ${result.queries} queries evaluated${result.queriesWithoutRelevant ? `, ${result.queriesWithoutRelevant} without a relevant document skipped` : ''}, ${ds.docs.size} documents`,
        `settings  ${mode}${mode === 'retrieval' ? ` ${search}` : ''}, query length ${queryLength}, ties ${ties}`,
        `metric       value`,
        ...rows,
        `timings   ${Object.entries(report.timingsMs).map(([k, ms]) => `${k} ${ms} ms`).join(', ')}`,
      ].join('\n') + '\n')
    }
  } finally {
    await encoder.close()
    if (runOut) await new Promise<void>((res) => runOut.end(res))
  }
  return 0
}
