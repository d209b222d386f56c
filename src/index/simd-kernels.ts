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
  f32fromI32: [0xb2], f32mul: [0x94], fx4fromI32: [0xfd, ...uleb(250)],
  shrU: [0x76], ne: [0x47], eq: [0x46], ret: [0x0f], eqz: [0x45], if: [0x04, 0x40], f32load: [0x2a, 2, 0], fx4pmax: [0xfd, ...uleb(235)], f64promote: [0xbb], f64add: [0xa0], f32demote: [0xb6], f64const0: [0x44, 0, 0, 0, 0, 0, 0, 0, 0], and: [0x71], f32sqrt: [0x91], f32div: [0x95], f32max: [0x97], f32const: (v: number) => [0x43, ...new Uint8Array(Float32Array.of(v).buffer)],
  vstore: [0xfd, 0x0b, 4, 0], splat: [0xfd, 0x13], fx4gt: [0xfd, 0x44], i32store: [0x36, 2, 0], ix4bitmask: [0xfd, ...uleb(164)], or: [0x72],
  vloadAt: (off: number) => [0xfd, 0x00, 4, ...uleb(off)], vstoreAt: (off: number) => [0xfd, 0x0b, 4, ...uleb(off)],
  f64load: [0x2b, 3, 0], f64store: [0x39, 3, 0], f64sub: [0xa1],
  vload: [0xfd, 0x00, 4, 0], load64zero: [0xfd, 0x5d, 3, 0], load64lane: (l: number) => [0xfd, 0x57, 3, 0, l],
  splat16: [0xfd, 0x10], shuffle: [0xfd, 0x0d], store32lane: (l: number) => [0xfd, 0x5a, 2, 0, l], q15mul: [0xfd, ...uleb(130)], i16addSat: [0xfd, ...uleb(143)], vzero: [0xfd, 0x0c, ...new Array(16).fill(0)], select: [0x1b],
  i16x8extendLowS: [0xfd, ...uleb(135)], i16x8extendHighS: [0xfd, ...uleb(136)],
  fx4abs: [0xfd, ...uleb(224)], fx4nearest: [0xfd, ...uleb(106)], ix4truncSatF32S: [0xfd, ...uleb(248)],
  i16x8narrowI32S: [0xfd, ...uleb(133)], i8x16narrowI16S: [0xfd, ...uleb(101)], f32gt: [0x5e],
  fx4add: [0xfd, ...uleb(228)], ix4splat: [0xfd, 0x11], bitselect: [0xfd, 0x52], fx4mul: [0xfd, ...uleb(230)], lane: (l: number) => [0xfd, 0x1f, l],
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
  // int16, 4 rows: the 4 accumulators' lane sums as one vector (a 4×4 transpose by shuffles, then adds: the same
  // integer sums, ~13 instructions for the 4 outputs instead of ~40 lane extractions and scalar adds), scaled and
  // stored lane by lane; VB is free once the column's loop is done
  const lanes = (idx: number[]) => [...op.shuffle, ...idx.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3])]
  const pairSum = (a: number, b: number) => [
    ...op.get(a), ...op.get(b), ...lanes([0, 4, 1, 5]), ...op.get(a), ...op.get(b), ...lanes([2, 6, 3, 7]), ...op.ix4add,
  ]
  const store4 = (acc: number, colOffset: number) => [
    ...pairSum(acc, acc + 1), ...op.set(TMP), ...pairSum(acc + 2, acc + 3), ...op.set(VB),
    ...op.get(TMP), ...op.get(VB), ...lanes([0, 1, 4, 5]), ...op.get(TMP), ...op.get(VB), ...lanes([2, 3, 6, 7]), ...op.ix4add,
    ...op.fx4fromI32, ...op.get(SCALE), ...op.splat, ...op.fx4mul, ...op.set(TMP),
    ...[0, 1, 2, 3].flatMap((r) => [
      ...op.get(PO), ...(colOffset ? [...op.i32(colOffset), ...op.add] : []), ...(r === 0 ? [] : [...op.get(NBB), ...op.i32(r), ...op.mul, ...op.add]),
      ...op.get(TMP), ...op.store32lane(r),
    ]),
  ]
  // the outputs of columns j (and j+1) for the block's rows: out[(i+r)·nb + j] at po + r·nbBytes
  const store = (rows: number, cols: number) => i16 && rows === 4
    ? [...store4(ACC, 0), ...(cols === 2 ? store4(ACC2, 4) : [])]
    : Array.from({ length: rows }, (_, r) => [
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
 * decode_rows_nbits(codes, res, n, cents, table, dim, out, bpv, stride, cw, inv): row v of `out` = C[codes[v]]·cw +
 * the residual's bucket weights, in int16 at the centroids' fixed point (2^-14), and inv[v] = 1 / ‖row v‖ (float32).
 * The decoded vector normalise(C·centroidWeight + residual) is row v · inv[v], so a dot product with it is the row's
 * exact integer one times inv[v]: no float pass over the row and no rounding after normalising. codes int32, residuals
 * packed bpv bytes per vector; cw = centroidWeight in Q15 (i16x8.q15mulr_sat_s); table = unitTableI16: a unit of 4
 * dimensions' packed bits (nbits 2 → one byte; 4 → a little-endian u16; 1 → a nibble) maps to its 4 weights as int16
 * (8 bytes). stride 0: one table for every unit; stride = entries: one table per unit (a per-dimension codec), unit
 * i's at table + i·stride·8. Per 8 dimensions: a centroid load, its Q15 product, two 8-byte table loads, a saturating
 * add, a store, and the squared norm's part (i32x4.dot_i16x8_s). dim % 8 == 0.
 */
function decodeRowsBody(nbits: 1 | 2 | 4): number[] {
  const [CODES, RES, N, CENTS, TABLE, DIM, OUT, BPV, STRIDE, CW, INV] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
  const [V, D, CP, RP, OP, ROW, TB, S8, S16, W, ACC, X, T, CWV] = [11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24]
  // a pair of units (8 dimensions) is `nbits` bytes of the packed residual, read as one word W: unit 0's bits low
  const unitBits = 4 * nbits, mask = (1 << unitBits) - 1
  const loadWord = nbits === 1 ? op.load8u : nbits === 2 ? op.load16u : op.i32load
  return [
    ...vec([[10, I32], [4, V128]]),
    ...op.get(DIM), ...op.i32(1), ...op.shl, ...op.set(ROW),
    ...op.get(CW), ...op.splat16, ...op.set(CWV),
    // table offsets between units: stride·8 bytes, a pair's 16
    ...op.get(STRIDE), ...op.i32(3), ...op.shl, ...op.set(S8),
    ...op.get(STRIDE), ...op.i32(4), ...op.shl, ...op.set(S16),
    ...op.i32(0), ...op.set(V),
    ...op.block, ...op.loop,
    ...op.get(V), ...op.get(N), ...op.geS, ...op.brIf(1),
    ...op.get(CENTS), ...op.get(CODES), ...op.get(V), ...op.i32(2), ...op.shl, ...op.add, ...op.i32load, ...op.get(ROW), ...op.mul, ...op.add, ...op.set(CP),
    ...op.get(RES), ...op.get(V), ...op.get(BPV), ...op.mul, ...op.add, ...op.set(RP),
    ...op.get(OUT), ...op.get(V), ...op.get(ROW), ...op.mul, ...op.add, ...op.set(OP),
    ...op.get(TABLE), ...op.set(TB),
    ...op.vzero, ...op.set(ACC), ...op.i32(0), ...op.set(D),
    ...op.loop,
    ...op.get(RP), ...loadWord, ...op.set(W),
    // T = the two units' weights: tb + bits·8 and tb + stride·8 + bits'·8
    ...op.get(TB), ...op.get(W), ...op.i32(mask), ...op.and, ...op.i32(3), ...op.shl, ...op.add, ...op.load64zero, ...op.set(T),
    ...op.get(TB), ...op.get(S8), ...op.add, ...op.get(W), ...op.i32(unitBits), ...op.shrU, ...(nbits === 4 ? [] : [...op.i32(mask), ...op.and]), ...op.i32(3), ...op.shl, ...op.add,
    ...op.get(T), ...op.load64lane(1), ...op.set(T),
    ...op.get(CP), ...op.get(D), ...op.add, ...op.vload, ...op.get(CWV), ...op.q15mul, ...op.get(T), ...op.i16addSat, ...op.set(X),
    ...op.get(OP), ...op.get(D), ...op.add, ...op.get(X), ...op.vstore,
    ...op.get(ACC), ...op.get(X), ...op.get(X), ...op.ix4dot16, ...op.fx4fromI32, ...op.fx4add, ...op.set(ACC),
    ...op.get(RP), ...op.i32(nbits), ...op.add, ...op.set(RP),
    ...op.get(TB), ...op.get(S16), ...op.add, ...op.set(TB),
    ...op.get(D), ...op.i32(16), ...op.add, ...op.tee(D), ...op.get(ROW), ...op.ltS, ...op.brIf(0),
    ...op.end,
    // inv[v] = 1 / sqrt(max(‖row‖², 1))
    ...op.get(INV), ...op.get(V), ...op.i32(2), ...op.shl, ...op.add,
    ...op.f32const(1), ...op.get(ACC), ...op.lane(0), ...op.get(ACC), ...op.lane(1), ...op.f32add,
    ...op.get(ACC), ...op.lane(2), ...op.get(ACC), ...op.lane(3), ...op.f32add, ...op.f32add,
    ...op.f32const(1), ...op.f32max, ...op.f32sqrt, ...op.f32div, ...op.f32store,
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
 * in TypeScript. At 32 tokens the document's maxima stay in 8 registers instead of a load and a store per 4 tokens per
 * code (zipf-steep: 1.29 → 0.98 ms a query for the approximate scores), the same values summed in the same order, and
 * each document's kept codes are first compacted in place without a branch (zipf-steep's approximate stage −0.43 ms,
 * where half the codes are pruned in no predictable order).
 */
function approxBody(): number[] {
  const [CODES, ENDS, ND, S, QLEN, KEPT, ACC, OUT, INIT] = [0, 1, 2, 3, 4, 5, 6, 7, 8]
  const [D, V, END, C, M, ROW, QB, SRC] = [9, 10, 11, 12, 13, 14, 15, 16]
  const [SUM] = [17] // f32
  const R = 18 // v128 × REG_GROUPS: a 32-token document's maxima, held in registers
  const skipCode = [
    ...op.get(KEPT), ...op.i32(0), ...op.ne, ...op.if,
    ...op.get(KEPT), ...op.get(C), ...op.add, ...op.load8u, ...op.eqz, ...op.brIf(1),
    ...op.end,
  ]
  const srcRow = [...op.get(INIT), ...op.get(D), ...op.get(QB), ...op.mul, ...op.add, ...op.get(ACC), ...op.get(QB), ...op.add, ...op.get(INIT), ...op.select, ...op.set(SRC)]
  const groups = Array.from({ length: REG_GROUPS }, (_, g) => g)
  // Per document, first its unpruned codes are compacted in place to the front of its run (a store per code and a
  // count advanced by the kept flag, no branch), then their score rows are folded in. Where about half the codes
  // are pruned, in no order a branch could predict, skipping them code by code cost more than the rows
  // (BENCHMARKS.md § Centroid, probe and approximate stages in fewer steps). The codes at `codes` are the caller's
  // scratch copy.
  const [W, RD] = [18 + REG_GROUPS, 19 + REG_GROUPS]
  const store16 = [0x3b, 1, 0]
  const codeAt = (i: number) => [...op.get(CODES), ...op.get(i), ...op.i32(1), ...op.shl, ...op.add]
  const inRegisters = [
    ...op.get(QLEN), ...op.i32(2), ...op.shl, ...op.set(QB),
    ...op.i32(0), ...op.set(V), ...op.i32(0), ...op.set(D),
    ...op.block, ...op.loop,
    ...op.get(D), ...op.get(ND), ...op.geS, ...op.brIf(1),
    ...srcRow, ...groups.flatMap((g) => [...op.get(SRC), ...op.vloadAt(16 * g), ...op.set(R + g)]),
    ...op.get(ENDS), ...op.get(D), ...op.i32(2), ...op.shl, ...op.add, ...op.i32load, ...op.set(END),
    ...op.get(V), ...op.set(W), ...op.get(V), ...op.set(RD),
    ...op.block, ...op.loop,
    ...op.get(RD), ...op.get(END), ...op.geS, ...op.brIf(1),
    ...codeAt(RD), ...op.load16u, ...op.set(C),
    ...codeAt(W), ...op.get(C), ...store16,
    ...op.get(W), ...op.get(KEPT), ...op.eqz, ...op.get(KEPT), ...op.get(C), ...op.add, ...op.load8u, ...op.i32(0), ...op.ne, ...op.or, ...op.add, ...op.set(W),
    ...op.get(RD), ...op.i32(1), ...op.add, ...op.set(RD), ...op.br(0),
    ...op.end, ...op.end,
    ...op.block, ...op.loop,
    ...op.get(V), ...op.get(W), ...op.geS, ...op.brIf(1),
    ...op.get(S), ...codeAt(V), ...op.load16u, ...op.get(QB), ...op.mul, ...op.add, ...op.set(ROW),
    ...groups.flatMap((g) => [...op.get(R + g), ...op.get(ROW), ...op.vloadAt(16 * g), ...op.fx4pmax, ...op.set(R + g)]),
    ...op.get(V), ...op.i32(1), ...op.add, ...op.set(V), ...op.br(0),
    ...op.end, ...op.end,
    ...op.get(END), ...op.set(V),
    // Σ in token order, as the loop below
    ...op.f32const(0),
    ...groups.flatMap((g) => [0, 1, 2, 3].flatMap((l) => [...op.get(R + g), ...op.lane(l), ...op.f32add])),
    ...op.set(SUM),
    ...op.get(OUT), ...op.get(D), ...op.i32(2), ...op.shl, ...op.add, ...op.get(SUM), ...op.f32store,
    ...op.get(D), ...op.i32(1), ...op.add, ...op.set(D), ...op.br(0),
    ...op.end, ...op.end,
  ]
  return [
    ...vec([[8, I32], [1, F32], [REG_GROUPS, V128], [2, I32]]),
    ...op.get(QLEN), ...op.i32(4 * REG_GROUPS), ...op.eq, ...op.if, ...inRegisters, ...op.ret, ...op.end,
    ...documentCodes({ CODES, ENDS, ND, S, QLEN, D, V, END, C, ROW, QB }, {
      // acc = the document's row of INIT when INIT ≠ 0, else floor (the qlen floats after acc)
      docStart: [
        ...op.get(INIT), ...op.get(D), ...op.get(QB), ...op.mul, ...op.add, ...op.get(ACC), ...op.get(QB), ...op.add, ...op.get(INIT), ...op.select, ...op.set(SRC),
        ...lanes(M, QB, [...op.get(ACC), ...op.get(M), ...op.add, ...op.get(SRC), ...op.get(M), ...op.add, ...op.vload, ...op.vstore]),
      ],
      onCode: [],
      // skip pruned codes: next code (label 1 = the code loop)
      skipCode,
      perCode: lanes(M, QB, [
        ...op.get(ACC), ...op.get(M), ...op.add,
        ...op.get(ACC), ...op.get(M), ...op.add, ...op.vload, ...op.get(ROW), ...op.get(M), ...op.add, ...op.vload, ...op.fx4pmax,
        ...op.vstore,
      ]),
      // out[d] = Σ acc
      docEnd: [
        ...op.f32const(0), ...op.set(SUM), ...op.i32(0), ...op.set(M),
        ...op.loop,
        ...op.get(SUM), ...op.get(ACC), ...op.get(M), ...op.add, ...op.f32load, ...op.f32add, ...op.set(SUM),
        ...op.get(M), ...op.i32(4), ...op.add, ...op.tee(M), ...op.get(QB), ...op.ltS, ...op.brIf(0),
        ...op.end,
        ...op.get(OUT), ...op.get(D), ...op.i32(2), ...op.shl, ...op.add, ...op.get(SUM), ...op.f32store,
      ],
    }),
    ...op.end,
  ]
}

/** Query tokens / 4 of the queries whose approx maxima stay in registers (32 tokens: ColBERT's query length). */
const REG_GROUPS = 8
/** Query tokens / 4 in each of best_codes' two walks over the codes of 32-token queries. */
const HALF_GROUPS = 4

/** A loop over M = 0, 16, … < QB (bytes of qlen floats, 4 tokens a step) around `body`. */
function lanes(M: number, QB: number, body: number[]): number[] {
  return [
    ...op.i32(0), ...op.set(M),
    ...op.loop, ...body, ...op.get(M), ...op.i32(16), ...op.add, ...op.tee(M), ...op.get(QB), ...op.ltS, ...op.brIf(0), ...op.end,
  ]
}

/**
 * The walk approx and best_codes share: QB = qlen·4; for each document D < ND (its codes up to ends[D]): docStart;
 * then per code V (C = codes[V]): onCode (V not yet advanced), V + 1, skipCode (may continue with br_if 1), ROW = S +
 * C·QB, perCode; after its codes, docEnd. The caller declares the locals and ends the function.
 */
function documentCodes(
  l: { CODES: number; ENDS: number; ND: number; S: number; QLEN: number; D: number; V: number; END: number; C: number; ROW: number; QB: number },
  parts: { docStart: number[]; onCode: number[]; skipCode: number[]; perCode: number[]; docEnd: number[] },
): number[] {
  const { CODES, ENDS, ND, S, QLEN, D, V, END, C, ROW, QB } = l
  return [
    ...op.get(QLEN), ...op.i32(2), ...op.shl, ...op.set(QB),
    ...op.i32(0), ...op.set(V), ...op.i32(0), ...op.set(D),
    ...op.block, ...op.loop,
    ...op.get(D), ...op.get(ND), ...op.geS, ...op.brIf(1),
    ...parts.docStart,
    ...op.get(ENDS), ...op.get(D), ...op.i32(2), ...op.shl, ...op.add, ...op.i32load, ...op.set(END),
    ...op.block, ...op.loop,
    ...op.get(V), ...op.get(END), ...op.geS, ...op.brIf(1),
    ...op.get(CODES), ...op.get(V), ...op.i32(1), ...op.shl, ...op.add, ...op.load16u, ...op.set(C),
    ...parts.onCode,
    ...op.get(V), ...op.i32(1), ...op.add, ...op.set(V),
    ...parts.skipCode,
    ...op.get(S), ...op.get(C), ...op.get(QB), ...op.mul, ...op.add, ...op.set(ROW),
    ...parts.perCode,
    ...op.br(0),
    ...op.end, ...op.end,
    ...parts.docEnd,
    ...op.get(D), ...op.i32(1), ...op.add, ...op.set(D), ...op.br(0),
    ...op.end, ...op.end,
  ]
}

/**
 * best_codes(codes, ends, nDocs, S, qlen, best, pos): per document d (codes[ends[d-1] .. ends[d]), uint16; ends int32,
 * cumulative) and token j, the best centroid score over its codes, best[d·qlen + j] = max_c S[c·qlen + j], and the
 * index (into codes) of the first code reaching it, pos[d·qlen + j] (−1 when every score is −∞). qlen % 4 == 0. Per 4
 * tokens per code: one f32x4.gt, one pmax, one bitselect of the code's index (unprobed-refine.ts scores each
 * (document, token)'s vector found so from its residual). At 32 tokens: two walks over the codes, 16 tokens each with
 * their bests and positions in registers (zipf-steep: 0.33 → 0.20 ms a query).
 */
function bestCodesBody(): number[] {
  const [CODES, ENDS, ND, S, QLEN, BEST, POS] = [0, 1, 2, 3, 4, 5, 6]
  const [D, V, END, C, M, ROW, QB, OB] = [7, 8, 9, 10, 11, 12, 13, 14]
  const [VIDX, A, X] = [15, 16, 17] // v128
  const at = (base: number): number[] => [...op.get(base), ...op.get(OB), ...op.add, ...op.get(M), ...op.add]
  // 32 tokens: two walks over the documents' codes, each for 16 tokens (one of a score row's two cache lines) with
  // their best and first positions in registers (4 + 4 v128)
  const BR = 18, PR = 18 + HALF_GROUPS
  const groups = Array.from({ length: HALF_GROUPS }, (_, g) => g)
  const half = (h: number): number[] => documentCodes({ CODES, ENDS, ND, S, QLEN, D, V, END, C, ROW, QB }, {
    docStart: groups.flatMap((g) => [...op.f32const(-Infinity), ...op.splat, ...op.set(BR + g), ...op.i32(-1), ...op.ix4splat, ...op.set(PR + g)]),
    onCode: [...op.get(V), ...op.ix4splat, ...op.set(VIDX)],
    skipCode: [],
    perCode: groups.flatMap((g) => [
      ...op.get(ROW), ...op.vloadAt(64 * h + 16 * g), ...op.set(X),
      // pos = x > best ? v : pos; best = pmax(best, x)
      ...op.get(VIDX), ...op.get(PR + g), ...op.get(X), ...op.get(BR + g), ...op.fx4gt, ...op.bitselect, ...op.set(PR + g),
      ...op.get(BR + g), ...op.get(X), ...op.fx4pmax, ...op.set(BR + g),
    ]),
    docEnd: [
      ...op.get(D), ...op.get(QB), ...op.mul, ...op.i32(64 * h), ...op.add, ...op.set(OB),
      ...groups.flatMap((g) => [
        ...op.get(BEST), ...op.get(OB), ...op.add, ...op.get(BR + g), ...op.vstoreAt(16 * g),
        ...op.get(POS), ...op.get(OB), ...op.add, ...op.get(PR + g), ...op.vstoreAt(16 * g),
      ]),
    ],
  })
  return [
    ...vec([[8, I32], [3 + 2 * HALF_GROUPS, V128]]),
    ...op.get(QLEN), ...op.i32(8 * HALF_GROUPS), ...op.eq, ...op.if, ...half(0), ...half(1), ...op.ret, ...op.end,
    ...documentCodes({ CODES, ENDS, ND, S, QLEN, D, V, END, C, ROW, QB }, {
      // the document's rows start at −∞ and −1
      docStart: [
        ...op.get(D), ...op.get(QB), ...op.mul, ...op.set(OB),
        ...lanes(M, QB, [...at(BEST), ...op.f32const(-Infinity), ...op.splat, ...op.vstore, ...at(POS), ...op.i32(-1), ...op.ix4splat, ...op.vstore]),
      ],
      onCode: [...op.get(V), ...op.ix4splat, ...op.set(VIDX)],
      skipCode: [],
      perCode: lanes(M, QB, [
        ...op.get(ROW), ...op.get(M), ...op.add, ...op.vload, ...op.set(X),
        ...at(BEST), ...op.vload, ...op.set(A),
        // pos = x > a ? v : pos
        ...at(POS), ...op.get(VIDX), ...at(POS), ...op.vload, ...op.get(X), ...op.get(A), ...op.fx4gt, ...op.bitselect, ...op.vstore,
        ...at(BEST), ...op.get(A), ...op.get(X), ...op.fx4pmax, ...op.vstore,
      ]),
      docEnd: [],
    }),
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
 * block_max(S, rows, qlen, blocks, out, kept, thr): rows of S dealt into `blocks` blocks by residue (row r to block
 * r % blocks) and per block and token j the largest S[r·qlen + j], at out[b·qlen + j] (−∞ for an empty block); with
 * kept ≠ 0 also kept[r] = 1 when some S[r·qlen + j] > thr, else 0. qlen % 4 == 0. One load and two pmax per 4 tokens
 * per row, over S in order; out stays in the L1 cache. (rows-above.ts blockMaxima.)
 */
function blockMaxBody(): number[] {
  const [S, ROWS, QLEN, NB, OUT, KEPT, THR] = [0, 1, 2, 3, 4, 5, 6]
  const [P, END, M, O, OEND, QB, KP] = [7, 8, 9, 10, 11, 12, 13]
  const [X, RM] = [14, 15] // v128
  const store8 = [0x3a, 0, 0]
  return [
    ...vec([[7, I32], [2, V128]]),
    ...op.get(QLEN), ...op.i32(2), ...op.shl, ...op.set(QB),
    ...op.get(OUT), ...op.get(NB), ...op.get(QB), ...op.mul, ...op.add, ...op.set(OEND),
    // every block starts at −∞
    ...op.get(OUT), ...op.set(O),
    ...op.block, ...op.loop,
    ...op.get(O), ...op.get(OEND), ...op.geS, ...op.brIf(1),
    ...op.get(O), ...op.f32const(-Infinity), ...op.splat, ...op.vstore,
    ...op.get(O), ...op.i32(16), ...op.add, ...op.set(O), ...op.br(0),
    ...op.end, ...op.end,
    ...op.get(S), ...op.set(P), ...op.get(S), ...op.get(ROWS), ...op.get(QB), ...op.mul, ...op.add, ...op.set(END), ...op.get(OUT), ...op.set(O),
    ...op.get(KEPT), ...op.set(KP),
    ...op.block, ...op.loop,
    ...op.get(P), ...op.get(END), ...op.geS, ...op.brIf(1),
    ...op.f32const(-Infinity), ...op.splat, ...op.set(RM),
    ...lanes(M, QB, [
      ...op.get(P), ...op.get(M), ...op.add, ...op.vload, ...op.set(X),
      ...op.get(O), ...op.get(M), ...op.add,
      ...op.get(O), ...op.get(M), ...op.add, ...op.vload, ...op.get(X), ...op.fx4pmax,
      ...op.vstore,
      ...op.get(RM), ...op.get(X), ...op.fx4pmax, ...op.set(RM),
    ]),
    ...op.get(KEPT), ...op.if,
    ...op.get(KP),
    // the row's largest score: lanes folded by two shuffles and pmax (scalar f32.max pays for its NaN rules)
    ...op.get(RM), ...op.get(RM), ...op.get(RM), ...op.shuffle, ...[8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7], ...op.fx4pmax, ...op.tee(X),
    ...op.get(X), ...op.get(X), ...op.shuffle, ...[4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11], ...op.fx4pmax, ...op.lane(0),
    ...op.get(THR), ...op.f32gt, ...store8,
    ...op.get(KP), ...op.i32(1), ...op.add, ...op.set(KP),
    ...op.end,
    ...op.get(P), ...op.get(QB), ...op.add, ...op.set(P),
    // next block, back to the first after the last
    ...op.get(O), ...op.get(QB), ...op.add, ...op.tee(O), ...op.get(OEND), ...op.geS, ...op.if, ...op.get(OUT), ...op.set(O), ...op.end,
    ...op.br(0),
    ...op.end, ...op.end,
    ...op.end,
  ]
}

/**
 * probe_merge(slots, n, best, docMark, epoch, docRow, docs, gain, entryRow, entryBest, state, floor): probe-scores.ts
 * merge of one token's touched list into the per-document result, in one call. state: [nEntries, nTouched] (int32,
 * read and written). Per listed slot (slots[i], i < n): a slot first met this probe (docMark ≠ epoch) gets the next
 * row (docRow, docs[row] = slot, gain[row] = 0); when its best (float32, best[slot]) beats floor, the entry (row,
 * best) is appended and gain[row] += best − floor, in doubles: the same values, in the same order, as the TypeScript
 * merge.
 */
function probeMergeBody(): number[] {
  const [SLOTS, N, BEST, MARK, EPOCH, ROWP, DOCS, GAIN, EROW, EBEST, STATE, FLOOR] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
  const [I, SLOT, ROW, E, T, B] = [12, 13, 14, 15, 16, 17] // B: f32
  const { f64load, f64store, f64sub } = op
  const els = [0x05]
  const at = (base: number, index: number, shift: number) => [...op.get(base), ...op.get(index), ...op.i32(shift), ...op.shl, ...op.add]
  return [
    ...vec([[5, I32], [1, F32]]),
    ...op.get(STATE), ...op.i32load, ...op.set(E),
    ...op.get(STATE), ...[0x28, 2, 4], ...op.set(T),
    ...op.i32(0), ...op.set(I),
    ...op.block, ...op.loop,
    ...op.get(I), ...op.get(N), ...op.geS, ...op.brIf(1),
    ...at(SLOTS, I, 2), ...op.i32load, ...op.set(SLOT),
    ...at(BEST, SLOT, 2), ...op.f32load, ...op.set(B),
    ...at(MARK, SLOT, 2), ...op.i32load, ...op.get(EPOCH), ...op.ne, ...op.if,
    ...at(MARK, SLOT, 2), ...op.get(EPOCH), ...op.i32store,
    ...op.get(T), ...op.set(ROW),
    ...at(ROWP, SLOT, 2), ...op.get(ROW), ...op.i32store,
    ...at(DOCS, ROW, 2), ...op.get(SLOT), ...op.i32store,
    ...at(GAIN, ROW, 3), ...op.f64const0, ...f64store,
    ...op.get(T), ...op.i32(1), ...op.add, ...op.set(T),
    ...els,
    ...at(ROWP, SLOT, 2), ...op.i32load, ...op.set(ROW),
    ...op.end,
    ...op.get(B), ...op.get(FLOOR), ...op.f32gt, ...op.if,
    ...at(EROW, E, 2), ...op.get(ROW), ...op.i32store,
    ...at(EBEST, E, 2), ...op.get(B), ...op.f32store,
    ...op.get(E), ...op.i32(1), ...op.add, ...op.set(E),
    ...at(GAIN, ROW, 3),
    ...at(GAIN, ROW, 3), ...f64load, ...op.get(B), ...op.f64promote, ...op.get(FLOOR), ...op.f64promote, ...f64sub, ...op.f64add,
    ...f64store,
    ...op.end,
    ...op.get(I), ...op.i32(1), ...op.add, ...op.set(I), ...op.br(0),
    ...op.end, ...op.end,
    ...op.get(STATE), ...op.get(E), ...op.i32store,
    ...op.get(STATE), ...op.get(T), ...[0x36, 2, 4],
    ...op.end,
  ]
}

/**
 * maxsim_reduce(sims, ends, nDocs, qlen, acc, out): document d owns rows ends[d-1] .. ends[d] of sims (rows of qlen
 * floats, contiguous; ends int32, cumulative); out[d] = Σ_j max over its rows of sims[row·qlen + j], summed in float64
 * in token order (as the TypeScript loop did); acc: qlen floats of scratch; qlen % 4 == 0. A document without rows
 * scores −∞. scaled: a 7th argument, rowScale (float32 per row), multiplies each row before its maxima are taken
 * (rows of decode_rows, whose products still need the row's 1 / norm).
 */
function reduceBody(scaled = false): number[] {
  const [SIMS, ENDS, ND, QLEN, ACC, OUT, RSCALE] = [0, 1, 2, 3, 4, 5, 6]
  const x = scaled ? 1 : 0
  const [D, V, END, M, QB, P] = [6, 7, 8, 9, 10, 11].map((l) => l + x)
  const [SUM, RS] = [12 + x, 13 + x] // f64, v128
  const F64 = 0x7c
  const row = scaled
    ? [...op.get(P), ...op.get(M), ...op.add, ...op.vload, ...op.get(RS), ...op.fx4mul]
    : [...op.get(P), ...op.get(M), ...op.add, ...op.vload]
  return [
    ...vec(scaled ? [[6, I32], [1, F64], [1, V128]] : [[6, I32], [1, F64]]),
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
    ...(scaled ? [...op.get(RSCALE), ...op.get(V), ...op.i32(2), ...op.shl, ...op.add, ...op.f32load, ...op.splat, ...op.set(RS)] : []),
    ...op.i32(0), ...op.set(M),
    ...op.loop,
    ...op.get(ACC), ...op.get(M), ...op.add,
    ...op.get(ACC), ...op.get(M), ...op.add, ...op.vload, ...row, ...op.fx4pmax,
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

/**
 * widen_rows(src, n, dim, bpr, out, scales): n records of `bpr` bytes at src, each a float32 scale then dim int8
 * values (original-rows.ts), become n int16 rows of dim values at out and their scales at `scales` (float32), so the
 * int16 dot tile and the scaled reduce score them like decode_rows' rows. dim % 16 == 0.
 */
function widenRowsBody(): number[] {
  const [SRC, N, DIM, BPR, OUT, SCALES] = [0, 1, 2, 3, 4, 5]
  const [R, D, PS, PO] = [6, 7, 8, 9]
  const half = (high: boolean) => [
    ...op.get(PO), ...op.get(D), ...op.i32(1), ...op.shl, ...op.add, ...(high ? [...op.i32(16), ...op.add] : []),
    ...op.get(PS), ...op.get(D), ...op.add, ...op.vload, ...(high ? op.i16x8extendHighS : op.i16x8extendLowS),
    ...op.vstore,
  ]
  return [
    ...vec([[4, I32]]),
    ...op.i32(0), ...op.set(R),
    ...op.block, ...op.loop,
    ...op.get(R), ...op.get(N), ...op.geS, ...op.brIf(1),
    ...op.get(SRC), ...op.get(R), ...op.get(BPR), ...op.mul, ...op.add, ...op.set(PS),
    ...op.get(SCALES), ...op.get(R), ...op.i32(2), ...op.shl, ...op.add, ...op.get(PS), ...op.f32load, ...op.f32store,
    ...op.get(PS), ...op.i32(4), ...op.add, ...op.set(PS),
    ...op.get(OUT), ...op.get(R), ...op.get(DIM), ...op.mul, ...op.i32(1), ...op.shl, ...op.add, ...op.set(PO),
    ...op.i32(0), ...op.set(D),
    ...op.block, ...op.loop,
    ...op.get(D), ...op.get(DIM), ...op.geS, ...op.brIf(1),
    ...half(false), ...half(true),
    ...op.get(D), ...op.i32(16), ...op.add, ...op.set(D), ...op.br(0),
    ...op.end, ...op.end,
    ...op.get(R), ...op.i32(1), ...op.add, ...op.set(R), ...op.br(0),
    ...op.end, ...op.end,
    ...op.end,
  ]
}

/**
 * quantize_rows(x, n, dim, out, bpr, _): the records of original-rows.ts for n float32 rows of x: at out + r·bpr the
 * row's scale max |x_d| / 127 (float32), then its dim values x_d / scale rounded to the nearest int8 (ties to even;
 * a zero row: scale 0, values 0). dim % 16 == 0.
 */
function quantizeRowsBody(): number[] {
  const [X, N, DIM, OUT, BPR] = [0, 1, 2, 3, 4]
  const [R, D, PX, PO] = [6, 7, 8, 9]
  const SC = 10 // f32
  const [MAXV, INV] = [11, 12] // v128
  const scaled = (k: number) => [
    ...op.get(PX), ...op.get(D), ...op.i32(2), ...op.shl, ...op.add, ...(k ? [...op.i32(16 * k), ...op.add] : []), ...op.vload,
    ...op.get(INV), ...op.fx4mul, ...op.fx4nearest, ...op.ix4truncSatF32S,
  ]
  return [
    ...vec([[4, I32], [1, F32], [2, V128]]),
    ...op.i32(0), ...op.set(R),
    ...op.block, ...op.loop,
    ...op.get(R), ...op.get(N), ...op.geS, ...op.brIf(1),
    ...op.get(X), ...op.get(R), ...op.get(DIM), ...op.mul, ...op.i32(2), ...op.shl, ...op.add, ...op.set(PX),
    ...op.get(OUT), ...op.get(R), ...op.get(BPR), ...op.mul, ...op.add, ...op.set(PO),
    ...op.vzero, ...op.set(MAXV),
    ...op.i32(0), ...op.set(D),
    ...op.loop,
    ...op.get(MAXV), ...op.get(PX), ...op.get(D), ...op.i32(2), ...op.shl, ...op.add, ...op.vload, ...op.fx4abs, ...op.fx4pmax, ...op.set(MAXV),
    ...op.get(D), ...op.i32(4), ...op.add, ...op.tee(D), ...op.get(DIM), ...op.ltS, ...op.brIf(0),
    ...op.end,
    ...op.get(MAXV), ...op.lane(0), ...op.get(MAXV), ...op.lane(1), ...op.f32max,
    ...op.get(MAXV), ...op.lane(2), ...op.get(MAXV), ...op.lane(3), ...op.f32max, ...op.f32max,
    ...op.f32const(127), ...op.f32div, ...op.set(SC),
    ...op.get(PO), ...op.get(SC), ...op.f32store,
    ...op.f32const(1), ...op.get(SC), ...op.f32div, ...op.f32const(0), ...op.get(SC), ...op.f32const(0), ...op.f32gt, ...op.select,
    ...op.splat, ...op.set(INV),
    ...op.get(PO), ...op.i32(4), ...op.add, ...op.set(PO),
    ...op.i32(0), ...op.set(D),
    ...op.loop,
    ...op.get(PO), ...op.get(D), ...op.add,
    ...scaled(0), ...scaled(1), ...op.i16x8narrowI32S, ...scaled(2), ...scaled(3), ...op.i16x8narrowI32S, ...op.i8x16narrowI16S,
    ...op.vstore,
    ...op.get(D), ...op.i32(16), ...op.add, ...op.tee(D), ...op.get(DIM), ...op.ltS, ...op.brIf(0),
    ...op.end,
    ...op.get(R), ...op.i32(1), ...op.add, ...op.set(R), ...op.br(0),
    ...op.end, ...op.end,
    ...op.end,
  ]
}

function buildDotTileModule(): Uint8Array {
  const name = (s: string) => { const b = [...Buffer.from(s, 'utf8')]; return [...uleb(b.length), ...b] }
  const plain = dotTileBody(false), idx = dotTileBody(true)
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    // types: 0 (6 i32), 1 (7 i32), 2 (6 i32 + f32), 3 (7 i32 + f32), 4 (9 i32), 5 (11 i32), 6 (6 i32) → i32, 7 below
    ...section(1, vec([...[[6, 0], [7, 0], [6, 1], [7, 1], [9, 0], [11, 0]].map(([n, f]) =>
      [0x60, ...vec([...new Array(n).fill([I32]), ...(f ? [[F32]] : [])]), 0]),
    [0x60, ...vec(new Array(6).fill([I32])), 1, I32],
    // 7: probe_scan (5 i32, f64, 11 i32) → i32
    [0x60, ...vec([...new Array(5).fill([I32]), [0x7c], ...new Array(11).fill([I32])]), 1, I32],
    // 8: probe_merge (11 i32, f32)
    [0x60, ...vec([...new Array(11).fill([I32]), [F32]]), 0]])),
    ...section(2, vec([[...name('env'), ...name('mem'), 0x02, 0x00, 0x01]])), // memory import, min 1 page
    ...section(3, vec([[0], [1], [5], [5], [5], [2], [3], [4], [6], [0], [1], [0], [0], [7], [1], [1], [2], [8]])),
    ...section(7, vec([[...name('dot_tile'), 0x00, 0x00], [...name('dot_tile_idx'), 0x00, 0x01],
      [...name('decode_rows1'), 0x00, 0x02], [...name('decode_rows2'), 0x00, 0x03], [...name('decode_rows4'), 0x00, 0x04],
      [...name('dot_tile_i16'), 0x00, 0x05], [...name('dot_tile_idx_i16'), 0x00, 0x06], [...name('approx'), 0x00, 0x07],
      [...name('rows_above_mask'), 0x00, 0x08], [...name('maxsim_reduce'), 0x00, 0x09], [...name('maxsim_reduce_scaled'), 0x00, 0x0a],
      [...name('widen_rows'), 0x00, 0x0b], [...name('quantize_rows'), 0x00, 0x0c], [...name('probe_scan'), 0x00, 0x0d], [...name('lut_build'), 0x00, 0x0e], [...name('best_codes'), 0x00, 0x0f], [...name('block_max'), 0x00, 0x10], [...name('probe_merge'), 0x00, 0x11]])),
    ...section(10, vec([plain, idx, decodeRowsBody(1), decodeRowsBody(2), decodeRowsBody(4), dotTileBody(false, true), dotTileBody(true, true), approxBody(),
      rowsAboveMaskBody(), reduceBody(), reduceBody(true), widenRowsBody(), quantizeRowsBody(), probeScanBody(), lutBuildBody(), bestCodesBody(), blockMaxBody(), probeMergeBody()]
      .map((b) => [...uleb(b.length), ...b]))),
  ]
  return Uint8Array.from(bytes)
}

/**
 * probe_scan(gaps, nEntries, res, words, lut, base, blockSlot, blockShift, docStart, nSlots, allowed, mark, best,
 * touched, nTok, epoch, topPtr) → nTok: probe-scores.ts scanCell for one IVF base list, in one call. gaps: the list's
 * uint16 gap entries (a 0 escapes a position written as two uint16, high first); res: its residual rows, one per listed
 * vector in list order, `words` 4-byte words each; lut: the token's table (256 floats per residual byte). Per vector
 * of an allowed slot (allowed: a byte per slot; the slot found from blockSlot and docStart as ivf.ts slotOfVector):
 * score = base + Σ lut[byte] in doubles, byte t of each word into partial sum t, summed (s0 + s1) + (s2 + s3) as the
 * TypeScript scan does; the token's best (mark: uint32 epochs, best: float32, touched: the slots first reached,
 * appended from nTok) and its top score (a double at topPtr, read and written) updated. The same values as the
 * TypeScript scan, without its bounds checks and per-chunk passes. docStart holds nSlots + 1 entries, the last
 * 2^32 − 1; touched has room for one entry past the slots (both written or read without a branch).
 */
function probeScanBody(): number[] {
  const [GAPS, NE, RES, WORDS, LUT, BASE, BLOCK, SHIFT, DOCSTART, NSLOTS, ALLOWED, MARK, BEST, TOUCHED, NTOK, EPOCH, TOPP] =
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
  const [E, V, G, R, SLOT, Q, W, L, A] = [17, 18, 19, 20, 21, 22, 23, 24, 25]
  const [S0, S1, S2, S3, SC, TOP] = [26, 27, 28, 29, 30, 31]
  const NEW = 32
  const F64 = 0x7c
  const { f64load, f64store, f64const0 } = op
  const f64gt = [0x64]
  const f32loadAt = (off: number) => [0x2a, 2, ...uleb(off)]
  const load16uAt = (off: number) => [0x2f, 1, ...uleb(off)]
  const i32loadAt = (off: number) => [0x28, 2, ...uleb(off)]
  const gtU = [0x4b], leU = [0x4d], els = [0x05]
  // s_t += lut[L + t·1024 + byte_t(w)·4]
  const lookup = (s: number, shift: number, t: number) => [
    ...op.get(s), ...op.get(L), ...op.get(W),
    ...(shift > 0 ? [...op.i32(shift), ...op.shrU] : []), ...(shift < 24 ? [...op.i32(255), ...op.and] : []),
    ...op.i32(2), ...op.shl, ...op.add, ...f32loadAt(t * 1024), ...op.f64promote, ...op.f64add, ...op.set(s),
  ]
  const slotAddr = (arr: number) => [...op.get(arr), ...op.get(SLOT), ...op.i32(2), ...op.shl, ...op.add]
  return [
    ...vec([[9, I32], [6, F64], [1, I32]]),
    ...op.get(TOPP), ...f64load, ...op.set(TOP),
    ...op.i32(-1), ...op.set(V), ...op.i32(0), ...op.set(E), ...op.get(RES), ...op.set(R),
    ...op.block, ...op.loop,
    ...op.get(E), ...op.get(NE), ...op.geS, ...op.brIf(1),
    // the next position: a gap, or (after a 0) the position itself in two uint16
    ...op.get(GAPS), ...op.get(E), ...op.i32(1), ...op.shl, ...op.add, ...op.tee(A), ...load16uAt(0), ...op.set(G),
    ...op.get(E), ...op.i32(1), ...op.add, ...op.set(E),
    ...op.get(G), ...op.if,
    ...op.get(V), ...op.get(G), ...op.add, ...op.set(V),
    ...els,
    ...op.get(A), ...load16uAt(2), ...op.i32(16), ...op.shl, ...op.get(A), ...load16uAt(4), ...op.or, ...op.set(V),
    ...op.get(E), ...op.i32(2), ...op.add, ...op.set(E),
    ...op.end,
    // its slot: the block's first, then forward while the next slot starts at or before it; two steps without a
    // branch first (a block of 64 vectors spans two documents or three of typical lengths; docStart has a sentinel
    // 2^32 − 1 after its last slot), then the loop for the rest
    ...op.get(BLOCK), ...op.get(V), ...op.get(SHIFT), ...op.shrU, ...op.i32(2), ...op.shl, ...op.add, ...op.i32load, ...op.set(SLOT),
    ...[0, 1].flatMap(() => [...op.get(SLOT), ...slotAddr(DOCSTART), ...i32loadAt(4), ...op.get(V), ...leU, ...op.add, ...op.set(SLOT)]),
    ...op.block, ...op.loop,
    ...op.get(SLOT), ...op.i32(1), ...op.add, ...op.get(NSLOTS), ...op.geS, ...op.brIf(1),
    ...slotAddr(DOCSTART), ...i32loadAt(4), ...op.get(V), ...gtU, ...op.brIf(1),
    ...op.get(SLOT), ...op.i32(1), ...op.add, ...op.set(SLOT), ...op.br(0),
    ...op.end, ...op.end,
    ...op.get(ALLOWED), ...op.get(SLOT), ...op.add, ...op.load8u, ...op.if,
    ...op.get(BASE), ...op.set(S0), ...f64const0, ...op.set(S1), ...f64const0, ...op.set(S2), ...f64const0, ...op.set(S3),
    ...op.get(LUT), ...op.set(L), ...op.get(R), ...op.set(A), ...op.i32(0), ...op.set(Q),
    ...op.loop,
    ...op.get(A), ...op.i32load, ...op.set(W),
    ...lookup(S0, 0, 0), ...lookup(S1, 8, 1), ...lookup(S2, 16, 2), ...lookup(S3, 24, 3),
    ...op.get(L), ...op.i32(4096), ...op.add, ...op.set(L),
    ...op.get(A), ...op.i32(4), ...op.add, ...op.set(A),
    ...op.get(Q), ...op.i32(1), ...op.add, ...op.tee(Q), ...op.get(WORDS), ...op.ltS, ...op.brIf(0),
    ...op.end,
    ...op.get(S0), ...op.get(S1), ...op.f64add, ...op.get(S2), ...op.get(S3), ...op.f64add, ...op.f64add, ...op.set(SC),
    ...op.get(SC), ...op.get(TOP), ...f64gt, ...op.if, ...op.get(SC), ...op.set(TOP), ...op.end,
    // the slot's best, without a branch (whether a slot is new and whether a vector beats its best follow no
    // pattern): new = mark ≠ epoch; best = pmax(new ? −∞ : best, float32(score)), the same float32 as storing the
    // score where it beats the best in doubles (rounding keeps the order); the slot is appended to touched and the
    // count advanced by new
    ...slotAddr(MARK), ...op.tee(A), ...op.i32load, ...op.get(EPOCH), ...op.ne, ...op.set(NEW),
    ...op.get(A), ...op.get(EPOCH), ...op.i32store,
    ...slotAddr(BEST),
    ...op.i32(-8388608), ...slotAddr(BEST), ...op.i32load, ...op.get(NEW), ...op.select, ...op.ix4splat,
    ...op.get(SC), ...op.f32demote, ...op.splat, ...op.fx4pmax, ...op.lane(0), ...op.f32store,
    ...op.get(TOUCHED), ...op.get(NTOK), ...op.i32(2), ...op.shl, ...op.add, ...op.get(SLOT), ...op.i32store,
    ...op.get(NTOK), ...op.get(NEW), ...op.add, ...op.set(NTOK),
    ...op.end,
    ...op.get(R), ...op.get(WORDS), ...op.i32(2), ...op.shl, ...op.add, ...op.set(R),
    ...op.br(0),
    ...op.end, ...op.end,
    ...op.get(TOPP), ...op.get(TOP), ...f64store,
    ...op.get(NTOK),
    ...op.end,
  ]
}

/**
 * lut_build(q, tab, bpv, half, rest, out, scratch): probe-scores.ts buildLut for one token q (float32 at q). tab holds,
 * per residual byte position, the 16 low-nibble rows of `half` values then the 16 high-nibble rows of `rest` values of
 * the codec's byte table (probe-arena.ts nibbleTable). The nibble partials are summed in doubles and rounded, as the
 * TypeScript build does; each of the 256 entries per byte, high partial + low partial, is one float32x4 addition (the
 * same float32 as the double sum rounded: the exact sum of two floats needs at most 53 bits unless one is below half
 * an ulp of the other). scratch: 128 bytes, 16-aligned.
 */
function lutBuildBody(): number[] {
  const [Q, TAB, BPV, HALF, REST, OUT, SCR] = [0, 1, 2, 3, 4, 5, 6]
  const [B, N, U, T, QB, O] = [7, 8, 9, 10, 11, 12]
  const [ACC] = [13]
  const [L0, L1, L2, L3, HV] = [14, 15, 16, 17, 18]
  const F64 = 0x7c
  const f64mul = [0xa2]
  // 16 partials of `len` values each, from T on (T advanced past them), query values from QB + qOff·4, into SCR + at
  const partials = (len: number, qOff: number, at: number) => [
    ...op.i32(0), ...op.set(N),
    ...op.loop,
    ...op.f64const0, ...op.set(ACC), ...op.i32(0), ...op.set(U),
    ...op.block, ...op.loop,
    ...op.get(U), ...op.get(len), ...op.geS, ...op.brIf(1),
    ...op.get(ACC),
    ...op.get(QB), ...op.get(U), ...(qOff === HALF ? [...op.get(HALF), ...op.add] : []), ...op.i32(2), ...op.shl, ...op.add, ...op.f32load, ...op.f64promote,
    ...op.get(T), ...op.get(U), ...op.i32(2), ...op.shl, ...op.add, ...op.f32load, ...op.f64promote,
    ...f64mul, ...op.f64add, ...op.set(ACC),
    ...op.get(U), ...op.i32(1), ...op.add, ...op.set(U), ...op.br(0),
    ...op.end, ...op.end,
    ...op.get(SCR), ...op.get(N), ...op.i32(2), ...op.shl, ...op.add, ...op.i32(at), ...op.add, ...op.get(ACC), ...op.f32demote, ...op.f32store,
    ...op.get(T), ...op.get(len), ...op.i32(2), ...op.shl, ...op.add, ...op.set(T),
    ...op.get(N), ...op.i32(1), ...op.add, ...op.tee(N), ...op.i32(16), ...op.ltS, ...op.brIf(0),
    ...op.end,
  ]
  return [
    ...vec([[6, I32], [1, F64], [5, V128]]),
    ...op.get(TAB), ...op.set(T), ...op.get(Q), ...op.set(QB), ...op.get(OUT), ...op.set(O), ...op.i32(0), ...op.set(B),
    ...op.block, ...op.loop,
    ...op.get(B), ...op.get(BPV), ...op.geS, ...op.brIf(1),
    ...partials(HALF, 0, 0), ...partials(REST, HALF, 64),
    ...op.get(SCR), ...op.vloadAt(0), ...op.set(L0), ...op.get(SCR), ...op.vloadAt(16), ...op.set(L1),
    ...op.get(SCR), ...op.vloadAt(32), ...op.set(L2), ...op.get(SCR), ...op.vloadAt(48), ...op.set(L3),
    ...op.i32(0), ...op.set(N),
    ...op.loop,
    ...op.get(SCR), ...op.get(N), ...op.i32(2), ...op.shl, ...op.add, ...op.i32(64), ...op.add, ...op.f32load, ...op.splat, ...op.set(HV),
    ...op.get(O), ...op.get(HV), ...op.get(L0), ...op.fx4add, ...op.vstoreAt(0),
    ...op.get(O), ...op.get(HV), ...op.get(L1), ...op.fx4add, ...op.vstoreAt(16),
    ...op.get(O), ...op.get(HV), ...op.get(L2), ...op.fx4add, ...op.vstoreAt(32),
    ...op.get(O), ...op.get(HV), ...op.get(L3), ...op.fx4add, ...op.vstoreAt(48),
    ...op.get(O), ...op.i32(64), ...op.add, ...op.set(O),
    ...op.get(N), ...op.i32(1), ...op.add, ...op.tee(N), ...op.i32(16), ...op.ltS, ...op.brIf(0),
    ...op.end,
    ...op.get(QB), ...op.get(HALF), ...op.get(REST), ...op.add, ...op.i32(2), ...op.shl, ...op.add, ...op.set(QB),
    ...op.get(B), ...op.i32(1), ...op.add, ...op.set(B), ...op.br(0),
    ...op.end, ...op.end,
    ...op.end,
  ]
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
  /**
   * per document, Σ_j of the max over its rows of sims (see reduceBody; accPtr: qlen floats of scratch); with
   * rowScalePtr, row r's sims are first multiplied by the float32 at rowScalePtr + 4r
   */
  maxSimReduce(simsPtr: number, endsPtr: number, nDocs: number, qlen: number, accPtr: number, outPtr: number, rowScalePtr?: number): void
  /**
   * the rows with some S[r·qlen + j] > thr[j] (qlen floats at thrPtr), ascending, at outPtr as int32 each followed by
   * `words` = ceil(qlen / 32) int32 of which tokens beat their threshold; returns their count
   */
  rowsAboveMask(sPtr: number, rows: number, qlen: number, thrPtr: number, outPtr: number, words: number): number
  /**
   * per block (rows dealt by residue, row r to block r % blocks) and token, the block's largest score of S (qlen
   * floats per block at outPtr); with keptPtr ≠ 0 also a byte per row, 1 where some score of the row > thr; qlen % 4 == 0
   */
  blockMax(sPtr: number, rows: number, qlen: number, blocks: number, outPtr: number, keptPtr: number, thr: number): void
  /**
   * centroid-interaction scores, see approxBody (keptPtr 0: no pruning; accPtr: qlen floats of scratch, then qlen of
   * floor; initPtr ≠ 0: nDocs rows of qlen floats, each document's starting maxima instead of the floor); at 32 tokens
   * the codes are scratch: each document's kept codes are moved to the front of its run
   */
  approx(codesPtr: number, endsPtr: number, nDocs: number, sPtr: number, qlen: number, keptPtr: number, accPtr: number, outPtr: number, initPtr?: number): void
  /**
   * int16 rows C[code]·cw + residual for n vectors at outPtr and their 1 / norm at invPtr (float32): the decoded
   * vectors are row · inv (see decodeRowsBody; table: unitTableI16, stride: decodeUnitStride, cwQ15: centroidQ15)
   */
  decodeRows(nbits: 1 | 2 | 4, codesPtr: number, resPtr: number, n: number, centsPtr: number, tablePtr: number, dim: number, outPtr: number, bpv: number, stride: number, cwQ15: number, invPtr: number): void
  /** dotTile over int16 rows (dim % 8 == 0): out = scale · Σ a·b (exact integer sums) */
  dotTileI16(aPtr: number, na: number, bPtr: number, nb: number, dim: number, outPtr: number, scale: number): void
  dotTileIdxI16(idxPtr: number, na: number, bPtr: number, nb: number, dim: number, outPtr: number, aBase: number, scale: number): void
  /** records of original-rows.ts (scale + dim int8, `bpr` bytes each) as int16 rows and their scales; dim % 16 == 0 */
  widenRows(srcPtr: number, n: number, dim: number, bpr: number, outPtr: number, scalesPtr: number): void
  /** n float32 rows at xPtr as original-rows.ts records (`bpr` bytes each) at outPtr; dim % 16 == 0 */
  quantizeRows(xPtr: number, n: number, dim: number, outPtr: number, bpr: number): void
  u32(byteOffset: number, length: number): Uint32Array
  f64(byteOffset: number, length: number): Float64Array
  /** a token's probe table (see lutBuildBody; scratchPtr: 128 bytes, 16-aligned) */
  lutBuild(qPtr: number, tabPtr: number, bpv: number, half: number, rest: number, outPtr: number, scratchPtr: number): void
  /** per document and token the best centroid score over its codes and the first code reaching it (see bestCodesBody) */
  bestCodes(codesPtr: number, endsPtr: number, nDocs: number, sPtr: number, qlen: number, bestPtr: number, posPtr: number): void
  /** one token's touched slots merged into the probe's per-document result (see probeMergeBody) */
  probeMerge(
    slotsPtr: number, n: number, bestPtr: number, markPtr: number, epoch: number, rowPtr: number, docsPtr: number, gainPtr: number,
    entryRowPtr: number, entryBestPtr: number, statePtr: number, floor: number,
  ): void
  /** one IVF base list scanned for one token (see probeScanBody); returns the new count of touched slots */
  probeScan(
    gapsPtr: number, nEntries: number, resPtr: number, words: number, lutPtr: number, base: number, blockSlotPtr: number, blockShift: number,
    docStartPtr: number, nSlots: number, allowedPtr: number, markPtr: number, bestPtr: number, touchedPtr: number, nTok: number, epoch: number, topPtr: number,
  ): number
}

/** x rounded to the nearest int16 the kernels use (±32767: −32768 has no positive twin). */
export function roundToInt16(x: number): number {
  return Math.max(-32767, Math.min(32767, Math.round(x)))
}

/**
 * The unit table decodeRows needs for a codec: entries (16, 256 or 65536 for nbits 1, 2, 4) × 4 weights as int16 at
 * the centroids' fixed point (weight / CENTROID_SCALE, rounded; 2^-14 ≈ 6·10⁻⁵ per component, far below a 2-bit bucket's
 * width); for a codec with a quantizer per dimension (weights: dim rows of 2^nbits, nbits 1 or 2), one such table per
 * 4-dimension unit.
 */
export function unitTableI16(nbits: 1 | 2 | 4, weights: Float32Array, perDimension: boolean, centroidScale: number): Int16Array {
  const perUnit = 4 * nbits, entries = 1 << perUnit, n = 1 << nbits, mask = n - 1
  if (perDimension && nbits === 4) throw new Error('decode tables: no per-dimension codec at nbits 4')
  const units = perDimension ? weights.length / n / 4 : 1
  const level = Int16Array.from(weights, (w) => roundToInt16(w / centroidScale))
  const t = new Int16Array(units * entries * 4)
  for (let u = 0; u < units; u++) {
    for (let e = 0; e < entries; e++) {
      for (let d = 0; d < 4; d++) t[(u * entries + e) * 4 + d] = level[(perDimension ? (u * 4 + d) * n : 0) + ((e >> (nbits * d)) & mask)]
    }
  }
  return t
}

/** A centroid weight in (0, 1] as decodeRows' Q15 factor (1 → 32767: 3·10⁻⁵ below, the same for every vector). */
export function centroidQ15(weight: number): number {
  return Math.min(32767, Math.round(weight * 32768))
}

/** decodeRows' stride for a unitTableI16: 0 for one shared table, its entry count for per-dimension tables. */
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
  type DecodeRows = (c: number, r: number, n: number, cents: number, table: number, dim: number, out: number, bpv: number, stride: number, cw: number, inv: number) => void
  const decodeRows: Record<number, DecodeRows> = { 1: inst.exports.decode_rows1 as DecodeRows, 2: inst.exports.decode_rows2 as DecodeRows, 4: inst.exports.decode_rows4 as DecodeRows }
  const fnReduce = inst.exports.maxsim_reduce as (s: number, e: number, n: number, q: number, a: number, o: number) => void
  const fnReduceScaled = inst.exports.maxsim_reduce_scaled as (s: number, e: number, n: number, q: number, a: number, o: number, rs: number) => void
  const fnRowsAboveMask = inst.exports.rows_above_mask as (s: number, rows: number, q: number, t: number, o: number, w: number) => number
  const fnBlockMax = inst.exports.block_max as (s: number, rows: number, q: number, nb: number, o: number, k: number, t: number) => void
  const fnProbeMerge = inst.exports.probe_merge as (...args: number[]) => void
  const fnApprox = inst.exports.approx as (c: number, e: number, n: number, s: number, q: number, k: number, a: number, o: number, init: number) => void
  const fnI16 = inst.exports.dot_tile_i16 as (a: number, na: number, b: number, nb: number, dim: number, out: number, scale: number) => void
  const fnQuantize = inst.exports.quantize_rows as (x: number, n: number, dim: number, o: number, bpr: number, unused: number) => void
  const fnWiden = inst.exports.widen_rows as (s: number, n: number, dim: number, bpr: number, o: number, sc: number) => void
  const fnIdxI16 = inst.exports.dot_tile_idx_i16 as (i: number, na: number, b: number, nb: number, dim: number, out: number, a: number, scale: number) => void
  const fnProbeScan = inst.exports.probe_scan as (...args: number[]) => number
  const fnBestCodes = inst.exports.best_codes as (c: number, e: number, n: number, s: number, q: number, b: number, p: number) => void
  const fnLutBuild = inst.exports.lut_build as (q: number, tab: number, bpv: number, half: number, rest: number, out: number, scr: number) => void
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
    u32: (off, len) => new Uint32Array(memory.buffer, off, len),
    f64: (off, len) => new Float64Array(memory.buffer, off, len),
    lutBuild: (q, tab, bpv, half, rest, out, scr) => { if (bpv > 0) fnLutBuild(q, tab, bpv, half, rest, out, scr) },
    probeScan: (g, ne, r, w, l, base, bs, sh, ds, ns, al, mk, be, to, nt, ep, tp) => ne > 0 ? fnProbeScan(g, ne, r, w, l, base, bs, sh, ds, ns, al, mk, be, to, nt, ep, tp) : nt,
    bestCodes: (c, e, n, sp, q, b, p) => { if (n > 0) fnBestCodes(c, e, n, sp, q, b, p) },
    approx: (c, e, n, sp, q, k, a, o, init = 0) => { if (n > 0) fnApprox(c, e, n, sp, q, k, a, o, init) },
    decodeRows: (nbits, c, r, n, cents, table, dim, out, bpv, stride, cw, inv) => { if (n > 0) decodeRows[nbits](c, r, n, cents, table, dim, out, bpv, stride, cw, inv) },
    maxSimReduce: (sp, e, n, q, a, o, rs) => {
      if (n === 0) return
      if (rs === undefined) fnReduce(sp, e, n, q, a, o)
      else fnReduceScaled(sp, e, n, q, a, o, rs)
    },
    rowsAboveMask: (sp, rows, q, t, o, w) => (rows > 0 ? fnRowsAboveMask(sp, rows, q, t, o, w) : 0),
    probeMerge: (...args) => { fnProbeMerge(...args) },
    blockMax: (sp, rows, q, nb, o, k, t) => { if (nb > 0) fnBlockMax(sp, rows, q, nb, o, k, t) },
    dotTileI16: (a, na, b, nb, dim, out, scale) => { if (na > 0 && nb > 0) fnI16(a, na, b, nb, dim, out, scale) },
    dotTileIdxI16: (i, na, b, nb, dim, out, a, scale) => { if (na > 0 && nb > 0) fnIdxI16(i, na, b, nb, dim, out, a, scale) },
    quantizeRows: (x, n, dim, o, bpr) => { if (n > 0) fnQuantize(x, n, dim, o, bpr, 0) },
    widenRows: (sp, n, dim, bpr, o, sc) => { if (n > 0) fnWiden(sp, n, dim, bpr, o, sc) },
    dotTileIdx: (i, na, b, nb, dim, out, a) => { if (na > 0 && nb > 0) fnIdx(i, na, b, nb, dim, out, a) },
    dotTile: (a, na, b, nb, dim, out) => { if (na > 0 && nb > 0) fn(a, na, b, nb, dim, out) },
  }
}
