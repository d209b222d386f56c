import t from 'tap'
import { assignNearest, dotTile } from '../../src/index/dense-kernels.js'
import { float32Below } from '../../src/index/float32.js'
import { scanScores, topCentroidsPerToken } from '../../src/index/plaid-search.js'
import { createPrng } from '../../src/index/prng.js'
import { centroidQ15, createSimdArena, decodeUnitStride, simdAvailable, unitTableI16 } from '../../src/index/simd-kernels.js'

function naive(a: Float32Array, na: number, b: Float32Array, nb: number, dim: number): Float64Array {
  const out = new Float64Array(na * nb)
  for (let i = 0; i < na; i++) for (let j = 0; j < nb; j++) {
    let s = 0
    for (let d = 0; d < dim; d++) s += a[i * dim + d] * b[j * dim + d]
    out[i * nb + j] = s
  }
  return out
}

const rng = createPrng(7)
const rand = (n: number) => Float32Array.from({ length: n }, () => rng.next() - 0.5)

t.test('WebAssembly SIMD is available on this Node (the fast path is exercised)', async (t) => {
  t.ok(simdAvailable())
})

t.test('dotTile matches a float64 reference for odd shapes, SIMD and TypeScript paths', async (t) => {
  for (const [na, nb, dim] of [[1, 1, 4], [7, 5, 128], [33, 65, 128], [300, 40, 32], [9, 300, 6], [5, 3, 13]]) {
    const a = rand(na * dim + 3), b = rand(nb * dim + 5)
    const out = new Float32Array(na * nb + 2)
    dotTile(a, 3, na, b, 5, nb, dim, out, 2)
    const ref = naive(a.subarray(3), na, b.subarray(5), nb, dim)
    let maxErr = 0
    for (let i = 0; i < na * nb; i++) maxErr = Math.max(maxErr, Math.abs(out[2 + i] - ref[i]))
    t.ok(maxErr < 1e-4, `${na}×${nb}×${dim}: max error ${maxErr}`)
  }
})

t.test('large tiles that need chunking through the shared arena stay exact', async (t) => {
  const na = 20000, nb = 70, dim = 64
  const a = rand(na * dim), b = rand(nb * dim)
  const out = new Float32Array(na * nb)
  dotTile(a, 0, na, b, 0, nb, dim, out, 0)
  for (const i of [0, 1, 9999, 19999]) {
    for (const j of [0, 33, 69]) {
      let s = 0
      for (let d = 0; d < dim; d++) s += a[i * dim + d] * b[j * dim + d]
      t.ok(Math.abs(out[i * nb + j] - s) < 1e-4)
    }
  }
})

t.test('assignNearest picks the argmax with bias', async (t) => {
  const rows = 500, dim = 32
  const m = rand(rows * dim)

  const pts = rand(600 * dim), bias = rand(rows)
  const best = new Int32Array(600), score = new Float32Array(600)
  assignNearest(pts, 0, 600, dim, m, rows, bias, best, 0, score)
  const dots = naive(pts, 600, m, rows, dim)
  let wrong = 0
  for (let p = 0; p < 600; p++) {
    let bi = 0
    for (let c = 1; c < rows; c++) if (dots[p * rows + c] + bias[c] > dots[p * rows + bi] + bias[bi]) bi = c
    // float32 vs float64 can flip a near tie; the chosen one must then be within rounding of the best
    if (best[p] !== bi && Math.abs(dots[p * rows + best[p]] + bias[best[p]] - (dots[p * rows + bi] + bias[bi])) > 1e-5) wrong++
  }
  t.equal(wrong, 0)
})

