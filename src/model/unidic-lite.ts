/**
 * The unidic-lite MeCab dictionary that JaColBERT's tokenizer config names (`mecab_dic: unidic_lite`).
 * PyPI ships unidic-lite 1.0.8 as a source tarball only (no wheel); its `unidic_lite/dicdir/` is a compiled MeCab
 * dictionary. We download the archive (resumable, sha256-checked), unpack that folder to
 * `<modelDir>/unidic_lite/dicdir/` (where `loadColbertTokenizer` looks) and rename it into place only when whole.
 * A wheel (zip) from `UNIDIC_LITE_URL` works too.
 */
import { existsSync } from 'node:fs'
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { AppError } from '../errors.js'
import { downloadFile, type DownloadProgress } from './hub-file-download.js'
import { extractTar } from './tar-reader.js'
import { extractZip, type ExtractedEntry } from './zip-reader.js'

/** unidic-lite 1.0.8 on PyPI: the only file of that release is this sdist (47,356,746 bytes). */
export const UNIDIC_LITE_1_0_8 = {
  url: 'https://files.pythonhosted.org/packages/55/2b/8cf7514cb57d028abcef625afa847d60ff1ffbf0049c36b78faa7c35046f/unidic-lite-1.0.8.tar.gz',
  sha256: 'db9d4572d9fdd4d00a97949d4b0741ec480ee05a7e7e2e32f547500dae27b245',
  size: 47_356_746,
} as const

/** Files a MeCab dictionary folder cannot work without. */
export const DICDIR_REQUIRED_FILES = ['sys.dic', 'matrix.bin', 'char.bin', 'unk.dic', 'dicrc'] as const

export interface UnidicSource {
  url: string
  /** Hex sha256 of the archive; without it only the size (when known) is checked. */
  sha256?: string | undefined
  size?: number | undefined
}

/** The archive to use: `UNIDIC_LITE_URL` (with `UNIDIC_LITE_SHA256` if given) or unidic-lite 1.0.8 from PyPI. */
export function defaultUnidicSource(env: NodeJS.ProcessEnv = process.env): UnidicSource {
  const url = env.UNIDIC_LITE_URL?.trim()
  const sha256 = env.UNIDIC_LITE_SHA256?.trim().toLowerCase() || undefined
  if (url && url !== UNIDIC_LITE_1_0_8.url) return { url, sha256 }
  return { ...UNIDIC_LITE_1_0_8, sha256: sha256 ?? UNIDIC_LITE_1_0_8.sha256 }
}

export function unidicDicdir(modelDir: string): string {
  return join(modelDir, 'unidic_lite', 'dicdir')
}

export function hasUnidicLite(modelDir: string): boolean {
  const dir = unidicDicdir(modelDir)
  return DICDIR_REQUIRED_FILES.every((f) => existsSync(join(dir, f)))
}

export interface InstallUnidicOptions {
  source?: UnidicSource | undefined
  retries?: number
  retryBaseMs?: number
  requestTimeoutMs?: number
  idleTimeoutMs?: number
  onProgress?: ((p: DownloadProgress) => void) | undefined
  onStatus?: ((message: string) => void) | undefined
  signal?: AbortSignal | undefined
}

export interface InstalledDictionary {
  dir: string
  source: string
  archiveSha256: string
  files: Array<{ name: string; size: number }>
}

/**
 * Downloads and unpacks unidic-lite into `<modelDir>/unidic_lite/dicdir` unless it is already there.
 * The caller serialises concurrent installs into the same folder (the model lock).
 */
export async function installUnidicLite(modelDir: string, opts: InstallUnidicOptions = {}): Promise<InstalledDictionary> {
  const source = opts.source ?? defaultUnidicSource()
  const base = join(modelDir, 'unidic_lite')
  const finalDir = unidicDicdir(modelDir)
  const stagingDir = join(base, '.incomplete-dicdir')
  const archiveName = basename(new URL(source.url).pathname) || 'unidic-lite-archive'
  const archivePath = join(base, `.${archiveName}`)
  const stampPath = join(base, '.installed.json')
  if (hasUnidicLite(modelDir)) {
    // installed by an earlier (possibly interrupted) run: the folder only ever appears whole
    const stamp = await readFile(stampPath, 'utf8').then((s) => JSON.parse(s) as InstalledDictionary, () => undefined)
    if (stamp?.source === source.url && (source.sha256 === undefined || stamp.archiveSha256 === source.sha256)) return { ...stamp, dir: finalDir }
  }
  await mkdir(base, { recursive: true })

  const archive = await downloadFile({
    name: archiveName,
    destPath: archivePath,
    resolveSource: async () => ({ url: source.url, expected: { size: source.size, sha256: source.sha256 } }),
    retries: opts.retries ?? 4,
    retryBaseMs: opts.retryBaseMs ?? 1000,
    requestTimeoutMs: opts.requestTimeoutMs ?? 30_000,
    idleTimeoutMs: opts.idleTimeoutMs ?? 60_000,
    onProgress: opts.onProgress,
    onStatus: opts.onStatus,
    signal: opts.signal,
  })

  opts.onStatus?.(`unpacking ${archiveName}`)
  await rm(stagingDir, { recursive: true, force: true })
  await mkdir(stagingDir, { recursive: true })
  const extracted = (await isZip(archivePath))
    ? await extractZip(archivePath, stagingDir, selectDicdirEntry)
    : await extractTar(archivePath, stagingDir, selectDicdirEntry)
  const names = new Set(extracted.map((e) => relName(e)))
  const missing = DICDIR_REQUIRED_FILES.filter((f) => !names.has(f))
  if (missing.length > 0) {
    await rm(stagingDir, { recursive: true, force: true })
    throw new AppError(
      'DICTIONARY_INVALID',
      `${source.url} has no unidic_lite/dicdir/{${missing.join(',')}}: not a unidic-lite archive (set UNIDIC_LITE_URL to one, or MECAB_DICDIR to a dictionary folder)`,
    )
  }
  await rm(finalDir, { recursive: true, force: true })
  await rename(stagingDir, finalDir)
  await rm(archivePath, { force: true })
  const installed: InstalledDictionary = {
    dir: finalDir,
    source: source.url,
    archiveSha256: archive.sha256,
    files: extracted.map((e) => ({ name: relName(e), size: e.size })).sort((a, b) => a.name.localeCompare(b.name)),
  }
  await writeFile(stampPath, `${JSON.stringify(installed, null, 2)}\n`)
  return installed
}

const DICDIR_MARK = 'unidic_lite/dicdir/'

/** `unidic-lite-1.0.8/unidic_lite/dicdir/sys.dic` (sdist) or `unidic_lite/dicdir/sys.dic` (wheel) → `sys.dic`. */
export function selectDicdirEntry(name: string): string | undefined {
  const i = name.indexOf(DICDIR_MARK)
  if (i < 0 || (i > 0 && name[i - 1] !== '/')) return undefined
  if (name.slice(0, i).split('/').length > 2) return undefined // only the package's own folder, one level deep at most
  const rel = name.slice(i + DICDIR_MARK.length)
  return rel === '' ? undefined : rel
}

function relName(e: ExtractedEntry): string {
  return selectDicdirEntry(e.name) ?? e.name
}

async function isZip(path: string): Promise<boolean> {
  const fh = await open(path, 'r')
  try {
    const b = Buffer.alloc(4)
    await fh.read(b, 0, 4, 0)
    return b.readUInt32LE(0) === 0x04034b50
  } finally {
    await fh.close()
  }
}
