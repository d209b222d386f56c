/**
 * The original vectors kept beside the compressed index (src/index/original-rows.ts): int8 quantization, the widen
 * kernel, the memory and file stores, and at index level that the exact stage ranks by the originals — every score is
 * checked against a float64 MaxSim over the records decoded independently (the documented layout: float32 LE scale,
 * then dim int8 values) from the record file itself, through updates, deletes, compaction, re-training, snapshots,
 * a missing record file, and the search workers.
 */
import t, { type Test } from 'tap'
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  createFileOriginalRows, createMemoryOriginalRows, dequantizeOriginalRow, openFileOriginalRows, originalRowBytes, type OriginalRows,
  quantizeOriginalRows, readerOf,
} from '../../src/index/original-rows.js'
import { createPlaidIndex, type IndexState, type PlaidIndex, restorePlaidIndex } from '../../src/index/plaid-index.js'
import { createPrng } from '../../src/index/prng.js'
import { createSimdArena, simdAvailable } from '../../src/index/simd-kernels.js'
import { loadSnapshot, originalsDirOf, saveIndexSnapshot } from '../../src/index/snapshot.js'
import { readSnapshotFiles } from '../../src/index/snapshot-format.js'
import { createSearchPool } from '../../src/search-workers/search-pool.js'
import { gaussian, liveDecoded, makeDocs, maxSim64, queryFor } from './synthetic-vectors.js'

const root = await mkdtemp(join(tmpdir(), 'original-rows-'))
t.teardown(() => rm(root, { recursive: true, force: true }))

/** Exhaustive PLAID parameters: every cell, every candidate to the exact stage, no pruning. */
const EVERYTHING = { ncells: 1 << 20, ndocs: 1 << 20, centroidScoreThreshold: -10 }
/** float32 kernels against a float64 reference (and the query's int16 rounding in the SIMD tile) */
const TOL = 1e-3
const RECORD_FILE = /^rows-([0-9a-f]+)-(\d+)\.bin$/

function randomVectors(n: number, dim: number, seed: number, spread = 1): Float32Array {
  const rng = createPrng(seed)
  return Float32Array.from({ length: n * dim }, () => spread * gaussian(rng))
}

// ---- an independent reading of the record layout ---------------------------------------------------------------

interface Record { scale: number; q: Int8Array }

function recordAt(bytes: Uint8Array, r: number, dim: number): Record {
  const off = r * (dim + 4)
  const scale = new DataView(bytes.buffer, bytes.byteOffset + off, 4).getFloat32(0, true)
  return { scale, q: new Int8Array(bytes.buffer.slice(bytes.byteOffset + off + 4, bytes.byteOffset + off + 4 + dim)) }
}

/** The expected record of x: scale = max |x_d| / 127 (float32), q = round(x / scale) in [−127, 127]. */
/** Nearest integer, ties to the even one (the documented rounding of x · (1 / scale), both in float32). */
function roundHalfEven(v: number): number {
  const r = Math.round(v)
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r
}

function expectedRecords(x: Float32Array, n: number, dim: number): Uint8Array {
  const out = new Uint8Array(n * (dim + 4))
  const view = new DataView(out.buffer)
  for (let r = 0; r < n; r++) {
    let max = 0
    for (let d = 0; d < dim; d++) max = Math.max(max, Math.abs(x[r * dim + d]))
    const scale = Math.fround(max / 127)
    view.setFloat32(r * (dim + 4), scale, true)
    for (let d = 0; d < dim; d++) view.setInt8(r * (dim + 4) + 4 + d, scale === 0 ? 0 : Math.max(-127, Math.min(127, roundHalfEven(Math.fround(x[r * dim + d] * Math.fround(1 / scale))))))
  }
  return out
}

/** Records `from`..`from + n` as float32 vectors: q · scale. */
function decodeRecords(bytes: Uint8Array, from: number, n: number, dim: number): Float32Array {
  const out = new Float32Array(n * dim)
  for (let r = 0; r < n; r++) {
    const { scale, q } = recordAt(bytes, from + r, dim)
    for (let d = 0; d < dim; d++) out[r * dim + d] = q[d] * scale
  }
  return out
}

/** Every component of `rec` within its scale / 2 of x (plus float32 rounding). */
function withinHalfStep(x: Float32Array, bytes: Uint8Array, from: number, n: number, dim: number): { ok: boolean; worst: number } {
  let ok = true, worst = 0
  for (let r = 0; r < n; r++) {
    const { scale, q } = recordAt(bytes, from + r, dim)
    for (let d = 0; d < dim; d++) {
      const err = Math.abs(q[d] * scale - x[r * dim + d])
      worst = Math.max(worst, scale > 0 ? err / scale : err)
      if (err > scale / 2 + 1e-7) ok = false
    }
  }
  return { ok, worst }
}

/** The record bytes an index holds now: its record file, read from disk, or its in-memory array. */
function recordBytes(state: IndexState, dir: string | undefined): Uint8Array {
  const file = state.scalars.originalsFile
  if (typeof file === 'string') return readFileSync(join(dir!, file))
  return state.arrays.originals as Uint8Array
}