t.test('approx kernel: centroid-interaction scores with and without pruning (and a per-token floor) equal a direct computation', async (t) => {
  // 32 tokens: the maxima held in registers; 8 and 36: the loop over memory
  for (const qlen of [8, 32, 36]) {
  const arena = createSimdArena(0)!
  const K = 50, nDocs = 30
  const S = rand(K * qlen)
  // any non-zero flag keeps a code
  const kept = Uint8Array.from({ length: K }, () => (rng.next() < 0.4 ? 1 + rng.int(255) : 0))
  const docs = Array.from({ length: nDocs }, () => Uint16Array.from({ length: 1 + rng.int(12) }, () => rng.int(K)))
  const total = docs.reduce((s, d) => s + d.length, 0)
  const sPtr = 0, keptPtr = K * qlen * 4, codesPtr = keptPtr + 64, endsPtr = codesPtr + Math.ceil((total * 2) / 16) * 16, accPtr = endsPtr + nDocs * 4, outPtr = accPtr + qlen * 8
  arena.reserve(outPtr + nDocs * 4)
  arena.f32(sPtr, K * qlen).set(S)
  arena.u8(keptPtr, K).set(kept)
  const codes = arena.u16(codesPtr, total), ends = arena.i32(endsPtr, nDocs)
  docs.reduce((at, d, i) => { codes.set(d, at); ends[i] = at + d.length; return at + d.length }, 0)
  const floor = Float32Array.from({ length: qlen }, (_, j) => (j % 3 === 0 ? -9999 : rng.next() - 0.5))
  arena.f32(accPtr + qlen * 4, qlen).set(floor)
  // pruning last: at 32 tokens the kernel compacts each document's kept codes in place
  for (const prune of [false, true]) {
    arena.approx(codesPtr, endsPtr, nDocs, sPtr, qlen, prune ? keptPtr : 0, accPtr, outPtr)
    const out = arena.f32(outPtr, nDocs)
    for (let d = 0; d < nDocs; d++) {
      let sum = 0
      for (let j = 0; j < qlen; j++) {
        let m = floor[j]
        for (const c of docs[d]) if (!prune || kept[c]) m = Math.max(m, S[c * qlen + j])
        sum += m
      }
      t.ok(Math.abs(out[d] - sum) < 1e-3 * Math.max(1, Math.abs(sum) / 100), `qlen ${qlen} doc ${d} prune ${prune}: ${out[d]} vs ${sum}`)
      // summed in float32 in token order, as the kernel does: the same float
      let f = 0
      for (let j = 0; j < qlen; j++) {
        let m = floor[j]
        for (const c of docs[d]) if (!prune || kept[c]) m = Math.max(m, S[c * qlen + j])
        f = Math.fround(f + m)
      }
      if (out[d] !== f) t.fail(`qlen ${qlen} doc ${d} prune ${prune}: ${out[d]} is not the float32 sum ${f}`)
    }
  }
  }
})

t.test('best_codes: per document and token the best centroid score over its codes and the first code reaching it (ties, −∞ rows, an empty document)', async (t) => {
  // 32 tokens: two walks with registers; 12: the loop over memory
  for (const qlen of [12, 32]) {
  const arena = createSimdArena(0)!
  const K = 40, nDocs = 25
  // scores on a coarse grid, so that ties occur; a few rows −∞ (cells hidden from the search)
  const S = Float32Array.from({ length: K * qlen }, () => Math.round(rng.next() * 6) / 6)
  for (const c of [3, 17]) S.fill(-Infinity, c * qlen, (c + 1) * qlen)
  const docs = Array.from({ length: nDocs }, (_, d) => d === 4 ? Uint16Array.of() : d === 7 ? Uint16Array.of(3, 17) : Uint16Array.from({ length: 1 + rng.int(15) }, () => rng.int(K)))
  const total = docs.reduce((s, d) => s + d.length, 0)
  const sPtr = 0, codesPtr = K * qlen * 4, endsPtr = codesPtr + Math.ceil((total * 2) / 16) * 16, bestPtr = endsPtr + nDocs * 4 + 16, posPtr = bestPtr + nDocs * qlen * 4
  arena.reserve(posPtr + nDocs * qlen * 4)
  arena.f32(sPtr, K * qlen).set(S)
  const codes = arena.u16(codesPtr, Math.max(1, total)), ends = arena.i32(endsPtr, nDocs)
  docs.reduce((at, d, i) => { codes.set(d, at); ends[i] = at + d.length; return at + d.length }, 0)
  arena.bestCodes(codesPtr, endsPtr, nDocs, sPtr, qlen, bestPtr, posPtr)
  const best = arena.f32(bestPtr, nDocs * qlen), pos = arena.i32(posPtr, nDocs * qlen)
  let bad = 0, ties = 0
  for (let d = 0, first = 0; d < nDocs; first += docs[d].length, d++) {
    for (let j = 0; j < qlen; j++) {
      let b = -Infinity, at = -1
      docs[d].forEach((c, x) => {
        const s = S[c * qlen + j]
        if (s === b && at >= 0) ties++
        if (s > b) { b = s; at = first + x }
      })
      if (best[d * qlen + j] !== b || pos[d * qlen + j] !== at) bad++
    }
  }
  t.equal(bad, 0, `qlen ${qlen}: every (document, token) as computed plainly`)
  t.ok(ties > 0, `ties occurred (${ties}) and went to the first code`)
  t.same(Array.from(pos.subarray(4 * qlen, 5 * qlen)), new Array(qlen).fill(-1), 'an empty document has no code')
  t.same(Array.from(pos.subarray(7 * qlen, 8 * qlen)), new Array(qlen).fill(-1), 'a document of hidden cells only has none either')
  }
})

