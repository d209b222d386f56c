import t from 'tap'
import { buildIvf, forEachPosition, forgetSlotInIvf, ivfBytes, setIvfDelta, slotOfVector } from '../../src/index/ivf.js'
import { residualRows } from '../../src/index/residual-rows.js'
import { createPrng } from '../../src/index/prng.js'

/** Documents of random lengths with random codes; some slots dead. Brute force: for each code, the live positions. */
function fixture(seed: number, nDocs: number, k: number, maxLen: number) {
  const prng = createPrng(seed)
  const rng = (): number => prng.next()
  const docStart = new Uint32Array(nDocs), docLen = new Uint32Array(nDocs)
  let n = 0
  for (let s = 0; s < nDocs; s++) {
    docStart[s] = n
    // a few very long documents push positions past 65536 so that gaps need the escape
    docLen[s] = s % 97 === 5 ? 70_000 : 1 + Math.floor(rng() * maxLen)
    n += docLen[s]
  }
  const codes = new Uint16Array(n)
  for (let v = 0; v < n; v++) codes[v] = rng() < 0.3 ? 0 : Math.floor(rng() * k) // code 0 is a huge cell
  // code k−1 never occurs in the long documents, so its list jumps over them (gaps ≥ 65536)
  for (let s = 0; s < nDocs; s++) if (docLen[s] === 70_000) for (let v = docStart[s]; v < docStart[s] + docLen[s]; v++) if (codes[v] === k - 1) codes[v] = 1
  const live = new Uint8Array(nDocs).map(() => (rng() < 0.9 ? 1 : 0))
  return { docStart, docLen, codes, live, n }
}

function expected(k: number, codes: Uint16Array, docStart: Uint32Array, docLen: Uint32Array, slots: number[]): number[][] {
  const out: number[][] = Array.from({ length: k }, () => [])
  for (const s of slots) for (let v = docStart[s]; v < docStart[s] + docLen[s]; v++) out[codes[v]].push(v)
  return out
}

t.test('gap-coded lists hold exactly the live slots\' positions per code, ascending, across the 65536 escape', async (t) => {
  for (const seed of [1, 2]) {
    const k = 64
    const f = fixture(seed, 300, k, 40)
    const liveSlots = [...f.live.keys()].filter((s) => f.live[s] === 1)
    const ivf = buildIvf(k, f.codes, f.docStart, f.docLen, Uint32Array.from(liveSlots), f.docStart.length)
    const want = expected(k, f.codes, f.docStart, f.docLen, liveSlots)
    let escaped = 0, wrong = 0
    for (let c = 0; c < k; c++) {
      const got: number[] = []
      forEachPosition(ivf.baseOffsets, ivf.baseGaps, c, (v) => got.push(v))
      if (got.length !== want[c].length || got.some((v, i) => v !== want[c][i])) wrong++
      for (let e = ivf.baseOffsets[c]; e < ivf.baseOffsets[c + 1]; e++) if (ivf.baseGaps[e] === 0) escaped++
    }
    t.equal(wrong, 0, `seed ${seed}: every code's list equals the brute force`)
    t.ok(escaped > 0, `seed ${seed}: ${escaped} escaped gaps exercised`)
    // about 2 bytes per listed vector
    const listed = want.reduce((a, l) => a + l.length, 0)
    t.ok(ivf.baseGaps.byteLength < 2.2 * listed, `${ivf.baseGaps.byteLength} bytes for ${listed} vectors`)
  }
})

t.test('a base vector\'s row (entry points every 64 rows, then gap steps) is its rank in its cell\'s list after the earlier cells, across escapes; unlisted vectors have none', async (t) => {
  const k = 64
  const f = fixture(3, 300, k, 40)
  const liveSlots = [...f.live.keys()].filter((s) => f.live[s] === 1)
  const ivf = buildIvf(k, f.codes, f.docStart, f.docLen, Uint32Array.from(liveSlots), f.docStart.length)
  const want = expected(k, f.codes, f.docStart, f.docLen, liveSlots)
  const rowOf = new Int32Array(f.n).fill(-1)
  let row = 0
  for (let c = 0; c < k; c++) for (const v of want[c]) rowOf[v] = row++
  // every vector (dead slots' vectors are in no list), single lookups and one batch in shuffled order
  const prng = createPrng(5)
  const order = Uint32Array.from({ length: f.n }, (_, i) => i)
  for (let i = f.n - 1; i > 0; i--) { const j = prng.int(i + 1); [order[i], order[j]] = [order[j], order[i]] }
  const batch = residualRows(ivf, f.codes, order, f.n)
  let wrong = 0, unlisted = 0
  for (let i = 0; i < f.n; i++) {
    const v = order[i]
    if (rowOf[v] < 0) unlisted++
    if (residualRows(ivf, f.codes, Uint32Array.of(v), 1)[0] !== rowOf[v] || batch[i] !== rowOf[v]) wrong++
  }
  t.equal(wrong, 0, `${f.n} lookups equal the brute-force ranks`)
  t.ok(unlisted > 0, `${unlisted} vectors of dead slots have no row`)
  t.equal(ivf.baseSkips.length, 2 * Math.ceil(row / 64), 'one entry point (offset, position) per 64 rows')
  t.ok(ivfBytes(ivf) >= ivf.baseSkips.byteLength + ivf.baseGaps.byteLength, 'the entry points are counted in the IVF bytes')
})

