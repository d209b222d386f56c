/**
 * The approximate stage's refinement (src/index/unprobed-refine.ts), checked against a plain computation over vectors
 * decoded independently (synthetic-vectors.ts decodeAllFromState, the documented residual layout): for the best m
 * documents by approximate score and each flat token, the document's first vector with the best centroid score among
 * the cells the token did not probe, scored undecompressed (C·centroidWeight + residual, not re-normalised); the gain
 * is that score above max(the pair's probe score, centroidWeight · its centroid score). Both paths: the WebAssembly
 * best-codes kernel and TypeScript.
 */
import t from 'tap'
import { createPlaidIndex } from '../../src/index/plaid-index.js'
import { createPrng } from '../../src/index/prng.js'
import { createSimdArena } from '../../src/index/simd-kernels.js'
import { distinctVectors, refineUnprobed } from '../../src/index/unprobed-refine.js'
import { decodeAllFromState, makeDocs, queryFor, probedBestCells } from './synthetic-vectors.js'

const dim = 32, qlen = 12, K = 48
const set = makeDocs({ seed: 5, dim, nDocs: 160, nTopics: 12, minLen: 6, maxLen: 30, noise: 0.8 })
const index = createPlaidIndex({ dim, nbits: 2, minTrainVectors: 500, numCentroids: K, seed: 2, keepOriginals: false })
index.upsert(set.docs)
const state = index.exportState()
const { view } = index.searchState()
const decoded = decodeAllFromState(state, false)
const w = view.codec!.centroidWeight
// centroids as stored (int16 × scale), so that S is C·q for the same C the decoded vectors use
const bits = state.arrays.centroids
const C = Float64Array.from(new Int16Array(bits.buffer, bits.byteOffset, bits.length), (v) => v * Number(state.scalars.centroidScale))
const rng = createPrng(11)

interface Case { query: Float32Array; S: Float32Array; chosen: Uint32Array; stride: number; counts: Uint32Array; flat: Uint8Array; pool: Uint32Array; approx: Float32Array; init: Float32Array }

function makeCase(): Case {
  const doc = set.docs[rng.int(set.docs.length)]
  const query = queryFor(doc.vectors, dim, qlen, 1.2, rng)
  const S = new Float32Array(K * qlen)
  for (let c = 0; c < K; c++) for (let j = 0; j < qlen; j++) {
    let s = 0
    for (let d = 0; d < dim; d++) s += C[c * dim + d] * query[j * dim + d]
    S[c * qlen + j] = s
  }
  // each token "probed" its best 1–3 cells
  const stride = 3
  const { chosen, counts } = probedBestCells(S, qlen, K, stride, rng)
  const flat = Uint8Array.from({ length: qlen }, () => (rng.next() < 0.7 ? 1 : 0))
  const pool = Uint32Array.from({ length: 90 }, (_, i) => (i * 7) % view.nSlots)
  // approximate scores with ties, and per-token probe scores around the centroid scores' range
  const approx = Float32Array.from(pool, () => Math.round(rng.next() * 20) / 4)
  const init = Float32Array.from({ length: pool.length * qlen }, () => rng.next() * 0.6)
  return { query, S, chosen, stride, counts, flat, pool, approx, init }
}

/** The refinement written plainly (with noise: a pair whose credit exceeds its centroid part by over z·σ_j is skipped). */
function reference(c: Case, m: number, noise?: { sigma: Float64Array; z: number }): Float64Array {
  const out = Float64Array.from(c.approx)
  const order = Array.from(c.pool.keys()).sort((a, b) => c.approx[b] - c.approx[a] || c.pool[a] - c.pool[b]).slice(0, m)
  for (const i of order) {
    const s = c.pool[i], a = view.docStart[s]
    for (let j = 0; j < qlen; j++) {
      if (c.flat[j] === 0) continue
      const probed = new Set(Array.from(c.chosen.subarray(j * c.stride, j * c.stride + c.counts[j])))
      let best = -Infinity, at = -1
      for (let x = 0; x < view.docLen[s]; x++) {
        const code = view.codes[a + x]
        if (probed.has(code)) continue
        if (c.S[code * qlen + j] > best) { best = c.S[code * qlen + j]; at = a + x }
      }
      if (at < 0) continue
      if (noise !== undefined && c.init[i * qlen + j] - w * best > noise.z * noise.sigma[j]) continue
      let score = 0
      for (let d = 0; d < dim; d++) score += decoded[at * dim + d] * c.query[j * dim + d]
      const credit = Math.max(c.init[i * qlen + j], w * best)
      if (score > credit) out[i] += score - credit
    }
  }
  return out
}