t.test('scanScores (block maxima + rows-above kernel, or gated scan) equals the plain per-token top-ncells and row maxima', async (t) => {
  // K below and above the 256 blocks; ties in S (rounded values) test the strict order; `smooth`: scores that drift
  // slowly with the row (neighbouring rows alike, as centroids in k-means order can be), so the best rows cluster
  const cases = [[700, 12, 'plain'], [6000, 16, 'plain'], [5000, 8, 'ties'], [3000, 40, 'plain'], [100, 32, 'plain'], [4000, 32, 'smooth'], [2000, 32, 'ties']] as const
  for (const [K, qlen, kind] of cases) {
  const S = rand(K * qlen)
  if (kind === 'ties') for (let i = 0; i < S.length; i++) S[i] = Math.round(S[i] * 50) / 50
  if (kind === 'smooth') for (let c = 0; c < K; c++) for (let j = 0; j < qlen; j++) S[c * qlen + j] = Math.fround(Math.sin(c / 300 + j) + 0.01 * S[c * qlen + j])
  const arena = createSimdArena(K * qlen * 4 + K * 4 + 64)!
  arena.f32(0, K * qlen).set(S)
  const ca = { arena, coarsePtr: 0, scratch: 0, tablePtr: 0, tableWeights: null }
  for (const ncells of [1, 3, 8, 2100]) {
    if (ncells > K) continue
    const ref = topCentroidsPerToken(S, qlen, K, ncells)
    for (const [useArena, label] of [[true, 'kernel'], [false, 'typescript']] as const) {
      // a threshold equal to some score (the boundary of ≥), and one between float32 values
      const threshold = ncells % 2 === 1 ? S[17] : 0.3 + 1e-9
      const kept = new Uint8Array(K).fill(7)
      const got = scanScores(S, qlen, K, ncells, threshold, kept, useArena ? ca : null, useArena ? 0 : -1)
      t.same(Array.from(got), Array.from(ref), `${label} K ${K} qlen ${qlen} ${kind} ncells ${ncells}`)
      let bad = 0
      for (let c = 0; c < K; c++) if (kept[c] !== (Math.max(...S.subarray(c * qlen, (c + 1) * qlen)) >= threshold ? 1 : 0)) bad++
      t.equal(bad, 0, `${label}: kept = some score ≥ threshold`)
    }
  }
  }
})

t.test('block_max: per residue block and token the block maximum (−∞ for an empty block), and kept = some score of the row > thr', async (t) => {
  for (const [rows, qlen, blocks] of [[1000, 32, 256], [300, 8, 64], [50, 12, 64], [256, 4, 256]] as const) {
    const S = rand(rows * qlen)
    for (let i = 0; i < S.length; i += 7) S[i] = Math.round(S[i] * 8) / 8 // ties with the threshold
    const thr = 0.25
    const arena = createSimdArena(0)!
    const outPtr = rows * qlen * 4, keptPtr = outPtr + blocks * qlen * 4
    arena.reserve(keptPtr + rows)
    arena.f32(0, rows * qlen).set(S)
    for (const withKept of [true, false]) {
      arena.u8(keptPtr, rows).fill(9)
      arena.blockMax(0, rows, qlen, blocks, outPtr, withKept ? keptPtr : 0, thr)
      const out = arena.f32(outPtr, blocks * qlen), kept = arena.u8(keptPtr, rows)
      let bad = 0
      for (let b = 0; b < blocks; b++) for (let j = 0; j < qlen; j++) {
        let m = -Infinity
        for (let r = b; r < rows; r += blocks) m = Math.max(m, S[r * qlen + j])
        if (out[b * qlen + j] !== m) bad++
      }
      t.equal(bad, 0, `rows ${rows}, qlen ${qlen}, blocks ${blocks}: every block maximum`)
      let badKept = 0
      for (let r = 0; r < rows; r++) {
        const want = withKept ? (Math.max(...S.subarray(r * qlen, (r + 1) * qlen)) > thr ? 1 : 0) : 9
        if (kept[r] !== want) badKept++
      }
      t.equal(badKept, 0, withKept ? 'kept flags as computed plainly' : 'no kept pointer: nothing written')
    }
  }
})

