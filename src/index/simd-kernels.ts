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

const I32 = 0x7f, V128 = 0x7b
const op = {
  get: (i: number) => [0x20, ...uleb(i)], set: (i: number) => [0x21, ...uleb(i)], tee: (i: number) => [0x22, ...uleb(i)],
  i32: (v: number) => [0x41, ...sleb(v)],
  add: [0x6a], mul: [0x6c], shl: [0x74], geS: [0x4e], gtS: [0x4a], ltS: [0x48],
  block: [0x02, 0x40], loop: [0x03, 0x40], end: [0x0b], br: (d: number) => [0x0c, ...uleb(d)], brIf: (d: number) => [0x0d, ...uleb(d)],
  f32store: [0x38, 2, 0], f32add: [0x92],
  vload: [0xfd, 0x00, 4, 0], vzero: [0xfd, 0x0c, ...new Array(16).fill(0)],
  fx4add: [0xfd, ...uleb(228)], fx4mul: [0xfd, ...uleb(230)], lane: (l: number) => [0xfd, 0x1f, l],
}

function buildDotTileModule(): Uint8Array {
  // params: 0 a, 1 na, 2 b, 3 nb, 4 dim, 5 out
  // i32 locals: 6 i, 7 j, 8 d (byte offset), 9 rowBytes, 10..13 pa0..pa3, 14 pb, 15 po, 16 nbBytes
  // v128 locals: 17 vb, 18..21 acc0..acc3
  const [A, NA, B, NB, DIM, OUT, I, J, D, ROW, PA, PB, PO, NBB, VB, ACC] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 14, 15, 16, 17, 18]
  const hsum = (acc: number) => [...op.get(acc), ...op.lane(0), ...op.get(acc), ...op.lane(1), ...op.f32add,
    ...op.get(acc), ...op.lane(2), ...op.get(acc), ...op.lane(3), ...op.f32add, ...op.f32add]
  // acc_r += load(pa_r + d) * vb
  const madd = (r: number) => [
    ...op.get(ACC + r), ...op.get(PA + r), ...op.get(D), ...op.add, ...op.vload, ...op.get(VB), ...op.fx4mul, ...op.fx4add, ...op.set(ACC + r),
  ]
  const rowsBlock = (rows: number) => [
    ...Array.from({ length: rows - 1 }, (_, r) => [...op.get(PA + r), ...op.get(ROW), ...op.add, ...op.set(PA + r + 1)]).flat(),
    ...op.i32(0), ...op.set(J),
    ...op.get(B), ...op.set(PB),
    // po = out + i·nb·4
    ...op.get(OUT), ...op.get(I), ...op.get(NBB), ...op.mul, ...op.add, ...op.set(PO),
    ...op.block, ...op.loop,
    ...op.get(J), ...op.get(NB), ...op.geS, ...op.brIf(1),
    ...Array.from({ length: rows }, (_, r) => [...op.vzero, ...op.set(ACC + r)]).flat(),
    ...op.i32(0), ...op.set(D),
    ...op.loop,
    ...op.get(PB), ...op.get(D), ...op.add, ...op.vload, ...op.set(VB),
    ...Array.from({ length: rows }, (_, r) => madd(r)).flat(),
    ...op.get(D), ...op.i32(16), ...op.add, ...op.tee(D), ...op.get(ROW), ...op.ltS, ...op.brIf(0),
    ...op.end,
    ...Array.from({ length: rows }, (_, r) => [
      ...op.get(PO), ...(r === 0 ? [] : [...op.get(NBB), ...op.i32(r), ...op.mul, ...op.add]), ...hsum(ACC + r), ...op.f32store,
    ]).flat(),
    ...op.get(PO), ...op.i32(4), ...op.add, ...op.set(PO),
    ...op.get(PB), ...op.get(ROW), ...op.add, ...op.set(PB),
    ...op.get(J), ...op.i32(1), ...op.add, ...op.set(J), ...op.br(0),
    ...op.end, ...op.end,
  ]
  const body = [
    ...vec([[11, I32], [5, V128]]),
    ...op.get(DIM), ...op.i32(2), ...op.shl, ...op.set(ROW),
    ...op.get(NB), ...op.i32(2), ...op.shl, ...op.set(NBB),
    ...op.i32(0), ...op.set(I),
    // blocks of 4 rows
    ...op.block, ...op.loop,
    ...op.get(I), ...op.i32(4), ...op.add, ...op.get(NA), ...op.gtS, ...op.brIf(1),
    ...op.get(A), ...op.get(I), ...op.get(ROW), ...op.mul, ...op.add, ...op.set(PA),
    ...rowsBlock(4),
    ...op.get(I), ...op.i32(4), ...op.add, ...op.set(I), ...op.br(0),
    ...op.end, ...op.end,
    // remaining rows one at a time
    ...op.block, ...op.loop,
    ...op.get(I), ...op.get(NA), ...op.geS, ...op.brIf(1),
    ...op.get(A), ...op.get(I), ...op.get(ROW), ...op.mul, ...op.add, ...op.set(PA),
    ...rowsBlock(1),
    ...op.get(I), ...op.i32(1), ...op.add, ...op.set(I), ...op.br(0),
    ...op.end, ...op.end,
    ...op.end,
  ]
  const name = (s: string) => { const b = [...Buffer.from(s, 'utf8')]; return [...uleb(b.length), ...b] }
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[0x60, ...vec([[I32], [I32], [I32], [I32], [I32], [I32]]), 0]])),
    ...section(2, vec([[...name('env'), ...name('mem'), 0x02, 0x00, 0x01]])), // memory import, min 1 page
    ...section(3, vec([[0]])),
    ...section(7, vec([[...name('dot_tile'), 0x00, 0x00]])),
    ...section(10, vec([[...uleb(body.length), ...body]])),
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
  f32(byteOffset: number, length: number): Float32Array
  dotTile(aPtr: number, na: number, bPtr: number, nb: number, dim: number, outPtr: number): void
}

export function createSimdArena(bytes: number): SimdArena | null {
  const mod = module()
  if (mod === null) return null
  const pages = (b: number) => Math.max(1, Math.ceil(b / 65536))
  const memory = new wasm!.Memory({ initial: pages(bytes) })
  const inst = new wasm!.Instance(mod, { env: { mem: memory } })
  const fn = inst.exports.dot_tile as (a: number, na: number, b: number, nb: number, dim: number, out: number) => void
  return {
    reserve(b: number) {
      const have = memory.buffer.byteLength
      if (b > have) memory.grow(pages(b) - pages(have))
    },
    f32: (off, len) => new Float32Array(memory.buffer, off, len),
    dotTile: (a, na, b, nb, dim, out) => { if (na > 0 && nb > 0) fn(a, na, b, nb, dim, out) },
  }
}