/** Live documents with their originals decoded from the records (slot order). */
function liveOriginals(state: IndexState, bytes: Uint8Array): Array<{ id: string; vectors: Float32Array; start: number; len: number }> {
  const dim = state.settings.dim
  const { docStart, docLen, live } = state.arrays as unknown as { docStart: Uint32Array; docLen: Uint32Array; live: Uint8Array }
  const out = []
  for (let s = 0; s < state.ids.length; s++) {
    if (!live[s]) continue
    out.push({ id: state.ids[s], vectors: decodeRecords(bytes, docStart[s], docLen[s], dim), start: docStart[s], len: docLen[s] })
  }
  return out
}

function rank(q: Float32Array, docs: Array<{ id: string; vectors: Float32Array }>, dim: number): Array<{ id: string; score: number }> {
  return docs.map((d) => ({ id: d.id, score: maxSim64(q, d.vectors, dim) })).sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1))
}

/**
 * The index's exhaustive search equals brute-force MaxSim over the original records it holds: records read from the
 * record file (or the exported array) and decoded independently; each live document's records are checked against the
 * vectors it was upserted with (so the numbering after compaction/re-training is right); scores rank by rank, clear
 * winners by id; and the originals are really what is ranked: some hit's score differs from its decompressed one.
 */
function checkRanksByOriginals(
  t: Test, index: PlaidIndex, inputs: Map<string, Float32Array>, queries: Float32Array[], k: number, label: string, dir?: string,
): void {
  const state = index.exportState()
  const dim = state.settings.dim
  const bytes = recordBytes(state, dir)
  t.equal(state.scalars.originalsRows, state.scalars.nVectors, `${label}: one record per stored vector`)
  t.ok(bytes.length >= Number(state.scalars.originalsRows) * (dim + 4), `${label}: the records are all there (${bytes.length} bytes)`)
  const docs = liveOriginals(state, bytes)
  t.same(docs.map((d) => d.id).sort(), [...inputs.keys()].sort(), `${label}: the live documents`)
  let badDocs = 0
  for (const d of docs) if (!withinHalfStep(inputs.get(d.id)!, bytes, d.start, d.len, dim).ok) badDocs++
  t.equal(badDocs, 0, `${label}: every live document's records are its own vectors (within scale / 2)`)
  const decoded = state.scalars.trained ? new Map(liveDecoded(state).map((d) => [d.id, d.vectors])) : null
  let maxErr = 0, missed = 0, lengthOk = true, maxOffDecoded = 0
  for (const q of queries) {
    const ref = rank(q, docs, dim)
    const got = index.search(q, { k, ...EVERYTHING }).hits
    if (got.length !== Math.min(k, ref.length)) lengthOk = false
    for (let i = 0; i < got.length; i++) {
      maxErr = Math.max(maxErr, Math.abs(got[i].score - ref[i].score))
      if (decoded !== null) maxOffDecoded = Math.max(maxOffDecoded, Math.abs(got[i].score - maxSim64(q, decoded.get(got[i].id)!, dim)))
    }
    const ids = new Set(got.map((h) => h.id))
    for (let i = 0; i < Math.min(k, ref.length); i++) {
      const clear = (i === 0 || ref[i - 1].score - ref[i].score > TOL) && (i + 1 >= ref.length || ref[i].score - ref[i + 1].score > TOL)
      if (clear && !ids.has(ref[i].id)) missed++
    }
  }
  t.ok(lengthOk, `${label}: k hits per query`)
  t.ok(maxErr < TOL, `${label}: scores equal brute-force MaxSim over the original records rank by rank (max error ${maxErr.toExponential(2)})`)
  t.equal(missed, 0, `${label}: every clear winner of the brute-force ranking is returned`)
  if (decoded !== null) t.ok(maxOffDecoded > 10 * TOL, `${label}: not the decompressed vectors' scores (up to ${maxOffDecoded.toFixed(4)} apart)`)
}

function recordFiles(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((f) => RECORD_FILE.test(f)).sort() : []
}

// ---- 1. quantization ---------------------------------------------------------------------------------------------

t.test('quantizeOriginalRows / dequantizeOriginalRow: each component within scale / 2, scale = max |x| / 127; zeros stay zeros', async (t) => {
  for (const dim of [32, 128, 7]) {
    const n = 40
    const x = randomVectors(n, dim, dim, 0.3)
    // a few awkward rows: all zero, one large component, tiny values, negative extreme
    x.fill(0, 3 * dim, 4 * dim)
    x[5 * dim + 2] = 1e4
    for (let d = 0; d < dim; d++) x[6 * dim + d] = 1e-30 * (d - dim / 2)
    x[7 * dim] = -3
    const bpr = originalRowBytes(dim)
    t.equal(bpr, dim + 4)
    const out = new Uint8Array(n * bpr + 10)
    quantizeOriginalRows(x, n, dim, out, 10)
    const rec = out.subarray(10)
    t.same(Array.from(rec), Array.from(expectedRecords(x, n, dim)), `dim ${dim}: records as documented (offset output)`)
    let bad = 0, worst = 0
    const back = new Float32Array(n * dim + 3)
    for (let r = 0; r < n; r++) {
      dequantizeOriginalRow(out, 10 + r * bpr, dim, back, 3 + r * dim)
      const { scale } = recordAt(rec, r, dim)
      let max = 0
      for (let d = 0; d < dim; d++) max = Math.max(max, Math.abs(x[r * dim + d]))
      if (scale !== Math.fround(max / 127)) bad++
      for (let d = 0; d < dim; d++) {
        const err = Math.abs(back[3 + r * dim + d] - x[r * dim + d])
        worst = Math.max(worst, scale > 0 ? err / scale : err)
        if (err > scale / 2 + 1e-7 * Math.abs(x[r * dim + d])) bad++
      }
    }
    t.equal(bad, 0, `dim ${dim}: scale = max|x|/127 and every component within scale/2 (worst ${worst.toFixed(3)} scale)`)
    const zero = recordAt(rec, 3, dim)
    t.equal(zero.scale, 0, `dim ${dim}: an all-zero vector has scale 0`)
    t.ok(zero.q.every((v) => v === 0) && back.subarray(3 + 3 * dim, 3 + 4 * dim).every((v) => v === 0), `dim ${dim}: and dequantizes to zeros`)
    t.equal(recordAt(rec, 5, dim).q[2], 127, 'the largest component is ±127')
    t.equal(recordAt(rec, 7, dim).q[0], -127)
  }
})

