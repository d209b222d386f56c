/**
 * Probe scores: every stored vector in each query token's probed cells (its top-ncells centroids) scored against
 * that token, from the packed residual, without decompressing it (WARP, Scheerer et al. 2025: a per-token lookup
 * table turns each residual byte into the dot product of its dimensions with the token's).
 *
 * Why: on skewed data the centroid of a vector is shared by many documents, so a centroid score cannot tell the
 * document whose vector the query token nearly copies from the others in that cell; the residual can. Ranking every
 * candidate by centroid scores alone lost 27–43 of 76–81 targets before the exact stage on the skewed presets
 * (BENCHMARKS.md § Index quality matrix); scoring the probed cells' vectors lets the approximate ranking see those
 * matches for all candidates at once.
 *
 * Score of vector v in cell c for token j, in the units of an undecompressed (not re-normalised) vector
 * C·centroidWeight + residual: centroidWeight·S[c, j] + Σ_b lut_j[b][byte_b(v)]. Per document and token the best
 * such score is kept (a sparse touched-list per token; per document, the entries that beat the floor and its sum).
 *
 * Cost per query: the tables, qlen · bytesPerVector · (32 · vpb/2 multiply-adds + 256 additions) (≈ 330 k at dim 128,
 * nbits 2); then Σ_j Σ_{c probed by j} |cell c| vector-token pairs at bytesPerVector lookups each (≈ 80 k pairs · 32
 * on the bench's skewed 10k sets), plus a block-table lookup per vector for its document. The pairs dominate. The
 * residuals are stored in the IVF's base order (residual-rows.ts), so a cell's are one contiguous run: read in vector
 * order they were a cache and TLB miss each, ~5.5 ms of zipf-quarter's ~10 ms probe (BENCHMARKS.md § Residuals in
 * cell order). With a kernel arena the tables are built and the base lists scanned in WebAssembly (probe-arena.ts),
 * the same values at ~18 ns a pair instead of ~34 (BENCHMARKS.md § Probe in WebAssembly).
 */
import { endianness } from 'node:os'
import { AppError } from '../errors.js'
import { type Ivf, liveVectorsInCell, slotOfVector } from './ivf.js'
import { buildLutInArena, type ProbeArena, scanBaseList, type WasmProbe, wasmProbe } from './probe-arena.js'
import { tailShift } from './residual-rows.js'
import type { ResidualCodec } from './residual-codec.js'

/** The gathered residuals are read as words with byte 0 in the low bits (typed arrays use the host's byte order). */
export const LITTLE_ENDIAN = endianness() === 'LE'

/** Positions per gather chunk: bounds the scratch (chunk × bytesPerVector) while keeping each pass long. */
const CHUNK = 1024

export interface ProbeScratch {
  lut: Float32Array
  tokBest: Float32Array
  tokMark: Uint32Array
  docRow: Int32Array
  docMark: Uint32Array
  epoch: number
  tokTouched: Uint32Array
  /** the result's entries and gains (ProbeResult); kept between calls, grown as needed */
  entryRow: Uint32Array
  entryBest: Float32Array
  gain: Float64Array
  touched: Uint32Array
  /** per gather chunk: the positions, their slots, and their residuals back to back (bytes and 4-byte words) */
  chunkPos: Uint32Array
  chunkSlots: Uint32Array
  /** per gather chunk: each vector's probe score (doubles, as summed) */
  chunkScores: Float64Array
  gathered: Uint8Array
  gatheredWords: Uint32Array
  /** the residuals as 4-byte words (re-taken when the residual array changes) */
  words: Uint32Array | null
  /** the best probe score of the current token so far */
  tokTop: number
  /** how many cells the last scanned token probed */
  tokCells: number
}

export function createProbeScratch(): ProbeScratch {
  return {
    lut: new Float32Array(0), tokBest: new Float32Array(0), tokMark: new Uint32Array(0), docRow: new Int32Array(0),
    docMark: new Uint32Array(0), epoch: 0, tokTouched: new Uint32Array(0), entryRow: new Uint32Array(0), entryBest: new Float32Array(0), gain: new Float64Array(0), touched: new Uint32Array(0),
    chunkPos: new Uint32Array(CHUNK), chunkSlots: new Uint32Array(CHUNK), chunkScores: new Float64Array(CHUNK), gathered: new Uint8Array(0), gatheredWords: new Uint32Array(0), words: null, tokTop: -Infinity, tokCells: 0,
  }
}

