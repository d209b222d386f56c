/**
 * Weighted average of checkpoints of one architecture (JaColBERTv2.5's final step), tensor by tensor.
 *
 * Arithmetic, so that "equals the weighted mean" has one meaning: weights are normalised in float64 and rounded to
 * float32 (w_i = fround(weight_i / Σ weight)); each tensor is decoded to float32 and accumulated in input order as
 * acc = fround(acc + fround(w_i · x_i)), starting from 0; the result is rounded to the inputs' dtype (F16/BF16 round to
 * nearest even). Merging a checkpoint with itself (two copies, or weights summing to a power-of-two split) gives it
 * back bit for bit, since halving and doubling are exact in float32 for normal numbers.
 * Non-float tensors (e.g. integer buffers) must be byte-identical in every input and are copied.
 * Memory: one tensor per input at a time (files are read by range).
 */
import { existsSync } from 'node:fs'
import { cp, mkdir, open, readdir, readFile, rm, stat, writeFile, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { AppError } from '../errors.js'
import { parseBertConfig } from './checkpoint.js'
import { float32ToBfloat16Bits, float32ToFloat16Bits, parseSafetensors, readSafetensorsHeader, type TensorInfo } from './safetensors.js'
import { writeSafetensorsFile, type TensorPlan } from './safetensors-writer.js'

const WEIGHTS = 'model.safetensors'
/** What a merged folder takes from the base (the first input unless --base): everything a tokenizer and ColBERT need. */
const CARRIED = ['vocab.txt', 'tokenizer_config.json', 'special_tokens_map.json', 'tokenizer.json', 'artifact.metadata', 'unidic_lite']
const FLOAT = new Set(['F32', 'F16', 'BF16'])

export interface MergeInput { dir: string; weight: number }
export interface MergeResult { out: string; tensors: number; dtype: string; weights: number[]; bytes: number }

const bad = (msg: string, details?: Record<string, unknown>): AppError => new AppError('CHECKPOINT_INVALID', msg, details)

async function readRange(fh: FileHandle, t: TensorInfo): Promise<Uint8Array> {
  const buf = Buffer.alloc(t.end - t.begin)
  await fh.read(buf, 0, buf.length, t.begin)
  return buf
}

function decode(bytes: Uint8Array, t: TensorInfo, file: string): Float32Array {
  // reuse the reader's decoder on a one-tensor view
  const header = Buffer.from(JSON.stringify({ [t.name]: { dtype: t.dtype, shape: t.shape, data_offsets: [0, bytes.byteLength] } }))
  const len = Buffer.alloc(8)
  len.writeBigUInt64LE(BigInt(header.byteLength))
  return parseSafetensors(Buffer.concat([len, header, bytes]), file).getFloat32(t.name)
}

function encode(values: Float32Array, dtype: string): Uint8Array {
  if (dtype === 'F32') return new Uint8Array(values.buffer, values.byteOffset, values.byteLength)
  const bits = dtype === 'F16' ? float32ToFloat16Bits(values) : float32ToBfloat16Bits(values)
  return new Uint8Array(bits.buffer, bits.byteOffset, bits.byteLength)
}

export async function mergeCheckpoints(inputs: MergeInput[], opts: { out: string; base?: string; force?: boolean }): Promise<MergeResult> {
  if (inputs.length < 1) throw bad('merge needs at least one checkpoint')
  const sum = inputs.reduce((a, b) => a + b.weight, 0)
  if (!inputs.every((i) => Number.isFinite(i.weight) && i.weight >= 0) || !(sum > 0)) throw bad('weights must be non-negative numbers with a positive sum')
  const weights = inputs.map((i) => Math.fround(i.weight / sum))

  // architecture: config.json of every input parses to the same BERT configuration
  const configs = await Promise.all(inputs.map(async (i) => {
    const path = join(i.dir, 'config.json')
    let json: unknown
    try {
      json = JSON.parse(await readFile(path, 'utf8'))
    } catch (err) {
      throw bad(`${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { file: path })
    }
    return { raw: json as Record<string, unknown>, parsed: parseBertConfig(json, path) }
  }))
  const first = configs[0]!.parsed as unknown as Record<string, unknown>
  configs.forEach((c, i) => {
    for (const [k, v] of Object.entries(c.parsed)) {
      if (JSON.stringify(v) !== JSON.stringify(first[k])) throw bad(`${inputs[i]!.dir}: config ${k} is ${JSON.stringify(v)}, ${inputs[0]!.dir} has ${JSON.stringify(first[k])}: not the same architecture`, { field: k })
    }
  })

  const headers = await Promise.all(inputs.map((i) => readSafetensorsHeader(join(i.dir, WEIGHTS))))
  const names = [...headers[0]!.tensors.keys()]
  const dtypes = new Set<string>()
  headers.forEach((h, i) => {
    const file = join(inputs[i]!.dir, WEIGHTS)
    for (const n of names) {
      const a = headers[0]!.tensors.get(n)!
      const b = h.tensors.get(n)
      if (!b) throw bad(`${file}: has no tensor '${n}' (${inputs[0]!.dir} has it)`, { tensor: n })
      if (JSON.stringify(a.shape) !== JSON.stringify(b.shape)) throw bad(`${file}: tensor '${n}' has shape ${JSON.stringify(b.shape)}, ${inputs[0]!.dir} has ${JSON.stringify(a.shape)}`, { tensor: n })
      if (a.dtype !== b.dtype) throw bad(`${file}: tensor '${n}' is ${b.dtype}, ${inputs[0]!.dir} has ${a.dtype}`, { tensor: n })
    }
    for (const n of h.tensors.keys()) if (!headers[0]!.tensors.has(n)) throw bad(`${file}: has tensor '${n}' that ${inputs[0]!.dir} lacks`, { tensor: n })
  })
  for (const n of names) { const d = headers[0]!.tensors.get(n)!.dtype; if (FLOAT.has(d)) dtypes.add(d) }

  const baseDir = opts.base ?? inputs[0]!.dir
  // checked before anything is written, so a refused merge leaves no half-made folder
  if (!existsSync(join(baseDir, 'vocab.txt'))) {
    throw bad(`${baseDir} has no vocab.txt: bare checkpoints (config.json + model.safetensors only) need --base naming a complete checkpoint whose tokenizer files the result takes`, { file: baseDir })
  }
  if (existsSync(opts.out)) {
    const entries = await readdir(opts.out)
    if (entries.length > 0 && !opts.force) throw bad(`output folder ${opts.out} is not empty (--force replaces it)`, { file: opts.out })
    if (entries.length > 0) await rm(opts.out, { recursive: true, force: true })
  }
  await mkdir(opts.out, { recursive: true })

  const handles = await Promise.all(inputs.map((i) => open(join(i.dir, WEIGHTS), 'r')))
  try {
    const plan: TensorPlan[] = names.map((n) => {
      const t = headers[0]!.tensors.get(n)!
      return { name: n, dtype: t.dtype, shape: t.shape, byteLength: t.end - t.begin }
    })
    const metadata: Record<string, string> = {
      ...(headers[0]!.metadata ?? { format: 'pt' }),
      format: 'pt',
      jacolbert_merge: JSON.stringify({ inputs: inputs.map((i, k) => ({ dir: i.dir, weight: weights[k] })), accumulation: 'float32, input order' }),
    }
    await writeSafetensorsFile(join(opts.out, WEIGHTS), plan, metadata, async (ti) => {
      const n = names[ti]!
      const infos = headers.map((h) => h.tensors.get(n)!)
      const raws = await Promise.all(handles.map((fh, k) => readRange(fh, infos[k]!)))
      if (!FLOAT.has(infos[0]!.dtype)) {
        raws.forEach((r, k) => {
          if (Buffer.compare(Buffer.from(r), Buffer.from(raws[0]!)) !== 0) throw bad(`${inputs[k]!.dir}: non-float tensor '${n}' (${infos[0]!.dtype}) differs from ${inputs[0]!.dir}'s; it cannot be averaged`, { tensor: n })
        })
        return raws[0]!
      }
      const acc = new Float32Array((infos[0]!.end - infos[0]!.begin) / (infos[0]!.dtype === 'F32' ? 4 : 2))
      raws.forEach((r, k) => {
        const x = decode(r, infos[k]!, join(inputs[k]!.dir, WEIGHTS))
        const w = weights[k]!
        for (let j = 0; j < acc.length; j++) acc[j] = Math.fround(acc[j]! + Math.fround(w * x[j]!))
      })
      return encode(acc, infos[0]!.dtype)
    })
  } finally {
    await Promise.all(handles.map((h) => h.close()))
  }
  await writeFile(join(opts.out, 'config.json'), `${JSON.stringify(configs[0]!.raw, null, 2)}\n`)
  for (const f of CARRIED) {
    const src = join(baseDir, f)
    if (existsSync(src)) await cp(src, join(opts.out, f), { recursive: true })
  }
  const bytes = (await stat(join(opts.out, WEIGHTS))).size
  return { out: opts.out, tensors: names.length, dtype: [...dtypes].join(',') || 'none', weights, bytes }
}