// ---- 2. the widen kernel -------------------------------------------------------------------------------------------

const noSimd = simdAvailable() ? false : 'WebAssembly SIMD is not available on this Node (or JACOLBERT_NO_SIMD=1): no widenRows kernel to test'
t.test('widenRows: the int8 values as int16 and the scales, dim 32 and 128', { skip: noSimd }, async (t) => {
  for (const dim of [32, 128]) {
    const n = 7, bpr = dim + 4
    const x = randomVectors(n, dim, 100 + dim)
    x.fill(0, 2 * dim, 3 * dim)
    x[4 * dim + dim - 1] = -50 // -127 in the last lane
    const rec = new Uint8Array(n * bpr)
    quantizeOriginalRows(x, n, dim, rec, 0)
    const arena = createSimdArena(1 << 16)!
    t.ok(arena !== null)
    // an odd source offset: records sit wherever the exact stage packs them
    const src = 3, out = 4096, scales = 16384
    arena.u8(0, 4096).fill(0xee)
    arena.u8(src, rec.length).set(rec)
    arena.i16(out, n * dim + 8).fill(12345)
    arena.widenRows(src, n, dim, bpr, out, scales)
    const got = Array.from(arena.i16(out, n * dim))
    const want: number[] = []
    for (let r = 0; r < n; r++) want.push(...recordAt(rec, r, dim).q)
    t.same(got, want, `dim ${dim}: ${n} rows of int16 = the int8 values`)
    t.same(Array.from(arena.f32(scales, n)), Array.from({ length: n }, (_, r) => recordAt(rec, r, dim).scale), `dim ${dim}: the scales`)
    t.same(Array.from(arena.i16(out + n * dim * 2, 8)), new Array(8).fill(12345), `dim ${dim}: nothing written past the rows`)
    arena.widenRows(src, 0, dim, bpr, out + n * dim * 2, scales + 64)
    t.same(Array.from(arena.i16(out + n * dim * 2, 8)), new Array(8).fill(12345), 'n = 0 writes nothing')
  }
})

// ---- 3. the stores ---------------------------------------------------------------------------------------------------

