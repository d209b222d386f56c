/**
 * `jacolbert encode --model DIR [--dic DIR] [--kind query|document]`: ColBERT vectors of stdin lines, one JSON
 * object per line on stdout: {"shape": [n, dim], "vectors": [[…], …]} — the same vectors POST /encode returns.
 * Lines are encoded in chunks (the encoder batches each chunk); output order is input order.
 */
import { createInterface } from 'node:readline'
import { createEncoder, type EncodedText, type Encoder } from '../encoder/index.js'
import { parseCommandArgs } from './command-args.js'
import { writeStdout } from './line-stream.js'

const HELP = `usage: jacolbert encode --model DIR [--dic DIR] [--kind query|document] [options]

Reads texts on stdin, one per line, and prints one JSON object per line:
  {"shape": [n, dim], "vectors": [[...], ...]}
(queries: every query_maxlen position; documents: punctuation and padding dropped; vectors L2-normalised).

options:
  --model DIR        checkpoint folder (default: $MODEL)
  --dic DIR          MeCab dictionary folder (default: $MECAB_DICDIR, else the model's unidic_lite/dicdir)
  --kind KIND        query or document (default: document)
  --dynamic-length   queries: JaColBERTv2.5's dynamic query length
  --tokens           add "tokens": [...] (the token of each vector)
  --providers LIST   execution providers in order (default: $ORT_PROVIDERS or cuda,cpu)
  --threads N        onnxruntime intra-op threads (default: $ORT_THREADS or all cores)
  --chunk N          lines per encoder call (default 64)
  -h, --help         show this help
`

/** One output line. O(n·dim) number formatting. */
export function formatEncoded(r: EncodedText): string {
  const rows: string[] = []
  for (let i = 0; i < r.n; i++) rows.push(`[${Array.from(r.vectors.subarray(i * r.dim, (i + 1) * r.dim)).join(',')}]`)
  const tokens = r.tokens ? `,"tokens":${JSON.stringify(r.tokens)}` : ''
  return `{"shape":[${r.n},${r.dim}],"vectors":[${rows.join(',')}]${tokens}}\n`
}

export async function run(argv: string[]): Promise<number> {
  const args = parseCommandArgs('encode', argv, {
    model: { type: 'string' }, dic: { type: 'string' }, kind: { type: 'string' }, tokens: { type: 'boolean' },
    'dynamic-length': { type: 'boolean' }, providers: { type: 'string' }, threads: { type: 'string' }, chunk: { type: 'string' },
  }, HELP, { require: { option: 'model', env: 'MODEL' } })
  if (typeof args === 'number') return args
  const { values, required: model } = args
  const kind = values.kind ?? 'document'
  if (kind !== 'query' && kind !== 'document') {
    process.stderr.write(`jacolbert encode: --kind must be query or document (got '${kind}')\n`)
    return 2
  }
  const chunk = Number(values.chunk ?? 64)
  const threads = values.threads ?? process.env.ORT_THREADS
  if (!Number.isInteger(chunk) || chunk < 1 || (threads !== undefined && !(Number(threads) >= 1))) {
    process.stderr.write('jacolbert encode: --chunk and --threads must be positive integers\n')
    return 2
  }
  const providers = (values.providers ?? process.env.ORT_PROVIDERS ?? 'cuda,cpu').split(',').map((s) => s.trim()).filter(Boolean)
  const dicdir = values.dic ?? process.env.MECAB_DICDIR
  const logger = {
    info: () => undefined,
    warn: (o: object, msg?: string) => process.stderr.write(`jacolbert encode: ${msg ?? ''} ${JSON.stringify(o)}\n`),
  }
  const encoder: Encoder = await createEncoder({
    modelDir: model, providers, logger, maxQueueTexts: Math.max(2048, chunk),
    ...(dicdir ? { dicdir } : {}), ...(threads ? { threads: Number(threads) } : {}),
    ...(process.env.ENCODER_PRECISION === 'int8' ? { precision: 'int8' as const } : {}),
  })
  try {
    const encodeChunk = (lines: string[]): Promise<EncodedText[]> =>
      kind === 'query'
        ? encoder.encodeQueries(lines, { returnTokens: !!values.tokens, dynamicLength: !!values['dynamic-length'] })
        : encoder.encodeDocuments(lines, { returnTokens: !!values.tokens })
    let lines: string[] = []
    const flush = async (): Promise<void> => {
      if (!lines.length) return
      const out = await encodeChunk(lines)
      lines = []
      await writeStdout(out.map(formatEncoded).join(''))
    }
    for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
      lines.push(line)
      if (lines.length >= chunk) await flush()
    }
    await flush()
  } finally {
    await encoder.close()
  }
  return 0
}
