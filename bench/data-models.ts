/**
 * Synthetic ColBERT-like embedding sets for the index bench: a family of data models and named presets
 * (format on disk: src/index/embedding-set.ts; CLI: bench/gen-embeddings.ts; measured table: BENCHMARKS.md
 * "Index quality matrix (issue 9)").
 *
 * Two models:
 * - `uniform` (the original bench:gen model, kept bit-identical so that old figures stay comparable): topics uniform on
 *   the sphere and equally popular, 1–4 topics per document with equal weights, lengths uniform 60..300, 12–24 of the
 *   32 query tokens noisy copies of target tokens, the rest tokens of random topics.
 * - `mixture`: what real Japanese ColBERT data looks like and the defaults were not tuned on —
 *   · topic popularity is Zipf(s) over the topics (s up to 1.2: a few topics — particles, punctuation — are in most
 *     documents, so a few IVF lists are huge);
 *   · a share `background` of each document's tokens are function words: per token a topic drawn by popularity and a
 *     token normalize(normalize(topic + topicNoise·g) + tokenNoise·g), the same kind in every document;
 *   · the rest: a document draws 1…10 distinct topics by popularity and uneven mixture weights (geometric or Dirichlet), each
 *     token's topic drawn by weight; per (document, topic) a sub-centre normalize(topic + topicNoise·g); each token
 *     normalize(sub-centre + tokenNoise·g); lengths uniform or log-normal, clipped to [min, max];
 *   · a query for target d: a share (uniform in [lo, hi]) of its 32 tokens are noisy copies (queryNoise) of distinct
 *     target tokens; the rest are distractors, tokens of topics drawn by Zipf(distractorZipf) popularity — mostly the
 *     popular, generic topics, as ColBERT's [MASK]-padding positions are.
 *   Documents use one random stream and queries another, so changing a query parameter leaves the documents unchanged.
 * g is a Gaussian with E‖g‖² = 1. The query noise of each preset is set so that exact MaxSim success@10 (brute force,
 * all vectors) lands in 0.75…0.97: hard enough to tell indexes apart, never trivial. It was set against exact MaxSim
 * only — never against any index's result.
 */
import { writeEmbeddingSet } from '../src/index/embedding-set.js'
import {
  createRandom, createZipf, drawIndex, drawLength, mixtureWeights, noisyUnit, type LengthDistribution, type MixtureWeights, type Random,
} from './data-random.js'

/**
 * Optional for both models: every vector (documents and queries) is scaled per dimension by s_d = spread^(u_d − 1/2),
 * u_d uniform in [0, 1) from a stream of its own, then renormalised. Learned projections (ColBERT's 768→128 layer)
 * rarely give every output dimension the same spread; the other presets are isotropic. Absent or 1: unchanged.
 */
interface DimensionSpread {
  /** max/min ratio of the per-dimension scales */
  dimensionSpread?: number
}

export interface UniformModel extends DimensionSpread {
  kind: 'uniform'
  docs: number; dim: number; queries: number; queryLen: number
  topicNoise: number; tokenNoise: number; queryNoise: number; minLen: number; maxLen: number
}

export interface MixtureModel extends DimensionSpread {
  kind: 'mixture'
  docs: number; dim: number; queries: number; queryLen: number
  /** topics = max(64, round(docs / docsPerTopic)) */
  docsPerTopic: number
  /** Zipf exponent of topic popularity (0 = all topics equally popular) */
  zipf: number
  /** topics per document, uniform integer in [min, max] */
  topicsPerDoc: [number, number]
  weights: MixtureWeights
  topicNoise: number
  /** spread of a document's own sub-centre around its topic (default topicNoise) */
  docTopicNoise?: number
  tokenNoise: number
  lengths: LengthDistribution
  /** share of the query's tokens copied (noisily) from the target, uniform in [lo, hi] */
  queryShare: [number, number]
  queryNoise: number
  /** Zipf exponent of the distractor tokens' topic popularity */
  distractorZipf: number
  /**
   * share of each document's tokens that are "function words": topic drawn per token by popularity, no per-document
   * sub-centre (the same particles and punctuation in every text); 0 = none
   */
  background: number
  /**
   * share of each document's first tokens that repeat the previous document's last ones (a text chunked in overlapping
   * windows, the usual way RAG corpora are cut), each copy drawn near its original (OVERLAP_NOISE: the context
   * around a repeated token differs). Queries are drawn after the overlap, so a query may copy a repeated token.
   * Absent or 0: none.
   */
  overlap?: number
}

