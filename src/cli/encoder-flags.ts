/**
 * The encoder options every model-running command shares (--model, --dic, --providers, --threads, --batch-tokens),
 * parsed once, so `eval`, `index` and `mine-negatives` accept the same flags as `encode`.
 */
import { createEncoder, type Encoder } from '../encoder/index.js'

export const ENCODER_OPTIONS = {
  model: { type: 'string' }, dic: { type: 'string' }, providers: { type: 'string' }, threads: { type: 'string' },
  'batch-tokens': { type: 'string' },
} as const

export const ENCODER_HELP = `  --model DIR          checkpoint folder (default: $MODEL)
  --dic DIR            MeCab dictionary folder (default: $MECAB_DICDIR, else the model's unidic_lite/dicdir)
  --providers LIST     execution providers in order (default: $ORT_PROVIDERS or cuda,cpu)
  --threads N          onnxruntime intra-op threads (default: $ORT_THREADS or all cores)
  --batch-tokens N     most token positions per encoder batch (default: $ENCODER_MAX_BATCH_TOKENS, else by provider)
`

/** Opens the encoder, or returns a usage message. */
export async function openEncoder(command: string, model: string, values: { dic?: string; providers?: string; threads?: string; 'batch-tokens'?: string }, maxQueueTexts: number): Promise<Encoder | string> {
  const threads = values.threads ?? process.env.ORT_THREADS
  const batchTokens = values['batch-tokens'] ?? process.env.ENCODER_MAX_BATCH_TOKENS
  if (threads !== undefined && !(Number.isInteger(Number(threads)) && Number(threads) >= 1)) return '--threads must be a positive integer'
  if (batchTokens !== undefined && !(Number.isInteger(Number(batchTokens)) && Number(batchTokens) >= 1)) return '--batch-tokens must be a positive integer'
  const providers = (values.providers ?? process.env.ORT_PROVIDERS ?? 'cuda,cpu').split(',').map((s) => s.trim()).filter(Boolean)
  const dicdir = values.dic ?? process.env.MECAB_DICDIR
  return createEncoder({
    modelDir: model, providers, maxQueueTexts,
    logger: { info: () => undefined, warn: (o: object, msg?: string) => process.stderr.write(`jacolbert ${command}: ${msg ?? ''} ${JSON.stringify(o)}\n`) },
    ...(dicdir ? { dicdir } : {}), ...(threads ? { threads: Number(threads) } : {}), ...(batchTokens ? { maxBatchTokens: Number(batchTokens) } : {}),
  })
}