export interface ProbeResult {
  /** the documents with at least one vector in a probed cell (allowed ones only), in the order first touched */
  slots: Uint32Array
  /**
   * A document's score for token j is its best probe score where that beats `floor[j]`, else the floor. Kept sparse:
   * token j's entries [start[j], start[j + 1]) hold the documents (their index in `slots`) whose best score beats the
   * floor, and that score. A table of every document × token (~10 k × 32 on a skewed preset's query) cost a write per
   * cell to fill it and a random write per entry (~50 k), while only the 4·ndocs documents kept for the approximate
   * stage need their full rows (the searches 1.01–1.06× faster on the skewed presets without it).
   */
  start: Uint32Array
  entryRow: Uint32Array
  entryBest: Float32Array
  floor: Float32Array
  /** per document, Σ_j (score − floor[j]) in token order (doubles) */
  gain: Float64Array
}

/** Per document of the result, the sum of its qlen scores: Σ_j floor[j] plus its gain (doubles, then rounded). */
export function probeRowSums(p: ProbeResult, qlen: number): Float32Array {
  const n = p.slots.length
  let base = 0
  for (let j = 0; j < qlen; j++) base += p.floor[j]
  const out = new Float32Array(n)
  for (let i = 0; i < n; i++) out[i] = base + p.gain[i]
  return out
}

/** Row-major scores (n × qlen) of the documents at `pick` (distinct indices into p.slots), or of all of them. */
export function probeRows(p: ProbeResult, qlen: number, pick?: Uint32Array): Float32Array {
  const nDocs = p.slots.length
  const n = pick === undefined ? nDocs : pick.length
  const out = new Float32Array(n * qlen)
  for (let i = 0; i < n; i++) out.set(p.floor.subarray(0, qlen), i * qlen)
  let at: Int32Array | undefined
  if (pick !== undefined) {
    at = new Int32Array(nDocs).fill(-1)
    for (let i = 0; i < n; i++) at[pick[i]] = i
  }
  const { start, entryRow, entryBest } = p
  for (let j = 0; j < qlen; j++) {
    for (let e = start[j], end = start[j + 1]; e < end; e++) {
      const i = at === undefined ? entryRow[e] : at[entryRow[e]]
      if (i >= 0) out[i * qlen + j] = entryBest[e]
    }
  }
  return out
}

function ensure(sc: ProbeScratch, nSlots: number, bpv: number): void {
  if (sc.tokBest.length < nSlots) {
    const n = Math.max(nSlots, Math.ceil(sc.tokBest.length * 1.25))
    sc.tokBest = new Float32Array(n)
    sc.tokMark = new Uint32Array(n)
    sc.docRow = new Int32Array(n)
    sc.docMark = new Uint32Array(n)
    sc.tokTouched = new Uint32Array(n)
    sc.touched = new Uint32Array(n)
    sc.gain = new Float64Array(n)
    sc.epoch = 0
  }
  if (sc.lut.length < bpv * 256) sc.lut = new Float32Array(bpv * 256)
  if (sc.gathered.length < CHUNK * bpv) {
    sc.gatheredWords = new Uint32Array(Math.ceil((CHUNK * bpv) / 4))
    sc.gathered = new Uint8Array(sc.gatheredWords.buffer)
  }
}

/** One epoch for the documents, then one per token: marks from earlier calls never match. */
function nextEpoch(sc: ProbeScratch): number {
  return ++sc.epoch
}

/**
 * lut[b·256 + x] = Σ_u q[b·vpb + u] · byteTable[(b·256 + x)·vpb + u]: the dot product of token q with the residual
 * part byte x at byte position b encodes. A byte's low nibble holds its first vpb/2 values and its high nibble the others, so each
 * entry is the sum of a low-nibble and a high-nibble partial (16 + 16 small dot products, then 256 additions per byte
 * position instead of 256·vpb multiply-adds). (Nibble tables, 4 KB instead of 32 KB at dim 128 but twice the lookups,
 * measured 15 % slower per vector in the same run.)
 */
export function buildLut(codec: ResidualCodec, query: Float32Array, qOff: number, lut: Float32Array, lo: Float32Array, hi: Float32Array): void {
  for (let b = 0; b < codec.bytesPerVector; b++) {
    nibbleDots(codec, query, qOff, b, lo, 0, hi, 0)
    const o = b << 8
    for (let h = 0; h < 16; h++) {
      const base = hi[h], oh = o | (h << 4)
      for (let n = 0; n < 16; n++) lut[oh | n] = base + lo[n]
    }
  }
}