t.test('the refined scores equal the plain computation, with the kernel and without', async (t) => {
  for (let round = 0; round < 4; round++) {
    const c = makeCase()
    const m = [1, 10, 40, 200][round]
    // residual spreads of the scale of the probe scores' spread here: some pairs skipped, not all
    const noise = { sigma: Float64Array.from({ length: qlen }, () => 0.02 + 0.08 * rng.next()), z: 2 }
    let pairsAll = 0
    for (const [kernel, withNoise] of [[true, false], [false, false], [true, true], [false, true]] as const) {
      const want = reference(c, m, withNoise ? noise : undefined)
      const approx = Float32Array.from(c.approx)
      let S: Float32Array = Float32Array.from(c.S)
      let arena = null
      if (kernel) {
        const k = createSimdArena(0)!
        k.reserve(K * qlen * 4)
        k.f32(0, K * qlen).set(c.S)
        S = k.f32(0, K * qlen)
        arena = { kernels: k, sPtr: 0, at: K * qlen * 4 }
      }
      const before = Float32Array.from(S)
      const pairs = refineUnprobed(view, {
        query: c.query, qlen, S: () => (arena === null ? S : arena.kernels.f32(0, K * qlen)), cells: { chosen: c.chosen, stride: c.stride, counts: c.counts },
        flat: c.flat, pool: c.pool, approx, init: c.init, m, arena, ...(withNoise ? { noise } : {}),
      })
      if (!withNoise) pairsAll = pairs
      else if (m >= 10) t.ok(pairs < pairsAll && pairs > 0, `m ${m}: the noise bound skips some pairs, not all (${pairs} of ${pairsAll})`)
      let worst = 0, raised = 0, lowered = 0
      for (let i = 0; i < approx.length; i++) {
        worst = Math.max(worst, Math.abs(approx[i] - want[i]))
        if (approx[i] > c.approx[i]) raised++
        if (approx[i] < c.approx[i]) lowered++
      }
      t.ok(worst < 1e-4, `m ${m}, ${kernel ? 'kernel' : 'TypeScript'}${withNoise ? ', noise bound' : ''}: ${pairs} pairs, largest difference ${worst.toExponential(2)}`)
      t.equal(lowered, 0, 'no score is lowered')
      t.ok(raised <= Math.min(m, c.pool.length), `only the best ${m} may rise (${raised} did)`)
      if (m >= 10) t.ok(raised > 0, 'some documents gained')
      const S2 = arena === null ? S : arena.kernels.f32(0, K * qlen)
      t.same(Array.from(S2), Array.from(before), 'the centroid scores are left as they were')
    }
  }
})

t.test('no flat token, no document: nothing changes', async (t) => {
  const c = makeCase()
  for (const [flat, m] of [[new Uint8Array(qlen), 50], [c.flat, 0]] as const) {
    const approx = Float32Array.from(c.approx)
    const pairs = refineUnprobed(view, {
      query: c.query, qlen, S: () => c.S, cells: { chosen: c.chosen, stride: c.stride, counts: c.counts }, flat, pool: c.pool, approx, init: c.init, m, arena: null,
    })
    t.equal(pairs, 0)
    t.same(Array.from(approx), Array.from(c.approx))
  }
})

t.test('distinctVectors: each value once, in order of first appearance, and every entry mapped to its value', async (t) => {
  const rng = createPrng(21)
  for (const [n, range] of [[0, 1], [1, 5], [300, 40], [5000, 4000], [5000, 2 ** 31]] as const) {
    const all = Uint32Array.from({ length: n }, () => Math.floor(rng.next() * range))
    const { vecs, of } = distinctVectors(all)
    const want: number[] = []
    const seen = new Set<number>()
    for (const v of all) if (!seen.has(v)) { seen.add(v); want.push(v) }
    t.same(Array.from(vecs), want, `n ${n}, values below ${range}: the distinct values in order`)
    let bad = 0
    for (let x = 0; x < n; x++) if (vecs[of[x]] !== all[x]) bad++
    t.equal(bad, 0, `n ${n}: every entry points at its value`)
  }
})
