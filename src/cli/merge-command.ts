/** `jacolbert merge`: weighted average of checkpoints (src/model/checkpoint-merge.ts). */
import { resolveModelDir } from '../model/resolve-model.js'
import { mergeCheckpoints } from '../model/checkpoint-merge.js'
import { parseCommandArgs, usageError } from './command-args.js'

const HELP = `usage: jacolbert merge --out DIR [--weights W1,W2,...] [--base DIR|REPO] CHECKPOINT...

Averages the weights of checkpoints of the same architecture (JaColBERTv2.5 merges its last checkpoints this way)
and writes a checkpoint folder that \`serve\`, \`convert\` and \`encode\` accept: model.safetensors in the inputs'
dtype (accumulated in float32, in input order), config.json from the first input, and the tokenizer files
(vocab.txt, tokenizer_config.json, ...), artifact.metadata and unidic_lite/ from --base (default: the first input).
Refuses inputs whose tensor names, shapes or dtypes differ, naming the tensor.

options:
  --out DIR          output folder (must be empty or absent, unless --force)
  --weights LIST     one non-negative weight per checkpoint, normalised to sum 1 (default: equal)
  --base DIR|REPO    complete checkpoint whose tokenizer files and artifact.metadata the result takes; a Hugging
                     Face repo id is pulled into --cache-dir (default $MODEL_CACHE_DIR or ./models)
  --cache-dir DIR    where --base repos are pulled
  --force            replace a non-empty --out
  --json             print a JSON summary
  -h, --help         show this help
`

export async function run(argv: string[]): Promise<number> {
  const args = parseCommandArgs('merge', argv, {
    out: { type: 'string' }, weights: { type: 'string' }, base: { type: 'string' }, 'cache-dir': { type: 'string' },
    force: { type: 'boolean' }, json: { type: 'boolean' },
  }, HELP, { positionals: true })
  if (typeof args === 'number') return args
  const { values: v, positionals } = args
  if (!v.out) return usageError('merge', '--out DIR is required', HELP)
  if (positionals.length < 1) return usageError('merge', 'give at least one CHECKPOINT folder', HELP)
  let weights = positionals.map(() => 1)
  if (v.weights !== undefined) {
    weights = v.weights.split(',').map(Number)
    if (weights.length !== positionals.length) return usageError('merge', `--weights has ${weights.length} values for ${positionals.length} checkpoints`, HELP)
    if (!weights.every((w) => Number.isFinite(w) && w >= 0) || !(weights.reduce((a, b) => a + b, 0) > 0)) {
      return usageError('merge', '--weights must be non-negative numbers with a positive sum', HELP)
    }
  }
  const base = v.base === undefined ? undefined : await resolveModelDir(v.base, { cacheDir: v['cache-dir'] ?? process.env.MODEL_CACHE_DIR ?? './models', token: process.env.HF_TOKEN, endpoint: process.env.HF_ENDPOINT })
  const t0 = performance.now()
  const r = await mergeCheckpoints(positionals.map((dir, i) => ({ dir, weight: weights[i]! })), { out: v.out, ...(base ? { base } : {}), force: !!v.force })
  const ms = Math.round(performance.now() - t0)
  if (v.json) process.stdout.write(`${JSON.stringify({ ...r, inputs: positionals, base: base ?? positionals[0], ms })}\n`)
  else process.stdout.write(`merged ${positionals.length} checkpoints (${r.tensors} tensors, ${r.dtype}, weights ${r.weights.join(', ')}) into ${r.out} in ${ms} ms\n`)
  return 0
}
