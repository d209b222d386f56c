/**
 * WebAssembly SIMD (128-bit, f32x4) kernel for the dense dot-product tiles that dominate training and stage 1 of
 * search. The module is assembled here from its instructions (no toolchain, nothing prebuilt to trust): one
 * function, dot_tile(a, na, b, nb, dim, out), out[i·nb + j] = a_i · b_j, with 4 rows of `a` sharing every load of
 * b_j (5 vector loads per 16 multiply-adds). Requires dim % 4 == 0; callers fall back to the TypeScript loop
 * otherwise or where WebAssembly SIMD is missing.
 *
 * Measured (bench/index-profile.ts, 16384×128 centroids × 32 query tokens, this 2-core machine under load from
 * other jobs, same run): see the numbers in the file header of bench/index-profile.ts and in BENCHMARKS.md.
 */

// The project's TypeScript lib set (ES2023, no DOM) has no WebAssembly types: declare the few members used.
interface WasmMemory { readonly buffer: ArrayBuffer; grow(pages: number): number }
interface WasmApi {
  validate(bytes: Uint8Array): boolean
  Module: new (bytes: Uint8Array) => object
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> }
  Memory: new (desc: { initial: number }) => WasmMemory
}
const wasm = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly

// ---- a tiny assembler for the few instructions we need ----
function uleb(n: number): number[] {
  const out: number[] = []
  do {
    let b = n & 0x7f
    n >>>= 7
    if (n !== 0) b |= 0x80
    out.push(b)
  } while (n !== 0)
  return out
}
function sleb(n: number): number[] {
  const out: number[] = []
  for (;;) {
    const b = n & 0x7f
    n >>= 7
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) { out.push(b); return out }
    out.push(b | 0x80)
  }
}
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()]
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body]

const I32 = 0x7f, F32 = 0x7d, V128 = 0x7b
const op = {
  get: (i: number) => [0x20, ...uleb(i)], set: (i: number) => [0x21, ...uleb(i)], tee: (i: number) => [0x22, ...uleb(i)],
  i32: (v: number) => [0x41, ...sleb(v)],
  add: [0x6a], mul: [0x6c], shl: [0x74], geS: [0x4e], gtS: [0x4a], ltS: [0x48],
  block: [0x02, 0x40], loop: [0x03, 0x40], end: [0x0b], br: (d: number) => [0x0c, ...uleb(d)], brIf: (d: number) => [0x0d, ...uleb(d)],
  f32store: [0x38, 2, 0], f32add: [0x92], i32load: [0x28, 2, 0], load8u: [0x2d, 0, 0], load16u: [0x2f, 1, 0],
  ilane: (l: number) => [0xfd, 0x1b, l], ix4dot16: [0xfd, ...uleb(186)], ix4add: [0xfd, ...uleb(174)],
  f32fromI32: [0xb2], f32mul: [0x94], load16x4s: [0xfd, 0x03, 3, 0], fx4fromI32: [0xfd, ...uleb(250)],
  truncSat: [0xfd, ...uleb(248)], fx4nearest: [0xfd, ...uleb(106)], narrow16: [0xfd, ...uleb(133)],
  shrU: [0x76], ne: [0x47], eqz: [0x45], if: [0x04, 0x40], f32load: [0x2a, 2, 0], fx4pmax: [0xfd, ...uleb(235)], f64promote: [0xbb], f64add: [0xa0], f32demote: [0xb6], f64const0: [0x44, 0, 0, 0, 0, 0, 0, 0, 0], and: [0x71], f32sqrt: [0x91], f32div: [0x95], f32max: [0x97], f32const: (v: number) => [0x43, ...new Uint8Array(Float32Array.of(v).buffer)],
  vstore: [0xfd, 0x0b, 4, 0], splat: [0xfd, 0x13], fx4gt: [0xfd, 0x44], i32store: [0x36, 2, 0], ix4bitmask: [0xfd, ...uleb(164)], or: [0x72],
  vload: [0xfd, 0x00, 4, 0], vzero: [0xfd, 0x0c, ...new Array(16).fill(0)], select: [0x1b],
  fx4add: [0xfd, ...uleb(228)], fx4mul: [0xfd, ...uleb(230)], lane: (l: number) => [0xfd, 0x1f, l],
}

/**
 * One function body. indexed = false: dot_tile(a, na, b, nb, dim, out), rows of a contiguous. indexed = true:
 * dot_tile_idx(idx, na, b, nb, dim, out, a): row i of a is at a + idx[i]·dim·4 (idx: i32 array), so the caller
 * scores a subset of resident points without gathering (copying) them.
 */