t.test('int16 dot tiles (plain and indexed rows) equal exact integer sums for odd and even column counts', async (t) => {
  for (const [na, nb, dim] of [[1, 1, 8], [5, 2, 16], [9, 3, 128], [13, 32, 128], [4, 7, 24]]) {
    const nIdx = na + 3
    const aPtr = 0, bPtr = aPtr + nIdx * dim * 2, idxPtr = bPtr + nb * dim * 2, outPtr = idxPtr + na * 4
    const arena = createSimdArena(outPtr + na * nb * 4)!
    const a = arena.i16(aPtr, nIdx * dim), b = arena.i16(bPtr, nb * dim)
    for (let i = 0; i < a.length; i++) a[i] = rng.int(65536) - 32768
    for (let i = 0; i < b.length; i++) b[i] = rng.int(2001) - 1000
    const idx = arena.i32(idxPtr, na)
    for (let i = 0; i < na; i++) idx[i] = (i * 5 + 2) % nIdx
    const scale = 1 / 1024
    const expect = (row: number, j: number): number => {
      let s = 0
      for (let d = 0; d < dim; d++) s += a[row * dim + d] * b[j * dim + d]
      return Math.fround(Math.fround(s) * scale)
    }
    arena.dotTileI16(aPtr, na, bPtr, nb, dim, outPtr, scale)
    let bad = 0
    let out = arena.f32(outPtr, na * nb)
    for (let i = 0; i < na; i++) for (let j = 0; j < nb; j++) if (out[i * nb + j] !== expect(i, j)) bad++
    t.equal(bad, 0, `plain ${na}×${nb}×${dim}`)
    arena.dotTileIdxI16(idxPtr, na, bPtr, nb, dim, outPtr, aPtr, scale)
    out = arena.f32(outPtr, na * nb)
    bad = 0
    for (let i = 0; i < na; i++) for (let j = 0; j < nb; j++) if (out[i * nb + j] !== expect(idx[i], j)) bad++
    t.equal(bad, 0, `indexed ${na}×${nb}×${dim}`)
  }
})

t.test('float32Below: x > float32Below(t) exactly when x ≥ t, for float32 x around t', async (t) => {
  const box = new Float32Array(1), bits = new Int32Array(box.buffer)
  let bad = 0
  for (const th of [0.4, 0.45, -0.4, 0, -0, 1e-45, -1e-45, 0.5, 1 / 3, -1 / 3, 1e30, -7.25]) {
    const below = float32Below(th)
    box[0] = th
    const base = bits[0]
    for (let d = -3; d <= 3; d++) {
      bits[0] = base + d
      const x = box[0]
      if (Number.isFinite(x) && (x > below) !== (x >= th)) bad++
    }
    t.ok(below < th, `${th}: ${below} is below it`)
  }
  t.equal(bad, 0)
})

t.test('maxsim_reduce: per document, the float64 sum over tokens of the max over its rows (an empty document scores −∞), rows optionally scaled first', async (t) => {
  for (const qlen of [4, 32, 36]) {
    for (const scaled of [false, true]) {
      const lens = [3, 1, 0, 17, 5, 2]
      const total = lens.reduce((a, b) => a + b, 0)
      const simsPtr = 0, endsPtr = total * qlen * 4, rsPtr = endsPtr + 64, accPtr = rsPtr + total * 4, outPtr = accPtr + qlen * 4
      const arena = createSimdArena(outPtr + lens.length * 4)!
      const sims = rand(total * qlen)
      // scales spread over 0.2–3 reorder rows: the maximum unscaled is often not the maximum scaled
      const rs = Float32Array.from({ length: total }, () => 0.2 + 2.8 * rng.next())
      arena.f32(simsPtr, total * qlen).set(sims)
      arena.f32(rsPtr, total).set(rs)
      const ends = arena.i32(endsPtr, lens.length)
      lens.reduce((at, n, i) => (ends[i] = at + n), 0)
      arena.maxSimReduce(simsPtr, endsPtr, lens.length, qlen, accPtr, outPtr, scaled ? rsPtr : undefined)
      const out = arena.f32(outPtr, lens.length)
      let row = 0
      for (let d = 0; d < lens.length; d++) {
        let sum = 0
        for (let j = 0; j < qlen; j++) {
          let m = -Infinity
          for (let r = row; r < row + lens[d]; r++) m = Math.max(m, scaled ? Math.fround(sims[r * qlen + j] * rs[r]) : sims[r * qlen + j])
          sum += m
        }
        row += lens[d]
        t.equal(out[d], Math.fround(sum), `qlen ${qlen}${scaled ? ', scaled' : ''}, document ${d}`)
      }
    }
  }
})

