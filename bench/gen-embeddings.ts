/**
 * Synthetic embedding-set generator for the index bench (format: src/index/embedding-set.ts; models and presets:
 * bench/data-models.ts).
 *
 *   npm run bench:gen -- --preset NAME --out DIR [--docs N] [--queries Q] [--seed S] [--query-noise X]
 *   npm run bench:gen -- --list
 *   npm run bench:gen -- --docs N --out DIR [--seed 1] ...   (no preset: the original uniform model, flags as before)
 *
 * Presets (10k documents unless said; exact MaxSim success@10, brute force over all vectors, on the first 100 queries
 * as measured by `npm run bench:matrix -- --queries 100` on 2026-11-29 — see BENCHMARKS.md "Index quality matrix
 * (issue 9)"; `--list` prints them):
 *   uniform       original model: equally popular topics, 12–24 of 32 query tokens copied   exact 0.960 (0.970 on all 500)
 *   zipf-quarter  Zipf 1.0, 30 % function words, 2–10 topics (Dirichlet 0.7), 20–30 % copied      exact 0.810
 *   short-12k     12k short documents (log-normal, median 70), Zipf 0.8, 1–6 topics, 30–45 % copied exact 0.760
 *   zipf-steep    Zipf 1.2, 40 % function words, 1–3 topics (geometric 0.4), 30–40 % copied   exact 0.810
 *   many-topics   Zipf 0.5, 6–10 topics (Dirichlet 1), lengths 120–300, 40–60 % copied              exact 0.840
 *   single-topic  Zipf 0.3, one topic per document, lengths 30–300, 50–75 % copied                  exact 0.860
 *   uneven-tail   Zipf 0.9, 2–5 topics (Dirichlet 0.3), log-normal lengths, 25–50 % copied          exact 0.800
 * drawn-<seed> (any integer seed): a model whose parameters are drawn from the seed over the issue's ranges, for
 * held-out checks (bench/data-models.ts `drawnPreset`); `--list --drawn 1,2` prints drawn models too.
 * <name>-d<dim> (e.g. short-12k-d96, drawn-7-d64): any of these in another dimension, for checkpoints that project to
 * other than 128; <name>-q<len> (zipf-quarter-q64): with queries of another length; <name>-l<max> (zipf-quarter-l40): with
 * documents scaled to at most max tokens; <name>-o<percent> (zipf-quarter-o25): chunks overlapping their predecessor. They
 * combine (short-12k-d96-q64).
 * A preset's data are fixed by its seed; overriding --docs/--queries/--seed/--*-noise gives another set (the exact
 * figure no longer applies).
 */
import { parseArgs } from 'node:util'
import { PRESETS, findPreset, writeGeneratedSet, type DataModel } from './data-models.js'

const HELP = `usage: npm run bench:gen -- --preset NAME --out DIR [--docs N] [--queries Q] [--seed S] [--query-noise X]
       npm run bench:gen -- --list
       npm run bench:gen -- --docs N --out DIR [--seed 1] [--dim 128] [--queries 500] [--query-len 32]
         [--topic-noise 0.2] [--token-noise 0.7] [--query-noise 1.6] [--min-len 60] [--max-len 300]   (original uniform model)
presets: ${PRESETS.map((p) => p.name).join(', ')}, drawn-<seed> (parameters drawn from the seed: held-out data),
  <name>-d<dim> (the same model in dimension dim, a multiple of 8: short-12k-d96), <name>-q<len> (queries of len tokens), <name>-l<max> (documents of at most max tokens),
  <name>-o<percent> (each chunk repeating the end of the previous one)`

function describe(model: DataModel): string {
  const spread = model.dimensionSpread === undefined || model.dimensionSpread === 1 ? '' : `, dimension spread ${model.dimensionSpread}`
  return describeModel(model) + spread
}