/**
 * Per residual byte position b, the token's (query values from qOff) dot products with what a byte's low nibble n
 * encodes, lo[loOff + n] (its first vpb/2 values), and its high nibble h, hi[hiOff + h] (the others): 16 + 16 small dot
 * products, from which buildLut adds each byte's entry and nibbleScores keeps the 32 as they are.
 */
function nibbleDots(
  codec: ResidualCodec, query: Float32Array, qOff: number, b: number, lo: Float32Array, loOff: number, hi: Float32Array, hiOff: number,
): void {
  const { byteTable, valuesPerByte: vpb } = codec
  const half = vpb >>> 1
  const q0 = qOff + b * vpb
  for (let n = 0; n < 16; n++) {
    let sl = 0, sh = 0
    const tl = ((b << 8) + n) * vpb, th = ((b << 8) + (n << 4)) * vpb
    for (let u = 0; u < half; u++) sl += query[q0 + u] * byteTable[tl + u]
    for (let u = half; u < vpb; u++) sh += query[q0 + u] * byteTable[th + u]
    lo[loOff + n] = sl
    hi[hiOff + n] = sh
  }
}

/**
 * A token's nibble scores (query values from qOff): per residual byte position b, nibbleDots' 16 low-nibble then 16
 * high-nibble dot products at out[b·32 ..] (bytesPerVector × 32 floats: 4 KB at dim 128, nbits 2). A vector's residual
 * score is then two lookups per byte into 4 KB that stay in the first-level cache over a few hundred scattered vectors
 * (unprobed-refine.ts); buildLut's 256-entry tables (32 KB a token) scored those no faster and took longer to build.
 */
export function nibbleScores(codec: ResidualCodec, query: Float32Array, qOff: number, out: Float32Array): void {
  for (let b = 0; b < codec.bytesPerVector; b++) nibbleDots(codec, query, qOff, b, out, b * 32, out, b * 32 + 16)
}

/**
 * Scores cell c's vectors (one list: base or delta) against the token whose tables `lut` holds, keeping the best per
 * document in sc.tokBest (documents first reached here are appended to sc.tokTouched). Returns the new count of
 * touched documents. In three passes per chunk of the list: rows and their documents; the allowed vectors'
 * residuals gathered into one contiguous buffer; the lookups over that buffer. A base list's rows are consecutive
 * (residual-rows.ts), so its gather is a sequential copy that skips disallowed rows; a delta list's rows (vectors
 * appended since the base) are in vector order, scattered, and there the gather keeps many misses in flight where
 * lookups interleaved with them would leave one or two. (Measured on zipf-quarter's probed lists, 84 k vectors per
 * query, when every list was scattered: lookups straight from the residuals 16 ms per query, gather then lookups
 * 7.8 ms, lookups alone over contiguous residuals 2.8 ms.)
 */
