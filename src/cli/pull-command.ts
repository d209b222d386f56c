/** `jacolbert pull <repo-id>`: download a checkpoint from the Hugging Face Hub (and unidic-lite) into the model cache. */
import { isAppError } from '../errors.js'
import { pullModel } from '../model/hub-download.js'
import { createProgressReporter, formatBytes } from '../model/hub-progress.js'
import { parseCommandArgs, usageError } from './command-args.js'

const HELP = `usage: jacolbert pull <repo-id> [options]

Downloads a JaColBERT checkpoint (config.json, model.safetensors, vocab.txt, tokenizer_config.json,
artifact.metadata, and special_tokens_map.json / tokenizer.json when present) from the Hugging Face Hub, and
the unidic-lite MeCab dictionary into <folder>/unidic_lite/dicdir. Interrupted downloads resume; files are
checked against the Hub's sizes and sha256; the folder appears only when complete. Prints the folder.

options:
  --revision REV     branch, tag or commit (default: main; env MODEL_REVISION)
  --cache-dir DIR    model cache (default: env MODEL_CACHE_DIR, else ./models)
  --no-dictionary    skip unidic-lite (then set MECAB_DICDIR when serving)
  --force            download again even when a complete copy is cached
  -h, --help         this text

environment: HF_ENDPOINT (Hub URL, default https://huggingface.co), HF_TOKEN (for private or gated repos),
UNIDIC_LITE_URL / UNIDIC_LITE_SHA256 (another copy of the dictionary archive).
`

export async function run(argv: string[]): Promise<number> {
  const args = parseCommandArgs('pull', argv, {
    revision: { type: 'string' },
    'cache-dir': { type: 'string' },
    'no-dictionary': { type: 'boolean', default: false },
    force: { type: 'boolean', default: false },
  }, HELP, { positionals: true })
  if (typeof args === 'number') return args
  const { values, positionals } = args
  if (positionals.length !== 1) return usageError('pull', `expected one repo id, got ${positionals.length}`, HELP)
  const repo = positionals[0]!
  const reporter = createProgressReporter(process.stderr)
  try {
    const result = await pullModel(repo, {
      cacheDir: values['cache-dir'] ?? process.env.MODEL_CACHE_DIR ?? './models',
      revision: values.revision ?? process.env.MODEL_REVISION ?? 'main',
      dictionary: !values['no-dictionary'],
      force: values.force,
      onProgress: reporter.onProgress,
      onStatus: reporter.onStatus,
    })
    reporter.finish()
    const bytes = result.marker.files.reduce((s, f) => s + f.size, 0)
    const commit = result.marker.commit ? ` (commit ${result.marker.commit})` : ''
    process.stderr.write(result.downloaded
      ? `pulled ${repo}@${result.marker.revision}${commit}: ${result.marker.files.length} files, ${formatBytes(bytes)}${result.marker.dictionary ? ' + unidic-lite' : ''}\n`
      : `${repo}@${result.marker.revision}${commit} is already complete in the cache\n`)
    process.stdout.write(`${result.dir}\n`)
    return 0
  } catch (err) {
    if (isAppError(err) && err.code === 'MODEL_UNAVAILABLE' && err.details?.reason !== undefined) {
      reporter.finish()
      process.stderr.write(`jacolbert pull: [${err.code}] ${err.message}. Check this machine's network access, or set HF_ENDPOINT to a reachable mirror.\n`)
      return 1
    }
    throw err
  } finally {
    reporter.finish()
  }
}