t.test('decode_rows: int16 rows and 1 / norm, pooled and per-dimension tables, against the codec layout written plainly', async (t) => {
  const dim = 32, n = 9
  for (const nbits of [1, 2, 4] as const) {
    for (const perDimension of nbits === 4 ? [false] : [false, true]) {
      for (const cw of [1, 0.83]) {
        const levels = 1 << nbits, bpv = (dim * nbits) / 8, per = 8 / nbits
        // weights: row d (per dimension) or one row, distinct per level and dimension so a wrong row shows
        const weights = Float32Array.from({ length: (perDimension ? dim : 1) * levels }, (_, i) => (i % levels - levels / 2) * 0.01 * (1 + Math.floor(i / levels) * 0.1))
        const cents = Int16Array.from({ length: 5 * dim }, () => Math.round((rng.next() - 0.5) * 8000))
        const codes = Int32Array.from({ length: n }, (_, i) => (i * 3) % 5)
        const res = Uint8Array.from({ length: n * bpv }, () => Math.floor(rng.next() * 256))
        const scale = 1 / 16384
        const table = unitTableI16(nbits, weights, perDimension, scale)
        const arena = createSimdArena(1 << 20)!
        const [codesPtr, resPtr, centsPtr, tablePtr] = [0, 1024, 4096, 8192]
        const outPtr = tablePtr + table.byteLength, invPtr = outPtr + n * dim * 2
        arena.reserve(invPtr + n * 4)
        arena.i32(codesPtr, n).set(codes)
        arena.u8(resPtr, res.length).set(res)
        arena.i16(centsPtr, cents.length).set(cents)
        arena.i16(tablePtr, table.length).set(table)
        arena.decodeRows(nbits, codesPtr, resPtr, n, centsPtr, tablePtr, dim, outPtr, bpv, decodeUnitStride(nbits, perDimension), centroidQ15(cw), invPtr)
        let maxErr = 0, maxRowErr = 0
        for (let v = 0; v < n; v++) {
          const x = new Float64Array(dim)
          let s = 0
          for (let d = 0; d < dim; d++) {
            const bucket = (res[v * bpv + Math.floor(d / per)] >> (nbits * (d % per))) & (levels - 1)
            x[d] = cents[codes[v] * dim + d] * scale * cw + weights[(perDimension ? d * levels : 0) + bucket]
            s += x[d] * x[d]
          }
          const row = arena.i16(outPtr + v * dim * 2, dim), inv = arena.f32(invPtr, n)[v]
          let r2 = 0
          for (let d = 0; d < dim; d++) {
            r2 += row[d] * row[d]
            // the row itself: x at 2^-14, within the table's and the Q15 product's rounding (≤ 1 unit each)
            maxRowErr = Math.max(maxRowErr, Math.abs(row[d] - x[d] / scale))
            // normalised: the rows' ≤ 2 units, and what they do to the norm, scaled by 1 / norm
            maxErr = Math.max(maxErr, Math.abs(row[d] * inv - x[d] / Math.sqrt(s)) / (3 * inv))
          }
          t.ok(Math.abs(inv * Math.sqrt(r2) - 1) < 1e-6, `nbits ${nbits} vector ${v}: inv is the row's 1 / norm`)
        }
        const label = `nbits ${nbits}, ${perDimension ? 'per dimension' : 'pooled'}, centroid weight ${cw}`
        t.ok(maxRowErr <= 2, `${label}: int16 rows within ${maxRowErr} units of C·w + r`)
        t.ok(maxErr <= 1, `${label}: row · inv = the normalised vector within 3 units / norm (worst ${maxErr.toFixed(2)} of that)`)
      }
    }
  }
})