function scanCell(
  offsets: Uint32Array, gaps: Uint16Array, c: number, base: number, lut: Float32Array, residuals: Uint8Array, bpv: number,
  ivf: Ivf, docStart: Uint32Array, nSlots: number, allowed: Uint8Array, sc: ProbeScratch, tok: TokenBests, tokEpoch: number, nTok: number,
  inBase: boolean,
): number {
  const { mark: tokMark, best: tokBest, touched: tokTouched } = tok
  const { chunkSlots, chunkPos, chunkScores: scores } = sc
  let top = sc.tokTop
  let v = -1 // the gap decoding of ivf.ts forEachPosition, inlined
  // residual rows (residual-rows.ts): a base list's entries are consecutive rows from its cell's first; a delta
  // list's vectors follow the base's rows in vector order
  let row = inBase ? ivf.baseRowStart[c] : 0
  const tail = tailShift(ivf)
  const byWords = (bpv & 3) === 0 && LITTLE_ENDIAN && (residuals.byteOffset & 3) === 0
  for (let e = offsets[c], end = offsets[c + 1]; e < end;) {
    let n = 0
    const first = row
    while (e < end && n < CHUNK) {
      const g = gaps[e++]
      if (g !== 0) v += g
      else { v = gaps[e] * 65536 + gaps[e + 1]; e += 2 }
      const r = inBase ? row++ : v + tail
      const slot = slotOfVector(ivf, docStart, nSlots, v)
      if (allowed[slot] === 0) continue
      chunkPos[n] = r
      chunkSlots[n++] = slot
    }
    // a base chunk with no row skipped is already contiguous: scored where it lies, without the copy
    const inPlace = byWords && inBase && row - first === n
    if (!inPlace) gatherResiduals(residuals, sc, bpv, n)
    if (byWords) {
      // the residuals read a word (4 bytes) at a time: a quarter of the loads of reading bytes, and byte t of each
      // word goes to partial sum t, the same sums in the same order as the byte loop below
      const wpv = bpv >>> 2
      const gw = inPlace ? residualWords(residuals, sc) : sc.gatheredWords
      for (let i = 0, r = inPlace ? first * wpv : 0; i < n; i++, r += wpv) {
        let s0 = base, s1 = 0, s2 = 0, s3 = 0
        // written out for the default (nbits 2, dim 128): the probe stage 12.9 → 11.3 ms on zipf-quarter, the whole
        // search 1.05–1.11× on four presets (BENCHMARKS.md § Probe scan by words)
        if (wpv === 8) {
          const x0 = gw[r], x1 = gw[r + 1], x2 = gw[r + 2], x3 = gw[r + 3], x4 = gw[r + 4], x5 = gw[r + 5], x6 = gw[r + 6], x7 = gw[r + 7]
          s0 += lut[x0 & 255]; s1 += lut[256 | ((x0 >>> 8) & 255)]; s2 += lut[512 | ((x0 >>> 16) & 255)]; s3 += lut[768 | (x0 >>> 24)]
          s0 += lut[1024 | (x1 & 255)]; s1 += lut[1280 | ((x1 >>> 8) & 255)]; s2 += lut[1536 | ((x1 >>> 16) & 255)]; s3 += lut[1792 | (x1 >>> 24)]
          s0 += lut[2048 | (x2 & 255)]; s1 += lut[2304 | ((x2 >>> 8) & 255)]; s2 += lut[2560 | ((x2 >>> 16) & 255)]; s3 += lut[2816 | (x2 >>> 24)]
          s0 += lut[3072 | (x3 & 255)]; s1 += lut[3328 | ((x3 >>> 8) & 255)]; s2 += lut[3584 | ((x3 >>> 16) & 255)]; s3 += lut[3840 | (x3 >>> 24)]
          s0 += lut[4096 | (x4 & 255)]; s1 += lut[4352 | ((x4 >>> 8) & 255)]; s2 += lut[4608 | ((x4 >>> 16) & 255)]; s3 += lut[4864 | (x4 >>> 24)]
          s0 += lut[5120 | (x5 & 255)]; s1 += lut[5376 | ((x5 >>> 8) & 255)]; s2 += lut[5632 | ((x5 >>> 16) & 255)]; s3 += lut[5888 | (x5 >>> 24)]
          s0 += lut[6144 | (x6 & 255)]; s1 += lut[6400 | ((x6 >>> 8) & 255)]; s2 += lut[6656 | ((x6 >>> 16) & 255)]; s3 += lut[6912 | (x6 >>> 24)]
          s0 += lut[7168 | (x7 & 255)]; s1 += lut[7424 | ((x7 >>> 8) & 255)]; s2 += lut[7680 | ((x7 >>> 16) & 255)]; s3 += lut[7936 | (x7 >>> 24)]
        } else for (let q = 0, o = 0; q < wpv; q++, o += 1024) {
          const x = gw[r + q]
          s0 += lut[o | (x & 255)]
          s1 += lut[(o + 256) | ((x >>> 8) & 255)]
          s2 += lut[(o + 512) | ((x >>> 16) & 255)]
          s3 += lut[(o + 768) | (x >>> 24)]
        }
        scores[i] = (s0 + s1) + (s2 + s3)
      }
    } else {
      const g8 = sc.gathered
      const bpv4 = bpv & ~3
      for (let i = 0, r = 0; i < n; i++, r += bpv) {
        // four partial sums: one chain of bpv dependent additions would cost bpv × the add latency
        let s0 = base, s1 = 0, s2 = 0, s3 = 0
        for (let b = 0; b < bpv4; b += 4) {
          s0 += lut[(b << 8) | g8[r + b]]
          s1 += lut[((b + 1) << 8) | g8[r + b + 1]]
          s2 += lut[((b + 2) << 8) | g8[r + b + 2]]
          s3 += lut[((b + 3) << 8) | g8[r + b + 3]]
        }
        for (let b = bpv4; b < bpv; b++) s0 += lut[(b << 8) | g8[r + b]]
        scores[i] = (s0 + s1) + (s2 + s3)
      }
    }
    for (let i = 0; i < n; i++) {
      const s = scores[i]
      if (s > top) top = s
      const slot = chunkSlots[i]
      if (tokMark[slot] !== tokEpoch) {
        tokMark[slot] = tokEpoch
        tokBest[slot] = s
        tokTouched[nTok++] = slot
      } else if (s > tokBest[slot]) tokBest[slot] = s
    }
  }
  sc.tokTop = top
  return nTok
}

