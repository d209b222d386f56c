/**
 * `pullModel`: a JaColBERT checkpoint from the Hugging Face Hub (plain `fetch`, no SDK) into
 * `<cacheDir>/<owner>--<name>/<revision>/`, plus unidic-lite into its `unidic_lite/dicdir/`.
 *
 * Hub protocol (as huggingface_hub and @huggingface/hub use it): `HEAD <endpoint>/<repo>/resolve/<rev>/<file>`
 * answers 200 for a regular file (ETag = git blob sha1) or a 302 to a CDN for an LFS file (X-Linked-Etag = sha256,
 * X-Linked-Size); X-Repo-Commit gives the commit the revision points to, which pins the remaining files. Relative
 * redirects (renamed repos) are followed; the token goes only to the Hub's origin.
 *
 * Atomicity: everything is written into `.incomplete-<revision>/` under a lock file, a `.complete` marker (JSON with
 * files, sizes, sha256, commit) is written last, and the folder is renamed into place in one step, so a folder
 * that exists under its final name is always whole. Interrupted runs resume from the staging folder.
 */
import { existsSync } from 'node:fs'
import { mkdir, open, readFile, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { AppError } from '../errors.js'
import { downloadFile, hashFile, type DownloadProgress, type ExpectedContent, type FileSource } from './hub-file-download.js'
import { backoffMs, DEFAULT_HF_ENDPOINT, HttpStatusError, httpRequest, isRetryable, NetworkError, sleep } from './hub-http.js'
import { acquireLock } from './hub-lock.js'
import { defaultUnidicSource, hasUnidicLite, installUnidicLite, type UnidicSource } from './unidic-lite.js'

export type { DownloadProgress } from './hub-file-download.js'

/** Files a JaColBERT checkpoint needs (see DESIGN.md section 2). */
export const REQUIRED_FILES = ['config.json', 'model.safetensors', 'vocab.txt', 'tokenizer_config.json', 'artifact.metadata'] as const
/** Downloaded when the repository has them. */
export const OPTIONAL_FILES = ['special_tokens_map.json', 'tokenizer.json'] as const

export const COMPLETE_MARKER = '.complete'

export interface PullOptions {
  cacheDir: string
  revision?: string | undefined
  /** Hub base URL; default `HF_ENDPOINT`, else https://huggingface.co. */
  endpoint?: string | undefined
  /** Bearer token for private/gated repos; default `HF_TOKEN`. Never logged. */
  token?: string | undefined
  /** Install unidic-lite (default true), or from this archive. */
  dictionary?: boolean | UnidicSource | undefined
  /** Download again even when a complete copy is cached. */
  force?: boolean | undefined
  files?: { required: readonly string[]; optional: readonly string[] } | undefined
  onProgress?: ((p: DownloadProgress) => void) | undefined
  onStatus?: ((message: string) => void) | undefined
  /** Deadline for the first answer from the Hub; an offline machine fails within it (default 10 s). */
  firstRequestTimeoutMs?: number | undefined
  requestTimeoutMs?: number | undefined
  idleTimeoutMs?: number | undefined
  retries?: number | undefined
  retryBaseMs?: number | undefined
  lockStaleMs?: number | undefined
  signal?: AbortSignal | undefined
}

export interface CompleteMarker {
  format: 1
  repo: string
  revision: string
  commit: string | null
  endpoint: string
  files: Array<{ name: string; size: number; sha256: string }>
  dictionary: { source: string; sha256: string; files: Array<{ name: string; size: number }> } | null
  completedAt: string
}

export interface PullResult {
  dir: string
  /** False when a complete cached copy was used without any request. */
  downloaded: boolean
  marker: CompleteMarker
}

const REPO_PART = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_-])?$/

/** `owner/name` as the Hub spells repo ids, or undefined. */
export function parseRepoId(spec: string): { owner: string; name: string } | undefined {
  const parts = spec.split('/')
  if (parts.length !== 2) return undefined
  const [owner, name] = parts as [string, string]
  const ok = (p: string): boolean => REPO_PART.test(p) && !p.includes('--') && !p.includes('..')
  return ok(owner) && ok(name) ? { owner, name } : undefined
}

