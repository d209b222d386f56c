/**
 * Loads a ColBERT checkpoint folder (Hugging Face layout, as published for JaColBERTv2.5): config.json (BERT),
 * model.safetensors (`bert.`-prefixed or bare BERT names + `linear.weight`), vocab.txt, artifact.metadata.
 * Everything is validated up front so that a broken folder fails at start-up with a message naming the file.
 */
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { AppError } from '../errors.js'
import { parseColbertSettings, type ColbertSettings } from '../tokenizer/colbert-settings.js'
import { readSafetensors, readSafetensorsHeader, type TensorInfo } from './safetensors.js'

export interface BertConfig {
  vocabSize: number
  hiddenSize: number
  numLayers: number
  numHeads: number
  intermediateSize: number
  maxPositions: number
  typeVocabSize: number
  layerNormEps: number
}

export interface BertLayerWeights {
  qW: Float32Array; qB: Float32Array; kW: Float32Array; kB: Float32Array; vW: Float32Array; vB: Float32Array
  oW: Float32Array; oB: Float32Array; ln1G: Float32Array; ln1B: Float32Array
  iW: Float32Array; iB: Float32Array; fW: Float32Array; fB: Float32Array; ln2G: Float32Array; ln2B: Float32Array
}

/** All weights as float32, in PyTorch layout (Linear weights are [out, in]). */
export interface ColbertWeights {
  wordEmb: Float32Array; posEmb: Float32Array; typeEmb: Float32Array; embLnG: Float32Array; embLnB: Float32Array
  layers: BertLayerWeights[]
  linear: Float32Array /* [dim, hidden] */
}

export interface Checkpoint {
  dir: string
  config: BertConfig
  settings: ColbertSettings
  /** Decode the weights (reads the whole safetensors file; the header was already validated). */
  loadWeights(): Promise<ColbertWeights>
  /** Files whose bytes determine the converted graph (hashed for the ONNX cache key). */
  weightFiles: string[]
  /** dtype of the stored weights (F32, F16 or BF16; the most common one). */
  storedDtype: string
}

const CONFIG = 'config.json'
const WEIGHTS = 'model.safetensors'

function bad(file: string, message: string, details?: Record<string, unknown>): AppError {
  return new AppError('CHECKPOINT_INVALID', `${file}: ${message}`, { file, ...details })
}

async function readText(dir: string, file: string): Promise<string> {
  const path = join(dir, file)
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new AppError('CHECKPOINT_INVALID', `${file}: ${code === 'ENOENT' ? 'missing from' : `cannot read (${code}) in`} checkpoint folder ${dir}`, { file: path })
  }
}

async function readJson(dir: string, file: string): Promise<unknown> {
  const text = await readText(dir, file)
  try {
    return JSON.parse(text)
  } catch (err) {
    throw bad(join(dir, file), `not valid JSON (${(err as Error).message})`)
  }
}

/** Validate a Hugging Face BERT config.json object. */
export function parseBertConfig(json: unknown, file = CONFIG): BertConfig {
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw bad(file, 'must be a JSON object')
  const c = json as Record<string, unknown>
  const archs = Array.isArray(c.architectures) ? (c.architectures as unknown[]).map(String) : []
  const modelType = c.model_type
  // ColBERT checkpoints are BERT encoders; HF_ColBERT / BertModel / BertForMaskedLM all carry the same weights.
  if (modelType !== 'bert') {
    throw bad(file, `unsupported architecture: model_type ${JSON.stringify(modelType)}${archs.length ? ` (architectures ${archs.join(', ')})` : ''}; only BERT ColBERT checkpoints are supported`, { modelType, architectures: archs })
  }
  const int = (key: string, fallback?: number): number => {
    const v = c[key] ?? fallback
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw bad(file, `${key} must be a positive integer (got ${JSON.stringify(c[key])})`, { field: key })
    return v
  }
  const cfg: BertConfig = {
    vocabSize: int('vocab_size'),
    hiddenSize: int('hidden_size'),
    numLayers: int('num_hidden_layers'),
    numHeads: int('num_attention_heads'),
    intermediateSize: int('intermediate_size'),
    maxPositions: int('max_position_embeddings', 512),
    typeVocabSize: int('type_vocab_size', 2),
    layerNormEps: typeof c.layer_norm_eps === 'number' && c.layer_norm_eps > 0 ? c.layer_norm_eps : 1e-12,
  }
  if (c.layer_norm_eps !== undefined && cfg.layerNormEps !== c.layer_norm_eps) throw bad(file, `layer_norm_eps must be a positive number`, { field: 'layer_norm_eps' })
  if (cfg.hiddenSize % cfg.numHeads !== 0) throw bad(file, `hidden_size ${cfg.hiddenSize} is not divisible by num_attention_heads ${cfg.numHeads}`)
  const act = c.hidden_act ?? 'gelu'
  if (act !== 'gelu') throw bad(file, `hidden_act ${JSON.stringify(act)} is not supported (only 'gelu', the erf form BERT uses)`, { field: 'hidden_act' })
  const pet = c.position_embedding_type ?? 'absolute'
  if (pet !== 'absolute') throw bad(file, `position_embedding_type ${JSON.stringify(pet)} is not supported (only 'absolute')`, { field: 'position_embedding_type' })
  return cfg
}