t.test('probe_scan: one list scanned for one token equals a plain scan (gaps with escapes, slot walk, allowed flags, best per slot)', async (t) => {
  const arena = createSimdArena(1 << 16)!
  const r = createPrng(11)
  for (const [words, nSlots, nVectors, listLen] of [[8, 40, 3000, 200], [4, 7, 150_000, 60], [16, 300, 5000, 500], [1, 2, 100, 30]]) {
    // documents of uneven lengths (some under a block of 64 positions, some over), as ascending position ranges
    const docStart = new Uint32Array(nSlots)
    for (let s = 1; s < nSlots; s++) docStart[s] = Math.min(nVectors - (nSlots - s), docStart[s - 1] + 1 + r.int(2 * Math.ceil(nVectors / nSlots)))
    const shift = 6
    const blockSlot = new Uint32Array(Math.ceil(nVectors / 64))
    for (let b = 0, s = 0; b < blockSlot.length; b++) {
      while (s + 1 < nSlots && docStart[s + 1] <= b << shift) s++
      blockSlot[b] = s
    }
    // an ascending list of positions, with gaps over 65535 written as escapes (0, high, low)
    // (a large collection's list in three narrow bands, so that some gaps need escapes)
    const draw = (): number => nVectors > 0xffff ? Math.floor(r.int(3) * (nVectors - 200) / 2) + r.int(200) : r.int(nVectors)
    const positions = [...new Set(Array.from({ length: listLen }, draw))].sort((a, b) => a - b)
    const gaps: number[] = []
    let prev = -1, escapes = 0
    for (const v of positions) {
      const g = v - prev
      if (g > 0 && g <= 0xffff) gaps.push(g)
      else { gaps.push(0, v >>> 16, v & 0xffff); escapes++ }
      prev = v
    }
    const bpv = words * 4
    const res = Uint8Array.from({ length: positions.length * bpv }, () => r.int(256))
    const lut = Float32Array.from({ length: bpv * 256 }, () => (r.next() - 0.5) * 0.3)
    const allowed = Uint8Array.from({ length: nSlots }, () => (r.next() < 0.8 ? 1 : 0))
    const base = (r.next() - 0.5) * 2
    const epoch = 7
    // slots already reached by this token (epoch 7) keep a best to beat; others carry an older epoch
    const mark0 = Uint32Array.from({ length: nSlots }, () => (r.next() < 0.3 ? epoch : 3))
    const best0 = Float32Array.from({ length: nSlots }, () => (r.next() - 0.5) * 4)
    const touched0 = [...mark0.keys()].filter((s) => mark0[s] === epoch)

    // plain reference
    const mark = mark0.slice(), best = best0.slice(), touched = [...touched0]
    let top = -1.5
    positions.forEach((v, i) => {
      let slot = 0
      while (slot + 1 < nSlots && docStart[slot + 1] <= v) slot++
      if (!allowed[slot]) return
      const s4 = [base, 0, 0, 0]
      for (let b = 0; b < bpv; b++) s4[b & 3] += lut[b * 256 + res[i * bpv + b]]
      const sc = (s4[0] + s4[1]) + (s4[2] + s4[3])
      if (sc > top) top = sc
      if (mark[slot] !== epoch) { mark[slot] = epoch; best[slot] = sc; touched.push(slot) } else if (sc > best[slot]) best[slot] = sc
    })

    const at = { gaps: 0, res: 0, lut: 0, block: 0, doc: 0, allowed: 0, mark: 0, best: 0, touched: 0, top: 0 }
    let p = 64
    const take = (key: keyof typeof at, bytes: number): void => { at[key] = p; p = (p + bytes + 15) & ~15 }
    take('gaps', gaps.length * 2); take('res', res.length); take('lut', lut.length * 4); take('block', blockSlot.length * 4)
    take('doc', (nSlots + 1) * 4); take('allowed', nSlots); take('mark', nSlots * 4); take('best', nSlots * 4); take('touched', (nSlots + 1) * 4); take('top', 8) // touched: room for the store past its count
    arena.reserve(p)
    arena.u16(at.gaps, gaps.length).set(gaps)
    arena.u8(at.res, res.length).set(res)
    arena.f32(at.lut, lut.length).set(lut)
    arena.u32(at.block, blockSlot.length).set(blockSlot)
    arena.u32(at.doc, nSlots + 1).set([...docStart, 0xffffffff]) // the sentinel after the last slot
    arena.u8(at.allowed, nSlots).set(allowed)
    arena.u32(at.mark, nSlots).set(mark0)
    arena.f32(at.best, nSlots).set(best0)
    arena.u32(at.touched, nSlots).set(touched0)
    arena.f64(at.top, 1)[0] = -1.5
    const n = arena.probeScan(at.gaps, gaps.length, at.res, words, at.lut, base, at.block, shift, at.doc, nSlots, at.allowed, at.mark, at.best, at.touched, touched0.length, epoch, at.top)
    const label = `${words} words, ${nSlots} slots, ${positions.length} positions in ${nVectors} (${escapes} escapes)`
    if (nVectors > 0xffff) t.ok(escapes > 0, `${label}: the list has escapes`)
    t.equal(n, touched.length, `${label}: slots reached`)
    t.same(Array.from(arena.u32(at.touched, n)), touched, `${label}: in the order reached`)
    t.same(Array.from(arena.u32(at.mark, nSlots)), Array.from(mark), `${label}: epochs`)
    t.same(Array.from(arena.f32(at.best, nSlots)), Array.from(best), `${label}: best per slot, bit for bit`)
    t.equal(arena.f64(at.top, 1)[0], top, `${label}: the top score`)
  }
})

