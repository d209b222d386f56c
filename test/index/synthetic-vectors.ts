/**
 * Small seeded synthetic data for the index tests: unit "topic" centres, documents whose token vectors are noisy
 * copies of a few topics, queries made of noisy copies of one document's tokens. Plus independent reference code
 * (float64 MaxSim, a decoder of the documented residual layout) so tests do not check the engine against itself.
 */
import type { IndexState } from '../../src/index/plaid-index.js'
import { createPrng, type Prng } from '../../src/index/prng.js'

export function gaussian(rng: Prng): number {
  return Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next())
}

export function normalize(v: Float32Array, off: number, dim: number): void {
  let s = 0
  for (let d = 0; d < dim; d++) s += v[off + d] ** 2
  const inv = 1 / Math.sqrt(s)
  for (let d = 0; d < dim; d++) v[off + d] *= inv
}

export interface SyntheticSet {
  dim: number
  topics: Float32Array
  docs: Array<{ id: string; vectors: Float32Array; metadata: { group: number; even: boolean } }>
}

export function makeDocs(opts: { seed: number; dim: number; nDocs: number; nTopics: number; minLen: number; maxLen: number; noise: number; prefix?: string }): SyntheticSet {
  const { dim, nDocs, nTopics, minLen, maxLen, noise } = opts
  const rng = createPrng(opts.seed)
  const topics = new Float32Array(nTopics * dim)
  for (let i = 0; i < topics.length; i++) topics[i] = gaussian(rng)
  for (let t = 0; t < nTopics; t++) normalize(topics, t * dim, dim)
  const docs: SyntheticSet['docs'] = []
  const s = noise / Math.sqrt(dim)
  for (let i = 0; i < nDocs; i++) {
    const len = minLen + rng.int(maxLen - minLen + 1)
    const own = [rng.int(nTopics), rng.int(nTopics)]
    const v = new Float32Array(len * dim)
    for (let r = 0; r < len; r++) {
      const t = own[rng.int(2)]
      for (let d = 0; d < dim; d++) v[r * dim + d] = topics[t * dim + d] + s * gaussian(rng)
      normalize(v, r * dim, dim)
    }
    docs.push({ id: `${opts.prefix ?? 'd'}${i}`, vectors: v, metadata: { group: i % 5, even: i % 2 === 0 } })
  }
  return { dim, topics, docs }
}

/** A query of qlen noisy copies of random tokens of `doc`. */
export function queryFor(doc: Float32Array, dim: number, qlen: number, noise: number, rng: Prng): Float32Array {
  const n = doc.length / dim
  const q = new Float32Array(qlen * dim)
  const s = noise / Math.sqrt(dim)
  for (let j = 0; j < qlen; j++) {
    const r = rng.int(n)
    for (let d = 0; d < dim; d++) q[j * dim + d] = doc[r * dim + d] + s * gaussian(rng)
    normalize(q, j * dim, dim)
  }
  return q
}

/** Float64 MaxSim, written independently of src/index/maxsim.ts. */
export function maxSim64(q: Float32Array, doc: Float32Array, dim: number): number {
  const qlen = q.length / dim, n = doc.length / dim
  let total = 0
  for (let j = 0; j < qlen; j++) {
    let best = -Infinity
    for (let i = 0; i < n; i++) {
      let s = 0
      for (let d = 0; d < dim; d++) s += q[j * dim + d] * doc[i * dim + d]
      if (s > best) best = s
    }
    total += best
  }
  return total
}

/** Brute-force ranking of [id, vectors] pairs by float64 MaxSim, best first (ties by id). */
export function rankExact(q: Float32Array, docs: Array<{ id: string; vectors: Float32Array }>, dim: number): Array<{ id: string; score: number }> {
  return docs.map((d) => ({ id: d.id, score: maxSim64(q, d.vectors, dim) })).sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1))
}

/**
 * Decodes every stored vector from an exported state, following the layout documented in residual-codec.ts
 * (value of dimension t of byte p at bits nbits·(t mod 8/nbits); vector = normalise(C[code] + weights[bucket])).
 */
export function decodeAllFromState(state: IndexState, normalise = true): Float32Array {
  const { dim, nbits } = state.settings
  const codes = state.arrays.codes, res = state.arrays.residuals, w = state.arrays.weights
  // centroids: int16 bit patterns in a Uint16Array, value × scalars.centroidScale
  const bits = state.arrays.centroids
  const i16 = new Int16Array(bits.buffer, bits.byteOffset, bits.length)
  const scale = Number(state.scalars.centroidScale)
  // format 2 (radial-free residuals) decodes with the centroid weighted by scalars.codecCentroidWeight
  const g = state.formatVersion === 1 ? 1 : Number(state.scalars.codecCentroidWeight)
  const C = Float64Array.from(i16, (v) => v * scale * g)
  const per = 8 / nbits, bpv = dim / per, mask = (1 << nbits) - 1
  const out = new Float32Array(codes.length * dim)
  for (let v = 0; v < codes.length; v++) {
    let s = 0
    for (let d = 0; d < dim; d++) {
      const byte = res[v * bpv + Math.floor(d / per)]
      const bucket = (byte >> (nbits * (d % per))) & mask
      // format 3 codecs hold one row of 2^nbits weights per dimension
      const x = C[codes[v] * dim + d] + (w.length === dim << nbits ? w[(d << nbits) + bucket] : w[bucket])
      out[v * dim + d] = x
      s += x * x
    }
    if (normalise) for (let d = 0; d < dim; d++) out[v * dim + d] /= Math.sqrt(s)
  }
  return out
}

