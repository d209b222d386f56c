/**
 * One resumable, verified file download: bytes go to `<dest>.part`, a retry continues with an HTTP Range request
 * (or starts over when the server ignores Range), and only a file whose size and content hash match what the
 * server announced is renamed to its final name. A corrupt file is deleted, downloaded once more, then refused.
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { open, rename, rm, stat } from 'node:fs/promises'
import { AppError } from '../errors.js'
import { backoffMs, HttpStatusError, httpRequest, isRetryable, NetworkError, sleep, toNetworkError } from './hub-http.js'

export interface DownloadProgress {
  file: string
  bytes: number
  total: number | undefined
}

/** What the server says the file is; any field may be unknown. */
export interface ExpectedContent {
  size?: number | undefined
  /** Hex sha256 (the Hub's ETag of LFS files). */
  sha256?: string | undefined
  /** Hex git blob sha1 (the Hub's ETag of regular files). */
  gitSha1?: string | undefined
}

export interface FileSource {
  url: string
  token?: string | undefined
  expected: ExpectedContent
}

export interface DownloadFileOptions {
  /** Shown in progress reports and errors. */
  name: string
  destPath: string
  /** Where to download the file from; asked again before each retry (signed CDN links expire). */
  resolveSource: (attempt: number) => Promise<FileSource>
  retries: number
  retryBaseMs: number
  requestTimeoutMs: number
  /** Abort and resume when no body bytes arrive for this long. */
  idleTimeoutMs: number
  onProgress?: ((p: DownloadProgress) => void) | undefined
  onStatus?: ((message: string) => void) | undefined
  signal?: AbortSignal | undefined
}

export interface DownloadedFile {
  name: string
  size: number
  sha256: string
  /** True when a previous partial download was continued. */
  resumed: boolean
}

class CorruptDownloadError extends Error {}

const WRITE_BATCH_BYTES = 1 << 20
/** Hard stop for retries that keep making progress. */
const MAX_TRIES = 100

/** Downloads (or resumes) one file; see the module comment. Cost: one pass over the network, one over the disk to hash. */
export async function downloadFile(opts: DownloadFileOptions): Promise<DownloadedFile> {
  const partPath = `${opts.destPath}.part`
  let attempt = 0
  let corruptRetries = 1
  let resumed = false
  let tries = 0
  for (;;) {
    const sizeBefore = await sizeOf(partPath)
    try {
      const source = await opts.resolveSource(attempt)
      resumed = (await transfer(opts, source, partPath)) || resumed
      const digest = await hashFile(partPath, source.expected.gitSha1 !== undefined)
      const { size, sha256, gitSha1 } = source.expected
      if (size !== undefined && digest.size < size) throw new NetworkError(source.url, `connection closed after ${digest.size} of ${size} bytes`)
      if (size !== undefined && digest.size > size) throw new CorruptDownloadError(`${digest.size} bytes where the server announced ${size}`)
      if (sha256 !== undefined && digest.sha256 !== sha256) throw new CorruptDownloadError(`sha256 ${digest.sha256} does not match the expected ${sha256}`)
      if (gitSha1 !== undefined && digest.gitSha1 !== gitSha1) throw new CorruptDownloadError(`git blob sha1 ${digest.gitSha1} does not match the expected ${gitSha1}`)
      await rename(partPath, opts.destPath)
      return { name: opts.name, size: digest.size, sha256: digest.sha256, resumed }
    } catch (err) {
      if (opts.signal?.aborted) throw err
      if (err instanceof CorruptDownloadError) {
        await rm(partPath, { force: true })
        if (corruptRetries-- > 0) {
          opts.onStatus?.(`${opts.name}: ${err.message}; deleted it, downloading again`)
          continue
        }
        throw new AppError('DOWNLOAD_FAILED', `${opts.name} is corrupt after two downloads: ${err.message}. The partial file was deleted; try again later.`)
      }
      // a try that moved the download forward does not use up a retry (a long file on a flaky line still finishes)
      if (opts.retries > 0 && (await sizeOf(partPath)) > sizeBefore) attempt = 0
      if (isRetryable(err) && attempt < opts.retries && ++tries <= MAX_TRIES) {
        attempt++
        const wait = backoffMs(attempt, opts.retryBaseMs)
        opts.onStatus?.(`${opts.name}: ${(err as Error).message}; retry ${attempt}/${opts.retries} in ${(wait / 1000).toFixed(1)} s`)
        await sleep(wait, opts.signal)
        continue
      }
      throw err
    }
  }
}

