/** Line-by-line stdin processing shared by the `jacolbert` commands that read texts on stdin. */
import { once } from 'node:events'

export interface LineStreamOptions {
  /** Output text for the line `buf[start, end)` (without its '\n'). */
  render: (buf: Buffer, start: number, end: number) => string
  /** Whether a last line without '\n' (never empty) is rendered; by default it is. */
  keepLastLine?: (buf: Buffer) => boolean
}

/**
 * Renders every line of `input` and hands the output to `write`, once per input chunk that completes a line
 * (and once more for a last line without '\n'), so output keeps pace with input without a write per line.
 */
export async function streamLines(
  input: AsyncIterable<Buffer | string> | Iterable<Buffer | string>,
  write: (text: string) => void | Promise<void>,
  { render, keepLastLine = () => true }: LineStreamOptions,
): Promise<void> {
  let pending: Buffer = Buffer.alloc(0)
  for await (const chunk of input) {
    // split on bytes, not decoded text, so a multi-byte character across chunks stays whole
    const buf = pending.length > 0 ? Buffer.concat([pending, Buffer.from(chunk)]) : Buffer.from(chunk)
    let start = 0
    let out = ''
    for (let nl = buf.indexOf(10, start); nl >= 0; nl = buf.indexOf(10, start)) {
      out += render(buf, start, nl)
      start = nl + 1
    }
    pending = buf.subarray(start)
    if (out.length > 0) await write(out)
  }
  if (pending.length > 0 && keepLastLine(pending)) await write(render(pending, 0, pending.length))
}

/** Writes to stdout, waiting for 'drain' when its buffer is full so a large input does not pile up in memory. */
export async function writeStdout(text: string): Promise<void> {
  if (!process.stdout.write(text)) await once(process.stdout, 'drain')
}