/** The residuals as 4-byte words (kept in sc.words while the residual array stays the same). */
function residualWords(residuals: Uint8Array, sc: ProbeScratch): Uint32Array {
  if (sc.words === null || sc.words.buffer !== residuals.buffer || sc.words.byteOffset !== residuals.byteOffset || sc.words.length !== residuals.length >>> 2) {
    sc.words = new Uint32Array(residuals.buffer, residuals.byteOffset, residuals.length >>> 2)
  }
  return sc.words
}

/** Copies the residuals of the n rows in sc.chunkPos into sc.gathered, back to back (4-byte words when aligned). */
function gatherResiduals(residuals: Uint8Array, sc: ProbeScratch, bpv: number, n: number): void {
  const pos = sc.chunkPos
  if ((bpv & 3) === 0 && (residuals.byteOffset & 3) === 0) {
    const src = residualWords(residuals, sc), dst = sc.gatheredWords
    const w = bpv >>> 2
    if (w === 8) {
      for (let i = 0, o = 0; i < n; i++, o += 8) {
        const r = pos[i] << 3
        dst[o] = src[r]; dst[o + 1] = src[r + 1]; dst[o + 2] = src[r + 2]; dst[o + 3] = src[r + 3]
        dst[o + 4] = src[r + 4]; dst[o + 5] = src[r + 5]; dst[o + 6] = src[r + 6]; dst[o + 7] = src[r + 7]
      }
    } else if (w === 4) {
      for (let i = 0, o = 0; i < n; i++, o += 4) {
        const r = pos[i] << 2
        dst[o] = src[r]; dst[o + 1] = src[r + 1]; dst[o + 2] = src[r + 2]; dst[o + 3] = src[r + 3]
      }
    } else if (w === 16) {
      // nbits 4 at dim 128 (and nbits 1 above): the generic loop below took 1.3× the whole search at nbits 4 (its
      // bounds and loop checks per word, on a pass that should only wait for memory)
      for (let i = 0, o = 0; i < n; i++, o += 16) {
        const r = pos[i] << 4
        dst[o] = src[r]; dst[o + 1] = src[r + 1]; dst[o + 2] = src[r + 2]; dst[o + 3] = src[r + 3]
        dst[o + 4] = src[r + 4]; dst[o + 5] = src[r + 5]; dst[o + 6] = src[r + 6]; dst[o + 7] = src[r + 7]
        dst[o + 8] = src[r + 8]; dst[o + 9] = src[r + 9]; dst[o + 10] = src[r + 10]; dst[o + 11] = src[r + 11]
        dst[o + 12] = src[r + 12]; dst[o + 13] = src[r + 13]; dst[o + 14] = src[r + 14]; dst[o + 15] = src[r + 15]
      }
    } else {
      for (let i = 0, o = 0; i < n; i++) for (let r = pos[i] * w, x = r + w; r < x; r++) dst[o++] = src[r]
    }
    return
  }
  const dst = sc.gathered
  for (let i = 0, o = 0; i < n; i++) for (let r = pos[i] * bpv, x = r + bpv; r < x; r++) dst[o++] = residuals[r]
}

/** A token's probe past its first `min` cells stops when one of them already holds a vector scoring ≥ at[j]. */
export interface ProbeStop { min: number; at: Float64Array }

/** What a token's scan reads of the index (a search view's arrays). */
export interface ProbeSource {
  ivf: Ivf; codec: ResidualCodec; residuals: Uint8Array; docStart: Uint32Array; nSlots: number; allowed: Uint8Array
  /** where base lists may be scanned in WebAssembly (probe-arena.ts); without it, in TypeScript */
  arena?: ProbeArena
}

/** A token's best score per slot (current when mark[slot] is the token's epoch) and the slots it reached, in order. */
interface TokenBests { mark: Uint32Array; best: Float32Array; touched: Uint32Array }