/** Noise of a repeated token around its original in the previous chunk (cosine ≈ 0.98). */
const OVERLAP_NOISE = 0.2

export type DataModel = UniformModel | MixtureModel

export interface Preset {
  name: string
  /** one line: what the preset models */
  about: string
  seed: number
  model: DataModel
  /** exact MaxSim success@10 measured on the preset's 10k/12k set (all its queries), once measured */
  exactSuccessAt10?: { value: number; queries: number }
}

const LEGACY: UniformModel = {
  kind: 'uniform', docs: 10000, dim: 128, queries: 500, queryLen: 32, topicNoise: 0.2, tokenNoise: 0.7, queryNoise: 1.6, minLen: 60, maxLen: 300,
}

const base = { dim: 128, queries: 500, queryLen: 32, docsPerTopic: 10, topicNoise: 0.2, tokenNoise: 0.7 }

/** The named presets. Edit a preset and its data set changes: record the new exact figure (BENCHMARKS.md). */
export const PRESETS: Preset[] = [
  {
    name: 'uniform', about: 'the original bench:gen set: equally popular topics, 1-4 per document, 12-24 of 32 query tokens from the target',
    seed: 1, model: LEGACY, exactSuccessAt10: { value: 0.970, queries: 500 },
  },
  {
    name: 'zipf-quarter', about: "the issue's first independent set: Zipf 1.0, 30 % function words, 2-10 topics (Dirichlet 0.7), 20-30 % of the query from the target",
    seed: 11, exactSuccessAt10: { value: 0.810, queries: 100 },
    model: {
      kind: 'mixture', ...base, docs: 10000, zipf: 1.0, topicsPerDoc: [2, 10], weights: { kind: 'dirichlet', alpha: 0.7 },
      lengths: { kind: 'uniform', min: 60, max: 300 }, queryShare: [0.2, 0.3], queryNoise: 0.45, distractorZipf: 1.0, background: 0.3, docTopicNoise: 0.8,
    },
  },
  {
    name: 'short-12k', about: "the issue's second set: 12k short documents (log-normal, median 70), Zipf 0.8, 1-6 topics (geometric), 30-45 % copied",
    seed: 12, exactSuccessAt10: { value: 0.760, queries: 100 },
    model: {
      kind: 'mixture', ...base, docs: 12000, zipf: 0.8, topicsPerDoc: [1, 6], weights: { kind: 'geometric', ratio: 0.5 },
      lengths: { kind: 'lognormal', min: 30, max: 160, median: 70, sigma: 0.5 }, queryShare: [0.3, 0.45], queryNoise: 1.2, distractorZipf: 1.0, background: 0.2, docTopicNoise: 0.5,
    },
  },
  {
    name: 'zipf-steep', about: 'strongest skew: Zipf 1.2, 40 % function words, 1-3 topics with a dominant one, 30-40 % copied, distractors Zipf 1.2',
    seed: 13, exactSuccessAt10: { value: 0.810, queries: 100 },
    model: {
      kind: 'mixture', ...base, docs: 10000, zipf: 1.2, topicsPerDoc: [1, 3], weights: { kind: 'geometric', ratio: 0.4 },
      lengths: { kind: 'lognormal', min: 30, max: 300, median: 140, sigma: 0.6 }, queryShare: [0.3, 0.4], queryNoise: 0.7, distractorZipf: 1.2, background: 0.4, docTopicNoise: 0.8,
    },
  },
  {
    name: 'many-topics', about: 'mild skew (Zipf 0.5), 6-10 topics per long document (Dirichlet 1), 40-60 % copied with strong noise',
    seed: 14, exactSuccessAt10: { value: 0.840, queries: 100 },
    model: {
      kind: 'mixture', ...base, docs: 10000, zipf: 0.5, topicsPerDoc: [6, 10], weights: { kind: 'dirichlet', alpha: 1.0 },
      lengths: { kind: 'uniform', min: 120, max: 300 }, queryShare: [0.4, 0.6], queryNoise: 2.0, distractorZipf: 0.8, background: 0.2, docTopicNoise: 0.3,
    },
  },
  {
    name: 'single-topic', about: 'one topic per document (Zipf 0.3), lengths 30-300, 50-75 % copied with strong noise',
    seed: 15, exactSuccessAt10: { value: 0.860, queries: 100 },
    model: {
      kind: 'mixture', ...base, docs: 10000, zipf: 0.3, topicsPerDoc: [1, 1], weights: { kind: 'uniform' },
      lengths: { kind: 'uniform', min: 30, max: 300 }, queryShare: [0.5, 0.75], queryNoise: 2.6, distractorZipf: 0.6, background: 0.25, docTopicNoise: 0.35,
    },
  },
  {
    name: 'uneven-dims', about: 'short-12k with dimensions of uneven spread (per-dimension scales, max/min 4): a learned projection\'s output',
    seed: 12, exactSuccessAt10: { value: 0.760, queries: 100 },
    model: {
      kind: 'mixture', ...base, docs: 12000, zipf: 0.8, topicsPerDoc: [1, 6], weights: { kind: 'geometric', ratio: 0.5 },
      lengths: { kind: 'lognormal', min: 30, max: 160, median: 70, sigma: 0.5 }, queryShare: [0.3, 0.45], queryNoise: 1.2, distractorZipf: 1.0, background: 0.2, docTopicNoise: 0.5,
      dimensionSpread: 4,
    },
  },
  {
    name: 'uneven-tail', about: 'Zipf 0.9, 2-5 topics (Dirichlet 0.3: one dominates), log-normal lengths 30-300, 25-50 % copied, distractors Zipf 1.2',
    seed: 16, exactSuccessAt10: { value: 0.800, queries: 100 },
    model: {
      kind: 'mixture', ...base, docs: 10000, zipf: 0.9, topicsPerDoc: [2, 5], weights: { kind: 'dirichlet', alpha: 0.3 },
      lengths: { kind: 'lognormal', min: 30, max: 300, median: 100, sigma: 0.8 }, queryShare: [0.25, 0.5], queryNoise: 0.6, distractorZipf: 1.2, background: 0.3, docTopicNoise: 0.7,
    },
  },
]