t.test('probe_merge: tokens\' touched lists merged into rows, entries and gains as a plain merge does (doubles, token order)', async (t) => {
  const r = createPrng(23)
  const nSlots = 500, qlen = 6
  const arena = createSimdArena(0)!
  const slotsPtr = 0, bestPtr = slotsPtr + nSlots * 4, markPtr = bestPtr + nSlots * 4, rowPtr = markPtr + nSlots * 4
  const docsPtr = rowPtr + nSlots * 4, gainPtr = docsPtr + nSlots * 4, statePtr = gainPtr + nSlots * 8
  const entryRowPtr = statePtr + 16, entryBestPtr = entryRowPtr + qlen * nSlots * 4
  arena.reserve(entryBestPtr + qlen * nSlots * 4)
  // marks left by an earlier probe (epoch 3) must not count in this one (epoch 4)
  const mark = arena.u32(markPtr, nSlots)
  for (let s = 0; s < nSlots; s++) mark[s] = s % 5 === 0 ? 3 : 0
  const state = arena.i32(statePtr, 2)
  state[0] = 0
  state[1] = 0
  const want = { rowOf: new Map<number, number>(), docs: [] as number[], gain: [] as number[], entryRow: [] as number[], entryBest: [] as number[] }
  for (let j = 0; j < qlen; j++) {
    const n = r.int(nSlots / 2)
    const list = [...new Set(Array.from({ length: n }, () => r.int(nSlots)))]
    const best = Float32Array.from({ length: nSlots }, () => Math.fround(r.next() * 2 - 1))
    const floor = Math.fround(j === 2 ? 5 : r.next() - 0.8) // token 2: nothing beats its floor
    arena.u32(slotsPtr, list.length).set(list)
    arena.f32(bestPtr, nSlots).set(best)
    arena.probeMerge(slotsPtr, list.length, bestPtr, markPtr, 4, rowPtr, docsPtr, gainPtr, entryRowPtr, entryBestPtr, statePtr, floor)
    for (const slot of list) {
      let row = want.rowOf.get(slot)
      if (row === undefined) {
        row = want.docs.length
        want.rowOf.set(slot, row)
        want.docs.push(slot)
        want.gain.push(0)
      }
      if (best[slot]! > floor) {
        want.entryRow.push(row)
        want.entryBest.push(best[slot]!)
        want.gain[row]! += best[slot]! - floor
      }
    }
    t.same([state[0], state[1]], [want.entryRow.length, want.docs.length], `token ${j}: entries and documents counted`)
  }
  t.same(Array.from(arena.u32(docsPtr, want.docs.length)), want.docs, 'documents in the order first touched')
  t.same(Array.from(arena.f64(gainPtr, want.docs.length)), want.gain, 'gains: the same doubles')
  t.same(Array.from(arena.u32(entryRowPtr, want.entryRow.length)), want.entryRow, 'entry rows')
  t.same(Array.from(arena.f32(entryBestPtr, want.entryBest.length)), want.entryBest, 'entry bests')
  t.ok(want.entryRow.length > 0 && want.entryRow.length < want.docs.length * qlen, 'some entries beat their floor, not all')
})