function checkRevision(revision: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$/.test(revision) || revision.includes('..') || revision.endsWith('/')) {
    throw new AppError('MODEL_UNAVAILABLE', `revision '${revision}' is not a valid branch, tag or commit name`)
  }
}

/** Folder name of a revision: `main` → `main`, `refs/pr/1` → `refs--pr--1`. */
function revisionDirName(revision: string): string {
  return revision.replace(/\//g, '--')
}

/** Where `pullModel` puts `repo@revision` under `cacheDir`. */
export function modelCacheDir(cacheDir: string, repo: string, revision = 'main'): string {
  const id = parseRepoId(repo)
  if (!id) throw new AppError('MODEL_UNAVAILABLE', `'${repo}' is not a Hugging Face repo id (owner/name)`)
  checkRevision(revision)
  return join(resolve(cacheDir), `${id.owner}--${id.name}`, revisionDirName(revision))
}

/** The `.complete` marker of a pulled folder, if the folder is whole (every listed file present with its size). */
export async function readCompleteMarker(dir: string): Promise<CompleteMarker | undefined> {
  let marker: CompleteMarker
  try {
    marker = JSON.parse(await readFile(join(dir, COMPLETE_MARKER), 'utf8')) as CompleteMarker
  } catch {
    return undefined
  }
  if (marker?.format !== 1 || !Array.isArray(marker.files)) return undefined
  for (const f of marker.files) {
    const s = await stat(join(dir, f.name)).catch(() => undefined)
    if (!s || s.size !== f.size) return undefined
  }
  return marker
}

interface HubFileInfo {
  file: string
  missing: HttpStatusError | undefined
  commit: string | undefined
  downloadUrl: string
  expected: ExpectedContent
}

/** Downloads `repo` (see the module comment); a complete cached copy returns at once without any request. */
export async function pullModel(repo: string, opts: PullOptions): Promise<PullResult> {
  const id = parseRepoId(repo)
  if (!id) throw new AppError('MODEL_UNAVAILABLE', `'${repo}' is not a Hugging Face repo id (expected owner/name, e.g. answerdotai/JaColBERTv2.5)`)
  const revision = opts.revision ?? 'main'
  const finalDir = modelCacheDir(opts.cacheDir, repo, revision)
  const repoDir = resolve(finalDir, '..')
  const revDir = revisionDirName(revision)
  const stagingDir = join(repoDir, `.incomplete-${revDir}`)
  const endpoint = (opts.endpoint || process.env.HF_ENDPOINT || DEFAULT_HF_ENDPOINT).replace(/\/+$/, '')
  const token = opts.token || process.env.HF_TOKEN || undefined
  const dictionary = opts.dictionary === false ? undefined : opts.dictionary === true || opts.dictionary === undefined ? defaultUnidicSource() : opts.dictionary
  const files = opts.files ?? { required: REQUIRED_FILES, optional: OPTIONAL_FILES }
  const retries = opts.retries ?? 4
  const retryBaseMs = opts.retryBaseMs ?? 1000
  const requestTimeoutMs = opts.requestTimeoutMs ?? 30_000
  const idleTimeoutMs = opts.idleTimeoutMs ?? 60_000
  const status = (m: string): void => opts.onStatus?.(m)

  const cached = async (): Promise<PullResult | undefined> => {
    if (opts.force) return undefined
    const marker = await readCompleteMarker(finalDir)
    if (!marker) return undefined
    if (dictionary && !hasUnidicLite(finalDir)) return undefined
    return { dir: finalDir, downloaded: false, marker }
  }
  const hit = await cached()
  if (hit) return hit

  await mkdir(repoDir, { recursive: true })
  const lock = await acquireLock(join(repoDir, `.lock-${revDir}`), {
    staleMs: opts.lockStaleMs,
    signal: opts.signal,
    onWait: () => status(`waiting for another download of ${repo}@${revision} to finish`),
  })
  try {
    const again = await cached() // another process may have finished while we waited
    if (again) return again

    const dictionaryOpts = {
      source: dictionary, retries, retryBaseMs, requestTimeoutMs, idleTimeoutMs,
      onProgress: opts.onProgress, onStatus: opts.onStatus, signal: opts.signal,
    }
    // A complete folder pulled without the dictionary: add it in place (that install is atomic by itself).
    const existing = opts.force ? undefined : await readCompleteMarker(finalDir)
    if (existing && dictionary) {
      const dict = await installUnidicLite(finalDir, dictionaryOpts)
      const marker: CompleteMarker = { ...existing, dictionary: { source: dict.source, sha256: dict.archiveSha256, files: dict.files } }
      await writeMarker(finalDir, marker)
      return { dir: finalDir, downloaded: true, marker }
    }

    const ctx: HubContext = { endpoint, repo, token, signal: opts.signal }
    const [firstFile, ...otherFiles] = [...files.required, ...files.optional]
    if (!firstFile) throw new AppError('MODEL_UNAVAILABLE', 'no files to download')
    status(`resolving ${repo}@${revision} on ${endpoint}`)
    let first: HubFileInfo
    try {
      first = await fetchFileInfo(ctx, revision, firstFile, opts.firstRequestTimeoutMs ?? 10_000)
    } catch (err) {
      throw explain(err, ctx, revision, firstFile, true)
    }
    const pinned = first.commit ?? revision // the remaining files come from the same commit
    await prepareStaging(stagingDir, first.commit)
    if (first.downloadUrl === resolveUrl(ctx, revision, firstFile)) first.downloadUrl = resolveUrl(ctx, pinned, firstFile)
    const downloaded: CompleteMarker['files'] = []
    for (const file of [firstFile, ...otherFiles]) {
      const required = files.required.includes(file)
      try {
        const info = file === firstFile ? first : await withRetries(() => fetchFileInfo(ctx, pinned, file, requestTimeoutMs), retries, retryBaseMs, opts.signal)
        const dest = join(stagingDir, file)
        if (info.missing) {
          if (required) throw info.missing
          await rm(dest, { force: true })
          continue
        }
        const reused = await verifiedExisting(dest, info.expected)
        if (reused) {
          downloaded.push({ name: file, ...reused })
          continue
        }
        const got = await downloadFile({
          name: file,
          destPath: dest,
          resolveSource: async (attempt) => toSource(attempt === 0 ? info : await fetchFileInfo(ctx, pinned, file, requestTimeoutMs), token, endpoint),
          retries, retryBaseMs, requestTimeoutMs, idleTimeoutMs,
          onProgress: opts.onProgress, onStatus: opts.onStatus, signal: opts.signal,
        })
        if (got.resumed) status(`${file}: resumed a partial download`)
        downloaded.push({ name: file, size: got.size, sha256: got.sha256 })
      } catch (err) {
        throw explain(err, ctx, pinned, file, false)
      }
    }

    let dict: CompleteMarker['dictionary'] = null
    if (dictionary) {
      try {
        const d = await installUnidicLite(stagingDir, dictionaryOpts)
        dict = { source: d.source, sha256: d.archiveSha256, files: d.files }
      } catch (err) {
        if (err instanceof NetworkError || err instanceof HttpStatusError) {
          throw new AppError('DOWNLOAD_FAILED', `the unidic-lite dictionary could not be downloaded: ${err.message}. Run again to resume, set UNIDIC_LITE_URL to a reachable copy of the archive, or pass --no-dictionary and set MECAB_DICDIR.`, { url: dictionary.url }, { cause: err })
        }
        throw err
      }
    }

    const marker: CompleteMarker = {
      format: 1, repo, revision, commit: first.commit ?? null, endpoint, files: downloaded, dictionary: dict, completedAt: new Date().toISOString(),
    }
    await rm(join(stagingDir, '.commit'), { force: true })
    await writeMarker(stagingDir, marker)
    if (existsSync(finalDir)) {
      // a forced re-pull or a folder without a valid marker: move it aside first, the rename below must not merge
      const aside = join(repoDir, `.stale-${revDir}-${process.pid}-${Date.now()}`)
      await rename(finalDir, aside)
      await rm(aside, { recursive: true, force: true })
    }
    await rename(stagingDir, finalDir)
    return { dir: finalDir, downloaded: true, marker }
  } finally {
    await lock.release()
    await rmdir(repoDir).catch(() => undefined) // only succeeds when a failed first request left it empty
  }
}

/**
 * Keeps what an interrupted run of the same commit left in the staging folder (finished files are re-verified,
 * `.part` files resumed) and starts afresh when the revision now points to another commit.
 */
async function prepareStaging(stagingDir: string, commit: string | undefined): Promise<void> {
  const stamp = join(stagingDir, '.commit')
  const previous = await readFile(stamp, 'utf8').catch(() => undefined)
  if (previous !== undefined && previous !== (commit ?? '')) await rm(stagingDir, { recursive: true, force: true })
  await mkdir(stagingDir, { recursive: true })
  await writeFile(stamp, commit ?? '')
}

interface HubContext {
  endpoint: string
  repo: string
  token: string | undefined
  signal: AbortSignal | undefined
}

function resolveUrl(ctx: HubContext, revision: string, file: string): string {
  const path = file.split('/').map(encodeURIComponent).join('/')
  return `${ctx.endpoint}/${ctx.repo}/resolve/${encodeURIComponent(revision)}/${path}`
}

/** HEAD on the resolve URL: where to download the file from, its size and hash, and the commit. */
async function fetchFileInfo(ctx: HubContext, revision: string, file: string, timeoutMs: number): Promise<HubFileInfo> {
  const url = resolveUrl(ctx, revision, file)
  const { response, url: answeredUrl, hops } = await httpRequest({ url, method: 'HEAD', token: ctx.token, timeoutMs, followCrossOrigin: false, signal: ctx.signal })
  await response.body?.cancel().catch(() => undefined)
  const all = [...hops, response.headers]
  const header = (name: string): string | undefined => {
    for (const h of all) {
      const v = h.get(name)
      if (v) return v
    }
    return undefined
  }
  if (response.status === 404) return { file, missing: new HttpStatusError(url, 404, response.headers, `${file}`), commit: undefined, downloadUrl: url, expected: {} }
  const isRedirect = response.status >= 300 && response.status < 400
  if (response.status !== 200 && !isRedirect) throw new HttpStatusError(url, response.status, response.headers, `metadata of ${file}`)
  const linkedSize = header('x-linked-size')
  const length = response.status === 200 ? response.headers.get('content-length') : null
  const sizeText = linkedSize ?? length ?? undefined
  const etag = normaliseEtag(header('x-linked-etag') ?? header('etag'))
  const downloadUrl = isRedirect ? new URL(response.headers.get('location')!, answeredUrl).href : answeredUrl
  return {
    file,
    missing: undefined,
    commit: header('x-repo-commit'),
    downloadUrl,
    expected: {
      size: sizeText !== undefined && /^\d+$/.test(sizeText) ? Number(sizeText) : undefined,
      sha256: etag && /^[0-9a-f]{64}$/.test(etag) ? etag : undefined,
      gitSha1: etag && /^[0-9a-f]{40}$/.test(etag) ? etag : undefined,
    },
  }
}

/** `W/"abc"` → `abc`, lower-cased. */
function normaliseEtag(v: string | undefined): string | undefined {
  if (!v) return undefined
  return v.trim().replace(/^W\//i, '').replace(/^"|"$/g, '').toLowerCase()
}

function toSource(info: HubFileInfo, token: string | undefined, endpoint: string): FileSource {
  // the token is for the Hub only; httpRequest also drops it on redirects to another origin
  const sameOrigin = new URL(info.downloadUrl).origin === new URL(endpoint).origin
  return { url: info.downloadUrl, token: sameOrigin ? token : undefined, expected: info.expected }
}

/** A file left by an interrupted run that already matches the Hub's size and hash. */
async function verifiedExisting(path: string, expected: ExpectedContent): Promise<{ size: number; sha256: string } | undefined> {
  if (!existsSync(path) || (expected.sha256 === undefined && expected.gitSha1 === undefined)) return undefined
  const d = await hashFile(path, expected.gitSha1 !== undefined)
  const ok = (expected.size === undefined || d.size === expected.size) &&
    (expected.sha256 === undefined || d.sha256 === expected.sha256) &&
    (expected.gitSha1 === undefined || d.gitSha1 === expected.gitSha1)
  if (!ok) await rm(path, { force: true })
  return ok ? { size: d.size, sha256: d.sha256 } : undefined
}

async function withRetries<T>(fn: () => Promise<T>, retries: number, baseMs: number, signal: AbortSignal | undefined): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn()
    } catch (err) {
      if (!isRetryable(err) || attempt >= retries || signal?.aborted) throw err
      await sleep(backoffMs(attempt + 1, baseMs), signal)
    }
  }
}