function dotTileBody(indexed: boolean, i16 = false): number[] {
  // params: 0 a (or idx), 1 na, 2 b, 3 nb, 4 dim, 5 out, [indexed: 6 aBase], [i16: scale (f32)]
  // i32 locals: i, j, d (byte offset), rowBytes, pa0..pa3, pb, po, nbBytes; v128 locals: vb, acc0..acc3, vb2, acc2_0..3, tmp
  // i16: rows are int16 (dim % 8 == 0), products summed exactly in int32 (i32x4.dot_i16x8_s: 8 multiply-adds per
  // instruction, twice f32x4), the sum converted to f32 and multiplied by `scale`.
  const x = (indexed ? 1 : 0) + (i16 ? 1 : 0)
  const [A, NA, B, NB, DIM, OUT, ABASE] = [0, 1, 2, 3, 4, 5, 6]
  const SCALE = indexed ? 7 : 6
  const [I, J, D, ROW, PA, PB, PO, NBB, VB, ACC, VB2, ACC2, TMP] = [6, 7, 8, 9, 10, 14, 15, 16, 17, 18, 22, 23, 27].map((l) => l + x)
  // address of row i+r of a
  const rowAddr = (r: number) => indexed
    ? [...op.get(ABASE), ...op.get(A), ...op.get(I), ...op.i32(r), ...op.add, ...op.i32(2), ...op.shl, ...op.add, ...op.i32load, ...op.get(ROW), ...op.mul, ...op.add]
    : r === 0 ? [...op.get(A), ...op.get(I), ...op.get(ROW), ...op.mul, ...op.add] : [...op.get(PA + r - 1), ...op.get(ROW), ...op.add]
  const hsum = (acc: number) => i16
    ? [...op.get(acc), ...op.ilane(0), ...op.get(acc), ...op.ilane(1), ...op.add,
      ...op.get(acc), ...op.ilane(2), ...op.get(acc), ...op.ilane(3), ...op.add, ...op.add, ...op.f32fromI32, ...op.get(SCALE), ...op.f32mul]
    : [...op.get(acc), ...op.lane(0), ...op.get(acc), ...op.lane(1), ...op.f32add,
      ...op.get(acc), ...op.lane(2), ...op.get(acc), ...op.lane(3), ...op.f32add, ...op.f32add]
  // cols 1: acc_r += load(pa_r + d) · vb; cols 2: t = load(pa_r + d), acc_r += t · vb, acc2_r += t · vb2 (each row
  // load serves two query columns: 6 loads per 8 products instead of 5 per 4)
  const prod = i16 ? [...op.ix4dot16, ...op.ix4add] : [...op.fx4mul, ...op.fx4add]
  const madd = (r: number, cols: number) => cols === 1
    ? [...op.get(ACC + r), ...op.get(PA + r), ...op.get(D), ...op.add, ...op.vload, ...op.get(VB), ...prod, ...op.set(ACC + r)]
    : [
      ...op.get(ACC + r), ...op.get(PA + r), ...op.get(D), ...op.add, ...op.vload, ...op.tee(TMP), ...op.get(VB), ...prod, ...op.set(ACC + r),
      ...op.get(ACC2 + r), ...op.get(TMP), ...op.get(VB2), ...prod, ...op.set(ACC2 + r),
    ]
  // the outputs of columns j (and j+1) for the block's rows: out[(i+r)·nb + j] at po + r·nbBytes
  const store = (rows: number, cols: number) => Array.from({ length: rows }, (_, r) => [
    ...op.get(PO), ...(r === 0 ? [] : [...op.get(NBB), ...op.i32(r), ...op.mul, ...op.add]), ...hsum(ACC + r), ...op.f32store,
    ...(cols === 2 ? [...op.get(PO), ...op.i32(4), ...op.add, ...(r === 0 ? [] : [...op.get(NBB), ...op.i32(r), ...op.mul, ...op.add]), ...hsum(ACC2 + r), ...op.f32store] : []),
  ]).flat()
  // one step over column j (and j+1): zero, accumulate over d, store, advance po, pb, j
  const columns = (rows: number, cols: number) => [
    ...Array.from({ length: rows }, (_, r) => [...op.vzero, ...op.set(ACC + r), ...(cols === 2 ? [...op.vzero, ...op.set(ACC2 + r)] : [])]).flat(),
    ...op.i32(0), ...op.set(D),
    ...op.loop,
    ...op.get(PB), ...op.get(D), ...op.add, ...op.vload, ...op.set(VB),
    ...(cols === 2 ? [...op.get(PB), ...op.get(ROW), ...op.add, ...op.get(D), ...op.add, ...op.vload, ...op.set(VB2)] : []),
    ...Array.from({ length: rows }, (_, r) => madd(r, cols)).flat(),
    ...op.get(D), ...op.i32(16), ...op.add, ...op.tee(D), ...op.get(ROW), ...op.ltS, ...op.brIf(0),
    ...op.end,
    ...store(rows, cols),
    ...op.get(PO), ...op.i32(4 * cols), ...op.add, ...op.set(PO),
    ...op.get(PB), ...op.get(ROW), ...(cols === 2 ? [...op.i32(1), ...op.shl] : []), ...op.add, ...op.set(PB),
    ...op.get(J), ...op.i32(cols), ...op.add, ...op.set(J),
  ]
  const rowsBlock = (rows: number) => [
    ...Array.from({ length: rows }, (_, r) => [...rowAddr(r), ...op.set(PA + r)]).flat(),
    ...op.i32(0), ...op.set(J),
    ...op.get(B), ...op.set(PB),
    // po = out + i·nb·4
    ...op.get(OUT), ...op.get(I), ...op.get(NBB), ...op.mul, ...op.add, ...op.set(PO),
    // pairs of columns while two remain, then the last one if nb is odd
    ...op.block, ...op.loop,
    ...op.get(J), ...op.i32(2), ...op.add, ...op.get(NB), ...op.gtS, ...op.brIf(1),
    ...columns(rows, 2),
    ...op.br(0),
    ...op.end, ...op.end,
    ...op.get(J), ...op.get(NB), ...op.ltS, ...op.if,
    ...columns(rows, 1),
    ...op.end,
  ]
  const body = [
    ...vec([[11, I32], [11, V128]]),
    ...op.get(DIM), ...op.i32(i16 ? 1 : 2), ...op.shl, ...op.set(ROW),
    ...op.get(NB), ...op.i32(2), ...op.shl, ...op.set(NBB),
    ...op.i32(0), ...op.set(I),
    // blocks of 4 rows
    ...op.block, ...op.loop,
    ...op.get(I), ...op.i32(4), ...op.add, ...op.get(NA), ...op.gtS, ...op.brIf(1),
    ...rowsBlock(4),
    ...op.get(I), ...op.i32(4), ...op.add, ...op.set(I), ...op.br(0),
    ...op.end, ...op.end,
    // remaining rows one at a time
    ...op.block, ...op.loop,
    ...op.get(I), ...op.get(NA), ...op.geS, ...op.brIf(1),
    ...rowsBlock(1),
    ...op.get(I), ...op.i32(1), ...op.add, ...op.set(I), ...op.br(0),
    ...op.end, ...op.end,
    ...op.end,
  ]
  return body
}

