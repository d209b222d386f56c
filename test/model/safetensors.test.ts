import t from 'tap'
import { encodeSafetensors, float32ToBfloat16Bits, float32ToFloat16Bits, parseSafetensors } from '../../src/model/safetensors.js'
import { AppError } from '../../src/errors.js'

const data = Float32Array.from([0, 1, -2.5, 3.14159, 65504, 1e-5, -1e-8, 0.1])

t.test('F32 round trip is exact', async (t) => {
  const st = parseSafetensors(encodeSafetensors([{ name: 'a', dtype: 'F32', shape: [2, 4], data }]))
  t.same(st.tensors.get('a')!.shape, [2, 4])
  t.same(Array.from(st.getFloat32('a')), Array.from(data))
})

t.test('F16 decodes to the nearest half values', async (t) => {
  const st = parseSafetensors(encodeSafetensors([{ name: 'h', dtype: 'F16', shape: [8], data }]))
  const got = st.getFloat32('h')
  // Independent reference: Math.fround cannot do half, so compare with a tolerance of half precision (2^-11 relative)
  for (let i = 0; i < data.length; i++) {
    const x = data[i]!
    const tol = Math.max(Math.abs(x) * 2 ** -11, 2 ** -24)
    t.ok(Math.abs(got[i]! - x) <= tol, `f16 ${x} -> ${got[i]}`)
  }
  // Known bit patterns
  t.same(Array.from(float32ToFloat16Bits(Float32Array.from([1, -2, 65504, 0.5, 2 ** -24]))), [0x3c00, 0xc000, 0x7bff, 0x3800, 0x0001])
})

t.test('BF16 keeps the top 16 bits (rounded)', async (t) => {
  const st = parseSafetensors(encodeSafetensors([{ name: 'b', dtype: 'BF16', shape: [8], data }]))
  const got = st.getFloat32('b')
  for (let i = 0; i < data.length; i++) t.ok(Math.abs(got[i]! - data[i]!) <= Math.abs(data[i]!) * 2 ** -8, `bf16 ${data[i]} -> ${got[i]}`)
  t.same(Array.from(float32ToBfloat16Bits(Float32Array.from([1, -2]))), [0x3f80, 0xc000])
})

t.test('broken files are refused with the tensor and problem named', async (t) => {
  const good = encodeSafetensors([{ name: 'layer.w', dtype: 'F32', shape: [2, 4], data }])
  const expectErr = (buf: Uint8Array, re: RegExp, name: string): void => {
    try {
      parseSafetensors(buf, '/x/model.safetensors')
      t.fail(`${name}: no error`)
    } catch (e) {
      t.ok(e instanceof AppError && e.code === 'CHECKPOINT_INVALID', `${name}: CHECKPOINT_INVALID`)
      t.match((e as Error).message, re, name)
      t.match((e as Error).message, /^model\.safetensors: /, `${name}: names the file`)
    }
  }
  expectErr(good.subarray(0, good.byteLength - 4), /truncated: tensor 'layer\.w'/, 'truncated data')
  expectErr(good.subarray(0, 5), /truncated/, 'truncated length')
  expectErr(good.subarray(0, 20), /truncated: header/, 'truncated header')
  const bad = Buffer.from(good)
  bad.write('{', 8 + 1) // corrupt the JSON
  expectErr(bad, /not valid JSON|data_offsets|dtype|shape/, 'corrupt header')
  const hdr = (h: object): Buffer => {
    const j = Buffer.from(JSON.stringify(h))
    const len = Buffer.alloc(8)
    len.writeBigUInt64LE(BigInt(j.byteLength))
    return Buffer.concat([len, j, Buffer.alloc(64)])
  }
  expectErr(hdr({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }), /8 bytes for shape \[3\] F32 \(expected 12\)/, 'shape/offset mismatch')
  expectErr(hdr({ w: { dtype: 'Q4', shape: [3], data_offsets: [0, 8] } }), /unsupported dtype/, 'dtype')
  const st = parseSafetensors(hdr({ w: { dtype: 'I32', shape: [2], data_offsets: [0, 8] } }))
  t.throws(() => st.getFloat32('w'), /not a floating-point type/)
  t.throws(() => st.getFloat32('nope'), /missing tensor 'nope'/)
})