/**
 * The tokens' part of a probe that another thread can run: chosen and bases are qlen × stride (token-major), bases
 * holding centroidWeight·S[c, j] for each chosen cell (doubles, as the one-thread probe computes them).
 */
export interface ProbeJob {
  query: Float32Array
  qlen: number
  chosen: Uint32Array
  stride: number
  counts: Uint32Array
  bases: Float64Array
  stop: ProbeStop | undefined
  /** the first token of the part: tokens [from, qlen) */
  from: number
  /** Σ tokenListBound over tokens [from, qlen): the list entries the part can need */
  room: number
  /** per slot, 1 when the document may be returned (ProbeSource.allowed: the view's live flags, or a filter's) */
  allowed: Uint8Array
}

/** Per token j ≥ from, its documents (first-touched order) and best scores, and its final count of probed cells. */
export interface ProbeLists {
  /** (qlen − from + 1) entries: token j's documents are slots[start[j − from] .. start[j − from + 1]) */
  start: Uint32Array
  slots: Uint32Array
  bests: Float32Array
  counts: Uint32Array
}

/**
 * Another thread that can scan the tokens [from, qlen) of a probe while this one scans the others
 * (search-workers/search-share.ts). The probe's result does not depend on which thread scans a token: each token's
 * documents and best scores come from the same scan, and they are merged in token order either way.
 */
export interface ProbeOffload {
  /** Offers the job's tokens [from, qlen); false when no other thread can take them (they are scanned here). */
  offer(job: ProbeJob): boolean
  /** The offered tokens' lists: waits for the thread that took them, or scans them here if none has yet. */
  collect(): ProbeLists
}

/**
 * Scans token j's probed cells (lists in sc.tokTouched / sc.tokBest; returns how many documents; sc.tokCells gets how
 * many cells it scanned). With `stop`, a token whose first stop.min cells hold a vector scoring ≥ stop.at[j] probes no
 * further. The job is only read.
 */
function scanToken(
  src: ProbeSource, job: ProbeJob, j: number, sc: ProbeScratch, lo: Float32Array, hi: Float32Array, w: WasmProbe | null, tok: TokenBests,
): number {
  const { ivf, codec, residuals, docStart, nSlots, allowed } = src
  const { chosen, stride, counts, bases, stop } = job
  const bpv = codec.bytesPerVector
  const lut = w === null ? sc.lut : w.lut
  if (w === null) buildLut(codec, job.query, j * codec.dim, lut, lo, hi)
  else buildLutInArena(w, job.query, j * codec.dim)
  const tokEpoch = nextEpoch(sc)
  let nTok = 0
  sc.tokTop = -Infinity
  sc.tokCells = counts[j]
  for (let i = 0, n = counts[j]; i < n; i++) {
    if (stop !== undefined && i === stop.min && sc.tokTop >= stop.at[j]) { sc.tokCells = i; break }
    const c = chosen[j * stride + i]
    const base = bases[j * stride + i]
    nTok = w !== null
      ? scanBaseList(w, ivf, c, base, residuals, bpv, nSlots, sc, tokEpoch, nTok)
      : scanCell(ivf.baseOffsets, ivf.baseGaps, c, base, lut, residuals, bpv, ivf, docStart, nSlots, allowed, sc, tok, tokEpoch, nTok, true)
    if (ivf.deltaGaps.length > 0) nTok = scanCell(ivf.deltaOffsets, ivf.deltaGaps, c, base, lut, residuals, bpv, ivf, docStart, nSlots, allowed, sc, tok, tokEpoch, nTok, false)
  }
  return nTok
}

/** The token arrays a probe call scans into: the arena's with the WebAssembly scan, else the scratch's. */
function tokenBests(sc: ProbeScratch, w: WasmProbe | null): TokenBests {
  return w ?? { mark: sc.tokMark, best: sc.tokBest, touched: sc.tokTouched }
}

function prepare(sc: ProbeScratch, nSlots: number, bpv: number, qlen: number): void {
  ensure(sc, nSlots, bpv)
  if (sc.epoch > 0xffffffff - qlen - 2) { sc.tokMark.fill(0); sc.docMark.fill(0); sc.epoch = 0 }
}

/**
 * An upper bound on the documents token j can touch: the live vectors of its probed cells (each touches at most one),
 * and never more than the documents.
 */