/** Brings `partPath` to the whole file; returns true when it continued existing bytes. */
async function transfer(opts: DownloadFileOptions, source: FileSource, partPath: string): Promise<boolean> {
  const expectedSize = source.expected.size
  let have = await sizeOf(partPath)
  if (expectedSize !== undefined && have > expectedSize) {
    await rm(partPath, { force: true })
    have = 0
  }
  if (expectedSize !== undefined && have === expectedSize) return have > 0 // a finished .part from an interrupted run
  const headers: Record<string, string> = have > 0 ? { range: `bytes=${have}-` } : {}
  const { response, url, abort } = await httpRequest({
    url: source.url, token: source.token, headers, timeoutMs: opts.requestTimeoutMs, followCrossOrigin: true, signal: opts.signal,
  })
  let append = false
  let total = expectedSize
  if (response.status === 206 && have > 0) {
    const range = parseContentRange(response.headers.get('content-range'))
    if (!range || range.start !== have) {
      await response.body?.cancel().catch(() => undefined)
      await rm(partPath, { force: true })
      throw new NetworkError(url, `asked for bytes ${have}- and got ${response.headers.get('content-range') ?? 'no Content-Range'}; starting over`)
    }
    append = true
    total ??= range.total
    if (range.total !== undefined && expectedSize !== undefined && range.total !== expectedSize) {
      await response.body?.cancel().catch(() => undefined)
      throw new CorruptDownloadError(`the server now has ${range.total} bytes where ${expectedSize} were announced`)
    }
  } else if (response.status === 200) {
    have = 0 // the server ignored Range (or we asked for none): start from the first byte
    const length = contentLength(response)
    total ??= length
    if (length !== undefined && expectedSize !== undefined && length !== expectedSize) {
      await response.body?.cancel().catch(() => undefined)
      throw new CorruptDownloadError(`the server sends ${length} bytes where ${expectedSize} were announced`)
    }
  } else if (response.status === 416 && have > 0) {
    await response.body?.cancel().catch(() => undefined)
    const range = parseContentRange(response.headers.get('content-range'))
    if (range?.total === have) return true
    await rm(partPath, { force: true })
    throw new NetworkError(url, `range ${have}- not satisfiable; starting over`)
  } else {
    await response.body?.cancel().catch(() => undefined)
    throw new HttpStatusError(url, response.status, response.headers, `download of ${opts.name}`)
  }

  const fh = await open(partPath, append ? 'a' : 'w')
  let received = 0
  let idle = false
  let timer: NodeJS.Timeout | undefined
  const arm = (): void => {
    clearTimeout(timer)
    timer = setTimeout(() => {
      idle = true
      abort(`no data for ${opts.idleTimeoutMs / 1000} s`)
    }, opts.idleTimeoutMs)
  }
  try {
    arm()
    opts.onProgress?.({ file: opts.name, bytes: have, total })
    if (response.body) {
      // fetch yields ~16-64 KiB chunks; writing them in 1 MiB batches halves the syscalls and awaits
      let batch: Uint8Array[] = []
      let batched = 0
      const flush = async (): Promise<void> => {
        if (batched === 0) return
        const buf = batch.length === 1 ? batch[0]! : Buffer.concat(batch, batched)
        let off = 0
        while (off < buf.length) off += (await fh.write(buf, off, buf.length - off)).bytesWritten
        received += batched
        batch = []
        batched = 0
        opts.onProgress?.({ file: opts.name, bytes: have + received, total })
      }
      try {
        for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
          arm()
          batch.push(chunk)
          batched += chunk.length
          if (batched >= WRITE_BATCH_BYTES) await flush()
        }
      } finally {
        await flush() // keep every byte that arrived, also when the connection broke: the next try resumes after it
      }
    }
  } catch (err) {
    if (opts.signal?.aborted) throw err
    throw toNetworkError(err, url, idle ? `no data for ${opts.idleTimeoutMs / 1000} s` : `transfer interrupted after ${have + received} bytes`)
  } finally {
    clearTimeout(timer)
    await fh.close()
  }
  return append
}

function contentLength(response: Response): number | undefined {
  const v = response.headers.get('content-length')
  if (v === null || !/^\d+$/.test(v)) return undefined
  return Number(v)
}

function parseContentRange(v: string | null): { start: number; end: number; total: number | undefined } | undefined {
  const m = v ? /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(v.trim()) : null
  if (m) return { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? undefined : Number(m[3]) }
  const unsatisfied = v ? /^bytes\s+\*\/(\d+)$/i.exec(v.trim()) : null
  if (unsatisfied) return { start: -1, end: -1, total: Number(unsatisfied[1]) }
  return undefined
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size
  } catch {
    return 0
  }
}

/** sha256 of a file, and its git blob sha1 (sha1 of `blob <size>\0` + content) when asked. One read pass. */
export async function hashFile(path: string, withGitSha1 = false): Promise<{ size: number; sha256: string; gitSha1: string | undefined }> {
  const { size } = await stat(path)
  const sha256 = createHash('sha256')
  const sha1 = withGitSha1 ? createHash('sha1').update(`blob ${size}\0`) : undefined
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    sha256.update(chunk)
    sha1?.update(chunk)
  }
  return { size, sha256: sha256.digest('hex'), gitSha1: sha1?.digest('hex') }
}
