/**
 * What `MODEL` means: an existing local folder is used as it is; a Hub repo id (`owner/name`) is served from the
 * cache, pulled on first use (with unidic-lite). Failures name MODEL and say how to fix them, quickly when offline.
 */
import { statSync } from 'node:fs'
import { homedir } from 'node:os'
import { resolve } from 'node:path'
import { AppError, isAppError } from '../errors.js'
import { DEFAULT_HF_ENDPOINT } from './hub-http.js'
import { parseRepoId, pullModel, type PullOptions } from './hub-download.js'
import { createProgressReporter } from './hub-progress.js'
import type { DownloadProgress } from './hub-file-download.js'

export interface ResolveModelOptions extends Omit<PullOptions, 'onProgress'> {
  cacheDir: string
  revision?: string | undefined
  endpoint?: string | undefined
  token?: string | undefined
  /** Progress of a pull; default: a progress line on stderr when it is a terminal, nothing otherwise. */
  onProgress?: ((p: DownloadProgress) => void) | undefined
}

/** The checkpoint folder for `spec` (a local folder or a Hub repo id); see the module comment. */
export async function resolveModelDir(spec: string, opts: ResolveModelOptions): Promise<string> {
  const trimmed = spec.trim()
  if (trimmed === '') {
    throw new AppError('MODEL_UNAVAILABLE', 'MODEL is empty: set it to a checkpoint folder or a Hugging Face repo id such as answerdotai/JaColBERTv2.5')
  }
  const local = resolve(trimmed.startsWith('~/') ? homedir() + trimmed.slice(1) : trimmed)
  const st = statSync(local, { throwIfNoEntry: false })
  if (st?.isDirectory()) return local
  if (st) throw new AppError('MODEL_UNAVAILABLE', `MODEL=${spec} is a file; it must be a checkpoint folder (config.json, model.safetensors, vocab.txt, ...) or a Hugging Face repo id`)
  if (!parseRepoId(trimmed)) {
    const looksLikePath = /^[.~/\\]/.test(trimmed) || trimmed.includes('\\') || trimmed.split('/').length > 2
    throw new AppError(
      'MODEL_UNAVAILABLE',
      looksLikePath
        ? `MODEL=${spec}: no such folder (${local})`
        : `MODEL=${spec} is neither an existing folder nor a Hugging Face repo id (owner/name, e.g. answerdotai/JaColBERTv2.5)`,
    )
  }
  const reporter = opts.onProgress || opts.onStatus || !process.stderr.isTTY ? undefined : createProgressReporter(process.stderr)
  try {
    const result = await pullModel(trimmed, {
      ...opts,
      onProgress: opts.onProgress ?? reporter?.onProgress,
      onStatus: opts.onStatus ?? reporter?.onStatus,
    })
    return result.dir
  } catch (err) {
    if (!isAppError(err)) throw err
    const endpoint = opts.endpoint || process.env.HF_ENDPOINT || DEFAULT_HF_ENDPOINT
    const hint = err.code === 'MODEL_UNAVAILABLE' && (err.details?.reason !== undefined)
      ? ` Set MODEL to a local checkpoint folder (for example one made with \`jacolbert pull ${trimmed}\` on a machine with internet access), or give this machine network access to ${endpoint} (HF_ENDPOINT selects a mirror).`
      : ''
    throw new AppError(err.code, `MODEL=${spec}: ${err.message.replace(/\.$/, '')}.${hint}`, { ...err.details, model: spec }, { cause: err })
  } finally {
    reporter?.finish()
  }
}