t.test('memory and file stores: same records in batches, ranges across batches, select by runs, new file per select', async (t) => {
  const dim = 32, bpr = dim + 4
  const batches = [3, 1, 5, 7, 4]
  const total = batches.reduce((a, b) => a + b, 0)
  const x = randomVectors(total, dim, 55, 0.2)
  const want = expectedRecords(x, total, dim)
  const dir = join(root, 'stores')
  const mem = createMemoryOriginalRows(dim)
  const file = createFileOriginalRows(dir, dim)
  t.equal(mem.home, 'memory')
  t.equal(file.home, 'file')
  const first = (file.snapshotPart() as { file: string }).file
  const [, token, gen] = RECORD_FILE.exec(first)!
  t.equal(gen, '1', `a new file store starts at generation 1 (${first})`)
  t.same(recordFiles(dir), [first])
  for (let i = 0, at = 0; i < batches.length; i++) {
    for (const s of [mem, file]) s.append(x.subarray(at * dim), batches[i])
    at += batches[i]
  }
  file.append(x, 0) // nothing
  for (const s of [mem, file]) {
    t.equal(s.rows, total, `${s.home}: rows`)
    t.equal(s.bytesPerRow, bpr)
  }
  t.equal(file.bytesOnDisk(), total * bpr)
  t.equal(mem.bytesOnDisk(), 0)
  t.ok(mem.bytesInMemory() >= total * bpr)
  t.equal(file.bytesInMemory(), 0)
  await file.sync()
  t.equal(statSync(join(dir, first)).size, total * bpr, 'the file holds exactly the records')
  t.same(Array.from(readFileSync(join(dir, first))), Array.from(want), 'the file\'s bytes are the records of all vectors')

  // ranges, several crossing batch boundaries (3, 4, 9, 16)
  for (const [v, n] of [[0, total], [2, 3], [3, 1], [4, 6], [8, 9], [total - 1, 1], [5, 0]]) {
    const a = new Uint8Array(n * bpr + 5).fill(7), b = new Uint8Array(n * bpr + 5).fill(7)
    mem.read(v, n, a, 5)
    file.read(v, n, b, 5)
    t.same(Array.from(a), Array.from(b), `records [${v}, ${v + n}): memory and file agree`)
    t.same(Array.from(a.subarray(5)), Array.from(want.subarray(v * bpr, (v + n) * bpr)), `records [${v}, ${v + n}) as expected`)
    for (const s of [mem, file]) {
      const c = new Uint8Array(n * bpr)
      readerOf(s.source()).read(v, n, c, 0)
      t.same(Array.from(c), Array.from(want.subarray(v * bpr, (v + n) * bpr)), `${s.home}: a reader of its source reads the same`)
    }
  }
  t.throws(() => file.read(total - 1, 2, new Uint8Array(2 * bpr), 0), /ends before/, 'reading past the file\'s end throws')

  // select: runs in the given order (not sorted), an empty run, a run at the very end
  const starts = Uint32Array.from([9, 1, 4, 0, total - 2]), lens = Uint32Array.from([3, 2, 0, 1, 2])
  const expect: number[] = []
  for (let i = 0; i < starts.length; i++) for (let v = starts[i]; v < starts[i] + lens[i]; v++) expect.push(...want.subarray(v * bpr, (v + 1) * bpr))
  const selected: OriginalRows[] = []
  for (const s of [mem, file]) {
    const sel = s.select(starts, lens, starts.length)
    selected.push(sel)
    t.equal(sel.home, s.home)
    t.equal(sel.rows, 8, `${s.home}: select keeps 8 records`)
    const got = new Uint8Array(8 * bpr)
    sel.read(0, 8, got, 0)
    t.same(Array.from(got), expect, `${s.home}: the selected records, run by run in order`)
    // the source is unchanged
    const all = new Uint8Array(total * bpr)
    s.read(0, total, all, 0)
    t.same(Array.from(all), Array.from(want), `${s.home}: the store selected from still reads the same`)
  }
  // `count` limits the runs used
  const two = mem.select(starts, lens, 2)
  t.equal(two.rows, 5, 'select(…, count = 2) uses the first two runs only')
  const fsel = selected[1]
  const second = (fsel.snapshotPart() as { file: string }).file
  t.match(second, /^rows-[0-9a-f]+-2\.bin$/, 'the file store\'s select writes rows-<token>-<gen + 1>.bin')
  t.not(second, `rows-${token}-2.bin`, 'with a token of its own (two indexes loaded from one snapshot never share a next file)')
  t.same(recordFiles(dir), [first, second].sort(), 'both files exist')
  t.equal(statSync(join(dir, second)).size, 8 * bpr)
  // appends go on after the selected records
  const extra = randomVectors(2, dim, 56)
  for (const s of selected) s.append(extra, 2)
  const tail = expectedRecords(extra, 2, dim)
  for (const s of selected) {
    const got = new Uint8Array(10 * bpr)
    s.read(0, 10, got, 0)
    t.same(Array.from(got), [...expect, ...tail], `${s.home}: select then append`)
  }
  const third = (fsel.select(Uint32Array.from([8]), Uint32Array.from([2]), 1).snapshotPart() as { file: string }).file
  t.match(third, /^rows-[0-9a-f]+-3\.bin$/, 'a select of a select: generation 3')

  // opening a file as a snapshot names it: records past the count are cut off; a shorter file or a bad name throws
  await fsel.sync()
  const reopened = openFileOriginalRows(dir, second, dim, 9)
  t.equal(reopened.rows, 9)
  t.equal(statSync(join(dir, second)).size, 9 * bpr, 'open cuts the file back to the count')
  const got = new Uint8Array(9 * bpr)
  reopened.read(0, 9, got, 0)
  t.same(Array.from(got), [...expect, ...tail.subarray(0, bpr)], 'the records up to the count are kept')
  t.throws(() => openFileOriginalRows(dir, second, dim, 10), /has \d+ bytes, the snapshot needs/, 'a shorter file throws')
  t.throws(() => openFileOriginalRows(dir, '../etc/passwd', dim, 0), /not a record file name/, 'a name that is not a record file throws')
  t.throws(() => openFileOriginalRows(dir, 'rows-abc-9.bin', dim, 0), 'a missing file throws')
  reopened.close()

  // prune keeps the store's own file and `keep`; close with remove deletes the file
  file.prune([second])
  t.same(recordFiles(dir), [first, second].sort(), 'prune: own file and kept file stay')
  file.prune([])
  t.same(recordFiles(dir), [first], 'prune([]): only the store\'s own file stays')
  file.close({ remove: true })
  t.same(recordFiles(dir), [], 'close({ remove }) deletes the file')
  t.notOk(existsSync(dir), 'and the emptied folder')
  fsel.close()
  mem.close()
})

// ---- 4. index level ------------------------------------------------------------------------------------------------

function setup(dim: number, seed: number) {
  const set = makeDocs({ seed, dim, nDocs: 260, nTopics: 20, minLen: 5, maxLen: 14, noise: 0.8 })
  const fresh = makeDocs({ seed: seed + 1, dim, nDocs: 40, nTopics: 6, minLen: 5, maxLen: 14, noise: 0.8, prefix: 'n' })
  const rng = createPrng(seed + 2)
  const queries = Array.from({ length: 4 }, () => queryFor(set.docs[rng.int(set.docs.length)].vectors, dim, 8, 0.5, rng))
  return { set, fresh, queries }
}

