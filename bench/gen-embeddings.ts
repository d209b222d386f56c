/**
 * Synthetic embedding-set generator for the index bench (format: src/index/embedding-set.ts).
 *
 *   npm run bench:gen -- --docs N --out DIR [--seed S] [--dim 128] [--queries Q] [--query-len 32]
 *
 * Model of the data (ColBERT-like: token vectors cluster by meaning, documents mix a few meanings):
 * - `topics` unit centres uniform on the sphere (one per 10 documents, at least 64);
 * - each document picks 1–4 topics and, per topic, its own sub-centre = normalize(topic + subNoise·g);
 * - each token = normalize(sub-centre + tokenNoise·g), lengths uniform in 60..300;
 * - a query for target document d: 12–24 tokens = normalize(a token of d + queryNoise·g), the rest tokens of random
 *   topics (off-target words), 32 in all; qrels = d.
 * g is a Gaussian with E‖g‖² = 1. The noises are tuned so that exact MaxSim success@10 is high but not 1 (0.970 on all
 * 500 queries of the 10k-document seed-1 set; the reference's exact figure on its set was 0.95), i.e. the task is hard
 * enough to tell indexes apart: a query shares only noisy tokens with its target, and documents of one topic share
 * most of their structure.
 */
import { parseArgs } from 'node:util'
import { writeEmbeddingSet } from '../src/index/embedding-set.js'

const HELP = `usage: npm run bench:gen -- --docs N --out DIR [--seed S] [--dim 128] [--queries 500] [--query-len 32]
  [--topic-noise 0.2] [--token-noise 0.7] [--query-noise 1.6] [--min-len 60] [--max-len 300]`

/** Seeded uniform [0,1) stream (Mulberry32) plus Box–Muller normals. */
function createRandom(seed: number): { uniform(): number; int(n: number): number; normal(): number } {
  let state = (seed ^ 0x9e3779b9) >>> 0
  const uniform = (): number => {
    state = (state + 0x6d2b79f5) | 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  let spare = Number.NaN
  const normal = (): number => {
    if (!Number.isNaN(spare)) {
      const s = spare
      spare = Number.NaN
      return s
    }
    const u = 1 - uniform()
    const v = uniform()
    const r = Math.sqrt(-2 * Math.log(u))
    spare = r * Math.sin(2 * Math.PI * v)
    return r * Math.cos(2 * Math.PI * v)
  }
  return { uniform, int: (n) => Math.floor(uniform() * n), normal }
}

type Random = ReturnType<typeof createRandom>

/** out[o..o+dim) = normalize(base[b..b+dim) + noise·g), g ~ N(0, I/dim). */
function noisyUnit(out: Float32Array, o: number, base: Float32Array, b: number, dim: number, noise: number, rnd: Random): void {
  const s = noise / Math.sqrt(dim)
  let norm = 0
  for (let i = 0; i < dim; i++) {
    const v = base[b + i] + s * rnd.normal()
    out[o + i] = v
    norm += v * v
  }
  const inv = 1 / Math.sqrt(norm)
  for (let i = 0; i < dim; i++) out[o + i] *= inv
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      docs: { type: 'string' }, out: { type: 'string' }, seed: { type: 'string', default: '1' }, dim: { type: 'string', default: '128' },
      queries: { type: 'string', default: '500' }, 'query-len': { type: 'string', default: '32' },
      'topic-noise': { type: 'string', default: '0.2' }, 'token-noise': { type: 'string', default: '0.7' },
      'query-noise': { type: 'string', default: '1.6' }, 'min-len': { type: 'string', default: '60' }, 'max-len': { type: 'string', default: '300' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) {
    console.log(HELP)
    return 0
  }
  if (values.docs === undefined || values.out === undefined) {
    console.error(HELP)
    return 2
  }
  const nDocs = Number(values.docs)
  const dim = Number(values.dim)
  const nQueries = Number(values.queries)
  const queryLen = Number(values['query-len'])
  const [topicNoise, tokenNoise, queryNoise] = [values['topic-noise'], values['token-noise'], values['query-noise']].map(Number)
  const minLen = Number(values['min-len'])
  const maxLen = Number(values['max-len'])
  for (const [k, v] of Object.entries({ nDocs, dim, nQueries, queryLen, minLen, maxLen })) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`--${k} must be a non-negative integer`)
  }
  const rnd = createRandom(Number(values.seed))
  const started = performance.now()

  const nTopics = Math.max(64, Math.round(nDocs / 10))
  const topics = new Float32Array(nTopics * dim)
  const zero = new Float32Array(dim)
  for (let t = 0; t < nTopics; t++) noisyUnit(topics, t * dim, zero, 0, dim, Math.sqrt(dim), rnd)

  const doclens = new Int32Array(nDocs)
  for (let d = 0; d < nDocs; d++) doclens[d] = minLen + rnd.int(maxLen - minLen + 1)

  // Queries are built while their target document is generated, so no document needs to stay in memory.
  const qrels = new Int32Array(nQueries)
  for (let q = 0; q < nQueries; q++) qrels[q] = rnd.int(nDocs)
  const queriesOf = new Map<number, number[]>()
  qrels.forEach((d, q) => queriesOf.set(d, [...(queriesOf.get(d) ?? []), q]))
  const queries = new Float32Array(nQueries * queryLen * dim)
  const randomToken = new Float32Array(dim)

  function* documents(): Generator<Float32Array> {
    const subs = new Float32Array(4 * dim)
    for (let d = 0; d < nDocs; d++) {
      const nSub = 1 + rnd.int(4)
      for (let s = 0; s < nSub; s++) noisyUnit(subs, s * dim, topics, rnd.int(nTopics) * dim, dim, topicNoise, rnd)
      const len = doclens[d]
      const vecs = new Float32Array(len * dim)
      for (let i = 0; i < len; i++) noisyUnit(vecs, i * dim, subs, rnd.int(nSub) * dim, dim, tokenNoise, rnd)
      for (const q of queriesOf.get(d) ?? []) {
        const fromTarget = 12 + rnd.int(13)
        for (let j = 0; j < queryLen; j++) {
          const o = (q * queryLen + j) * dim
          if (j < fromTarget) {
            noisyUnit(queries, o, vecs, rnd.int(len) * dim, dim, queryNoise, rnd)
          } else {
            noisyUnit(randomToken, 0, topics, rnd.int(nTopics) * dim, dim, topicNoise, rnd)
            noisyUnit(queries, o, randomToken, 0, dim, tokenNoise, rnd)
          }
        }
      }
      yield vecs
    }
  }

  await writeEmbeddingSet(values.out, { dim, doclens, docs: documents(), queryLen, queries, qrels })
  const nTokens = doclens.reduce((s, x) => s + x, 0)
  console.log(`wrote ${values.out}: ${nDocs} documents, ${nTokens} vectors (dim ${dim}), ${nQueries} queries × ${queryLen}, ` +
    `${nTopics} topics, in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  return 0
}

process.exitCode = await main(process.argv.slice(2))