export function findPreset(name: string): Preset {
  const p = PRESETS.find((x) => x.name === name)
  if (p !== undefined) return p
  const drawn = /^drawn-(\d{1,9})$/.exec(name)
  if (drawn !== null) return drawnPreset(Number(drawn[1]))
  // `<preset>-d<dim>`: the same model in another dimension (a checkpoint projecting to 96 or 64, not 128);
  // `<preset>-q<len>`: queries of another length (64: the dynamic query length of a long query);
  // `<preset>-l<max>`: documents scaled to at most max tokens (short passages, titles, FAQ entries), the same shape;
  // `<preset>-o<percent>`: chunks overlapping their predecessor by that share of their tokens (mixture models)
  const other = /^(.+)-([dqlo])(\d{1,4})$/.exec(name)
  if (other !== null) {
    const n = Number(other[3])
    const { exactSuccessAt10: _measured, ...base } = findPreset(other[1])
    if (other[2] === 'd') {
      if (n < 8 || n % 8 !== 0) throw new Error(`${name}: the dimension must be a multiple of 8, at least 8`)
      return { ...base, name, about: `${base.about}; dimension ${n}`, model: { ...base.model, dim: n } }
    }
    if (other[2] === 'o') {
      if (base.model.kind !== 'mixture') throw new Error(`${name}: overlap needs a mixture preset`)
      if (n < 1 || n > 90) throw new Error(`${name}: the overlap must be 1 to 90 percent`)
      return { ...base, name, about: `${base.about}; chunks overlapping by ${n} %`, model: { ...base.model, overlap: n / 100 } }
    }
    if (other[2] === 'l') {
      if (n < 2 || n > 4096) throw new Error(`${name}: the longest document must be 2 to 4096 tokens`)
      return { ...base, name, about: `${base.about}; documents of at most ${n} tokens`, model: scaledLengths(base.model, n) }
    }
    if (n < 1 || n > 512) throw new Error(`${name}: the query length must be 1 to 512`)
    return { ...base, name, about: `${base.about}; queries of ${n} tokens`, model: { ...base.model, queryLen: n } }
  }
  throw new Error(`unknown preset ${name} (known: ${PRESETS.map((x) => x.name).join(', ')}, or drawn-<seed>)`)
}