export function tokenListBound(ivf: Ivf, job: ProbeJob, j: number, nSlots: number): number {
  let n = 0
  for (let i = 0; i < job.counts[j]; i++) n += liveVectorsInCell(ivf, job.chosen[j * job.stride + i])
  return Math.min(n, nSlots)
}

/**
 * Scans the job's tokens [from, qlen) into `out` (start must hold qlen − from + 1 entries, slots and bests job.room);
 * out.counts gets each token's final count of cells (lower where it stopped early).
 */
export function scanTokensInto(src: ProbeSource, job: ProbeJob, sc: ProbeScratch, out: ProbeLists): void {
  prepare(sc, src.nSlots, src.codec.bytesPerVector, job.qlen)
  const lo = new Float32Array(16), hi = new Float32Array(16)
  const w = wasmProbe(src, job, job.from, job.qlen, false)
  const tok = tokenBests(sc, w)
  let o = 0
  for (let j = job.from; j < job.qlen; j++) {
    out.start[j - job.from] = o
    const n = scanToken(src, job, j, sc, lo, hi, w, tok)
    const { touched: tokTouched, best: tokBest } = tok
    // the lists are sized by tokenListBound; a typed array would drop writes past its end silently
    if (o + n > out.slots.length) throw new AppError('INTERNAL_ERROR', `probe lists: token ${j} reached ${o + n} documents, room for ${out.slots.length}`)
    for (let i = 0; i < n; i++, o++) {
      const slot = tokTouched[i]
      out.slots[o] = slot
      out.bests[o] = tokBest[slot]
    }
    out.counts[j - job.from] = sc.tokCells
  }
  out.start[job.qlen - job.from] = o
}

/**
 * The part to offer another thread: the suffix of tokens [from, qlen) holding about half of the probe's cost (live
 * vectors in the tokens' probed cells, their tokenListBound), and that cost, the room its lists need. from = qlen when
 * there is nothing worth offering.
 */
export function offloadSplit(ivf: Ivf, job: ProbeJob, nSlots: number): { from: number; room: number } {
  const cost = new Float64Array(job.qlen)
  let total = 0
  for (let j = 0; j < job.qlen; j++) total += cost[j] = tokenListBound(ivf, job, j, nSlots)
  let suffix = 0, from = job.qlen
  while (from > 1 && suffix + cost[from - 1] <= total / 2) suffix += cost[--from]
  return { from, room: suffix }
}

/**
 * S: K × qlen centroid scores (row c, column j); chosen: qlen × stride cells per token (token-major, best first), of
 * which each token probes its first counts[j]; allowed: per slot, 1 when the document may be returned; floor: per
 * token, the value a document reached by no probed vector of that token gets. With `stop`, a token whose first
 * stop.min cells hold a vector scoring ≥ stop.at[j] probes no further, and counts[j] is lowered to stop.min (its
 * floor stays the caller's). With `offload`, a suffix of the tokens holding about half of the work is offered to
 * another thread (same result). The scores are in scratch memory (valid until the next call with the same scratch).
 */
