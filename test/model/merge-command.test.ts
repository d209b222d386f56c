/**
 * `jacolbert merge` (child process): the output equals the weighted mean computed here with the documented float32
 * arithmetic, bit for bit; a checkpoint merged with itself comes back bit-identical (F32 and F16); mismatched inputs are
 * refused naming the tensor; bare inputs take the tokenizer from --base; the merged folder encodes.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { copyFile, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { makeRandomCheckpoint } from '../helpers/make-checkpoint.js'
import { cliSync } from '../helpers/cli.js'
import { readSafetensors } from '../../src/model/safetensors.js'

const SMALL = { vocabSize: 64, hidden: 16, heads: 2, intermediate: 32, layers: 1, dim: 8, maxPositions: 64, queryMaxlen: 8, docMaxlen: 32 }

function bits(f: Float32Array): Uint32Array {
  return new Uint32Array(f.buffer, f.byteOffset, f.length)
}

t.test('weighted mean, bit for bit, and merging with itself', async (t) => {
  const dir = t.testdir()
  const a = await makeRandomCheckpoint(join(dir, 'a'), { ...SMALL, seed: 1 })
  const b = await makeRandomCheckpoint(join(dir, 'b'), { ...SMALL, seed: 2 })
  const c = await makeRandomCheckpoint(join(dir, 'c'), { ...SMALL, seed: 3 })
  const out = join(dir, 'merged')
  const r = cliSync(['merge', '--out', out, '--weights', '0.5,0.3,0.2', a, b, c, '--json'])
  t.equal(r.status, 0, r.stderr)
  const summary = JSON.parse(r.stdout) as { tensors: number; dtype: string }
  t.equal(summary.dtype, 'F32')
  const [sa, sb, sc, sm] = await Promise.all([a, b, c, out].map((d) => readSafetensors(join(d, 'model.safetensors'))))
  const w = [0.5, 0.3, 0.2].map((x) => Math.fround(x / 1.0))
  let tensors = 0
  let worstVsFloat64 = 0
  for (const name of sa!.tensors.keys()) {
    const xs = [sa!, sb!, sc!].map((s) => s.getFloat32(name))
    const expected = new Float32Array(xs[0]!.length)
    for (let k = 0; k < 3; k++) for (let j = 0; j < expected.length; j++) expected[j] = Math.fround(expected[j]! + Math.fround(w[k]! * xs[k]![j]!))
    const got = sm!.getFloat32(name)
    t.same(sm!.tensors.get(name)!.shape, sa!.tensors.get(name)!.shape)
    if (!bits(got).every((v, j) => v === bits(expected)[j])) t.fail(`tensor ${name} differs from the float32 reference`)
    for (let j = 0; j < got.length; j++) worstVsFloat64 = Math.max(worstVsFloat64, Math.abs(got[j]! - (0.5 * xs[0]![j]! + 0.3 * xs[1]![j]! + 0.2 * xs[2]![j]!)))
    tensors++
  }
  t.equal(tensors, summary.tensors)
  t.pass(`all ${tensors} tensors bit-identical to the float32 reference`)
  t.ok(worstVsFloat64 < 1e-6, `and within float32 rounding of the float64 mean (worst ${worstVsFloat64.toExponential(2)})`)
  for (const f of ['vocab.txt', 'tokenizer_config.json', 'artifact.metadata', 'config.json']) {
    t.equal(readFileSync(join(out, f), 'utf8').trim(), readFileSync(join(a, f), 'utf8').trim(), `${f} carried over`)
  }

  for (const dtype of ['F32', 'F16'] as const) {
    const x = await makeRandomCheckpoint(join(dir, `self-${dtype}`), { ...SMALL, seed: 7, dtype })
    const o = join(dir, `self-${dtype}-merged`)
    const m = cliSync(['merge', '--out', o, x, x])
    t.equal(m.status, 0, m.stderr)
    const [orig, merged] = await Promise.all([readSafetensors(join(x, 'model.safetensors')), readSafetensors(join(o, 'model.safetensors'))])
    const buf = readFileSync(join(x, 'model.safetensors'))
    const mbuf = readFileSync(join(o, 'model.safetensors'))
    let same = true
    for (const [name, info] of orig.tensors) {
      const mi = merged.tensors.get(name)!
      if (mi.dtype !== dtype || Buffer.compare(buf.subarray(info.begin, info.end), mbuf.subarray(mi.begin, mi.end)) !== 0) same = false
    }
    t.ok(same, `${dtype}: a checkpoint merged with itself has the same tensor bytes and dtype`)
  }

  // the merged folder is a checkpoint the encoder (and so serve/convert) accepts
  const enc = cliSync(['encode', '--model', out, '--kind', 'query', '--providers', 'cpu', '--threads', '1', '--dic', '/var/lib/mecab/dic/ipadic-utf8'], 'tok7 tok8\n')
  if (enc.status === 0) {
    const line = JSON.parse(enc.stdout.trim()) as { shape: [number, number] }
    t.same(line.shape, [8, 8], 'merged checkpoint encodes (query_maxlen 8 × dim 8)')
  } else t.fail(`encode on the merged folder failed: ${enc.stderr}`)
  const conv = cliSync(['convert', '--model', out])
  t.equal(conv.status, 0, conv.stderr)
})

t.test('refusals and bare checkpoints with --base', async (t) => {
  const dir = t.testdir()
  const a = await makeRandomCheckpoint(join(dir, 'a'), { ...SMALL, seed: 1 })
  const wide = await makeRandomCheckpoint(join(dir, 'wide'), { ...SMALL, dim: 4, seed: 2 })
  const half = await makeRandomCheckpoint(join(dir, 'half'), { ...SMALL, dtype: 'F16', seed: 3 })
  const bare = await makeRandomCheckpoint(join(dir, 'bare-src'), { ...SMALL, prefix: false, seed: 4 })
  let r = cliSync(['merge', '--out', join(dir, 'o1'), a, wide])
  t.equal(r.status, 1)
  t.match(r.stderr, /CHECKPOINT_INVALID.*tensor 'linear\.weight' has shape \[4,16\]/)
  r = cliSync(['merge', '--out', join(dir, 'o2'), a, half])
  t.equal(r.status, 1)
  t.match(r.stderr, /tensor 'bert\.embeddings\.word_embeddings\.weight' is F16/)
  r = cliSync(['merge', '--out', join(dir, 'o3'), a, bare])
  t.equal(r.status, 1)
  t.match(r.stderr, /has no tensor 'bert\.embeddings/)
  r = cliSync(['merge', '--out', join(dir, 'o4'), '--weights', '1', a, a])
  t.equal(r.status, 2)
  t.match(r.stderr, /--weights has 1 values for 2 checkpoints/)

  // bare intermediate checkpoints: config.json + model.safetensors only
  const b1 = join(dir, 'bare1'), b2 = join(dir, 'bare2')
  const src2 = await makeRandomCheckpoint(join(dir, 'src2'), { ...SMALL, seed: 5 })
  for (const [src, dst] of [[a, b1], [src2, b2]] as const) {
    await mkdir(dst)
    for (const f of ['config.json', 'model.safetensors']) await copyFile(join(src, f), join(dst, f))
  }
  r = cliSync(['merge', '--out', join(dir, 'o5'), b1, b2])
  t.equal(r.status, 1)
  t.match(r.stderr, /no vocab\.txt: bare checkpoints .* need --base/)
  r = cliSync(['merge', '--out', join(dir, 'o6'), '--base', a, b1, b2])
  t.equal(r.status, 0, r.stderr)
  t.equal(readFileSync(join(dir, 'o6', 'artifact.metadata'), 'utf8'), readFileSync(join(a, 'artifact.metadata'), 'utf8'))
  r = cliSync(['merge', '--out', join(dir, 'o6'), '--base', a, b1, b2])
  t.equal(r.status, 1)
  t.match(r.stderr, /not empty \(--force replaces it\)/)
  t.equal(cliSync(['merge', '--out', join(dir, 'o6'), '--base', a, '--force', b1, b2]).status, 0)
})
