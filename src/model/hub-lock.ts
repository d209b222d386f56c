/**
 * A lock file so that two pulls of the same model (two processes, two pods on a shared volume, or two calls in one
 * process) never write the same staging folder. The holder refreshes the file's mtime; a lock that has not been
 * refreshed for `staleMs` belongs to a dead process and is taken over. Host-independent (no pid checks).
 */
import { mkdir, open, readFile, rm, stat, utimes } from 'node:fs/promises'
import { dirname } from 'node:path'
import { hostname } from 'node:os'
import { AppError } from '../errors.js'
import { sleep } from './hub-http.js'

export interface LockOptions {
  staleMs?: number
  pollMs?: number
  /** Give up waiting after this long (default: wait as long as the holder stays alive). */
  waitTimeoutMs?: number
  onWait?: (holder: string) => void
  signal?: AbortSignal | undefined
}

export interface HeldLock {
  release(): Promise<void>
}

/** Acquires `path` (creating it exclusively); waits while a live holder refreshes it. */
export async function acquireLock(path: string, opts: LockOptions = {}): Promise<HeldLock> {
  const staleMs = opts.staleMs ?? 30_000
  const pollMs = opts.pollMs ?? 250
  const started = Date.now()
  let announced = false
  for (;;) {
    try {
      const fh = await open(path, 'wx')
      await fh.writeFile(JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() }))
      await fh.close()
      return holdLock(path, staleMs)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ENOENT') {
        await mkdir(dirname(path), { recursive: true }) // removed by a failed pull that cleaned up after itself
        continue
      }
      if (code !== 'EEXIST') throw err
    }
    const age = await lockAge(path)
    if (age !== undefined && age > staleMs) {
      await rm(path, { force: true }) // the holder stopped refreshing: it is gone
      continue
    }
    if (!announced) {
      announced = true
      opts.onWait?.(await readFile(path, 'utf8').catch(() => 'another process'))
    }
    if (opts.waitTimeoutMs !== undefined && Date.now() - started > opts.waitTimeoutMs) {
      throw new AppError('MODEL_UNAVAILABLE', `timed out waiting for the lock ${path} held by another download`)
    }
    await sleep(pollMs, opts.signal)
  }
}

function holdLock(path: string, staleMs: number): HeldLock {
  const refresh = setInterval(() => {
    const now = new Date()
    utimes(path, now, now).catch(() => undefined)
  }, Math.max(50, Math.floor(staleMs / 4)))
  refresh.unref()
  let released = false
  return {
    async release() {
      if (released) return
      released = true
      clearInterval(refresh)
      await rm(path, { force: true })
    },
  }
}

async function lockAge(path: string): Promise<number | undefined> {
  try {
    return Date.now() - (await stat(path)).mtimeMs
  } catch {
    return undefined
  }
}