/** The model with every document length scaled by max / (its longest): minimum (at least 1) and median alike. */
function scaledLengths(model: DataModel, max: number): DataModel {
  const oldMax = model.kind === 'uniform' ? model.maxLen : model.lengths.max
  const scale = (x: number): number => Math.max(1, Math.min(max, Math.round(x * max / oldMax)))
  if (model.kind === 'uniform') return { ...model, minLen: scale(model.minLen), maxLen: max }
  const l = model.lengths
  return { ...model, lengths: l.kind === 'uniform' ? { ...l, min: scale(l.min), max } : { ...l, min: scale(l.min), max, median: scale(l.median) } }
}

/**
 * `drawn-<seed>`: a mixture model whose parameters are themselves drawn from the seed, uniformly over the ranges the
 * issue names (Zipf 0…1.2, 1…10 topics per document with uneven weights, 20…75 % of the query from the target,
 * lengths 30…300, function words, dimension spread). None of these models existed when the engine's defaults were
 * chosen: a drawn seed is held-out data, to be measured once and reported as it comes out.
 *
 * The query noise grows with the share copied from the target, as in the named presets (where it was set against
 * exact MaxSim only), times a random factor: without it a query copying 70 % of its target would make every engine
 * look perfect. The exact MaxSim figure of a drawn model is whatever it is; it is measured, not aimed at.
 */
export function drawnPreset(seed: number): Preset {
  const rnd = createRandom(0x5eed0000 + seed)
  const between = (lo: number, hi: number): number => lo + (hi - lo) * rnd.uniform()
  const round = (x: number, step: number): number => Number((Math.round(x / step) * step).toFixed(2))
  const zipf = round(between(0, 1.2), 0.05)
  const maxTopics = 1 + rnd.int(10)
  const minTopics = 1 + rnd.int(maxTopics)
  const weights: MixtureWeights = rnd.uniform() < 0.5
    ? { kind: 'geometric', ratio: round(between(0.3, 0.8), 0.05) }
    : { kind: 'dirichlet', alpha: round(between(0.2, 1.2), 0.05) }
  const lo = 30 + rnd.int(91)
  const hi = Math.min(300, lo + 60 + rnd.int(241))
  const lengths: LengthDistribution = rnd.uniform() < 0.5
    ? { kind: 'uniform', min: lo, max: hi }
    : { kind: 'lognormal', min: lo, max: hi, median: Math.round(between(lo, (lo + hi) / 2)), sigma: round(between(0.4, 0.9), 0.05) }
  const shareLo = round(between(0.2, 0.6), 0.05)
  const shareHi = Math.min(0.75, round(shareLo + between(0.05, 0.25), 0.05))
  const queryNoise = round(Math.max(0.3, (4 * (shareLo + shareHi) / 2 - 0.6) * between(0.75, 1.25)), 0.05)
  const model: MixtureModel = {
    kind: 'mixture', ...base, docs: 10000, zipf, topicsPerDoc: [minTopics, maxTopics], weights, lengths,
    queryShare: [shareLo, shareHi], queryNoise, distractorZipf: round(between(0.5, 1.2), 0.05), background: round(between(0, 0.4), 0.05),
    docTopicNoise: round(between(0.3, 0.8), 0.05),
  }
  if (rnd.uniform() < 0.3) model.dimensionSpread = round(between(2, 4), 0.5)
  return { name: `drawn-${seed}`, about: 'parameters drawn from the seed over the issue\'s ranges (held-out data)', seed: 100 + seed, model }
}

/** A short stable description of a model + seed (used as a cache key: a changed preset never reuses old data). */
export function modelKey(model: DataModel, seed: number): string {
  const s = JSON.stringify({ ...model, seed })
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  return (h >>> 0).toString(16).padStart(8, '0')
}

export interface GeneratedSet {
  dim: number; doclens: Int32Array; docs: Iterable<Float32Array>; queryLen: number; queries: Float32Array; qrels: Int32Array
  topics: number
}