/**
 * Every stored vector's original as the index keeps it (exportState().arrays.originals of an index without a data
 * folder: record v is stored vector v, the numbering of arrays.codes), dequantized following the record layout
 * documented in original-rows.ts: a little-endian float32 scale, then dim int8 values q, the vector being scale·q.
 * Written independently of dequantizeOriginalRow. Throws when the state carries no records (keepOriginals: false, a
 * restored state that had none, or an index whose records are in a file).
 */
export function originalsFromState(state: IndexState): Float32Array {
  const dim = state.settings.dim
  const rec = state.arrays.originals
  const rows = state.scalars.originalsRows
  if (!(rec instanceof Uint8Array) || typeof rows !== 'number') throw new Error('the state carries no original vectors')
  const bpr = dim + 4
  if (rec.length !== rows * bpr) throw new Error(`original vectors: ${rec.length} bytes for ${rows} records of ${bpr}`)
  const view = new DataView(rec.buffer, rec.byteOffset, rec.byteLength)
  const out = new Float32Array(rows * dim)
  for (let v = 0; v < rows; v++) {
    const scale = view.getFloat32(v * bpr, true)
    for (let d = 0; d < dim; d++) out[v * dim + d] = view.getInt8(v * bpr + 4 + d) * scale
  }
  return out
}

/** Live documents of an exported state with their original vectors as the index keeps them (originalsFromState). */
export function liveOriginals(state: IndexState): Array<{ id: string; vectors: Float32Array }> {
  return liveRows(state, originalsFromState(state))
}

/**
 * The largest error of the kept originals of the live documents against the vectors they were upserted with (by id),
 * in units of their bound: each component within scale/2 = max|x|/254 of the original row it stands for. ≤ 1 (to
 * float32 rounding) when every record is its own vector's, in the right place; a misnumbered record is far off.
 */
export function originalsError(state: IndexState, upserted: Map<string, Float32Array>): number {
  const dim = state.settings.dim
  let worst = 0
  for (const d of liveOriginals(state)) {
    const x = upserted.get(d.id)
    if (x === undefined) throw new Error(`no upserted vectors for ${d.id}`)
    if (x.length !== d.vectors.length) return Infinity
    for (let r = 0; r < x.length / dim; r++) {
      let max = 0
      for (let j = 0; j < dim; j++) max = Math.max(max, Math.abs(x[r * dim + j]))
      const bound = max / 254
      for (let j = 0; j < dim; j++) {
        const e = Math.abs(x[r * dim + j] - d.vectors[r * dim + j])
        if (e > 0) worst = Math.max(worst, bound > 0 ? e / bound : Infinity)
      }
    }
  }
  return worst
}

/** Live documents of an exported state with their decompressed vectors. */
export function liveDecoded(state: IndexState): Array<{ id: string; vectors: Float32Array }> {
  return liveRows(state, decodeAllFromState(state))
}

/** Live documents of an exported state with their rows of `all` (one row per stored vector). */
function liveRows(state: IndexState, all: Float32Array): Array<{ id: string; vectors: Float32Array }> {
  const dim = state.settings.dim
  const out: Array<{ id: string; vectors: Float32Array }> = []
  const start = state.arrays.docStart, len = state.arrays.docLen, live = state.arrays.live
  for (let s = 0; s < state.ids.length; s++) {
    if (!live[s]) continue
    out.push({ id: state.ids[s], vectors: all.subarray(start[s] * dim, (start[s] + len[s]) * dim) })
  }
  return out
}

/**
 * A probe's cells for tests: each token "probed" its best 1…stride cells by S (K × qlen), how many drawn from rng.
 * Token j's cells are chosen[j·stride .. j·stride + counts[j]), best first (ties by cell).
 */
export function probedBestCells(S: Float32Array, qlen: number, K: number, stride: number, rng: Prng): { chosen: Uint32Array; counts: Uint32Array } {
  const chosen = new Uint32Array(qlen * stride), counts = new Uint32Array(qlen)
  for (let j = 0; j < qlen; j++) {
    const byScore = Array.from({ length: K }, (_, c) => c).sort((a, b) => S[b * qlen + j] - S[a * qlen + j] || a - b)
    counts[j] = 1 + rng.int(stride)
    for (let i = 0; i < counts[j]; i++) chosen[j * stride + i] = byScore[i]
  }
  return { chosen, counts }
}
