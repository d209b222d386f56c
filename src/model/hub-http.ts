/**
 * HTTP plumbing for Hub downloads on Node's own `fetch`: a deadline for the response headers, redirects followed by
 * hand so that the bearer token never leaves the origin it was meant for, and a classification of failures into
 * "cannot reach the host" (NetworkError), "try again" and "give up".
 */

export const DEFAULT_HF_ENDPOINT = 'https://huggingface.co'
const USER_AGENT = 'jacolbert-server (+node fetch)'

/** The host could not be reached or did not answer in time (DNS, refused, reset, timeout). */
export class NetworkError extends Error {
  readonly url: string
  readonly reason: string
  constructor(url: string, reason: string, options?: { cause?: unknown }) {
    super(`cannot reach ${url} (${reason})`, options)
    this.name = 'NetworkError'
    this.url = url
    this.reason = reason
  }
}

/** An HTTP status the caller did not expect; `retryable` for 5xx and 429. */
export class HttpStatusError extends Error {
  readonly url: string
  readonly status: number
  readonly hubErrorCode: string | undefined
  readonly hubErrorMessage: string | undefined
  readonly retryable: boolean
  constructor(url: string, status: number, headers: Headers, what: string) {
    const hubErrorCode = headers.get('x-error-code') ?? undefined
    const hubErrorMessage = headers.get('x-error-message') ?? undefined
    super(`${what}: HTTP ${status}${hubErrorCode ? ` ${hubErrorCode}` : ''} from ${url}${hubErrorMessage ? ` (${hubErrorMessage})` : ''}`)
    this.name = 'HttpStatusError'
    this.url = url
    this.status = status
    this.hubErrorCode = hubErrorCode
    this.hubErrorMessage = hubErrorMessage
    this.retryable = status >= 500 || status === 429 || status === 408
  }
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'ETIMEDOUT', 'ENETUNREACH', 'EHOSTUNREACH', 'ENETDOWN', 'EHOSTDOWN',
  'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET', 'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED', 'CERT_HAS_EXPIRED', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
])

export interface HttpRequest {
  url: string
  method?: 'GET' | 'HEAD'
  headers?: Record<string, string>
  /** Sent as `Authorization: Bearer` to the request's own origin only, never to a redirect target elsewhere (a CDN). */
  token?: string | undefined
  /** Deadline for the response headers (the body has its own idle timeout, see `readBody`). */
  timeoutMs: number
  /** Follow redirects to another origin (downloads) or stop there and return the 3xx (file metadata). */
  followCrossOrigin: boolean
  signal?: AbortSignal | undefined
}

export interface HttpResponse {
  response: Response
  /** The URL that produced `response` (after same-origin redirects). */
  url: string
  /** Headers of the redirect responses that were followed, in order (the Hub puts file metadata on them). */
  hops: Headers[]
  /** Aborts the transfer (used by the body idle timeout). */
  abort(reason: string): void
}

const REDIRECTS = new Set([301, 302, 303, 307, 308])
const MAX_REDIRECTS = 10

/** One HTTP exchange with redirects followed by hand; throws NetworkError when the host is unreachable. */
export async function httpRequest(req: HttpRequest): Promise<HttpResponse> {
  const controller = new AbortController()
  let abortReason: string | undefined
  const abort = (reason: string): void => {
    abortReason ??= reason
    controller.abort()
  }
  const onOuterAbort = (): void => abort('aborted')
  req.signal?.addEventListener('abort', onOuterAbort, { once: true })
  const timer = setTimeout(() => abort(`no response within ${Math.round(req.timeoutMs / 100) / 10} s`), req.timeoutMs)
  const tokenOrigin = new URL(req.url).origin
  let url = req.url
  const hops: Headers[] = []
  try {
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = { 'accept-encoding': 'identity', 'user-agent': USER_AGENT, ...req.headers }
      if (req.token && new URL(url).origin === tokenOrigin) headers.authorization = `Bearer ${req.token}`
      let response: Response
      try {
        response = await fetch(url, { method: req.method ?? 'GET', headers, redirect: 'manual', signal: controller.signal })
      } catch (err) {
        if (req.signal?.aborted) throw err
        throw toNetworkError(err, url, abortReason)
      }
      const location = response.headers.get('location')
      if (REDIRECTS.has(response.status) && location) {
        const next = new URL(location, url).href
        if (new URL(next).origin !== new URL(url).origin && !req.followCrossOrigin) {
          clearTimeout(timer)
          return { response, url, hops, abort }
        }
        hops.push(response.headers)
        await response.body?.cancel().catch(() => undefined)
        if (hop >= MAX_REDIRECTS) throw new NetworkError(req.url, `more than ${MAX_REDIRECTS} redirects`)
        url = next
        continue
      }
      clearTimeout(timer)
      return { response, url, hops, abort }
    }
  } catch (err) {
    clearTimeout(timer)
    throw err
  } finally {
    req.signal?.removeEventListener('abort', onOuterAbort)
  }
}

/** Turns fetch's `TypeError: fetch failed` (the cause holds the system error) into a NetworkError with a readable reason. */
export function toNetworkError(err: unknown, url: string, abortReason?: string): Error {
  if (err instanceof NetworkError) return err
  if (abortReason) return new NetworkError(url, abortReason, { cause: err })
  const cause = (err as { cause?: { code?: string; message?: string } }).cause
  const code = cause?.code ?? (err as { code?: string }).code
  if (code && NETWORK_CODES.has(code)) return new NetworkError(url, describeCode(code, cause?.message), { cause: err })
  if (err instanceof TypeError) return new NetworkError(url, cause?.message ?? err.message, { cause: err })
  return err instanceof Error ? err : new Error(String(err))
}

function describeCode(code: string, message: string | undefined): string {
  switch (code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return `${code}: the host name does not resolve (offline, or no DNS)`
    case 'ECONNREFUSED':
      return `${code}: connection refused`
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'ETIMEDOUT':
      return `${code}: connection timed out`
    default:
      return message ? `${code}: ${message}` : code
  }
}

/** True for failures worth another try: unreachable host, connection dropped mid-body, 5xx/429. */
export function isRetryable(err: unknown): boolean {
  if (err instanceof NetworkError) return true
  if (err instanceof HttpStatusError) return err.retryable
  return false
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = (): void => {
      clearTimeout(t)
      reject(signal?.reason)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** Backoff before attempt `n` (1-based retries): base·2^(n−1), at most 30 s, with ±25 % jitter. */
export function backoffMs(n: number, baseMs: number): number {
  const raw = Math.min(baseMs * 2 ** (n - 1), 30_000)
  return Math.round(raw * (0.75 + Math.random() * 0.5))
}