/**
 * decode_nbits(codes, res, n, cents, table, dim, out, bpv, scale, [out16,] stride): out row v = normalise(C[codes[v]]
 * + residual v) for n vectors, codes an int32 array, residuals packed bpv bytes per vector. Works on units of 4
 * dimensions: `table` maps a unit's packed bits to its 4 bucket weights (one v128), so a unit costs 2 vector loads, an
 * add and a store. Unit bits: nbits 2 → one byte; nbits 4 → a little-endian u16; nbits 1 → a nibble. stride 0: one
 * table for every unit (a pooled codec); stride = the table's entries: unit i's table follows unit i−1's (a codec
 * with a quantizer per dimension), found at table + (unit's byte offset in the output row) · stride.
 */
function decodeBody(nbits: 1 | 2 | 4, toI16 = false): number[] {
  // params: codes, res, n, cents (int16 rows), table, dim, out, bpv, scale (f32: centroid = int16 · scale)
  // [toI16: out16 (i32): the normalised rows also as int16 · 2^-14, dim % 8 == 0, for the int16 dot kernel], stride
  const [CODES, RES, N, CENTS, TABLE, DIM, OUT, BPV, SCALE, OUT16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
  const x = toI16 ? 1 : 0
  const STRIDE = 9 + x
  const [V, U, CP, RP, OP, ROW, ACC, X, SC] = [10, 11, 12, 13, 14, 15, 16, 17, 18].map((l) => l + x)
  const unitIndex = nbits === 2
    ? [...op.get(RP), ...op.get(U), ...op.i32(4), ...op.shrU, ...op.add, ...op.load8u]
    : nbits === 4
      ? [...op.get(RP), ...op.get(U), ...op.i32(3), ...op.shrU, ...op.add, ...op.load16u]
      : [...op.get(RP), ...op.get(U), ...op.i32(5), ...op.shrU, ...op.add, ...op.load8u,
        ...op.get(U), ...op.i32(2), ...op.shrU, ...op.i32(4), ...op.and, ...op.shrU, ...op.i32(15), ...op.and]
  return [
    ...vec([[6, I32], [3, V128]]),
    ...op.get(DIM), ...op.i32(2), ...op.shl, ...op.set(ROW),
    ...op.get(SCALE), ...op.splat, ...op.set(SC),
    ...op.i32(0), ...op.set(V),
    ...op.block, ...op.loop,
    ...op.get(V), ...op.get(N), ...op.geS, ...op.brIf(1),
    // centroid rows are int16: half the bytes of the output row
    ...op.get(CENTS), ...op.get(CODES), ...op.get(V), ...op.i32(2), ...op.shl, ...op.add, ...op.i32load, ...op.get(DIM), ...op.i32(1), ...op.shl, ...op.mul, ...op.add, ...op.set(CP),
    ...op.get(RES), ...op.get(V), ...op.get(BPV), ...op.mul, ...op.add, ...op.set(RP),
    ...op.get(OUT), ...op.get(V), ...op.get(ROW), ...op.mul, ...op.add, ...op.set(OP),
    ...op.vzero, ...op.set(ACC), ...op.i32(0), ...op.set(U),
    ...op.loop,
    ...op.get(CP), ...op.get(U), ...op.i32(1), ...op.shrU, ...op.add, ...op.load16x4s, ...op.fx4fromI32, ...op.get(SC), ...op.fx4mul,
    ...op.get(TABLE), ...op.get(U), ...op.get(STRIDE), ...op.mul, ...op.add, ...unitIndex, ...op.i32(4), ...op.shl, ...op.add, ...op.vload,
    ...op.fx4add, ...op.set(X),
    ...op.get(OP), ...op.get(U), ...op.add, ...op.get(X), ...op.vstore,
    ...op.get(ACC), ...op.get(X), ...op.get(X), ...op.fx4mul, ...op.fx4add, ...op.set(ACC),
    ...op.get(U), ...op.i32(16), ...op.add, ...op.tee(U), ...op.get(ROW), ...op.ltS, ...op.brIf(0),
    ...op.end,
    // X = splat(1 / sqrt(max(‖x‖², tiny))), times 2^14 for the int16 rows
    ...op.f32const(toI16 ? 16384 : 1), ...op.get(ACC), ...op.lane(0), ...op.get(ACC), ...op.lane(1), ...op.f32add,
    ...op.get(ACC), ...op.lane(2), ...op.get(ACC), ...op.lane(3), ...op.f32add, ...op.f32add,
    ...op.f32const(1e-30), ...op.f32max, ...op.f32sqrt, ...op.f32div, ...op.splat, ...op.set(X),
    ...(!toI16 ? [
      ...op.i32(0), ...op.set(U),
      ...op.loop,
      ...op.get(OP), ...op.get(U), ...op.add,
      ...op.get(OP), ...op.get(U), ...op.add, ...op.vload, ...op.get(X), ...op.fx4mul, ...op.vstore,
      ...op.get(U), ...op.i32(16), ...op.add, ...op.tee(U), ...op.get(ROW), ...op.ltS, ...op.brIf(0),
      ...op.end,
    ] : [
      // int16 rows only: out16 row v = round(x · 2^14 / ‖x‖), 8 values per step, from the unnormalised rows at OP
      // (the normalised float32 rows are not stored: one pass less)
      ...op.i32(0), ...op.set(U),
      ...op.loop,
      ...op.get(OUT16), ...op.get(V), ...op.get(DIM), ...op.i32(1), ...op.shl, ...op.mul, ...op.add, ...op.get(U), ...op.i32(1), ...op.shrU, ...op.add,
      ...op.get(OP), ...op.get(U), ...op.add, ...op.vload, ...op.get(X), ...op.fx4mul, ...op.fx4nearest, ...op.truncSat,
      ...op.get(OP), ...op.get(U), ...op.add, ...op.i32(16), ...op.add, ...op.vload, ...op.get(X), ...op.fx4mul, ...op.fx4nearest, ...op.truncSat,
      ...op.narrow16, ...op.vstore,
      ...op.get(U), ...op.i32(32), ...op.add, ...op.tee(U), ...op.get(ROW), ...op.ltS, ...op.brIf(0),
      ...op.end,
    ]),
    ...op.get(V), ...op.i32(1), ...op.add, ...op.set(V), ...op.br(0),
    ...op.end, ...op.end,
    ...op.end,
  ]
}

/**
 * approx(codes, ends, nDocs, S, qlen, kept, acc, out, init): centroid-interaction scores. Document d owns codes[ends[d-1]
 * .. ends[d]) (uint16; ends int32, cumulative); out[d] = Σ_j max(floor[j], max over its codes c with kept[c] ≠ 0
 * (kept = 0: all) of S[c·qlen + j]). `acc` is 2·qlen floats: qlen of scratch, then floor[0..qlen) (the score of a
 * token no kept code reaches); with init ≠ 0, document d starts from init[d·qlen ..] (its own maxima known from
 * elsewhere, e.g. probe scores) instead of the floor; qlen % 4 == 0. One f32x4.pmax per 4 query tokens per code (a
 * single maxps; f32x4.max's NaN rules cost a sequence, and scores are never NaN), against 4 compare-and-branch steps
 * in TypeScript.
 */
function approxBody(): number[] {
  const [CODES, ENDS, ND, S, QLEN, KEPT, ACC, OUT, INIT] = [0, 1, 2, 3, 4, 5, 6, 7, 8]
  const [D, V, END, C, M, ROW, QB, SRC] = [9, 10, 11, 12, 13, 14, 15, 16]
  const [SUM] = [17] // f32
  return [
    ...vec([[8, I32], [1, F32]]),
    ...op.get(QLEN), ...op.i32(2), ...op.shl, ...op.set(QB),
    ...op.i32(0), ...op.set(V), ...op.i32(0), ...op.set(D),
    ...op.block, ...op.loop,
    ...op.get(D), ...op.get(ND), ...op.geS, ...op.brIf(1),
    // acc = the document's row of INIT when INIT ≠ 0, else floor (the qlen floats after acc)
    ...op.get(INIT), ...op.get(D), ...op.get(QB), ...op.mul, ...op.add, ...op.get(ACC), ...op.get(QB), ...op.add, ...op.get(INIT), ...op.select, ...op.set(SRC),
    ...op.i32(0), ...op.set(M),
    ...op.loop,
    ...op.get(ACC), ...op.get(M), ...op.add, ...op.get(SRC), ...op.get(M), ...op.add, ...op.vload, ...op.vstore,
    ...op.get(M), ...op.i32(16), ...op.add, ...op.tee(M), ...op.get(QB), ...op.ltS, ...op.brIf(0),
    ...op.end,
    ...op.get(ENDS), ...op.get(D), ...op.i32(2), ...op.shl, ...op.add, ...op.i32load, ...op.set(END),
    ...op.block, ...op.loop,
    ...op.get(V), ...op.get(END), ...op.geS, ...op.brIf(1),
    ...op.get(CODES), ...op.get(V), ...op.i32(1), ...op.shl, ...op.add, ...op.load16u, ...op.set(C),
    ...op.get(V), ...op.i32(1), ...op.add, ...op.set(V),
    // skip pruned codes
    ...op.get(KEPT), ...op.i32(0), ...op.ne, ...op.if,
    ...op.get(KEPT), ...op.get(C), ...op.add, ...op.load8u, ...op.eqz, ...op.brIf(1), // pruned: next code (label 1 = code loop)
    ...op.end,
    ...op.get(S), ...op.get(C), ...op.get(QB), ...op.mul, ...op.add, ...op.set(ROW),
    ...op.i32(0), ...op.set(M),
    ...op.loop,
    ...op.get(ACC), ...op.get(M), ...op.add,
    ...op.get(ACC), ...op.get(M), ...op.add, ...op.vload, ...op.get(ROW), ...op.get(M), ...op.add, ...op.vload, ...op.fx4pmax,
    ...op.vstore,
    ...op.get(M), ...op.i32(16), ...op.add, ...op.tee(M), ...op.get(QB), ...op.ltS, ...op.brIf(0),
    ...op.end,
    ...op.br(0),
    ...op.end, ...op.end,
    // out[d] = Σ acc
    ...op.f32const(0), ...op.set(SUM), ...op.i32(0), ...op.set(M),
    ...op.loop,
    ...op.get(SUM), ...op.get(ACC), ...op.get(M), ...op.add, ...op.f32load, ...op.f32add, ...op.set(SUM),
    ...op.get(M), ...op.i32(4), ...op.add, ...op.tee(M), ...op.get(QB), ...op.ltS, ...op.brIf(0),
    ...op.end,
    ...op.get(OUT), ...op.get(D), ...op.i32(2), ...op.shl, ...op.add, ...op.get(SUM), ...op.f32store,
    ...op.get(D), ...op.i32(1), ...op.add, ...op.set(D), ...op.br(0),
    ...op.end, ...op.end,
    ...op.end,
  ]
}

/**
 * rows_above_mask(S, rows, qlen, thr, out, words) → n: the rows r (ascending) with S[r·qlen + j] > thr[j] for some j
 * (qlen % 4 == 0), each written to out as `1 + words` int32: the row, then which tokens beat their threshold (bit
 * j % 32 of word j / 32; words = ceil(qlen / 32)), so the caller visits only those (row, token) pairs. One f32x4.gt
 * per 4 tokens per row, its i32x4.bitmask giving the 4 tokens' bits.
 */
function rowsAboveMaskBody(): number[] {
  const [S, ROWS, QLEN, THR, OUT, W] = [0, 1, 2, 3, 4, 5]
  const [R, M, QB, P, N, SLOT, B, F, STRIDE, Z, A] = [6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
  return [
    ...vec([[11, I32]]),
    ...op.get(QLEN), ...op.i32(2), ...op.shl, ...op.set(QB),
    ...op.get(W), ...op.i32(1), ...op.add, ...op.i32(2), ...op.shl, ...op.set(STRIDE),
    ...op.get(S), ...op.set(P),
    ...op.i32(0), ...op.set(R), ...op.i32(0), ...op.set(N),
    ...op.block, ...op.loop,
    ...op.get(R), ...op.get(ROWS), ...op.geS, ...op.brIf(1),
    ...op.get(OUT), ...op.get(N), ...op.get(STRIDE), ...op.mul, ...op.add, ...op.set(SLOT),
    // the slot's mask words start at 0
    ...op.i32(4), ...op.set(Z),
    ...op.block, ...op.loop,
    ...op.get(Z), ...op.get(STRIDE), ...op.geS, ...op.brIf(1),
    ...op.get(SLOT), ...op.get(Z), ...op.add, ...op.i32(0), ...op.i32store,
    ...op.get(Z), ...op.i32(4), ...op.add, ...op.set(Z), ...op.br(0),
    ...op.end, ...op.end,
    ...op.i32(0), ...op.set(F), ...op.i32(0), ...op.set(M),
    ...op.loop,
    ...op.get(P), ...op.get(M), ...op.add, ...op.vload, ...op.get(THR), ...op.get(M), ...op.add, ...op.vload, ...op.fx4gt, ...op.ix4bitmask, ...op.tee(B),
    ...op.if,
    // word (M / 16) / 8 of the slot |= bits << 4·((M / 16) % 8)
    ...op.get(SLOT), ...op.i32(4), ...op.add, ...op.get(M), ...op.i32(7), ...op.shrU, ...op.i32(2), ...op.shl, ...op.add, ...op.set(A),
    ...op.get(A), ...op.get(A), ...op.i32load, ...op.get(B), ...op.get(M), ...op.i32(2), ...op.shrU, ...op.i32(28), ...op.and, ...op.shl, ...op.or, ...op.i32store,
    ...op.i32(1), ...op.set(F),
    ...op.end,
    ...op.get(M), ...op.i32(16), ...op.add, ...op.tee(M), ...op.get(QB), ...op.ltS, ...op.brIf(0),
    ...op.end,
    ...op.get(F), ...op.if,
    ...op.get(SLOT), ...op.get(R), ...op.i32store,
    ...op.get(N), ...op.i32(1), ...op.add, ...op.set(N),
    ...op.end,
    ...op.get(P), ...op.get(QB), ...op.add, ...op.set(P),
    ...op.get(R), ...op.i32(1), ...op.add, ...op.set(R), ...op.br(0),
    ...op.end, ...op.end,
    ...op.get(N),
    ...op.end,
  ]
}

/**
 * maxsim_reduce(sims, ends, nDocs, qlen, acc, out): document d owns rows ends[d-1] .. ends[d] of sims (rows of qlen
 * floats, contiguous; ends int32, cumulative); out[d] = Σ_j max over its rows of sims[row·qlen + j], summed in float64
 * in token order (as the TypeScript loop did); acc: qlen floats of scratch; qlen % 4 == 0. A document without rows
 * scores −∞.
 */
function reduceBody(): number[] {
  const [SIMS, ENDS, ND, QLEN, ACC, OUT] = [0, 1, 2, 3, 4, 5]
  const [D, V, END, M, QB, P] = [6, 7, 8, 9, 10, 11]
  const [SUM] = [12] // f64
  const F64 = 0x7c
  return [
    ...vec([[6, I32], [1, F64]]),
    ...op.get(QLEN), ...op.i32(2), ...op.shl, ...op.set(QB),
    ...op.get(SIMS), ...op.set(P),
    ...op.i32(0), ...op.set(V), ...op.i32(0), ...op.set(D),
    ...op.block, ...op.loop,
    ...op.get(D), ...op.get(ND), ...op.geS, ...op.brIf(1),
    ...op.i32(0), ...op.set(M),
    ...op.loop,
    ...op.get(ACC), ...op.get(M), ...op.add, ...op.f32const(-Infinity), ...op.splat, ...op.vstore,
    ...op.get(M), ...op.i32(16), ...op.add, ...op.tee(M), ...op.get(QB), ...op.ltS, ...op.brIf(0),
    ...op.end,
    ...op.get(ENDS), ...op.get(D), ...op.i32(2), ...op.shl, ...op.add, ...op.i32load, ...op.set(END),
    ...op.block, ...op.loop,
    ...op.get(V), ...op.get(END), ...op.geS, ...op.brIf(1),
    ...op.i32(0), ...op.set(M),
    ...op.loop,
    ...op.get(ACC), ...op.get(M), ...op.add,
    ...op.get(ACC), ...op.get(M), ...op.add, ...op.vload, ...op.get(P), ...op.get(M), ...op.add, ...op.vload, ...op.fx4pmax,
    ...op.vstore,
    ...op.get(M), ...op.i32(16), ...op.add, ...op.tee(M), ...op.get(QB), ...op.ltS, ...op.brIf(0),
    ...op.end,
    ...op.get(P), ...op.get(QB), ...op.add, ...op.set(P),
    ...op.get(V), ...op.i32(1), ...op.add, ...op.set(V), ...op.br(0),
    ...op.end, ...op.end,
    ...op.f64const0, ...op.set(SUM), ...op.i32(0), ...op.set(M),
    ...op.loop,
    ...op.get(SUM), ...op.get(ACC), ...op.get(M), ...op.add, ...op.f32load, ...op.f64promote, ...op.f64add, ...op.set(SUM),
    ...op.get(M), ...op.i32(4), ...op.add, ...op.tee(M), ...op.get(QB), ...op.ltS, ...op.brIf(0),
    ...op.end,
    ...op.get(OUT), ...op.get(D), ...op.i32(2), ...op.shl, ...op.add, ...op.get(SUM), ...op.f32demote, ...op.f32store,
    ...op.get(D), ...op.i32(1), ...op.add, ...op.set(D), ...op.br(0),
    ...op.end, ...op.end,
    ...op.end,
  ]
}

function buildDotTileModule(): Uint8Array {
  const name = (s: string) => { const b = [...Buffer.from(s, 'utf8')]; return [...uleb(b.length), ...b] }
  const plain = dotTileBody(false), idx = dotTileBody(true)
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    // types: 0 (6 i32), 1 (7 i32), 2 (6 i32 + f32), 3 (7 i32 + f32), 4 (8 i32 + f32 + i32), 5 (9 i32),
    // 6 (8 i32 + f32 + 2 i32), 7 (6 i32) → i32
    ...section(1, vec([...[[6, 0, 0], [7, 0, 0], [6, 1, 0], [7, 1, 0], [8, 1, 1], [9, 0, 0], [8, 1, 2]].map(([n, f, tail]) =>
      [0x60, ...vec([...new Array(n).fill([I32]), ...(f ? [[F32]] : []), ...new Array(tail).fill([I32])]), 0]),
    [0x60, ...vec(new Array(6).fill([I32])), 1, I32]])),
    ...section(2, vec([[...name('env'), ...name('mem'), 0x02, 0x00, 0x01]])), // memory import, min 1 page
    ...section(3, vec([[0], [1], [4], [4], [4], [2], [3], [5], [6], [6], [6], [7], [0]])),
    ...section(7, vec([[...name('dot_tile'), 0x00, 0x00], [...name('dot_tile_idx'), 0x00, 0x01],
      [...name('decode1'), 0x00, 0x02], [...name('decode2'), 0x00, 0x03], [...name('decode4'), 0x00, 0x04],
      [...name('dot_tile_i16'), 0x00, 0x05], [...name('dot_tile_idx_i16'), 0x00, 0x06], [...name('approx'), 0x00, 0x07],
      [...name('decode1i16'), 0x00, 0x08], [...name('decode2i16'), 0x00, 0x09], [...name('decode4i16'), 0x00, 0x0a],
      [...name('rows_above_mask'), 0x00, 0x0b], [...name('maxsim_reduce'), 0x00, 0x0c]])),
    ...section(10, vec([plain, idx, decodeBody(1), decodeBody(2), decodeBody(4), dotTileBody(false, true), dotTileBody(true, true), approxBody(),
      decodeBody(1, true), decodeBody(2, true), decodeBody(4, true), rowsAboveMaskBody(), reduceBody()]
      .map((b) => [...uleb(b.length), ...b]))),
  ]
  return Uint8Array.from(bytes)
}

let compiled: object | null | undefined

function module(): object | null {
  if (compiled !== undefined) return compiled
  try {
    const bytes = buildDotTileModule()
    compiled = wasm === undefined || process.env.JACOLBERT_NO_SIMD === '1' || !wasm.validate(bytes) ? null : new wasm.Module(bytes)
  } catch {
    compiled = null
  }
  return compiled
}

export function simdAvailable(): boolean {
  return module() !== null
}

/** A WebAssembly memory plus the kernel bound to it; arrays are placed with `reserve` and addressed in bytes. */
export interface SimdArena {
  /** makes the memory at least `bytes` long (views from f32() become invalid after a growth) */
  reserve(bytes: number): void
  byteLength(): number
  f32(byteOffset: number, length: number): Float32Array
  dotTile(aPtr: number, na: number, bPtr: number, nb: number, dim: number, outPtr: number): void
  /** like dotTile, row i of a at aBase + idx[i]·dim·4, idx an int32 array at idxPtr */
  dotTileIdx(idxPtr: number, na: number, bPtr: number, nb: number, dim: number, outPtr: number, aBase: number): void
  i32(byteOffset: number, length: number): Int32Array
  u8(byteOffset: number, length: number): Uint8Array
  i16(byteOffset: number, length: number): Int16Array
  u16(byteOffset: number, length: number): Uint16Array
  /** per document, Σ_j of the max over its rows of sims (see reduceBody; accPtr: qlen floats of scratch) */
  maxSimReduce(simsPtr: number, endsPtr: number, nDocs: number, qlen: number, accPtr: number, outPtr: number): void
  /**
   * the rows with some S[r·qlen + j] > thr[j] (qlen floats at thrPtr), ascending, at outPtr as int32 each followed by
   * `words` = ceil(qlen / 32) int32 of which tokens beat their threshold; returns their count
   */
  rowsAboveMask(sPtr: number, rows: number, qlen: number, thrPtr: number, outPtr: number, words: number): number
  /**
   * centroid-interaction scores, see approxBody (keptPtr 0: no pruning; accPtr: qlen floats of scratch, then qlen of
   * floor; initPtr ≠ 0: nDocs rows of qlen floats, each document's starting maxima instead of the floor)
   */
  approx(codesPtr: number, endsPtr: number, nDocs: number, sPtr: number, qlen: number, keptPtr: number, accPtr: number, outPtr: number, initPtr?: number): void
  /** out rows = normalise(C[code] + residual) for n vectors, C int16 rows × scale; see decodeBody (stride: decodeUnitStride) */
  decode(nbits: 1 | 2 | 4, codesPtr: number, resPtr: number, n: number, centsPtr: number, tablePtr: number, dim: number, outPtr: number, bpv: number, scale: number, stride: number): void
  /** decode, plus the rows as int16 · 2^-14 at out16Ptr (dim % 8 == 0) */
  decodeI16(nbits: 1 | 2 | 4, codesPtr: number, resPtr: number, n: number, centsPtr: number, tablePtr: number, dim: number, outPtr: number, bpv: number, scale: number, out16Ptr: number, stride: number): void
  /** dotTile over int16 rows (dim % 8 == 0): out = scale · Σ a·b (exact integer sums) */
  dotTileI16(aPtr: number, na: number, bPtr: number, nb: number, dim: number, outPtr: number, scale: number): void
  dotTileIdxI16(idxPtr: number, na: number, bPtr: number, nb: number, dim: number, outPtr: number, aBase: number, scale: number): void
}

/**
 * The unit table decode() needs for a codec: entries (16, 256 or 65536 for nbits 1, 2, 4) × 4 weights; for a codec
 * with a quantizer per dimension (weights: dim rows of 2^nbits, nbits 1 or 2), one such table per 4-dimension unit.
 */
export function unitTable(nbits: 1 | 2 | 4, weights: Float32Array, perDimension = false): Float32Array {
  const perUnit = 4 * nbits, entries = 1 << perUnit, n = 1 << nbits, mask = n - 1
  if (perDimension && nbits === 4) throw new Error('decode tables: no per-dimension codec at nbits 4')
  const units = perDimension ? weights.length / n / 4 : 1
  const t = new Float32Array(units * entries * 4)
  for (let u = 0; u < units; u++) {
    for (let e = 0; e < entries; e++) {
      for (let d = 0; d < 4; d++) t[(u * entries + e) * 4 + d] = weights[(perDimension ? (u * 4 + d) * n : 0) + ((e >> (nbits * d)) & mask)]
    }
  }
  return t
}

/** decode()'s stride for a unitTable: 0 for one shared table, its entry count for per-dimension tables. */
export function decodeUnitStride(nbits: 1 | 2 | 4, perDimension: boolean): number {
  return perDimension ? 1 << (4 * nbits) : 0
}

export function createSimdArena(bytes: number): SimdArena | null {
  const mod = module()
  if (mod === null) return null
  const pages = (b: number) => Math.max(1, Math.ceil(b / 65536))
  const memory = new wasm!.Memory({ initial: pages(bytes) })
  const inst = new wasm!.Instance(mod, { env: { mem: memory } })
  const fn = inst.exports.dot_tile as (a: number, na: number, b: number, nb: number, dim: number, out: number) => void
  const fnIdx = inst.exports.dot_tile_idx as (i: number, na: number, b: number, nb: number, dim: number, out: number, a: number) => void
  type Decode = (c: number, r: number, n: number, cents: number, table: number, dim: number, out: number, bpv: number, scale: number, stride: number) => void
  type DecodeI16 = (c: number, r: number, n: number, cents: number, table: number, dim: number, out: number, bpv: number, scale: number, o16: number, stride: number) => void
  const decodersI16: Record<number, DecodeI16> = { 1: inst.exports.decode1i16 as DecodeI16, 2: inst.exports.decode2i16 as DecodeI16, 4: inst.exports.decode4i16 as DecodeI16 }
  const fnReduce = inst.exports.maxsim_reduce as (s: number, e: number, n: number, q: number, a: number, o: number) => void
  const fnRowsAboveMask = inst.exports.rows_above_mask as (s: number, rows: number, q: number, t: number, o: number, w: number) => number
  const fnApprox = inst.exports.approx as (c: number, e: number, n: number, s: number, q: number, k: number, a: number, o: number, init: number) => void
  const fnI16 = inst.exports.dot_tile_i16 as (a: number, na: number, b: number, nb: number, dim: number, out: number, scale: number) => void
  const fnIdxI16 = inst.exports.dot_tile_idx_i16 as (i: number, na: number, b: number, nb: number, dim: number, out: number, a: number, scale: number) => void
  const decoders: Record<number, Decode> = { 1: inst.exports.decode1 as Decode, 2: inst.exports.decode2 as Decode, 4: inst.exports.decode4 as Decode }
  return {
    reserve(b: number) {
      const have = memory.buffer.byteLength
      if (b > have) memory.grow(pages(b) - pages(have))
    },
    byteLength: () => memory.buffer.byteLength,
    f32: (off, len) => new Float32Array(memory.buffer, off, len),
    i32: (off, len) => new Int32Array(memory.buffer, off, len),
    u8: (off, len) => new Uint8Array(memory.buffer, off, len),
    i16: (off, len) => new Int16Array(memory.buffer, off, len),
    u16: (off, len) => new Uint16Array(memory.buffer, off, len),
    approx: (c, e, n, sp, q, k, a, o, init = 0) => { if (n > 0) fnApprox(c, e, n, sp, q, k, a, o, init) },
    decodeI16: (nbits, c, r, n, cents, table, dim, out, bpv, scale, o16, stride) => { if (n > 0) decodersI16[nbits](c, r, n, cents, table, dim, out, bpv, scale, o16, stride) },
    maxSimReduce: (sp, e, n, q, a, o) => { if (n > 0) fnReduce(sp, e, n, q, a, o) },
    rowsAboveMask: (sp, rows, q, t, o, w) => (rows > 0 ? fnRowsAboveMask(sp, rows, q, t, o, w) : 0),
    decode: (nbits, c, r, n, cents, table, dim, out, bpv, scale, stride) => { if (n > 0) decoders[nbits](c, r, n, cents, table, dim, out, bpv, scale, stride) },
    dotTileI16: (a, na, b, nb, dim, out, scale) => { if (na > 0 && nb > 0) fnI16(a, na, b, nb, dim, out, scale) },
    dotTileIdxI16: (i, na, b, nb, dim, out, a, scale) => { if (na > 0 && nb > 0) fnIdxI16(i, na, b, nb, dim, out, a, scale) },
    dotTileIdx: (i, na, b, nb, dim, out, a) => { if (na > 0 && nb > 0) fnIdx(i, na, b, nb, dim, out, a) },
    dotTile: (a, na, b, nb, dim, out) => { if (na > 0 && nb > 0) fn(a, na, b, nb, dim, out) },
  }
}