/** The original generator, random call for random call (its output files must stay bit-identical). */
function generateUniform(m: UniformModel, seed: number): GeneratedSet {
  const { docs: nDocs, dim, queries: nQueries, queryLen, topicNoise, tokenNoise, queryNoise, minLen, maxLen } = m
  const rnd = createRandom(seed)
  const nTopics = Math.max(64, Math.round(nDocs / 10))
  const topics = new Float32Array(nTopics * dim)
  const zero = new Float32Array(dim)
  for (let t = 0; t < nTopics; t++) noisyUnit(topics, t * dim, zero, 0, dim, Math.sqrt(dim), rnd)

  const doclens = new Int32Array(nDocs)
  for (let d = 0; d < nDocs; d++) doclens[d] = minLen + rnd.int(maxLen - minLen + 1)

  // Queries are built while their target document is generated, so no document needs to stay in memory.
  const qrels = new Int32Array(nQueries)
  for (let q = 0; q < nQueries; q++) qrels[q] = rnd.int(nDocs)
  const queriesOf = queriesByTarget(qrels)
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
  return { dim, doclens, docs: documents(), queryLen, queries, qrels, topics: nTopics }
}

function queriesByTarget(qrels: Int32Array): Map<number, number[]> {
  const out = new Map<number, number[]>()
  qrels.forEach((d, q) => out.set(d, [...(out.get(d) ?? []), q]))
  return out
}

function generateMixture(m: MixtureModel, seed: number): GeneratedSet {
  const { docs: nDocs, dim, queries: nQueries, queryLen, topicNoise, tokenNoise, queryNoise } = m
  // a document's own sub-centres spread by docTopicNoise (how distinct two documents on one topic are)
  const docTopicNoise = m.docTopicNoise ?? topicNoise
  const [tMin, tMax] = m.topicsPerDoc
  if (!(Number.isInteger(tMin) && Number.isInteger(tMax) && tMin >= 1 && tMax >= tMin)) throw new RangeError('topicsPerDoc must be integers 1 ≤ min ≤ max')
  const rnd = createRandom(seed)
  // queries have their own stream: changing a query parameter must not change the documents
  const qrnd = createRandom((seed ^ 0x5bd1e995) >>> 0)
  // and the overlap its own: without it the documents are the model's without overlap, token for token
  const orng = createRandom((seed ^ 0x0c3a5e17) >>> 0)
  const overlap = m.overlap ?? 0
  if (!(overlap >= 0 && overlap < 1)) throw new RangeError('overlap must be in [0, 1)')
  const nTopics = Math.max(64, Math.round(nDocs / m.docsPerTopic))
  if (tMax > nTopics) throw new RangeError('topicsPerDoc exceeds the number of topics')
  const topics = new Float32Array(nTopics * dim)
  const zero = new Float32Array(dim)
  for (let t = 0; t < nTopics; t++) noisyUnit(topics, t * dim, zero, 0, dim, Math.sqrt(dim), rnd)
  // topic index = popularity rank (the centres are i.i.d., so the order carries no other meaning)
  const popularity = createZipf(nTopics, m.zipf)
  const distractor = createZipf(nTopics, m.distractorZipf)

  const doclens = new Int32Array(nDocs)
  for (let d = 0; d < nDocs; d++) doclens[d] = drawLength(m.lengths, rnd)

  const qrels = new Int32Array(nQueries)
  for (let q = 0; q < nQueries; q++) qrels[q] = qrnd.int(nDocs)
  const queriesOf = queriesByTarget(qrels)
  const queries = new Float32Array(nQueries * queryLen * dim)
  const sub = new Float32Array(dim)

  const distinctTopics = (n: number, r: Random): number[] => {
    const chosen: number[] = []
    // rejection by popularity; after many misses (extreme skew) take the most popular unused topic
    for (let tries = 0; chosen.length < n;) {
      const t = tries < 64 * n ? popularity.sample(r) : firstUnused(chosen, nTopics)
      tries++
      if (!chosen.includes(t)) chosen.push(t)
    }
    return chosen
  }

  function* documents(): Generator<Float32Array> {
    const subs = new Float32Array(tMax * dim)
    const positions = new Int32Array(4096)
    // the previous document as generated (a consumer may change the yielded array in place)
    let prev = new Float32Array(0)
    for (let d = 0; d < nDocs; d++) {
      const nSub = tMin + rnd.int(tMax - tMin + 1)
      const chosen = distinctTopics(nSub, rnd)
      const w = mixtureWeights(nSub, m.weights, rnd)
      for (let s = 0; s < nSub; s++) noisyUnit(subs, s * dim, topics, chosen[s] * dim, dim, docTopicNoise, rnd)
      const len = doclens[d]
      const vecs = new Float32Array(len * dim)
      for (let i = 0; i < len; i++) {
        if (m.background > 0 && rnd.uniform() < m.background) {
          noisyUnit(sub, 0, topics, popularity.sample(rnd) * dim, dim, topicNoise, rnd)
          noisyUnit(vecs, i * dim, sub, 0, dim, tokenNoise, rnd)
        } else {
          noisyUnit(vecs, i * dim, subs, drawIndex(w, rnd) * dim, dim, tokenNoise, rnd)
        }
      }
      if (overlap > 0) {
        const prevLen = prev.length / dim
        const n = Math.min(prevLen, Math.round(overlap * len))
        for (let i = 0; i < n; i++) noisyUnit(vecs, i * dim, prev, (prevLen - n + i) * dim, dim, OVERLAP_NOISE, orng)
        prev = vecs.slice()
      }
      for (const q of queriesOf.get(d) ?? []) {
        const share = m.queryShare[0] + qrnd.uniform() * (m.queryShare[1] - m.queryShare[0])
        const fromTarget = Math.min(queryLen, Math.max(1, Math.round(share * queryLen)))
        // distinct target tokens (partial Fisher–Yates) while the document has enough; then with replacement
        const pl = Math.min(len, positions.length)
        for (let i = 0; i < pl; i++) positions[i] = i
        for (let j = 0; j < queryLen; j++) {
          const o = (q * queryLen + j) * dim
          if (j < fromTarget) {
            let p: number
            if (j < pl) {
              const k = j + qrnd.int(pl - j)
              p = positions[k]
              positions[k] = positions[j]
              positions[j] = p
            } else {
              p = qrnd.int(len)
            }
            noisyUnit(queries, o, vecs, p * dim, dim, queryNoise, qrnd)
          } else {
            noisyUnit(sub, 0, topics, distractor.sample(qrnd) * dim, dim, topicNoise, qrnd)
            noisyUnit(queries, o, sub, 0, dim, tokenNoise, qrnd)
          }
        }
      }
      yield vecs
    }
  }
  return { dim, doclens, docs: documents(), queryLen, queries, qrels, topics: nTopics }
}

