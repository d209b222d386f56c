/**
 * Which converted graph each execution provider runs, and whether a provider can load at all. The CUDA provider of
 * onnxruntime-node is a separate shared library (libonnxruntime_providers_cuda.so) that the npm postinstall
 * downloads; without it, asking for CUDA can only fail, so we say why and skip converting its fp16 graph.
 */
import { existsSync, readdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import type { GraphVariant } from '../model/onnx/colbert-graph.js'

export const KNOWN_PROVIDERS = ['cuda', 'cpu'] as const

export type EncoderPrecision = 'fp32' | 'int8'

/**
 * int8 applies to the CPU provider only: its integer GEMMs are where the speed-up is (VNNI), while CUDA already runs
 * fp16 and onnxruntime's CUDA kernels for the quantised ops are not faster than its fp16 path. Signed weights are
 * the fast form but only where the CPU's u8·s8 GEMM is exact (`signedInt8Exact`, see int8-gemm-probe.ts); elsewhere
 * the weights are stored unsigned with a zero point, which every CPU multiplies exactly.
 */
export function variantFor(provider: string, override?: GraphVariant, precision: EncoderPrecision = 'fp32', signedInt8Exact = true): GraphVariant {
  if (override) return override
  if (provider === 'cuda') return 'fp16-fused'
  if (precision !== 'int8') return 'fp32-fused'
  return signedInt8Exact ? 'int8-fused' : 'int8-u8u8-fused'
}

/** Folders where onnxruntime-node looks for provider libraries (next to its native binding). */
function bindingDirs(): string[] {
  try {
    const req = createRequire(import.meta.url)
    const root = join(dirname(req.resolve('onnxruntime-node')), '..', 'bin')
    const dirs: string[] = []
    for (const napi of readdirSync(root)) dirs.push(join(root, napi, process.platform, process.arch))
    return dirs
  } catch {
    return []
  }
}

/** undefined when the provider may load; else the reason it cannot. */
export function providerUnavailableReason(provider: string): string | undefined {
  if (provider === 'cpu') return undefined
  if (provider === 'cuda') {
    const dirs = bindingDirs()
    if (dirs.some((d) => existsSync(join(d, 'libonnxruntime_providers_cuda.so')) || existsSync(join(d, 'onnxruntime_providers_cuda.dll')))) return undefined
    return `onnxruntime-node's CUDA provider library (libonnxruntime_providers_cuda.so) is not installed in ${dirs[0] ?? 'its bin folder'} (npm install was run with onnxruntime-node-install=skip, or offline)`
  }
  if (!(KNOWN_PROVIDERS as readonly string[]).includes(provider)) return `unknown provider '${provider}' (known: ${KNOWN_PROVIDERS.join(', ')})`
  return undefined
}
