/**
 * A progress line on stderr for long commands: `label done/total (pct) rate/s ETA`. On a terminal it redraws one line
 * (at most 10 times a second); otherwise (logs, CI) it prints a line every `intervalMs` and at the end, so a
 * redirected stderr stays readable. Never writes to stdout, which carries the command's output.
 */
export interface Progress {
  /** `worked`: the part of `done` that took work (default all of it); the rate and ETA use it, so items skipped
   * without work (a resumed run) do not inflate the rate. */
  update(done: number, total?: number, worked?: number): void
  /** Prints the final line (always) and stops redrawing. */
  finish(): void
}

export interface ProgressOptions {
  unit?: string
  stream?: NodeJS.WriteStream
  intervalMs?: number
  /** No output at all (--quiet). */
  silent?: boolean
}

function duration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?'
  if (s < 60) return `${Math.round(s)}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
}

export function createProgress(label: string, total: number, opts: ProgressOptions = {}): Progress {
  const stream = opts.stream ?? process.stderr
  const tty = !!stream.isTTY
  const interval = opts.intervalMs ?? (tty ? 100 : 5000)
  const unit = opts.unit ?? 'items'
  const started = performance.now()
  // the first line waits one interval: a rate measured over a few milliseconds means nothing
  let last = started
  let drawnAt = -1
  let done = 0
  let worked = 0
  let finished = false
  const line = (): string => {
    const secs = (performance.now() - started) / 1000
    const rate = secs > 0 ? worked / secs : 0
    const pct = total > 0 ? ` (${((100 * done) / total).toFixed(1)}%)` : ''
    const eta = total > 0 && rate > 0 ? ` ETA ${duration((total - done) / rate)}` : ''
    return `${label} ${done}/${total}${pct} ${rate.toFixed(1)} ${unit}/s${eta} elapsed ${duration(secs)}`
  }
  const draw = (final: boolean): void => {
    if (opts.silent || (final && !tty && drawnAt === done)) return
    drawnAt = done
    if (tty) stream.write(`\r\x1b[2K${line()}${final ? '\n' : ''}`)
    else stream.write(`${line()}\n`)
  }
  return {
    update(d, t, w) {
      done = d
      worked = w ?? d
      if (t !== undefined) total = t
      const now = performance.now()
      if (!finished && now - last >= interval) {
        last = now
        draw(false)
      }
    },
    finish() {
      if (finished) return
      finished = true
      draw(true)
    },
  }
}
