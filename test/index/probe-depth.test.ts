/**
 * Probe depth per token (src/index/probe-depth.ts): the residual spread read from a codec against the spread of the
 * Gaussian data it was trained on; the gate against its formula; the widened cells (kernel and loop) against a plain
 * full ranking per token; the depth rule against its definition checked cell by cell (every probed cell passes the
 * gate and the vector budget, the first unprobed one fails one of them); flat tokens probe deeper than sharp ones; and
 * a search with the default parameters is deterministic and probes no fewer cells than ncells.
 */
import t from 'tap'
import { createPlaidIndex } from '../../src/index/plaid-index.js'
import { defaultProbeDepthRule, gateScores, probeDepths, residualVariance, widenChosen } from '../../src/index/probe-depth.js'
import { topCentroidsPerToken } from '../../src/index/plaid-search.js'
import { createPrng } from '../../src/index/prng.js'
import { trainCodec, trainCodecPerDimension } from '../../src/index/residual-codec.js'
import { createSimdArena } from '../../src/index/simd-kernels.js'
import type { SearchTrace } from '../../src/index/types.js'
import { gaussian, makeDocs, queryFor } from './synthetic-vectors.js'

t.test('residual variance: the spread of Gaussian residuals, per dimension and pooled', async (t) => {
  const dim = 8
  const n = 20000
  const rng = createPrng(11)
  const sigmas = [0.02, 0.05, 0.1, 0.03, 0.08, 0.04, 0.06, 0.07]
  const rows = new Float32Array(n * dim)
  for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) rows[i * dim + d] = sigmas[d] * gaussian(rng)
  for (const nbits of [1, 2] as const) {
    const v = residualVariance(trainCodecPerDimension(rows, nbits, dim))
    for (let d = 0; d < dim; d++) {
      const ratio = Math.sqrt(v[d]) / sigmas[d]
      t.ok(Math.abs(ratio - 1) < 0.05, `nbits ${nbits}, dimension ${d}: σ estimated ${Math.sqrt(v[d]).toFixed(4)} for ${sigmas[d]}`)
    }
  }
  const same = new Float32Array(n * dim)
  for (let i = 0; i < same.length; i++) same[i] = 0.05 * gaussian(rng)
  for (const nbits of [2, 4] as const) {
    const v = residualVariance(trainCodec(same, nbits, dim))
    t.ok(v.every((x) => x === v[0]), `pooled nbits ${nbits}: one value for every dimension`)
    // 16 levels: the outer ones converge slowly in the codec's Lloyd–Max rounds (within 10 %)
    t.ok(Math.abs(Math.sqrt(v[0]) / 0.05 - 1) < (nbits === 4 ? 0.1 : 0.05), `pooled nbits ${nbits}: σ ${Math.sqrt(v[0]).toFixed(4)} for 0.05`)
  }
})

t.test('gate scores: the best cell score less z residual deviations; stop scores: its decoded score plus standout deviations', async (t) => {
  const K = 5, qlen = 3, dim = 2
  const S = Float32Array.from({ length: K * qlen }, (_, i) => 0.1 * ((i * 7) % 11))
  const chosen = topCentroidsPerToken(S, qlen, K, 2)
  const query = Float32Array.of(0.6, 0.8, 1, 0, 0, 1)
  const variance = Float32Array.of(0.01, 0.04)
  const { gate, stopAt } = gateScores({ min: 2, max: 4, z: 2, budget: 3, standout: 2.5 }, S, qlen, chosen, 2, query, dim, variance, 0.8)
  for (let j = 0; j < qlen; j++) {
    let best = -Infinity
    for (let c = 0; c < K; c++) best = Math.max(best, S[c * qlen + j])
    const sigma = Math.sqrt(query[j * dim] ** 2 * 0.01 + query[j * dim + 1] ** 2 * 0.04)
    t.ok(Math.abs(gate[j] - (best - (2 * sigma) / 0.8)) < 1e-6, `token ${j}: gate ${gate[j].toFixed(4)}`)
    t.ok(Math.abs(stopAt[j] - (0.8 * best + 2.5 * sigma)) < 1e-6, `token ${j}: stands out from ${stopAt[j].toFixed(4)}`)
  }
})

