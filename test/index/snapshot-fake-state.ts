/** A deterministic IndexState-shaped value (every dtype, odd lengths, metadata) for snapshot tests without an index. */
import type { Test } from 'tap'
import { createPlaidIndex, type IndexState, type PlaidIndex } from '../../src/index/plaid-index.js'

export function fakeState(tag: number, scale = 1): IndexState {
  let s = tag * 2654435761 >>> 0
  const rnd = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 4294967296
  }
  const n = 1000 * scale + tag
  const f32 = new Float32Array(n * 8)
  for (let i = 0; i < f32.length; i++) f32[i] = rnd() * 2 - 1
  f32[3] = -0
  f32[5] = Number.NaN
  const i32 = new Int32Array(n)
  for (let i = 0; i < n; i++) i32[i] = Math.floor(rnd() * 2 ** 32) - 2 ** 31
  const ids: string[] = []
  const metadata: IndexState['metadata'] = []
  for (let i = 0; i < 50 + tag; i++) {
    ids.push(`doc-${tag}-${i}` + (i % 7 === 0 ? '\n改行"quote' : ''))
    metadata.push(i % 3 === 0 ? null : { lang: i % 2 ? 'ja' : 'en', n: i * 1.5, ok: i % 5 === 0, none: null, text: '日本語\u2028' })
  }
  return {
    formatVersion: 1,
    settings: { dim: 8, nbits: 2, seed: tag, minTrainVectors: 100, kmeansIters: 4 },
    scalars: { trained: true, nextId: n, tag, label: `v${tag}` },
    arrays: {
      vectors: f32,
      codes: i32,
      residuals: Uint8Array.from({ length: n * 2 + 1 }, () => Math.floor(rnd() * 256)),
      offsets: Uint32Array.from({ length: n + 1 }, (_, i) => i * 3),
      small: Uint16Array.from({ length: 3 }, (_, i) => 65535 - i),
      weights: Float64Array.from({ length: 5 }, () => rnd()),
      empty: new Float32Array(0),
    },
    ids,
    metadata,
  }
}

/** Bit-level equality of two states: same dtype and bytes for every array (NaN and -0 included), deep equality elsewhere. */
export function sameState(t: Test, got: IndexState, want: IndexState, msg: string): void {
  t.same(Object.keys(got.arrays).sort(), Object.keys(want.arrays).sort(), `${msg}: array names`)
  for (const [name, w] of Object.entries(want.arrays)) {
    const g = got.arrays[name]
    t.equal(g?.constructor, w.constructor, `${msg}: ${name} dtype`)
    t.ok(g !== undefined && Buffer.from(g.buffer, g.byteOffset, g.byteLength).equals(Buffer.from(w.buffer, w.byteOffset, w.byteLength)),
      `${msg}: ${name} bytes identical`)
  }
  t.same(got.ids, want.ids, `${msg}: ids`)
  t.same(got.metadata, want.metadata, `${msg}: metadata`)
  t.same(got.settings, want.settings, `${msg}: settings`)
  t.same(got.scalars, want.scalars, `${msg}: scalars`)
  t.equal(got.formatVersion, want.formatVersion, `${msg}: formatVersion`)
}

/** Random unit vectors (n×dim), seeded. */
export function randomUnitVectors(n: number, dim: number, seed: number): Float32Array {
  let s = seed >>> 0
  const out = new Float32Array(n * dim)
  for (let i = 0; i < n; i++) {
    let norm = 0
    for (let d = 0; d < dim; d++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0
      const v = s / 4294967296 - 0.5
      out[i * dim + d] = v
      norm += v * v
    }
    for (let d = 0; d < dim; d++) out[i * dim + d] /= Math.sqrt(norm)
  }
  return out
}

/** A small trained PlaidIndex (dim 16) whose content depends on `tag`, with an update and a delete applied. */
export function realIndex(tag: number): PlaidIndex {
  const index = createPlaidIndex({ dim: 16, nbits: 2, minTrainVectors: 500, seed: tag })
  index.upsert(Array.from({ length: 80 + tag }, (_, d) => ({ id: `r${tag}-${d}`, vectors: randomUnitVectors(6 + (d % 5), 16, tag * 1000 + d), metadata: { d } })))
  index.upsert([{ id: `r${tag}-1`, vectors: randomUnitVectors(3, 16, 7) }])
  index.delete([`r${tag}-2`])
  return index
}