export function probeScores(
  ivf: Ivf, codec: ResidualCodec, residuals: Uint8Array, docStart: Uint32Array, nSlots: number, allowed: Uint8Array,
  query: Float32Array, qlen: number, S: Float32Array, chosen: Uint32Array, stride: number, counts: Uint32Array, floor: Float32Array, sc: ProbeScratch, stop?: ProbeStop,
  offload?: ProbeOffload, arena?: ProbeArena,
): ProbeResult {
  const bpv = codec.bytesPerVector
  prepare(sc, nSlots, bpv, qlen)
  const w = codec.centroidWeight
  const bases = new Float64Array(qlen * stride)
  for (let j = 0; j < qlen; j++) for (let i = 0; i < counts[j]; i++) bases[j * stride + i] = w * S[chosen[j * stride + i] * qlen + j]
  const job: ProbeJob = { query, qlen, chosen, stride, counts, bases, stop, from: qlen, room: 0, allowed }
  const src: ProbeSource = { ivf, codec, residuals, docStart, nSlots, allowed, arena }
  if (offload !== undefined) {
    const { from, room } = offloadSplit(ivf, job, nSlots)
    if (from < qlen) {
      job.from = from
      job.room = room
      if (!offload.offer(job)) { job.from = qlen; job.room = 0 }
    }
  }
  const docEpoch = nextEpoch(sc)
  const lo = new Float32Array(16), hi = new Float32Array(16)
  let nTouched = 0
  const { docRow, docMark, touched } = sc
  // per token, the entries of the documents whose best beats the token's floor (ProbeResult); a document's gain
  // accumulates score − floor over its tokens, in token order
  const start = new Uint32Array(qlen + 1)
  let entryRow = sc.entryRow, entryBest = sc.entryBest, nEntries = 0
  const { gain } = sc
  // token j's documents slots[off..off+n); its best score is bests[slot] for this thread's scan (sc.tokBest),
  // bests[off + i] for lists scanned elsewhere. (One function with typed arrays, not callbacks: two callback pairs
  // through one merge made it megamorphic, 1.3-1.6× slower per probe in a worker that ran both kinds.)
  const merge = (j: number, slots: Uint32Array, off: number, n: number, bests: Float32Array, bySlot: boolean): void => {
    start[j] = nEntries
    if (nEntries + n > entryRow.length) {
      const room = Math.max(nEntries + n, entryRow.length * 2, 4096)
      const rows = new Uint32Array(room), values = new Float32Array(room)
      rows.set(entryRow.subarray(0, nEntries))
      values.set(entryBest.subarray(0, nEntries))
      entryRow = rows
      entryBest = values
    }
    const f = floor[j]
    let e = nEntries, docs = nTouched
    for (let i = 0; i < n; i++) {
      const slot = slots[off + i]
      const best = bySlot ? bests[slot] : bests[off + i]
      let row: number
      if (docMark[slot] !== docEpoch) {
        docMark[slot] = docEpoch
        row = docs++
        docRow[slot] = row
        touched[row] = slot
        gain[row] = 0
      } else row = docRow[slot]
      if (best > f) {
        entryRow[e] = row
        entryBest[e++] = best
        gain[row] += best - f
      }
    }
    nTouched = docs
    nEntries = e
  }
  // the arena is laid out after the offer: only this thread's tokens [0, from) are scanned here
  const wp = wasmProbe(src, job, 0, job.from, true)
  const tok = tokenBests(sc, wp)
  if (wp === null) {
    for (let j = 0; j < job.from; j++) {
      merge(j, tok.touched, 0, scanToken(src, job, j, sc, lo, hi, null, tok), tok.best, true)
      counts[j] = sc.tokCells
    }
  } else {
    // merged in the kernel (the same values and order as merge, ~3× faster), then copied out of the arena
    const k = wp.kernels, res = wp.result!, state = res.state
    state[0] = 0
    state[1] = 0
    for (let j = 0; j < job.from; j++) {
      const n = scanToken(src, job, j, sc, lo, hi, wp, tok)
      if (state[0] + n > res.entryCap) throw new AppError('INTERNAL_ERROR', `probe entries: token ${j} reached ${state[0] + n}, room for ${res.entryCap}`)
      start[j] = state[0]
      k.probeMerge(wp.touchedPtr, n, wp.bestPtr, res.docMarkPtr, docEpoch, res.docRowPtr, res.docsPtr, res.gainPtr, res.entryRowPtr, res.entryBestPtr, res.statePtr, floor[j])
      counts[j] = sc.tokCells
    }
    nEntries = state[0]
    nTouched = state[1]
    if (nEntries > entryRow.length) {
      const room = Math.max(nEntries, entryRow.length * 2, 4096)
      entryRow = new Uint32Array(room)
      entryBest = new Float32Array(room)
    }
    entryRow.set(k.u32(res.entryRowPtr, nEntries))
    entryBest.set(k.f32(res.entryBestPtr, nEntries))
    touched.set(k.u32(res.docsPtr, nTouched))
    gain.set(k.f64(res.gainPtr, nTouched))
    // lists scanned elsewhere are merged below in TypeScript, which finds the documents met so far by their marks
    if (job.from < qlen) {
      for (let r = 0; r < nTouched; r++) {
        docMark[touched[r]] = docEpoch
        docRow[touched[r]] = r
      }
    }
  }
  if (job.from < qlen) {
    const lists = offload!.collect()
    for (let j = job.from; j < qlen; j++) {
      const a = lists.start[j - job.from], b = lists.start[j - job.from + 1]
      counts[j] = lists.counts[j - job.from]
      merge(j, lists.slots, a, b - a, lists.bests, false)
    }
  }
  start[qlen] = nEntries
  sc.entryRow = entryRow
  sc.entryBest = entryBest
  return { slots: touched.subarray(0, nTouched), start, entryRow, entryBest, floor: floor.slice(0, qlen), gain: gain.subarray(0, nTouched) }
}
