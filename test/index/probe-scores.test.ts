/**
 * Probe scores (src/index/probe-scores.ts) against a brute force written here: every live vector whose code is one of
 * token j's probed cells, decoded independently (synthetic-vectors.ts, not re-normalised: centroid·weight + residual)
 * and dotted with the token in float64; per document and token the best, or the floor where none.
 */
import t from 'tap'
import { createPlaidIndex } from '../../src/index/plaid-index.js'
import { topCentroidsPerToken } from '../../src/index/plaid-search.js'
import { buildLut, createProbeScratch, offloadSplit, type ProbeJob, type ProbeOffload, probeRows, probeRowSums, probeScores, scanTokensInto, tokenListBound } from '../../src/index/probe-scores.js'
import { createPrng } from '../../src/index/prng.js'
import { createSimdArena } from '../../src/index/simd-kernels.js'
import { buildLutInArena, wasmProbe } from '../../src/index/probe-arena.js'
import { decodeAllFromState, makeDocs, queryFor } from './synthetic-vectors.js'

// nbits 2 — dim 32: residuals gathered and read as 2 words per vector; 128: the unrolled 8-word gather and lookups; 20
// (5 bytes per vector): byte by byte. dim 128 at nbits 4 and 1: the unrolled 16- and 4-word gathers, words read in a
// loop. 4 centroids: lists longer than the gather chunk (1024 positions).
for (const { dim, numCentroids, nbits } of [
  { dim: 32, numCentroids: 64, nbits: 2 }, { dim: 128, numCentroids: 64, nbits: 2 }, { dim: 20, numCentroids: 4, nbits: 2 },
  { dim: 128, numCentroids: 64, nbits: 4 }, { dim: 128, numCentroids: 64, nbits: 1 },
] as const) {
const set = makeDocs({ seed: 5, dim, nDocs: 300, nTopics: 12, minLen: 4, maxLen: 30, noise: 0.8 })

t.test(`dim ${dim}, nbits ${nbits}: a token's probe table built in WebAssembly equals the TypeScript build, bit for bit`, async (t) => {
  const index = createPlaidIndex({ dim, nbits, minTrainVectors: 400, numCentroids, seed: 3 })
  index.upsert(set.docs)
  const { view } = index.searchState()
  const codec = view.codec!
  const rng = createPrng(21)
  const query = Float32Array.from({ length: 3 * dim }, () => (rng.next() - 0.5) * 0.4)
  const job = { query, qlen: 3, chosen: new Uint32Array(3), stride: 1, counts: new Uint32Array(3).fill(1), bases: new Float64Array(3), stop: undefined, from: 0, room: 0, allowed: view.live }
  const src = { ivf: view.ivf!, codec, residuals: view.residuals, docStart: view.docStart, nSlots: view.nSlots, allowed: view.live, arena: { kernels: createSimdArena(1 << 16)!, at: 32 } }
  const w = wasmProbe(src, job, 0, 3, false)
  if (codec.bytesPerVector % 4 !== 0) {
    t.equal(w, null, `${codec.bytesPerVector} bytes per vector: no WebAssembly scan`)
    return
  }
  const want = new Float32Array(codec.bytesPerVector * 256)
  for (let j = 0; j < 3; j++) {
    buildLut(codec, query, j * dim, want, new Float32Array(16), new Float32Array(16))
    buildLutInArena(w!, query, j * dim)
    let same = 0, worst = 0
    for (let i = 0; i < want.length; i++) {
      if (Object.is(w!.lut[i], want[i])) same++
      // against the plain dot product of the byte's values with the token's
      const b = i >>> 8, vpb = codec.valuesPerByte
      let x = 0
      for (let u = 0; u < vpb; u++) x += query[j * dim + b * vpb + u] * codec.byteTable[i * vpb + u]
      worst = Math.max(worst, Math.abs(w!.lut[i] - x))
    }
    t.equal(same, want.length, `token ${j}: all ${want.length} entries equal`)
    t.ok(worst < 1e-5, `token ${j}: within ${worst.toExponential(1)} of the byte's dot product`)
  }
})

t.test(`dim ${dim}, nbits ${nbits}, ${numCentroids} centroids: per document and token, the best raw score over its probed cells, else the floor`, async (t) => {
  const index = createPlaidIndex({ dim, nbits, minTrainVectors: 400, numCentroids, seed: 3 })
  index.upsert(set.docs)
  index.delete(['d7', 'd20', 'd150']) // dead slots must not appear
  index.upsert([{ ...set.docs[3], id: 'late' }]) // a document in the IVF's delta lists
  const state = index.exportState()
  const raw = decodeAllFromState(state, false)
  const { view } = index.searchState()
  const K = view.cset!.k
  const bits = state.arrays.centroids
  const cents = Float64Array.from(new Int16Array(bits.buffer, bits.byteOffset, bits.length), (v) => v * Number(state.scalars.centroidScale))
  const rng = createPrng(8)
  const qlen = 8
  const arena = createSimdArena(1 << 16)!
  /** S[c·qlen + j] = centroid c · token j, in float64 from the stored int16 centroids */
  const centroidScores = (query: Float32Array): Float32Array => {
    const S = new Float32Array(K * qlen)
    for (let c = 0; c < K; c++) for (let j = 0; j < qlen; j++) {
      let s = 0
      for (let d = 0; d < dim; d++) s += cents[c * dim + d] * query[j * dim + d]
      S[c * qlen + j] = s
    }
    return S
  }
  let compared = 0
  for (const ncells of [1, 3, 8].filter((n) => n <= K)) {
    for (let qi = 0; qi < 4; qi++) {
      const query = queryFor(set.docs[rng.int(set.docs.length)].vectors, dim, qlen, 0.6, rng)
      const S = centroidScores(query)
      const chosen = topCentroidsPerToken(S, qlen, K, ncells)
      const floor = Float32Array.from({ length: qlen }, (_, j) => -1 - j)
      // every other query: each token probes its own prefix of the ranking (the adaptive probe depth)
      const counts = Uint32Array.from({ length: qlen }, (_, j) => qi % 2 === 0 ? ncells : 1 + ((5 * j + qi) % ncells))
      const got = probeScores(view.ivf!, view.codec!, view.residuals, view.docStart, view.nSlots, view.live, query, qlen, S, chosen, ncells, counts, floor, createProbeScratch())
      const gotRows = probeRows(got, qlen)
      // brute force
      const want = new Map<number, Float64Array>()
      for (let s = 0; s < view.nSlots; s++) {
        if (!view.live[s]) continue
        for (let v = view.docStart[s]; v < view.docStart[s] + view.docLen[s]; v++) {
          for (let j = 0; j < qlen; j++) {
            let probed = false
            for (let i = 0; i < counts[j]; i++) if (chosen[j * ncells + i] === view.codes[v]) probed = true
            if (!probed) continue
            let x = 0
            for (let d = 0; d < dim; d++) x += raw[v * dim + d] * query[j * dim + d]
            let row = want.get(s)
            if (row === undefined) want.set(s, (row = Float64Array.from(floor)))
            if (x > row[j]) row[j] = x
          }
        }
      }
      t.equal(got.slots.length, want.size, `ncells ${ncells}: the documents reached`)
      let worst = 0
      for (let i = 0; i < got.slots.length; i++) {
        const row = want.get(got.slots[i])
        if (row === undefined) { t.fail(`slot ${got.slots[i]} is not reached by brute force`); continue }
        for (let j = 0; j < qlen; j++) worst = Math.max(worst, Math.abs(gotRows[i * qlen + j] - row[j]))
        compared++
      }
      t.ok(worst < 1e-4, `ncells ${ncells}: largest difference ${worst.toExponential(2)}`)
      // the WebAssembly scan of the base lists (probe-arena.ts) gives the same result, bit for bit, unfiltered and
      // filtered (residuals of 5 bytes per vector are not whole words: the TypeScript scan runs for both)
      const filtered = Uint8Array.from(view.live, (x, s) => x & ((s * 7 + qi) % 3 === 0 ? 0 : 1))
      for (const allowed of [view.live, filtered]) {
        const what = `ncells ${ncells}, ${allowed === view.live ? 'live documents' : 'a filter'}`
        const plain = probeScores(view.ivf!, view.codec!, view.residuals, view.docStart, view.nSlots, allowed, query, qlen, S, chosen, ncells, counts.slice(), floor, createProbeScratch())
        const wasmCounts = counts.slice()
        const viaWasm = probeScores(view.ivf!, view.codec!, view.residuals, view.docStart, view.nSlots, allowed, query, qlen, S, chosen, ncells, wasmCounts, floor, createProbeScratch(), undefined, undefined, { kernels: arena, at: 48 })
        t.same(Array.from(viaWasm.slots), Array.from(plain.slots), `${what}, WebAssembly scan: the same documents, in the same order`)
        t.same(Array.from(probeRows(viaWasm, qlen)), Array.from(probeRows(plain, qlen)), `${what}, WebAssembly scan: the same scores`)
        t.same(Array.from(probeRowSums(viaWasm, qlen)), Array.from(probeRowSums(plain, qlen)), `${what}, WebAssembly scan: the same sums`)
        t.same(Array.from(wasmCounts), Array.from(counts), `${what}, WebAssembly scan: the same depths`)
      }
      // each document's sum of scores, as the approximate stage ranks the candidates before it rescores them
      const sums = probeRowSums(got, qlen)
      let worstSum = 0
      for (let i = 0; i < got.slots.length; i++) {
        const row = want.get(got.slots[i])
        if (row !== undefined) worstSum = Math.max(worstSum, Math.abs(sums[i] - row.reduce((a, b) => a + b, 0)))
      }
      t.ok(worstSum < 1e-3, `ncells ${ncells}: largest difference of a document's sum ${worstSum.toExponential(2)}`)
    }
  }
  t.ok(compared > 200, `${compared} documents compared`)

  // The early stop: a token whose first `min` cells hold a vector scoring ≥ at[j] probes only those; the rows equal
  // probing exactly the final depths with the same floors.
  let stopped = 0, went = 0
  const ownerArena = createSimdArena(1 << 16)!, helperArena = createSimdArena(1 << 16)!
  for (let qi = 0; qi < 6 && K >= 4; qi++) {
    const ncells = Math.min(K - 1, 8), min = 2 // below K: topCentroidsPerToken returns all K unranked
    const query = queryFor(set.docs[rng.int(set.docs.length)].vectors, dim, qlen, 0.6, rng)
    const S = centroidScores(query)
    const chosen = topCentroidsPerToken(S, qlen, K, ncells)
    // per token, the best raw score over its first `min` cells (brute force), and a stop score on either side of it
    const topMin = new Float64Array(qlen).fill(-Infinity)
    for (let s = 0; s < view.nSlots; s++) {
      if (!view.live[s]) continue
      for (let v = view.docStart[s]; v < view.docStart[s] + view.docLen[s]; v++) {
        for (let j = 0; j < qlen; j++) {
          let probed = false
          for (let i = 0; i < min; i++) if (chosen[j * ncells + i] === view.codes[v]) probed = true
          if (!probed) continue
          let x = 0
          for (let d = 0; d < dim; d++) x += raw[v * dim + d] * query[j * dim + d]
          if (x > topMin[j]) topMin[j] = x
        }
      }
    }
    const at = Float64Array.from(topMin, (x, j) => (j + qi) % 2 === 0 ? x - 1e-3 : x + 1e-3)
    const floorOf = (counts: Uint32Array): Float32Array => Float32Array.from({ length: qlen }, (_, j) => 0.9 * S[chosen[j * ncells + counts[j] - 1] * qlen + j])
    const counts = new Uint32Array(qlen).fill(ncells)
    const floor = floorOf(counts)
    const got = probeScores(view.ivf!, view.codec!, view.residuals, view.docStart, view.nSlots, view.live, query, qlen, S, chosen, ncells, counts, floor, createProbeScratch(), { min, at })
    for (let j = 0; j < qlen; j++) {
      const want = (j + qi) % 2 === 0 ? min : ncells
      t.equal(counts[j], want, `query ${qi} token ${j}: ${want === min ? 'stops' : 'goes on'} (best of the first ${min} cells ${topMin[j].toFixed(4)}, stop at ${at[j].toFixed(4)})`)
      if (counts[j] === min) stopped++; else went++
    }
    const ref = probeScores(view.ivf!, view.codec!, view.residuals, view.docStart, view.nSlots, view.live, query, qlen, S, chosen, ncells, counts.slice(), floor, createProbeScratch())
    // a suffix of the tokens scanned elsewhere (here: by collect(), with a scratch of its own, into the lists a helper
    // thread would fill) gives the same documents in the same order, the same rows and the same final depths
    let offered: ProbeJob | undefined
    const offload: ProbeOffload = {
      offer(job) { offered = { ...job, counts: job.counts.slice() }; return true },
      collect() {
        const job = offered!
        let cap = 0
        for (let j = job.from; j < qlen; j++) cap += tokenListBound(view.ivf!, job, j, view.nSlots)
        const lists = { start: new Uint32Array(qlen - job.from + 1), counts: new Uint32Array(qlen - job.from), slots: new Uint32Array(cap), bests: new Float32Array(cap) }
        // the helper's part scanned in WebAssembly where the residuals allow (the owner's too, below)
        const src = { ivf: view.ivf!, codec: view.codec!, residuals: view.residuals, docStart: view.docStart, nSlots: view.nSlots, allowed: view.live, arena: { kernels: helperArena, at: 0 } }
        scanTokensInto(src, job, createProbeScratch(), lists)
        return lists
      },
    }
    const countsShared = new Uint32Array(qlen).fill(ncells)
    const shared = probeScores(view.ivf!, view.codec!, view.residuals, view.docStart, view.nSlots, view.live, query, qlen, S, chosen, ncells, countsShared, floor, createProbeScratch(), { min, at }, offload, { kernels: ownerArena, at: 16 })
    const from = offered!.from
    t.ok(from > 0 && from < qlen, `query ${qi}: tokens ${from}..${qlen - 1} offered`)
    const cost = (j: number): number => tokenListBound(view.ivf!, offered!, j, view.nSlots)
    let suffix = 0, total = 0
    for (let j = 0; j < qlen; j++) { total += cost(j); if (j >= from) suffix += cost(j) }
    t.ok(suffix <= total / 2 && suffix + cost(from - 1) > total / 2, `query ${qi}: the offered suffix holds ${suffix} of ${total} vectors (the most that is ≤ half)`)
    t.same(offloadSplit(view.ivf!, offered!, view.nSlots), { from, room: suffix }, `query ${qi}: the split, and the room its lists need`)
    t.equal(offered!.room, suffix, `query ${qi}: the offered job carries that room`)
    if (qi === 0) {
      // lists one entry short of what the tokens reach: an error, not silently dropped documents
      const src = { ivf: view.ivf!, codec: view.codec!, residuals: view.residuals, docStart: view.docStart, nSlots: view.nSlots, allowed: view.live }
      const full = { start: new Uint32Array(qlen - from + 1), counts: new Uint32Array(qlen - from), slots: new Uint32Array(1 << 16), bests: new Float32Array(1 << 16) }
      scanTokensInto(src, offered!, createProbeScratch(), full)
      const used = full.start[qlen - from]
      const short = { ...full, slots: new Uint32Array(used - 1), bests: new Float32Array(used - 1) }
      t.throws(() => scanTokensInto(src, offered!, createProbeScratch(), short), { code: 'INTERNAL_ERROR' }, `${used} documents, room for ${used - 1}: INTERNAL_ERROR`)
    }
    t.same(Array.from(shared.slots), Array.from(got.slots), `query ${qi}, shared: the same documents, in the same order`)
    t.same(Array.from(probeRows(shared, qlen)), Array.from(probeRows(got, qlen)), `query ${qi}, shared: the same rows`)
    t.same(Array.from(countsShared), Array.from(counts), `query ${qi}, shared: the same final depths`)
    const index = new Map<number, number>()
    ref.slots.forEach((s, i) => index.set(s, i))
    let worst = 0
    const gotRows = probeRows(got, qlen), refRows = probeRows(ref, qlen)
    t.equal(got.slots.length, ref.slots.length, `query ${qi}: the same documents reached as probing the final depths`)
    for (let i = 0; i < got.slots.length; i++) {
      const r = index.get(got.slots[i])!
      for (let j = 0; j < qlen; j++) worst = Math.max(worst, Math.abs(gotRows[i * qlen + j] - refRows[r * qlen + j]))
    }
    t.equal(worst, 0, `query ${qi}: rows equal probing the final depths`)
  }
  if (K >= 4) t.ok(stopped > 5 && went > 5, `${stopped} tokens stopped, ${went} went on`)
})
}