function describeModel(model: DataModel): string {
  if (model.kind === 'uniform') {
    return `uniform topics, 1-4 per doc, lengths ${model.minLen}-${model.maxLen}, 12-24/${model.queryLen} query tokens copied, ` +
      `noise topic ${model.topicNoise} token ${model.tokenNoise} query ${model.queryNoise}`
  }
  const len = model.lengths.kind === 'uniform' ? `uniform ${model.lengths.min}-${model.lengths.max}`
    : `lognormal median ${model.lengths.median} sigma ${model.lengths.sigma} in ${model.lengths.min}-${model.lengths.max}`
  const w = model.weights.kind === 'uniform' ? 'equal' : model.weights.kind === 'geometric' ? `geometric ${model.weights.ratio}` : `dirichlet ${model.weights.alpha}`
  return `zipf ${model.zipf}, ${model.topicsPerDoc[0]}-${model.topicsPerDoc[1]} topics/doc (${w}), lengths ${len}, ` +
    `query share ${model.queryShare[0]}-${model.queryShare[1]} noise ${model.queryNoise}, distractors zipf ${model.distractorZipf}, ` +
    `function words ${model.background}, noise topic ${model.topicNoise} doc-topic ${model.docTopicNoise ?? model.topicNoise} token ${model.tokenNoise}`
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      preset: { type: 'string' }, list: { type: 'boolean' },
      docs: { type: 'string' }, out: { type: 'string' }, seed: { type: 'string' }, dim: { type: 'string' },
      queries: { type: 'string' }, 'query-len': { type: 'string' },
      'topic-noise': { type: 'string' }, 'token-noise': { type: 'string' },
      'query-noise': { type: 'string' }, 'min-len': { type: 'string' }, 'max-len': { type: 'string' },
      drawn: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) {
    console.log(HELP)
    return 0
  }
  if (values.list) {
    const drawn = (values.drawn ?? '').split(',').filter((x) => x.trim() !== '').map((x) => findPreset(`drawn-${x.trim()}`))
    for (const p of [...PRESETS, ...drawn]) {
      const exact = p.exactSuccessAt10 === undefined ? 'not measured' : `${p.exactSuccessAt10.value.toFixed(3)} (${p.exactSuccessAt10.queries} queries)`
      console.log(`${p.name.padEnd(13)} seed ${p.seed}, ${p.model.docs} docs, ${p.model.queries} queries; exact MaxSim success@10 ${exact}\n  ${p.about}\n  ${describe(p.model)}`)
    }
    return 0
  }
  if (values.out === undefined || (values.preset === undefined && values.docs === undefined)) {
    console.error(HELP)
    return 2
  }
  const num = (name: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined
    const x = Number(v)
    if (!Number.isFinite(x) || x < 0) throw new Error(`--${name} must be a non-negative number`)
    return x
  }
  const int = (name: string, v: string | undefined): number | undefined => {
    const x = num(name, v)
    if (x !== undefined && !Number.isInteger(x)) throw new Error(`--${name} must be an integer`)
    return x
  }
  const preset = values.preset === undefined ? undefined : findPreset(values.preset)
  const legacy: DataModel = {
    kind: 'uniform', docs: 10000, dim: 128, queries: 500, queryLen: 32, topicNoise: 0.2, tokenNoise: 0.7, queryNoise: 1.6, minLen: 60, maxLen: 300,
  }
  const model: DataModel = { ...(preset?.model ?? legacy) }
  model.docs = int('docs', values.docs) ?? model.docs
  model.dim = int('dim', values.dim) ?? model.dim
  model.queries = int('queries', values.queries) ?? model.queries
  model.queryLen = int('query-len', values['query-len']) ?? model.queryLen
  model.topicNoise = num('topic-noise', values['topic-noise']) ?? model.topicNoise
  model.tokenNoise = num('token-noise', values['token-noise']) ?? model.tokenNoise
  model.queryNoise = num('query-noise', values['query-noise']) ?? model.queryNoise
  if (model.kind === 'uniform') {
    model.minLen = int('min-len', values['min-len']) ?? model.minLen
    model.maxLen = int('max-len', values['max-len']) ?? model.maxLen
  } else if (values['min-len'] !== undefined || values['max-len'] !== undefined) {
    model.lengths = { ...model.lengths, min: int('min-len', values['min-len']) ?? model.lengths.min, max: int('max-len', values['max-len']) ?? model.lengths.max }
  }
  const seed = int('seed', values.seed) ?? preset?.seed ?? 1
  const r = await writeGeneratedSet(values.out, model, seed)
  console.log(`wrote ${values.out}: ${preset === undefined ? '' : `preset ${preset.name}, `}${r.docs} documents, ${r.vectors} vectors (dim ${model.dim}), ` +
    `${r.queries} queries × ${model.queryLen}, ${r.topics} topics, in ${r.seconds.toFixed(1)} s`)
  return 0
}

process.exitCode = await main(process.argv.slice(2))