function firstUnused(chosen: number[], n: number): number {
  for (let t = 0; t < n; t++) if (!chosen.includes(t)) return t
  throw new RangeError('no unused topic')
}

/** The set of `model` with `seed`; documents are produced lazily (iterate `docs` once, in order). */
export function generate(model: DataModel, seed: number): GeneratedSet {
  for (const [k, v] of Object.entries({ docs: model.docs, dim: model.dim, queries: model.queries, queryLen: model.queryLen })) {
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`${k} must be a non-negative integer`)
  }
  const set = model.kind === 'uniform' ? generateUniform(model, seed) : generateMixture(model, seed)
  const spread = model.dimensionSpread ?? 1
  if (!(spread >= 1)) throw new RangeError('dimensionSpread must be ≥ 1')
  return spread === 1 ? set : withDimensionSpread(set, spread, seed)
}

/** The set with every vector scaled per dimension (see DimensionSpread) and renormalised; documents stay lazy. */
function withDimensionSpread(set: GeneratedSet, spread: number, seed: number): GeneratedSet {
  const { dim } = set
  const rnd = createRandom(seed + 0x51ed)
  const scale = Float64Array.from({ length: dim }, () => spread ** (rnd.uniform() - 0.5))
  const apply = (v: Float32Array): Float32Array => {
    for (let o = 0; o < v.length; o += dim) {
      let s = 0
      for (let d = 0; d < dim; d++) { v[o + d] *= scale[d]; s += v[o + d] * v[o + d] }
      const inv = 1 / Math.sqrt(s)
      for (let d = 0; d < dim; d++) v[o + d] *= inv
    }
    return v
  }
  apply(set.queries)
  const docs = set.docs
  return { ...set, docs: (function* () { for (const v of docs) yield apply(v) })() }
}

/** Generates and writes an embedding set folder; returns its size. */
export async function writeGeneratedSet(dir: string, model: DataModel, seed: number): Promise<{ docs: number; vectors: number; queries: number; topics: number; seconds: number }> {
  const started = performance.now()
  const g = generate(model, seed)
  await writeEmbeddingSet(dir, { dim: g.dim, doclens: g.doclens, docs: g.docs, queryLen: g.queryLen, queries: g.queries, qrels: g.qrels })
  const vectors = g.doclens.reduce((s, x) => s + x, 0)
  return { docs: g.doclens.length, vectors, queries: g.qrels.length, topics: g.topics, seconds: (performance.now() - started) / 1000 }
}
