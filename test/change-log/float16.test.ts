/** float16 codec against exact references: known bit patterns, and numpy-style rounding checked by brute force. */
import t from 'tap'
import { decodeFloat16, encodeFloat16, roundToFloat16 } from '../../src/change-log/postgres/float16.js'

t.test('known values encode to their IEEE half bit patterns', async (t) => {
  const cases: Array<[number, number]> = [
    [0, 0x0000], [-0, 0x8000], [1, 0x3c00], [-2, 0xc000], [0.5, 0x3800], [65504, 0x7bff], [1e6, 0x7c00],
    [-Infinity, 0xfc00], [2 ** -24, 0x0001], [2 ** -14, 0x0400], [0.333251953125, 0x3555], [2 ** -26, 0x0000],
  ]
  const bytes = encodeFloat16(new Float32Array(cases.map((c) => c[0])))
  for (let i = 0; i < cases.length; i++) t.equal(bytes.readUInt16LE(2 * i), cases[i][1], `${cases[i][0]}`)
  t.ok(Number.isNaN(decodeFloat16(encodeFloat16(new Float32Array([NaN])))[0]))
})

t.test('every half value round-trips, and float32 values round to the nearest half (ties to even)', async (t) => {
  const all = new Uint8Array(65536 * 2)
  for (let h = 0; h < 65536; h++) { all[2 * h] = h & 0xff; all[2 * h + 1] = h >> 8 }
  const decoded = decodeFloat16(all)
  const back = encodeFloat16(decoded)
  let bad = 0
  for (let h = 0; h < 65536; h++) {
    const isNaN = ((h >> 10) & 0x1f) === 0x1f && (h & 0x3ff) !== 0
    if (!isNaN && back.readUInt16LE(2 * h) !== h) bad++
  }
  t.equal(bad, 0, 'all non-NaN halves round-trip')
  // brute force: for random values in [-1, 1], the encoded half is the nearest of all finite halves
  const finite = [...decoded].filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  let seed = 7
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1
  const xs = new Float32Array(2000).map(() => rnd())
  const r = roundToFloat16(xs)
  let worse = 0
  for (let i = 0; i < xs.length; i++) {
    let lo = 0, hi = finite.length - 1
    while (hi - lo > 1) { const m = (lo + hi) >> 1; if (finite[m] <= xs[i]) lo = m; else hi = m }
    const best = Math.min(Math.abs(finite[lo] - xs[i]), Math.abs(finite[hi] - xs[i]))
    if (Math.abs(r[i] - xs[i]) > best) worse++
  }
  t.equal(worse, 0, 'nearest representable half chosen')
})
