/**
 * One line for a failed start: the error's code, its cause said once, and the fix. Errors here wrap their causes
 * (AppError { cause }), and a wrapper's message usually quotes its cause already; printing the chain the way loggers do
 * (pino joins every cause's message onto the top one) repeats the same cause several times. So: the top message, then
 * the causes it does not already quote, then the fix for the kinds of failure an operator can fix.
 */
import type { Config } from './config.js'
import { isAppError } from './errors.js'

export interface StartupFailure {
  /** The AppError code, or the system error code (EADDRINUSE), or 'INTERNAL_ERROR'. */
  code: string
  /** `[CODE] cause. Fix.` on one line. */
  text: string
}

interface SystemError extends Error {
  code?: string
  syscall?: string
  address?: string
  port?: number
  path?: string
}

/**
 * The top message, then each cause's message until one is already contained in what was said: a wrapper that quotes
 * its cause has explained it (and the cause's own causes, which that message summarised in turn).
 */
export function causeOnce(err: unknown): string {
  const parts: string[] = []
  let said = ''
  const seen = new Set<unknown>()
  for (let e: unknown = err; e !== undefined && e !== null && !seen.has(e); e = (e as { cause?: unknown }).cause) {
    seen.add(e)
    const msg = (e instanceof Error ? e.message : String(e)).trim().replace(/\.$/, '')
    if (!msg) continue
    if (said.includes(msg)) break
    parts.push(msg)
    said += ` ${msg}`
  }
  return parts.join(': ')
}

/** The fix for failures an operator can fix, unless the message already says it. */
function fixFor(err: unknown, config: Config | undefined): string | undefined {
  const e = err as SystemError
  if (isAppError(err)) {
    if (err.code === 'DICTIONARY_INVALID' && config?.mecabDicdir) {
      return `Set MECAB_DICDIR to a MeCab dictionary folder compiled by mecab-dict-index (sys.dic, matrix.bin, char.bin, unk.dic, dicrc), or unset it to use the model's own unidic-lite (now MECAB_DICDIR=${config.mecabDicdir})`
    }
    return undefined
  }
  const where = e.address !== undefined ? `${e.address}:${e.port}` : undefined
  if (e.syscall === 'listen' && e.code === 'EADDRINUSE') return `Another process listens on ${where}: stop it, or set PORT (--port) to a free port`
  if (e.syscall === 'listen' && e.code === 'EACCES') return `Ports below 1024 need privileges: set PORT (--port) to 1024 or above`
  if (e.syscall === 'listen' && e.code === 'EADDRNOTAVAIL') return `HOST=${e.address} is not an address of this machine: set HOST to 0.0.0.0 (every interface) or one of its addresses`
  if ((e.code === 'EACCES' || e.code === 'EPERM' || e.code === 'EROFS') && e.path) {
    return `Make ${e.path} writable by this user (uid ${process.getuid?.() ?? '?'}), or point DATA_DIR / MODEL_CACHE_DIR at a writable folder`
  }
  if (e.code === 'ENOSPC') return 'Free disk space where DATA_DIR and MODEL_CACHE_DIR live'
  return undefined
}

function plainMessage(err: unknown): string {
  const e = err as SystemError
  if (e?.syscall === 'listen' && e.address !== undefined) {
    const why = e.code === 'EADDRINUSE' ? 'the address is already in use' : e.code === 'EACCES' ? 'permission denied' : e.code === 'EADDRNOTAVAIL' ? 'the address is not available' : e.code
    return `cannot listen on ${e.address}:${e.port}: ${why}`
  }
  return causeOnce(err)
}

export function describeStartupError(err: unknown, config?: Config): StartupFailure {
  const code = isAppError(err) ? err.code : typeof (err as SystemError)?.code === 'string' ? (err as SystemError).code! : 'INTERNAL_ERROR'
  const message = plainMessage(err)
  const fix = fixFor(err, config)
  const text = `[${code}] ${message}${/[.!?]$/.test(message) ? '' : '.'}${fix && !message.includes(fix) ? ` ${fix}.` : ''}`
  return { code, text }
}