for (const { dim, home } of [{ dim: 32, home: 'file' }, { dim: 64, home: 'file' }, { dim: 32, home: 'memory' }, { dim: 20, home: 'file' }, { dim: 24, home: 'memory' }] as const) {
  const path = dim % 8 !== 0 ? ' (no centroid arena: the TypeScript exact stage)' : dim % 16 !== 0 ? ' (centroid arena, dim not a multiple of 16)' : ''
  t.test(`index, dim ${dim}, originals in ${home}${path}: exhaustive search = brute-force MaxSim over the original records, through updates, compaction and re-training`, async (t) => {
    const { set, fresh, queries } = setup(dim, 10 + dim)
    const dir = home === 'file' ? join(root, `index-${dim}`) : undefined
    const K = 16
    const index = createPlaidIndex({ dim, nbits: 2, minTrainVectors: 1200, numCentroids: K, seed: 5 }, dir === undefined ? undefined : { originalsDir: dir })
    const inputs = new Map<string, Float32Array>()
    const upsert = (docs: Array<{ id: string; vectors: Float32Array }>): void => {
      index.upsert(docs)
      for (const d of docs) inputs.set(d.id, d.vectors)
    }
    const del = (ids: string[]): void => {
      index.delete(ids)
      for (const id of ids) inputs.delete(id)
    }
    // untrained: a replacement and a delete before the training renumbers
    upsert(set.docs.slice(0, 60))
    t.notOk(index.stats().trained)
    upsert([{ id: set.docs[3].id, vectors: fresh.docs[0].vectors }])
    del([set.docs[4].id])
    upsert(set.docs.slice(60))
    const st = index.stats()
    t.ok(st.trained && st.centroids === K, 'trained')
    t.equal(st.originals?.home, home)
    t.equal(st.originals?.vectors, st.vectors, 'one record per stored vector')
    t.equal(st.originals?.bytesOnDisk, home === 'file' ? st.vectors * (dim + 4) : 0)
    t.equal(st.originals?.unavailable, undefined)
    if (dir !== undefined) t.ok(recordFiles(dir).length >= 1, `record files: ${recordFiles(dir).join(', ')}`)
    const params = { ncells: K, ndocs: 1 << 20, centroidScoreThreshold: -10 }
    // ncells = K explicitly as well as the large defaults of EVERYTHING
    const q0 = queries[0]
    t.same(index.search(q0, { k: 5, ...params }).hits, index.search(q0, { k: 5, ...EVERYTHING }).hits, 'ncells = K is everything')
    checkRanksByOriginals(t, index, inputs, queries, 5, 'after training', dir)

    // replace some, delete some, add some: dead records stay until compaction
    upsert(set.docs.slice(10, 20).map((d, i) => ({ id: d.id, vectors: fresh.docs[1 + i].vectors })))
    del(set.docs.slice(30, 45).map((d) => d.id))
    upsert(fresh.docs.slice(20, 25))
    checkRanksByOriginals(t, index, inputs, queries, 5, 'after updates and deletes', dir)
    const fileBefore = index.exportState().scalars.originalsFile

    index.compact()
    const afterCompact = index.exportState()
    t.equal(afterCompact.scalars.originalsRows, afterCompact.scalars.nVectors)
    t.equal(index.stats().originals?.vectors, [...inputs.values()].reduce((a, v) => a + v.length / dim, 0), 'compaction keeps the live records only')
    if (dir !== undefined) {
      const [, , gen] = RECORD_FILE.exec(String(fileBefore))!
      t.match(afterCompact.scalars.originalsFile, new RegExp(`^rows-[0-9a-f]+-${Number(gen) + 1}\\.bin$`), 'compaction writes the next generation\'s file')
    }
    checkRanksByOriginals(t, index, inputs, queries, 5, 'after compact()', dir)

    upsert(fresh.docs.slice(25, 30))
    del([set.docs[100].id])
    const fileBeforeRetrain = index.exportState().scalars.originalsFile
    index.retrain()
    t.equal(index.stats().drift.trainings, 2)
    if (dir !== undefined) {
      const [, , gen] = RECORD_FILE.exec(String(fileBeforeRetrain))!
      t.match(index.exportState().scalars.originalsFile, new RegExp(`^rows-[0-9a-f]+-${Number(gen) + 1}\\.bin$`), 're-training writes the next generation\'s file')
    }
    checkRanksByOriginals(t, index, inputs, queries, 5, 'after retrain()', dir)

    upsert([...fresh.docs.slice(30, 34), { id: set.docs[50].id, vectors: fresh.docs[35].vectors }])
    checkRanksByOriginals(t, index, inputs, queries.slice(0, 2), 8, 'appended after retrain()', dir)
    index.dispose({ removeFiles: true })
  })
}

// ---- 5. snapshots ----------------------------------------------------------------------------------------------

