/**
 * Prepares .gpu/ (git-ignored through .git/info/exclude) for bench/gpu-check.sh on a borrowed GPU machine, which has
 * Python + onnxruntime but no Node and no network: the tiny fixture's fp32-fused and fp16-fused graphs, the golden
 * file, and BERT-base-sized fused graphs with zero weights, gzip-compressed (random weights do not compress; the
 * check script fills them with random values before timing).
 *
 *   npx tsx bench/gpu-prepare.ts
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { ensureConvertedGraph } from '../src/model/onnx/onnx-cache.js'
import { BERT_BASE_SHAPE, makeRandomCheckpoint } from '../test/helpers/make-checkpoint.js'
import { GOLDEN_PATH, TINY_MODEL_DIR } from '../test/helpers/shared.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const out = join(ROOT, '.gpu')
mkdirSync(out, { recursive: true })
for (const v of ['fp32-fused', 'fp16-fused'] as const) {
  const g = await ensureConvertedGraph(TINY_MODEL_DIR, v, { cacheDir: join(out, 'cache') })
  copyFileSync(g.path, join(out, `tiny-${v}.onnx`))
}
copyFileSync(GOLDEN_PATH, join(out, 'golden.json'))
const zeroDir = join(ROOT, 'bench', 'results', 'zero-bert-base')
if (!existsSync(join(zeroDir, 'model.safetensors'))) {
  await makeRandomCheckpoint(zeroDir, { ...BERT_BASE_SHAPE, dtype: 'F16', transform: (_n, d) => new Float32Array(d.length) })
}
for (const v of ['fp32-fused', 'fp16-fused'] as const) {
  const g = await ensureConvertedGraph(zeroDir, v, { cacheDir: join(zeroDir, 'onnx') })
  writeFileSync(join(out, `base-${v}.onnx.gz`), gzipSync(readFileSync(g.path), { level: 6 }))
}
rmSync(join(out, 'cache'), { recursive: true, force: true })
process.stdout.write(`prepared ${out}\n`)