/** A user-facing AppError for a failed request (never includes the token). */
function explain(err: unknown, ctx: HubContext, revision: string, file: string, firstRequest: boolean): unknown {
  if (err instanceof AppError) return err
  const where = `${ctx.repo}@${revision}`
  const details = { repo: ctx.repo, revision, file, endpoint: ctx.endpoint }
  if (err instanceof NetworkError) {
    if (firstRequest) {
      return new AppError('MODEL_UNAVAILABLE', `cannot reach the Hugging Face Hub at ${ctx.endpoint} to download ${ctx.repo}: ${err.reason}`, { ...details, reason: err.reason }, { cause: err })
    }
    return new AppError('DOWNLOAD_FAILED', `${where}: downloading ${file} failed: ${err.reason}. Run the same command again to resume.`, { ...details, reason: err.reason }, { cause: err })
  }
  if (err instanceof HttpStatusError) {
    const code = err.hubErrorCode
    const page = `${ctx.endpoint}/${ctx.repo}`
    if (err.status === 401) {
      const msg = ctx.token
        ? `${ctx.endpoint} rejected HF_TOKEN for ${ctx.repo} (HTTP 401${code ? ` ${code}` : ''}): the token is invalid or expired, or the repository does not exist`
        : `${ctx.repo} needs authentication (HTTP 401${code ? ` ${code}` : ''}): it is private or gated, or does not exist. Set HF_TOKEN to a token that can read it (for a gated model, accept its conditions at ${page} first)`
      return new AppError('MODEL_UNAVAILABLE', msg, { ...details, status: 401 }, { cause: err })
    }
    if (err.status === 403) {
      return new AppError('MODEL_UNAVAILABLE', `HF_TOKEN has no access to ${ctx.repo} (HTTP 403${code ? ` ${code}` : ''}): for a gated model, accept its conditions at ${page}`, { ...details, status: 403 }, { cause: err })
    }
    if (err.status === 404) {
      const msg = code === 'RepoNotFound' ? `${ctx.repo} does not exist on ${ctx.endpoint} (or it is private: set HF_TOKEN)`
        : code === 'RevisionNotFound' ? `${ctx.repo} has no revision '${revision}'`
        : `${where} has no ${file}, which a JaColBERT checkpoint needs (HTTP 404${code ? ` ${code}` : ''})`
      return new AppError('MODEL_UNAVAILABLE', msg, { ...details, status: 404 }, { cause: err })
    }
    return new AppError('DOWNLOAD_FAILED', `${where}: ${file}: ${err.message}`, { ...details, status: err.status }, { cause: err })
  }
  return err
}

async function writeMarker(dir: string, marker: CompleteMarker): Promise<void> {
  const tmp = join(dir, `${COMPLETE_MARKER}.tmp`)
  const fh = await open(tmp, 'w')
  try {
    await fh.writeFile(`${JSON.stringify(marker, null, 2)}\n`)
    await fh.sync()
  } finally {
    await fh.close()
  }
  await rename(tmp, join(dir, COMPLETE_MARKER))
}