t.test('snapshot round trip with the records in a file: same hits; a reload cuts the file back; a second save prunes the old generation', async (t) => {
  const dim = 32, bpr = dim + 4
  const { set, fresh, queries } = setup(dim, 70)
  const dir = join(root, 'snap')
  const rowsDir = originalsDirOf(dir)
  t.equal(rowsDir, `${dir}.rows`)
  const index = createPlaidIndex({ dim, nbits: 2, minTrainVectors: 1000, numCentroids: 16, seed: 5 }, { originalsDir: rowsDir })
  index.upsert(set.docs.slice(0, 200))
  index.delete(set.docs.slice(0, 5).map((d) => d.id))
  const saved = index.exportState()
  await saveIndexSnapshot(index, dir)
  const file = String(saved.scalars.originalsFile)
  t.match(file, RECORD_FILE, `the state names the record file (${file})`)
  t.same(recordFiles(rowsDir), [file], 'the record file sits beside the snapshot folder')
  t.notOk(existsSync(join(dir, file)), 'not inside the snapshot folder (which a save replaces)')
  const onDisk = (await readSnapshotFiles(dir)).state
  t.equal(onDisk.scalars.originalsFile, file, 'the snapshot on disk names the record file')
  t.equal(onDisk.scalars.originalsRows, saved.scalars.nVectors, 'and its record count: one per stored vector')
  t.equal(onDisk.arrays.originals, undefined, 'and carries no records itself')

  const { index: loaded } = await loadSnapshot(dir)
  const ls = loaded.exportState()
  t.equal(ls.scalars.originalsFile, file, 'the loaded state names the same file')
  t.equal(ls.scalars.originalsRows, saved.scalars.nVectors)
  t.same(loaded.stats().originals, { home: 'file', vectors: saved.scalars.nVectors, bytesOnDisk: Number(saved.scalars.nVectors) * bpr }, 'loaded: records in the file')
  for (const [i, q] of queries.entries()) {
    t.same(loaded.search(q, { k: 10, ...EVERYTHING }).hits, index.search(q, { k: 10, ...EVERYTHING }).hits, `query ${i}: same hits and scores (exhaustive)`)
    t.same(loaded.search(q, { k: 10 }).hits, index.search(q, { k: 10 }).hits, `query ${i}: same hits and scores (defaults)`)
  }
  const inputs = new Map(set.docs.slice(5, 200).map((d) => [d.id, d.vectors]))
  checkRanksByOriginals(t, loaded, inputs, queries, 5, 'loaded', rowsDir)
  const snapHits = queries.map((q) => loaded.search(q, { k: 10, ...EVERYTHING }).hits)
  loaded.dispose()

  // the first index goes on appending to the same file after the save
  index.upsert(set.docs.slice(200))
  index.upsert(fresh.docs.slice(0, 10))
  const rowsNow = Number(index.exportState().scalars.originalsRows)
  t.ok(rowsNow > Number(saved.scalars.nVectors))
  t.equal(statSync(join(rowsDir, file)).size, rowsNow * bpr, 'the first index appended to the record file')
  // (a restart: the live index is gone before its snapshot is loaded)
  index.dispose()
  const { index: again } = await loadSnapshot(dir)
  t.equal(statSync(join(rowsDir, file)).size, Number(saved.scalars.nVectors) * bpr, 'loading cut the file back to the snapshot\'s count: rows × (dim + 4)')
  t.same(again.ids().sort(), [...inputs.keys()].sort(), 'the snapshot\'s documents only')
  t.equal(again.stats().originals?.vectors, saved.scalars.nVectors)
  queries.forEach((q, i) => t.same(again.search(q, { k: 10, ...EVERYTHING }).hits, snapHits[i], `query ${i}: the snapshot's hits`))
  checkRanksByOriginals(t, again, inputs, queries, 5, 'reloaded', rowsDir)

  // the reloaded index appends after the snapshot's records, compacts, and saves again
  again.upsert(fresh.docs.slice(10, 14))
  for (const d of fresh.docs.slice(10, 14)) inputs.set(d.id, d.vectors)
  const gone = set.docs.slice(5, 70).map((d) => d.id)
  again.delete(gone)
  for (const id of gone) inputs.delete(id)
  again.compact()
  const file2 = String(again.exportState().scalars.originalsFile)
  const [, , gen1] = RECORD_FILE.exec(file)!
  t.match(file2, new RegExp(`^rows-[0-9a-f]+-${Number(gen1) + 1}\\.bin$`), 'the compaction wrote the next generation')
  t.same(recordFiles(rowsDir), [file, file2].sort(), 'the old generation stays until a snapshot no longer needs it')
  await saveIndexSnapshot(again, dir)
  t.same(recordFiles(rowsDir), [file2], 'after the second save the old generation\'s file is deleted, the new one kept')
  checkRanksByOriginals(t, again, inputs, queries, 5, 'compacted and saved', rowsDir)
  const { index: third } = await loadSnapshot(dir)
  for (const [i, q] of queries.entries()) t.same(third.search(q, { k: 10, ...EVERYTHING }).hits, again.search(q, { k: 10, ...EVERYTHING }).hits, `query ${i}: same hits after the second save`)
  third.dispose()
  again.dispose()
})

t.test('snapshot round trip with the records in memory: the snapshot carries them, no record folder', async (t) => {
  const dim = 32
  const { set, queries } = setup(dim, 80)
  const dir = join(root, 'snap-mem')
  const index = createPlaidIndex({ dim, nbits: 2, minTrainVectors: 1000, numCentroids: 16, seed: 5 })
  index.upsert(set.docs.slice(0, 150))
  t.equal(index.stats().originals?.home, 'memory')
  await saveIndexSnapshot(index, dir)
  t.notOk(existsSync(originalsDirOf(dir)), 'no .rows folder for an index without a data folder')
  const { index: loaded } = await loadSnapshot(dir)
  t.equal(loaded.stats().originals?.home, 'memory')
  t.equal(loaded.stats().originals?.vectors, index.stats().originals?.vectors)
  for (const [i, q] of queries.entries()) t.same(loaded.search(q, { k: 10, ...EVERYTHING }).hits, index.search(q, { k: 10, ...EVERYTHING }).hits, `query ${i}: same hits and scores`)
  checkRanksByOriginals(t, loaded, new Map(set.docs.slice(0, 150).map((d) => [d.id, d.vectors])), queries, 5, 'loaded from memory records')
})