/** What extractWeights needs: the tensor table and a decoder (a header-only source decodes nothing). */
interface TensorSource { path: string; tensors: Map<string, TensorInfo>; getFloat32(name: string): Float32Array }

/** Finds the `bert.`-prefixed or bare name of a BERT tensor. */
function resolveName(st: TensorSource, name: string): string {
  if (st.tensors.has(`bert.${name}`)) return `bert.${name}`
  if (st.tensors.has(name)) return name
  throw bad(st.path, `missing tensor 'bert.${name}' (also looked for '${name}')`, { tensor: name })
}

function tensor(st: TensorSource, name: string, shape: number[], bare = false): Float32Array {
  const full = bare ? name : resolveName(st, name)
  const info = st.tensors.get(full)
  if (!info) throw bad(st.path, `missing tensor '${full}'`, { tensor: full })
  if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
    throw bad(st.path, `tensor '${full}' has shape [${info.shape.join(', ')}], expected [${shape.join(', ')}] from config.json`, { tensor: full, shape: info.shape, expected: shape })
  }
  return st.getFloat32(full)
}

/** Read the weights of a BERT ColBERT model from a parsed safetensors file. */
export function extractWeights(st: TensorSource, cfg: BertConfig, dim: number): ColbertWeights {
  const H = cfg.hiddenSize
  const I = cfg.intermediateSize
  const layers: BertLayerWeights[] = []
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `encoder.layer.${l}.`
    layers.push({
      qW: tensor(st, `${p}attention.self.query.weight`, [H, H]), qB: tensor(st, `${p}attention.self.query.bias`, [H]),
      kW: tensor(st, `${p}attention.self.key.weight`, [H, H]), kB: tensor(st, `${p}attention.self.key.bias`, [H]),
      vW: tensor(st, `${p}attention.self.value.weight`, [H, H]), vB: tensor(st, `${p}attention.self.value.bias`, [H]),
      oW: tensor(st, `${p}attention.output.dense.weight`, [H, H]), oB: tensor(st, `${p}attention.output.dense.bias`, [H]),
      ln1G: tensor(st, `${p}attention.output.LayerNorm.weight`, [H]), ln1B: tensor(st, `${p}attention.output.LayerNorm.bias`, [H]),
      iW: tensor(st, `${p}intermediate.dense.weight`, [I, H]), iB: tensor(st, `${p}intermediate.dense.bias`, [I]),
      fW: tensor(st, `${p}output.dense.weight`, [H, I]), fB: tensor(st, `${p}output.dense.bias`, [H]),
      ln2G: tensor(st, `${p}output.LayerNorm.weight`, [H]), ln2B: tensor(st, `${p}output.LayerNorm.bias`, [H]),
    })
  }
  if (st.tensors.has(`bert.encoder.layer.${cfg.numLayers}.attention.self.query.weight`) || st.tensors.has(`encoder.layer.${cfg.numLayers}.attention.self.query.weight`)) {
    throw bad(st.path, `has more encoder layers than num_hidden_layers ${cfg.numLayers} in config.json`)
  }
  if (!st.tensors.has('linear.weight')) throw bad(st.path, `missing tensor 'linear.weight' (the ColBERT projection [dim, hidden]); is this a ColBERT checkpoint?`, { tensor: 'linear.weight' })
  if (st.tensors.has('linear.bias')) throw bad(st.path, `tensor 'linear.bias' is not supported (ColBERT's projection has no bias)`, { tensor: 'linear.bias' })
  return {
    wordEmb: tensor(st, 'embeddings.word_embeddings.weight', [cfg.vocabSize, H]),
    posEmb: tensor(st, 'embeddings.position_embeddings.weight', [cfg.maxPositions, H]),
    typeEmb: tensor(st, 'embeddings.token_type_embeddings.weight', [cfg.typeVocabSize, H]),
    embLnG: tensor(st, 'embeddings.LayerNorm.weight', [H]),
    embLnB: tensor(st, 'embeddings.LayerNorm.bias', [H]),
    layers,
    linear: tensor(st, 'linear.weight', [dim, H], true),
  }
}