t.test('widenChosen (rows-above kernel or loop) equals the cells beyond the first min that pass the gate, in ranking order', async (t) => {
  const rng = createPrng(6)
  // smooth: scores drifting slowly with the row, so that a token's best rows sit together (the bound from block maxima
  // must still cover them); 100 rows: fewer rows than blocks
  const cases = [[900, 12, 'plain'], [3000, 8, 'ties'], [700, 40, 'plain'], [4000, 32, 'smooth'], [100, 32, 'plain']] as const
  for (const [K, qlen, kind] of cases) {
    const round = kind === 'ties'
    const S = Float32Array.from({ length: K * qlen }, () => rng.next() - 0.5)
    if (round) for (let i = 0; i < S.length; i++) S[i] = Math.round(S[i] * 40) / 40 // ties
    if (kind === 'smooth') for (let c = 0; c < K; c++) for (let j = 0; j < qlen; j++) S[c * qlen + j] = Math.fround(Math.sin(c / 300 + j) + 0.01 * S[c * qlen + j])
    const arena = createSimdArena(K * qlen * 4 + K * 8 + 64)!
    arena.f32(0, K * qlen).set(S)
    const ca = { arena, coarsePtr: 0, scratch: 0, tablePtr: 0, tableWeights: null }
    // every cell, per token, in ranking order: by score, ties by the lower cell
    const full = new Uint32Array(qlen * K)
    for (let j = 0; j < qlen; j++) {
      const order = Array.from({ length: K }, (_, c) => c).sort((a, b) => S[b * qlen + j] - S[a * qlen + j] || a - b)
      full.set(order, j * K)
    }
    for (const [min, max] of [[8, 32], [3, 5], [4, 4]]) {
      const chosen = topCentroidsPerToken(S, qlen, K, min)
      // per token a gate between shallow and deep, some below the min-th cell (no widening)
      const gate = Float64Array.from({ length: qlen }, (_, j) => S[full[j * K + Math.min(K - 1, j % 5 === 0 ? 2 : 5 + 7 * j)] * qlen + j])
      for (const [useArena, label] of [[true, 'kernel'], [false, 'loop']] as const) {
        const { cells, available } = widenChosen(S, qlen, K, chosen, min, max, gate, useArena ? ca : null, useArena ? 0 : -1)
        let bad = 0
        for (let j = 0; j < qlen; j++) {
          let want = min
          const minth = S[full[j * K + min - 1] * qlen + j]
          if (minth >= gate[j]) while (want < max && S[full[j * K + want] * qlen + j] >= gate[j]) want++
          if (available[j] !== want) bad++
          for (let i = 0; i < available[j]; i++) if (cells[j * max + i] !== full[j * K + i]) bad++
        }
        t.equal(bad, 0, `${label}: K ${K}, qlen ${qlen}, min ${min}, max ${max}, ${kind}`)
      }
    }
  }
})

t.test('probe depths: every probed cell passes the gate and the vector budget, the next one fails one of them', async (t) => {
  const rng = createPrng(4)
  const K = 200, qlen = 12, dim = 4, stride = 32
  const sizes = Uint32Array.from({ length: K }, () => 1 + rng.int(rng.next() < 0.1 ? 2000 : 120))
  const meanList = sizes.reduce((a, b) => a + b, 0) / K
  const variance = Float32Array.from({ length: dim }, () => 0.001 + 0.01 * rng.next())
  let deeper = 0, atMax = 0, budgetStops = 0, gateStops = 0
  for (let trial = 0; trial < 40; trial++) {
    const query = Float32Array.from({ length: qlen * dim }, () => gaussian(rng) * 0.5)
    // per token a profile between flat and sharp
    const S = new Float32Array(K * qlen)
    for (let j = 0; j < qlen; j++) {
      const slope = 0.0005 * 2 ** (rng.int(8))
      const order = Array.from({ length: K }, (_, c) => c)
      for (let i = K - 1; i > 0; i--) { const x = rng.int(i + 1); [order[i], order[x]] = [order[x], order[i]] }
      order.forEach((c, r) => { S[c * qlen + j] = 0.8 - slope * r })
    }
    const chosen = topCentroidsPerToken(S, qlen, K, stride)
    const rule = { min: 8, max: stride, z: 2, budget: 3, standout: 2.5 }
    const w = 0.8
    const { gate } = gateScores(rule, S, qlen, chosen, stride, query, dim, variance, w)
    const got = probeDepths(rule, S, qlen, chosen, stride, new Uint32Array(qlen).fill(stride), gate, (c) => sizes[c], meanList)
    for (let j = 0; j < qlen; j++) {
      const n = got[j]
      t.ok(n >= 8 && n <= stride, `token ${j}: ${n} cells within [8, ${stride}]`)
      let vectors = 0
      for (let i = 0; i < n; i++) {
        const c = chosen[j * stride + i]
        vectors += sizes[c]
        if (i >= 8) {
          if (!(S[c * qlen + j] >= gate[j])) t.fail(`token ${j}, cell ${i}: beyond the gate`)
          if (!(vectors <= 3 * 8 * meanList)) t.fail(`token ${j}, cell ${i}: over the budget`)
        }
      }
      if (n > 8) deeper++
      if (n === stride) { atMax++; continue }
      const c = chosen[j * stride + n]
      const gated = S[c * qlen + j] < gate[j]
      const over = vectors + sizes[c] > 3 * 8 * meanList
      t.ok(gated || over, `token ${j}: stops at ${n} because the next cell fails the gate or the budget`)
      if (over) budgetStops++
      if (gated) gateStops++
    }
  }
  t.ok(deeper > 50 && atMax > 0 && budgetStops > 20 && gateStops > 20,
    `the cases occur: deeper ${deeper}, at the maximum ${atMax}, budget stops ${budgetStops}, gate stops ${gateStops}`)
})