// ---- 6. a missing record file -------------------------------------------------------------------------------------

t.test('a snapshot whose record folder is gone still loads, says why, and ranks by the decompressed vectors', async (t) => {
  const dim = 32
  const { set, queries } = setup(dim, 90)
  const dir = join(root, 'snap-missing')
  const index = createPlaidIndex({ dim, nbits: 2, minTrainVectors: 1000, numCentroids: 16, seed: 5 }, { originalsDir: originalsDirOf(dir) })
  index.upsert(set.docs.slice(0, 150))
  await saveIndexSnapshot(index, dir)
  const withOriginals = queries.map((q) => index.search(q, { k: 10, ...EVERYTHING }).hits)
  index.dispose()
  rmSync(originalsDirOf(dir), { recursive: true, force: true })
  const { index: loaded } = await loadSnapshot(dir)
  const os = loaded.stats().originals
  t.equal(os?.home, 'none', 'no originals')
  t.equal(os?.vectors, 0)
  t.type(os?.unavailable, 'string', `unavailable: ${os?.unavailable}`)
  t.equal(loaded.stats().documents, 150, 'the compressed index is intact')
  const state = loaded.exportState()
  t.equal(state.scalars.originalsFile, undefined, 'its state no longer names a file')
  const decoded = liveDecoded(state)
  let maxErr = 0, differs = 0
  for (const [i, q] of queries.entries()) {
    const got = loaded.search(q, { k: 10, ...EVERYTHING }).hits
    t.equal(got.length, 10, `query ${i}: hits`)
    t.ok(got.every((h) => set.docs.some((d) => d.id === h.id)), `query ${i}: ids of the documents`)
    const ref = rank(q, decoded, dim)
    for (let r = 0; r < got.length; r++) maxErr = Math.max(maxErr, Math.abs(got[r].score - ref[r].score))
    const before = new Map(withOriginals[i].map((h) => [h.id, h.score]))
    for (const h of got) if (before.has(h.id) && Math.abs(before.get(h.id)! - h.score) > 10 * TOL) differs++
  }
  t.ok(maxErr < TOL, `scores = brute-force MaxSim over the decompressed vectors (max error ${maxErr.toExponential(2)})`)
  t.ok(differs > 0, `${differs} hits score differently from the originals' scores`)
  // and it keeps working: updates, compaction
  loaded.upsert(set.docs.slice(150, 160))
  loaded.delete([set.docs[0].id])
  loaded.compact()
  t.equal(loaded.search(queries[0], { k: 3 }).hits.length, 3, 'searches after updates and compaction')
  t.notOk(existsSync(originalsDirOf(dir)), 'no record file is made up')
})

t.test('a snapshot state that fails its checks leaves the record folder as it was (no cut, no pruning)', async (t) => {
  const dim = 32
  const { set } = setup(dim, 91)
  const dir = join(root, 'snap-corrupt')
  const rowsDir = originalsDirOf(dir)
  const index = createPlaidIndex({ dim, nbits: 2, minTrainVectors: 1000, numCentroids: 16, seed: 5 }, { originalsDir: rowsDir })
  index.upsert(set.docs.slice(0, 150))
  const state = index.exportState()
  index.upsert(set.docs.slice(150, 160)) // records past the state's count: a load would cut them
  index.dispose()
  const file = String(state.scalars.originalsFile)
  const size = statSync(join(rowsDir, file)).size
  const other = 'rows-abcdef012345-7.bin'
  writeFileSync(join(rowsDir, other), new Uint8Array(dim + 4))
  const codes = (state.arrays.codes as Uint16Array).slice()
  codes[3] = 60000 // beyond the 16 centroids
  t.throws(() => restorePlaidIndex({ ...state, arrays: { ...state.arrays, codes } }, { originalsDir: rowsDir }), { code: 'SNAPSHOT_INVALID' })
  t.equal(statSync(join(rowsDir, file)).size, size, 'the record file is not cut back')
  t.ok(existsSync(join(rowsDir, other)), 'the folder\'s other record file is not deleted')
  const ok = restorePlaidIndex(state, { originalsDir: rowsDir })
  t.equal(statSync(join(rowsDir, file)).size, Number(state.scalars.originalsRows) * (dim + 4), 'a state that loads cuts the file back to its count')
  t.notOk(existsSync(join(rowsDir, other)), 'and deletes the folder\'s other record files')
  ok.dispose()
})

// ---- 7. keepOriginals: false ------------------------------------------------------------------------------------------