/** Load and validate a checkpoint folder (config.json, model.safetensors, vocab.txt, artifact.metadata). */
export async function loadCheckpoint(dir: string): Promise<Checkpoint> {
  if (!existsSync(dir)) throw new AppError('CHECKPOINT_INVALID', `checkpoint folder ${dir} does not exist`, { file: dir })
  const config = parseBertConfig(await readJson(dir, CONFIG), join(dir, CONFIG))
  const metaPath = join(dir, 'artifact.metadata')
  const settings = parseColbertSettings(existsSync(metaPath) ? await readJson(dir, 'artifact.metadata') : {}, metaPath)
  const vocabLines = (await readText(dir, 'vocab.txt')).split('\n')
  if (vocabLines[vocabLines.length - 1] === '') vocabLines.pop()
  if (vocabLines.length !== config.vocabSize) {
    throw bad(join(dir, 'vocab.txt'), `has ${vocabLines.length} tokens but config.json vocab_size is ${config.vocabSize}`)
  }
  const weightsPath = join(dir, WEIGHTS)
  if (!existsSync(weightsPath)) {
    const hint = existsSync(join(dir, 'pytorch_model.bin')) ? ' (only pytorch_model.bin found: convert it to safetensors first)' : ''
    throw new AppError('CHECKPOINT_INVALID', `${WEIGHTS}: missing from checkpoint folder ${dir}${hint}`, { file: weightsPath })
  }
  const header = await readSafetensorsHeader(weightsPath)
  const linearInfo = header.tensors.get('linear.weight')
  if (linearInfo && linearInfo.shape[0] !== settings.dim) {
    throw bad(weightsPath, `linear.weight has ${linearInfo.shape[0]} output rows but artifact.metadata dim is ${settings.dim}`, { tensor: 'linear.weight' })
  }
  if (settings.queryMaxlen > config.maxPositions || settings.docMaxlen > config.maxPositions) {
    throw bad(metaPath, `query_maxlen ${settings.queryMaxlen} / doc_maxlen ${settings.docMaxlen} exceed max_position_embeddings ${config.maxPositions}`)
  }
  // Shape/name validation without decoding: the same checks as the real extraction.
  const empty = new Float32Array(0)
  extractWeights({ path: weightsPath, tensors: header.tensors, getFloat32: () => empty }, config, settings.dim)
  const loadWeights = async (): Promise<ColbertWeights> => extractWeights(await readSafetensors(weightsPath), config, settings.dim)
  const dtypeCounts = new Map<string, number>()
  for (const t of header.tensors.values()) dtypeCounts.set(t.dtype, (dtypeCounts.get(t.dtype) ?? 0) + 1)
  const storedDtype = [...dtypeCounts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'F32'
  return { dir, config, settings, loadWeights, weightFiles: [join(dir, CONFIG), weightsPath, metaPath].filter((f) => existsSync(f)), storedDtype }
}
