/**
 * Download progress for people: on a terminal one line redrawn in place (file, bytes, percent, speed), at most
 * ten times a second; elsewhere (logs, CI) one line when a file starts and one when it ends.
 */
import type { DownloadProgress } from './hub-file-download.js'

export interface ProgressReporter {
  onProgress(p: DownloadProgress): void
  onStatus(message: string): void
  /** Ends the in-place line. */
  finish(): void
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let v = n / 1024
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`
}

export function createProgressReporter(stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number } = process.stderr): ProgressReporter {
  const tty = stream.isTTY === true
  let current: string | undefined
  let startedAt = 0
  let startBytes = 0
  let lastDraw = 0
  let lineOpen = false
  const endLine = (): void => {
    if (lineOpen) stream.write('\n')
    lineOpen = false
  }
  return {
    onProgress(p) {
      const now = Date.now()
      if (p.file !== current) {
        endLine()
        current = p.file
        startedAt = now
        startBytes = p.bytes
        lastDraw = 0
        if (!tty) stream.write(`downloading ${p.file}${p.total !== undefined ? ` (${formatBytes(p.total)})` : ''}${p.bytes > 0 ? `, resuming at ${formatBytes(p.bytes)}` : ''}\n`)
      }
      const done = p.total !== undefined && p.bytes >= p.total
      if (!tty) {
        if (done) stream.write(`downloaded ${p.file}\n`)
        return
      }
      if (!done && now - lastDraw < 100) return
      lastDraw = now
      const secs = Math.max((now - startedAt) / 1000, 1e-3)
      const rate = (p.bytes - startBytes) / secs
      const pct = p.total ? ` ${((100 * p.bytes) / p.total).toFixed(1).padStart(5)}%` : ''
      const line = `${p.file}  ${formatBytes(p.bytes)}${p.total !== undefined ? ` / ${formatBytes(p.total)}` : ''}${pct}  ${formatBytes(Math.round(rate))}/s`
      const width = (stream.columns ?? 100) - 1
      stream.write(`\r\x1b[K${line.slice(0, width)}`)
      lineOpen = true
      if (done) endLine()
    },
    onStatus(message) {
      endLine()
      stream.write(`${message}\n`)
    },
    finish: endLine,
  }
}
