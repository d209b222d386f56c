/**
 * Writes random ColBERT checkpoints in the JaColBERT folder format (config.json, model.safetensors, vocab.txt,
 * tokenizer_config.json, artifact.metadata), for tests (tiny) and the encoder bench (BERT-base size).
 * Weights are N(0, std) from a seeded generator, so a given seed always yields the same checkpoint.
 */
import { existsSync, readFileSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { encodeSafetensors, type SafetensorsDtype } from '../../src/model/safetensors.js'

export interface RandomCheckpointOptions {
  vocabSize?: number
  hidden?: number
  layers?: number
  heads?: number
  intermediate?: number
  maxPositions?: number
  dim?: number
  queryMaxlen?: number
  docMaxlen?: number
  dtype?: SafetensorsDtype
  /** store BERT weights as `bert.*` (default) or bare names */
  prefix?: boolean
  seed?: number
  std?: number
  /** vocabulary file to copy (must have vocabSize lines); default: synthetic tokens */
  vocabPath?: string
  /** apply to the weights before writing (e.g. round to fp16 values) */
  transform?: (name: string, data: Float32Array) => Float32Array
}

/** xorshift32 + Box-Muller: fast, deterministic normal samples. */
function normalGenerator(seed: number): () => number {
  let s = seed >>> 0 || 1
  const u = (): number => {
    s ^= s << 13
    s >>>= 0
    s ^= s >>> 17
    s ^= s << 5
    s >>>= 0
    return (s + 0.5) / 4294967296
  }
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u())
}

export function tensorList(o: Required<Pick<RandomCheckpointOptions, 'vocabSize' | 'hidden' | 'layers' | 'intermediate' | 'maxPositions' | 'dim'>>): Array<{ name: string; shape: number[]; kind: 'w' | 'b' | 'g' }> {
  const H = o.hidden
  const I = o.intermediate
  const list: Array<{ name: string; shape: number[]; kind: 'w' | 'b' | 'g' }> = [
    { name: 'embeddings.word_embeddings.weight', shape: [o.vocabSize, H], kind: 'w' },
    { name: 'embeddings.position_embeddings.weight', shape: [o.maxPositions, H], kind: 'w' },
    { name: 'embeddings.token_type_embeddings.weight', shape: [2, H], kind: 'w' },
    { name: 'embeddings.LayerNorm.weight', shape: [H], kind: 'g' },
    { name: 'embeddings.LayerNorm.bias', shape: [H], kind: 'b' },
  ]
  for (let l = 0; l < o.layers; l++) {
    const p = `encoder.layer.${l}.`
    for (const m of ['query', 'key', 'value']) {
      list.push({ name: `${p}attention.self.${m}.weight`, shape: [H, H], kind: 'w' }, { name: `${p}attention.self.${m}.bias`, shape: [H], kind: 'b' })
    }
    list.push(
      { name: `${p}attention.output.dense.weight`, shape: [H, H], kind: 'w' }, { name: `${p}attention.output.dense.bias`, shape: [H], kind: 'b' },
      { name: `${p}attention.output.LayerNorm.weight`, shape: [H], kind: 'g' }, { name: `${p}attention.output.LayerNorm.bias`, shape: [H], kind: 'b' },
      { name: `${p}intermediate.dense.weight`, shape: [I, H], kind: 'w' }, { name: `${p}intermediate.dense.bias`, shape: [I], kind: 'b' },
      { name: `${p}output.dense.weight`, shape: [H, I], kind: 'w' }, { name: `${p}output.dense.bias`, shape: [H], kind: 'b' },
      { name: `${p}output.LayerNorm.weight`, shape: [H], kind: 'g' }, { name: `${p}output.LayerNorm.bias`, shape: [H], kind: 'b' },
    )
  }
  return list
}

/** BERT-base's shape with JaColBERT's vocabulary size and 128-dimension projection (the benches' larger checkpoints). */
export const BERT_BASE_SHAPE = { vocabSize: 32768, hidden: 768, layers: 12, heads: 12, intermediate: 3072, maxPositions: 512, dim: 128 } as const

/** Write a random checkpoint folder into `dir`; returns dir. */
export async function makeRandomCheckpoint(dir: string, opts: RandomCheckpointOptions = {}): Promise<string> {
  const o = {
    vocabSize: opts.vocabSize ?? 32768, hidden: opts.hidden ?? 32, layers: opts.layers ?? 2, heads: opts.heads ?? 4,
    intermediate: opts.intermediate ?? 64, maxPositions: opts.maxPositions ?? 512, dim: opts.dim ?? 16,
  }
  const dtype = opts.dtype ?? 'F32'
  const prefix = opts.prefix ?? true
  const std = opts.std ?? 0.02
  const rand = normalGenerator(opts.seed ?? 1234)
  await mkdir(dir, { recursive: true })
  const tensors = tensorList(o).map((t) => {
    const n = t.shape.reduce((a, b) => a * b, 1)
    let data: Float32Array = new Float32Array(n)
    if (t.kind === 'g') for (let i = 0; i < n; i++) data[i] = 1 + 0.1 * rand()
    else for (let i = 0; i < n; i++) data[i] = (t.kind === 'w' ? std * 10 : std) * rand()
    const name = prefix ? `bert.${t.name}` : t.name
    if (opts.transform) data = opts.transform(name, data)
    return { name, dtype, shape: t.shape, data }
  })
  let lin: Float32Array = new Float32Array(o.dim * o.hidden)
  for (let i = 0; i < lin.length; i++) lin[i] = std * 10 * rand()
  if (opts.transform) lin = opts.transform('linear.weight', lin)
  tensors.push({ name: 'linear.weight', dtype, shape: [o.dim, o.hidden], data: lin })
  await writeFile(join(dir, 'model.safetensors'), encodeSafetensors(tensors))
  await writeFile(join(dir, 'config.json'), JSON.stringify({
    architectures: ['HF_ColBERT'], model_type: 'bert', vocab_size: o.vocabSize, hidden_size: o.hidden, num_hidden_layers: o.layers,
    num_attention_heads: o.heads, intermediate_size: o.intermediate, hidden_act: 'gelu', max_position_embeddings: o.maxPositions,
    type_vocab_size: 2, layer_norm_eps: 1e-12, pad_token_id: 0, position_embedding_type: 'absolute', torch_dtype: 'float32',
  }, null, 2))
  await writeFile(join(dir, 'artifact.metadata'), JSON.stringify({
    query_token_id: '[unused0]', doc_token_id: '[unused1]', query_maxlen: opts.queryMaxlen ?? 32, doc_maxlen: opts.docMaxlen ?? 300,
    dim: o.dim, attend_to_mask_tokens: false, mask_punctuation: true, similarity: 'cosine',
  }, null, 2))
  await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify({
    tokenizer_class: 'BertJapaneseTokenizer', do_lower_case: false, word_tokenizer_type: 'mecab', subword_tokenizer_type: 'wordpiece',
    mecab_kwargs: { mecab_dic: 'unidic_lite' }, model_max_length: 512,
  }, null, 2))
  let vocab: string
  if (opts.vocabPath && existsSync(opts.vocabPath)) vocab = readFileSync(opts.vocabPath, 'utf8')
  else {
    const special = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', '[unused0]', '[unused1]']
    const lines = Array.from({ length: o.vocabSize }, (_, i) => special[i] ?? `tok${i}`)
    vocab = lines.join('\n') + '\n'
  }
  await writeFile(join(dir, 'vocab.txt'), vocab)
  return dir
}
