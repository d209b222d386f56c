/**
 * An embedding set from real text: a retrieval data set's passages and questions through the service's own tokenizer
 * and encoder (MeCab, WordPiece, [MASK]-padded 32-token queries, punctuation dropped from documents), written in the
 * layout bench:index and bench:matrix read (src/index/embedding-set.ts), with each question's passage as its target.
 *
 *   npm run bench:encode-set -- --out DIR (--model DIR | --random bert-init|lexical [--seed N] [--position-scale F]
 *                               [--layer-scale F]) [--data PATH]
 *                               [--format squad|beir] [--queries N] [--dic DIR] [--threads N]
 *   npm run bench:matrix -- --presets set:DIR …
 *
 * --data: a SQuAD-layout JSON file (default: JSQuAD's validation set in ../shared/fixtures), or with --format beir a
 * BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv; a query's target is its first relevant document, the
 * matrix scoring one target a query); --queries: the first N questions (default all). The bench's generators (bench/data-models.ts) draw vectors from models of our own; this
 * set's token statistics are those of real Japanese text (particles and common nouns in every passage, questions
 * sharing words with their passage), so an index built on it meets the skew the generators only imitate.
 *
 * --random makes a BERT-base-shaped checkpoint with random weights (12 layers, hidden 768, dim 128, the real
 * vocabulary; written beside DIR, named by the recipe) instead of reading one, since no trained weights are reachable here:
 *   bert-init  weights N(0, 0.02), as BERT starts training: every vector shares one direction (mean cosine ~0.6
 *              between vectors of different texts) and MaxSim separates the passages by little;
 *   lexical    the same with position and segment embeddings ×0.15 and each layer's output projections ×0.5: a
 *              vector is mostly its token's, so MaxSim behaves like word matching, as trained ColBERT models largely do;
 *              --position-scale and --layer-scale set the two factors (1 and 1: bert-init).
 * With random weights the vectors mean nothing: the targets say little of retrieval quality, but exact MaxSim over the
 * set is the reference the index must follow, whatever the model.
 */
import { existsSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { openEncoder } from '../src/cli/encoder-flags.js'
import { readEvalDataset } from '../src/eval/datasets.js'
import { writeEmbeddingSet } from '../src/index/embedding-set.js'
import { BERT_BASE_SHAPE, makeRandomCheckpoint } from '../test/helpers/make-checkpoint.js'
import { IPADIC_DIR, JSQUAD_PATH, VOCAB_PATH } from '../test/helpers/shared.js'

const USAGE = 'usage: npm run bench:encode-set -- --out DIR (--model DIR | --random bert-init|lexical [--seed N] [--position-scale F] [--layer-scale F]) [--data PATH] [--format squad|beir] [--queries N] [--dic DIR] [--threads N] [--batch N]'
const { values } = parseArgs({
  options: {
    model: { type: 'string' }, random: { type: 'string' }, seed: { type: 'string', default: '2025' }, out: { type: 'string' }, data: { type: 'string' }, format: { type: 'string', default: 'squad' },
    'position-scale': { type: 'string', default: '0.15' }, 'layer-scale': { type: 'string', default: '0.5' },
    queries: { type: 'string' }, dic: { type: 'string' }, threads: { type: 'string' }, batch: { type: 'string', default: '32' },
  },
})
function fail(msg: string): never {
  console.error(msg)
  process.exit(2)
}
if (values.out === undefined || (values.model === undefined) === (values.random === undefined)) fail(USAGE)
if (values.random !== undefined && values.random !== 'bert-init' && values.random !== 'lexical') fail(`--random must be bert-init or lexical\n${USAGE}`)
if (values.format !== 'squad' && values.format !== 'beir') fail(`--format must be squad or beir\n${USAGE}`)
const data = values.data ?? JSQUAD_PATH
if (!existsSync(data)) fail(`bench:encode-set: ${data} does not exist (pass --data PATH: a SQuAD-layout JSON file, or a BEIR folder with --format beir)`)
const log = (s: string): void => void process.stderr.write(`${s}\n`)

/** The --random checkpoint (see the header), made once: the same recipe and seed give the same weights. */
async function randomModel(kind: 'bert-init' | 'lexical', seed: number, dir: string, positionScale: number, layerScale: number): Promise<string> {
  if (existsSync(`${dir}/model.safetensors`)) return dir
  log(`making a random ${kind} checkpoint (seed ${seed}${kind === 'lexical' ? `, positions ×${positionScale}, layer outputs ×${layerScale}` : ''}) in ${dir} …`)
  const lexical = kind === 'lexical'
  return makeRandomCheckpoint(dir, {
    ...BERT_BASE_SHAPE, dtype: 'F32', seed,
    std: 0.002, docMaxlen: 300, queryMaxlen: 32, ...(existsSync(VOCAB_PATH) ? { vocabPath: VOCAB_PATH } : {}),
    ...(lexical
      ? {
        transform: (name: string, w: Float32Array) => {
          const f = /embeddings\.(position|token_type)_embeddings/.test(name) ? positionScale : /output\.dense\.weight$/.test(name) ? layerScale : 1
          if (f !== 1) for (let i = 0; i < w.length; i++) w[i] *= f
          return w
        },
      }
      : {}),
  })
}

const scales = [Number(values['position-scale']), Number(values['layer-scale'])]
if (scales.some((x) => !(x > 0))) fail('--position-scale and --layer-scale must be positive numbers')
const recipe = values.random === 'lexical' ? `lexical-s${values.seed}-p${scales[0]}-l${scales[1]}` : `${values.random}-s${values.seed}`
// named by its recipe: a checkpoint made for other settings is never taken for this one
const modelDir = values.model ?? await randomModel(values.random as 'bert-init' | 'lexical', Number(values.seed), `${values.out}.model-${recipe}`, scales[0], scales[1])
const ds = await readEvalDataset({ format: values.format as 'squad' | 'beir', path: data })
const docIds = [...ds.docs.keys()]
const docIndex = new Map(docIds.map((id, i) => [id, i]))
/** a question's target: the first of its relevant passages (gain > 0) in the corpus (SQuAD gives each question one) */
const targetOf = (id: string): number | undefined => {
  for (const [d, gain] of ds.qrels.get(id) ?? []) if (gain > 0 && docIndex.has(d)) return docIndex.get(d)
  return undefined
}
const withTarget = ds.queries.filter((q) => targetOf(q.id) !== undefined)
const queries = withTarget.slice(0, values.queries === undefined ? withTarget.length : Number(values.queries))

const encoder = await openEncoder('bench:encode-set', modelDir, { dic: values.dic ?? process.env.MECAB_DICDIR ?? IPADIC_DIR, threads: values.threads }, 1 << 16)
if (typeof encoder === 'string') fail(encoder)
const { dim } = encoder
const batch = Number(values.batch)
const t0 = performance.now()
const seconds = (): string => ((performance.now() - t0) / 1000).toFixed(0)
const doclens = new Int32Array(docIds.length)
const chunks: Float32Array[] = []
for (let i = 0; i < docIds.length; i += batch) {
  const out = await encoder.encodeDocuments(docIds.slice(i, i + batch).map((id) => ds.docs.get(id)!))
  out.forEach((e, j) => {
    doclens[i + j] = e.n
    chunks.push(e.vectors.slice(0, e.n * dim))
  })
  if ((i / batch) % 8 === 0) log(`documents ${Math.min(i + batch, docIds.length)} / ${docIds.length} (${seconds()} s)`)
}
const queryLen = encoder.settings.queryMaxlen
const qv = new Float32Array(queries.length * queryLen * dim)
const qrels = new Int32Array(queries.length)
for (let i = 0; i < queries.length; i += batch) {
  const out = await encoder.encodeQueries(queries.slice(i, i + batch).map((q) => q.text))
  out.forEach((e, j) => {
    if (e.n !== queryLen) throw new Error(`query ${queries[i + j].id}: ${e.n} vectors, expected ${queryLen}`)
    qv.set(e.vectors.subarray(0, queryLen * dim), (i + j) * queryLen * dim)
    qrels[i + j] = targetOf(queries[i + j].id)!
  })
}
await encoder.close()
await writeEmbeddingSet(values.out!, { dim, doclens, docs: chunks, queryLen, queries: qv, qrels })
const vectors = doclens.reduce((a, b) => a + b, 0)
log(`${values.out}: ${docIds.length} documents, ${vectors} vectors (${(vectors / docIds.length).toFixed(1)} a document), ` +
  `${queries.length} queries of ${queryLen}, dim ${dim}; ${seconds()} s`)