t.test('delta lists cover the slots appended after the base', async (t) => {
  const k = 32
  const f = fixture(7, 200, k, 30)
  const base = Uint32Array.from({ length: 150 }, (_, i) => i)
  const ivf = buildIvf(k, f.codes, f.docStart, f.docLen, base, 150)
  const delta = Uint32Array.from({ length: 50 }, (_, i) => 150 + i)
  setIvfDelta(ivf, f.codes, f.docStart, f.docLen, delta, 200)
  const want = expected(k, f.codes, f.docStart, f.docLen, [...delta])
  let wrong = 0
  for (let c = 0; c < k; c++) {
    const got: number[] = []
    forEachPosition(ivf.deltaOffsets, ivf.deltaGaps, c, (v) => got.push(v))
    if (got.length !== want[c].length || got.some((v, i) => v !== want[c][i])) wrong++
  }
  t.equal(wrong, 0, 'every code\'s delta list equals the brute force')
  // the block table was extended for the appended slots, not rebuilt: every position still maps to its slot
  let bad = 0
  for (let s = 0; s < 200; s++) for (let v = f.docStart[s]; v < f.docStart[s] + f.docLen[s]; v++) if (slotOfVector(ivf, f.docStart, 200, v) !== s) bad++
  t.equal(bad, 0, 'slotOfVector after the delta')
})

t.test('slotOfVector finds the owning slot of every position', async (t) => {
  for (const maxLen of [1, 3, 50]) {
    const f = fixture(11, 500, 8, maxLen)
    const ivf = buildIvf(8, f.codes, f.docStart, f.docLen, Uint32Array.from({ length: 500 }, (_, i) => i), 500)
    let bad = 0
    for (let s = 0; s < 500; s++) {
      for (let v = f.docStart[s]; v < f.docStart[s] + f.docLen[s]; v++) if (slotOfVector(ivf, f.docStart, 500, v) !== s) bad++
    }
    t.equal(bad, 0, `documents of 1..${maxLen} vectors (and some of 70,000): every position maps to its slot`)
  }
})

t.test('live counts per cell: the live vectors of base and delta, less the slots deleted since; a rebuild counts the same', async (t) => {
  const k = 40
  const { docStart, docLen, codes, live } = fixture(21, 300, k, 50)
  const baseSlots = 200
  const liveBase = [...Array(baseSlots).keys()].filter((s) => live[s])
  const ivf = buildIvf(k, codes, docStart, docLen, Uint32Array.from(liveBase), baseSlots)
  setIvfDelta(ivf, codes, docStart, docLen, Uint32Array.from([...Array(100).keys()].map((i) => baseSlots + i).filter((s) => live[s])), 300)
  // deletes after the lists were built: base slots and delta slots
  for (const s of [3, 50, 120, 210, 299]) {
    if (!live[s]) continue
    live[s] = 0
    forgetSlotInIvf(ivf, codes, docStart, docLen, s)
  }
  const want = new Uint32Array(k)
  for (let s = 0; s < 300; s++) if (live[s]) for (let v = docStart[s]; v < docStart[s] + docLen[s]; v++) want[codes[v]]++
  const got = Uint32Array.from({ length: k }, (_, c) => ivf.baseCounts[c] + ivf.deltaCounts[c])
  t.equal(buildIvf(k, codes, docStart, docLen, Uint32Array.from(liveBase), baseSlots).deltaCounts.length, 0, 'no delta: no delta counts')
  t.same(Array.from(got), Array.from(want), 'base + delta counts = live vectors per code (brute force)')
  const rebuilt = buildIvf(k, codes, docStart, docLen, Uint32Array.from([...Array(300).keys()].filter((s) => live[s])), 300)
  t.same(Array.from(rebuilt.baseCounts), Array.from(want), 'a rebuild over the live slots counts the same')
  const before = Array.from(got)
  forgetSlotInIvf(ivf, codes, docStart, docLen, 400)
  t.same(Array.from({ length: k }, (_, c) => ivf.baseCounts[c] + ivf.deltaCounts[c]), before, 'a slot never counted changes nothing')
})