t.test('probe depths: a flat token probes deeper than a sharp one; available cells and max bound it', async (t) => {
  const K = 64, qlen = 2, dim = 2, stride = 32
  const S = new Float32Array(K * qlen)
  for (let c = 0; c < K; c++) { S[c * qlen] = 0.9 - 0.001 * c; S[c * qlen + 1] = 0.9 - 0.05 * c }
  const chosen = topCentroidsPerToken(S, qlen, K, stride)
  const query = Float32Array.of(0.7, 0.7, 0.7, 0.7)
  const variance = Float32Array.of(0.01, 0.01) // σ_j = 0.1
  const rule = { min: 8, max: stride, z: 2, budget: 100, standout: 2.5 }
  const { gate } = gateScores(rule, S, qlen, chosen, stride, query, dim, variance, 1)
  const all = new Uint32Array(qlen).fill(stride)
  t.same(Array.from(probeDepths(rule, S, qlen, chosen, stride, all, gate, () => 10, 10)), [32, 8],
    'flat (0.001 per rank): up to the maximum; sharp (0.05 per rank): the minimum')
  t.same(Array.from(probeDepths(rule, S, qlen, chosen, stride, Uint32Array.of(20, 32), gate, () => 10, 10)), [20, 8], 'no deeper than the cells available')
  t.same(Array.from(probeDepths({ ...rule, max: 8 }, S, qlen, chosen, stride, all, gate, () => 10, 10)), [8, 8], 'max = min: the fixed depth')
  t.same(defaultProbeDepthRule(8, 16384), { min: 8, max: 32, z: 2, budget: 3, standout: 2.5 }, 'the default rule')
  t.equal(defaultProbeDepthRule(8, 20).max, 20, 'never more cells than centroids')
})

t.test('search with the default parameters: deterministic, at least ncells cells per token; an explicit ncells is exact', async (t) => {
  const dim = 32
  const set = makeDocs({ seed: 9, dim, nDocs: 400, nTopics: 16, minLen: 4, maxLen: 30, noise: 0.8 })
  const index = createPlaidIndex({ dim, nbits: 2, minTrainVectors: 400, numCentroids: 256, seed: 2 })
  index.upsert(set.docs)
  const rng = createPrng(3)
  let deeper = 0
  for (let q = 0; q < 20; q++) {
    const query = queryFor(set.docs[rng.int(set.docs.length)].vectors, dim, 16, 1.2, rng)
    const a: SearchTrace = {}, b: SearchTrace = {}, fixed: SearchTrace = {}
    const ha = index.search(query, { k: 10, trace: a }).hits
    const hb = index.search(query, { k: 10, trace: b }).hits
    t.same(hb, ha, `query ${q}: the same hits twice`)
    t.same(b.budgets, a.budgets, `query ${q}: the same budgets twice`)
    t.ok(a.budgets!.cells >= 8, `query ${q}: ${a.budgets!.cells} cells per token on average`)
    index.search(query, { k: 10, ncells: 8, trace: fixed })
    t.equal(fixed.budgets!.cells, 8, `query ${q}: an explicit ncells 8 probes 8 cells per token`)
    if (a.budgets!.cells > 8) deeper++
  }
  t.ok(deeper > 0, `${deeper} of 20 queries probed deeper than ncells by default`)
})