t.test('keepOriginals: false keeps none: no record files, home none without `unavailable`, decompressed scores', async (t) => {
  const dim = 32
  const { set, queries } = setup(dim, 95)
  const rowsDir = join(root, 'no-originals.rows')
  const dir = join(root, 'no-originals')
  const index = createPlaidIndex({ dim, nbits: 2, minTrainVectors: 1000, numCentroids: 16, seed: 5, keepOriginals: false }, { originalsDir: rowsDir })
  index.upsert(set.docs.slice(0, 150))
  index.delete([set.docs[1].id])
  index.compact()
  t.ok(index.stats().trained)
  t.notOk(existsSync(rowsDir), 'no record folder or file is created')
  t.same(index.stats().originals, { home: 'none', vectors: 0, bytesOnDisk: 0 }, 'home none, no `unavailable`')
  t.equal(index.stats().memory?.originals, 0)
  const state = index.exportState()
  t.equal(state.scalars.originalsRows, undefined)
  t.equal(state.arrays.originals, undefined)
  const decoded = liveDecoded(state)
  let maxErr = 0
  for (const q of queries) {
    const got = index.search(q, { k: 5, ...EVERYTHING }).hits
    const ref = rank(q, decoded, dim)
    for (let r = 0; r < got.length; r++) maxErr = Math.max(maxErr, Math.abs(got[r].score - ref[r].score))
  }
  t.ok(maxErr < TOL, `scores = brute-force MaxSim over the decompressed vectors (max error ${maxErr.toExponential(2)})`)
  await saveIndexSnapshot(index, dir)
  const { index: loaded } = await loadSnapshot(dir)
  t.same(loaded.stats().originals, { home: 'none', vectors: 0, bytesOnDisk: 0 }, 'loaded: still none, no `unavailable`')
  t.notOk(existsSync(originalsDirOf(dir)))
  index.dispose({ removeFiles: true })
  t.throws(() => createPlaidIndex({ dim, keepOriginals: 'yes' as unknown as boolean }), /keepOriginals/, 'keepOriginals must be a boolean')
})

// ---- 8. dispose ------------------------------------------------------------------------------------------------

t.test('dispose({ removeFiles: true }) deletes every record file of the index and its folder; plain dispose keeps them', async (t) => {
  const dim = 32
  const { set } = setup(dim, 97)
  const make = (name: string): { index: PlaidIndex; dir: string } => {
    const dir = join(root, name)
    const index = createPlaidIndex({ dim, nbits: 2, minTrainVectors: 1000, numCentroids: 16, seed: 5 }, { originalsDir: dir })
    index.upsert(set.docs.slice(0, 120))
    index.delete(set.docs.slice(0, 10).map((d) => d.id))
    index.compact() // the training and the compaction each wrote a new generation
    return { index, dir }
  }
  const a = make('dispose-remove')
  t.ok(recordFiles(a.dir).length >= 2, `several generations on disk: ${recordFiles(a.dir).join(', ')}`)
  a.index.dispose({ removeFiles: true })
  t.same(recordFiles(a.dir), [], 'no record files left')
  t.notOk(existsSync(a.dir), 'the folder is gone')
  t.equal(a.index.stats().originals?.home, 'none', 'a disposed index holds no originals')
  a.index.dispose({ removeFiles: true }) // twice: nothing to do
  const b = make('dispose-keep')
  const files = recordFiles(b.dir)
  b.index.dispose()
  t.same(recordFiles(b.dir), files, 'dispose() without removeFiles keeps the files (a snapshot may name them)')
})

// ---- 9. search workers -----------------------------------------------------------------------------------------

t.test('search workers read the record file too: pool hits = main-thread hits, before and after compaction', async (t) => {
  const dim = 32
  const { set, fresh, queries } = setup(dim, 99)
  const dir = join(root, 'pool')
  const index = createPlaidIndex({ dim, nbits: 2, minTrainVectors: 1000, numCentroids: 16, seed: 5 }, { originalsDir: dir })
  index.upsert(set.docs)
  t.equal(index.stats().originals?.home, 'file')
  const pool = await createSearchPool({ workers: 2 })
  t.teardown(() => pool.close())
  const compare = async (label: string): Promise<void> => {
    for (const [i, q] of queries.entries()) {
      for (const params of [{ k: 10, ...EVERYTHING }, { k: 5 }]) {
        const r = await pool.search(index, q, params)
        t.same(r.hits, index.search(q, params).hits, `${label}, query ${i}, k ${params.k}: same hits and scores in a worker`)
      }
    }
  }
  await compare('trained')
  index.upsert(fresh.docs.slice(0, 10))
  index.delete(set.docs.slice(0, 50).map((d) => d.id))
  await compare('after updates')
  index.compact()
  await compare('after compact()')
  const inputs = new Map([...set.docs.slice(50), ...fresh.docs.slice(0, 10)].map((d) => [d.id, d.vectors]))
  checkRanksByOriginals(t, index, inputs, queries, 5, 'pool index', dir)
  index.dispose({ removeFiles: true })

  // records in memory, from a snapshot (a plain, not shared, array until the index grows it)
  const mem = createPlaidIndex({ dim, nbits: 2, minTrainVectors: 1000, numCentroids: 16, seed: 5 })
  mem.upsert(set.docs.slice(0, 150))
  const snap = join(root, 'pool-mem')
  await saveIndexSnapshot(mem, snap)
  const { index: loaded } = await loadSnapshot(snap)
  t.equal(loaded.stats().originals?.home, 'memory')
  for (const [i, q] of queries.entries()) {
    const r = await pool.search(loaded, q, { k: 10, ...EVERYTHING })
    t.same(r.hits, loaded.search(q, { k: 10, ...EVERYTHING }).hits, `loaded, records in memory, query ${i}: same hits and scores in a worker`)
  }
  loaded.upsert(fresh.docs.slice(20, 25))
  loaded.delete(set.docs.slice(0, 5).map((d) => d.id))
  for (const [i, q] of queries.entries()) {
    const r = await pool.search(loaded, q, { k: 10, ...EVERYTHING })
    t.same(r.hits, loaded.search(q, { k: 10, ...EVERYTHING }).hits, `loaded, records in memory, after updates, query ${i}: same in a worker`)
  }
})
