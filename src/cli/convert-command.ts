/**
 * `jacolbert convert --model DIR [--fp16]`: converts a checkpoint to ONNX and caches the graphs beside it
 * (<DIR>/onnx/<variant>-<key>.onnx), so a server start only loads them.
 */
import { loadCheckpoint } from '../model/checkpoint.js'
import { GRAPH_VARIANTS, type GraphVariant } from '../model/onnx/colbert-graph.js'
import { ensureConvertedGraph } from '../model/onnx/onnx-cache.js'
import { parseCommandArgs } from './command-args.js'

const HELP = `usage: jacolbert convert --model DIR [--fp16] [--variant V]... [--force] [--out DIR]

Converts the checkpoint in DIR (config.json, model.safetensors, artifact.metadata) to ONNX and caches the graphs.

graph variants:
  fp32-fused   onnxruntime com.microsoft fused ops, fp32 (what the CPU provider runs; always written)
  fp16-fused   the same in fp16 (what the CUDA provider runs; with --fp16)
  fp32         standard ONNX ops only (portable; with --variant fp32)
  int8-fused   int8 weights for the CPU provider (ENCODER_PRECISION=int8 on CPUs with VNNI; with --variant int8-fused)
  int8-u8u8-fused
               the same weights stored unsigned (ENCODER_PRECISION=int8 on CPUs without VNNI, where signed int8
               GEMMs saturate; with --variant int8-u8u8-fused)

options:
  --model DIR    checkpoint folder (default: $MODEL)
  --fp16         also write the fp16 graph for CUDA
  --variant V    write this variant (repeatable; replaces the default list)
  --force        convert even when a cached graph exists
  --out DIR      cache folder (default: DIR/onnx)
  -h, --help     show this help
`

export async function run(argv: string[]): Promise<number> {
  const args = parseCommandArgs('convert', argv, {
    model: { type: 'string' }, fp16: { type: 'boolean' }, variant: { type: 'string', multiple: true },
    force: { type: 'boolean' }, out: { type: 'string' },
  }, HELP, { require: { option: 'model', env: 'MODEL' } })
  if (typeof args === 'number') return args
  const { values, required: model } = args
  const variants: GraphVariant[] = values.variant?.length ? [] : ['fp32-fused', ...(values.fp16 ? (['fp16-fused'] as const) : [])]
  for (const v of values.variant ?? []) {
    if (!(GRAPH_VARIANTS as string[]).includes(v)) {
      process.stderr.write(`jacolbert convert: unknown variant '${v}' (known: ${GRAPH_VARIANTS.join(', ')})\n`)
      return 2
    }
    variants.push(v as GraphVariant)
  }
  const ckpt = await loadCheckpoint(model)
  for (const variant of variants) {
    const t0 = performance.now()
    const g = await ensureConvertedGraph(ckpt, variant, { ...(values.out ? { cacheDir: values.out } : {}), force: !!values.force })
    const ms = Math.round(performance.now() - t0)
    process.stdout.write(`${variant}\t${g.converted ? `converted in ${ms} ms` : `cached (checked in ${ms} ms)`}\t${g.path}\n`)
  }
  return 0
}
