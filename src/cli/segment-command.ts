/**
 * `jacolbert segment --dic DIR`: MeCab word segmentation of stdin lines, printed as `mecab -Owakati -d DIR`
 * prints them: each word followed by one space, then '\n' (byte-identical output; `--trim` drops the
 * space before '\n').
 *
 * Line handling follows the mecab command: lines end at '\n' (a '\r' stays in the line), a final line
 * without '\n' is still analysed, and a line ends at its first NUL byte (MeCab reads C strings). One
 * deliberate difference: MeCab splits lines longer than its input buffer (8191 bytes unless `-b`);
 * we never split, so our output equals `mecab -b 5242880` for lines up to that size. Invalid UTF-8
 * input bytes are read as U+FFFD.
 */
import { parseArgs } from 'node:util'
import { createMecabAnalyzer, type MecabAnalyzer } from '../tokenizer/mecab/index.js'

const HELP = `usage: jacolbert segment --dic DIR [--trim]

Reads lines on stdin and prints each line's words (MeCab surfaces) separated by spaces, exactly as
'mecab -Owakati -d DIR' prints them (every word followed by a space).

options:
  --dic DIR   MeCab dictionary folder compiled by mecab-dict-index (default: $MECAB_DICDIR)
  --trim      drop the space after the last word of each line
  -h, --help  show this help
`

/** Segments every line of `input` and hands the output text to `write` (one call per input chunk). */
export async function segmentStream(
  analyzer: MecabAnalyzer,
  input: AsyncIterable<Buffer | string>,
  write: (text: string) => void | Promise<void>,
  opts: { trim?: boolean } = {},
): Promise<number> {
  let pending: Buffer = Buffer.alloc(0)
  let lines = 0
  const lineText = (buf: Buffer, start: number, end: number): string => {
    const nul = buf.subarray(start, end).indexOf(0)
    const stop = nul >= 0 ? start + nul : end
    const words = analyzer.segment(buf.toString('utf8', start, stop))
    lines++
    if (words.length === 0) return '\n'
    return opts.trim ? `${words.join(' ')}\n` : `${words.join(' ')} \n`
  }
  for await (const chunk of input) {
    const buf = pending.length > 0 ? Buffer.concat([pending, Buffer.from(chunk)]) : Buffer.from(chunk)
    let start = 0
    let out = ''
    for (let nl = buf.indexOf(10, start); nl >= 0; nl = buf.indexOf(10, start)) {
      out += lineText(buf, start, nl)
      start = nl + 1
    }
    pending = buf.subarray(start)
    if (out.length > 0) await write(out)
  }
  // Like mecab, a last line without '\n' is analysed unless it is empty as a C string.
  if (pending.length > 0 && pending[0] !== 0) await write(lineText(pending, 0, pending.length))
  return lines
}

function writeStdout(text: string): Promise<void> | void {
  if (process.stdout.write(text)) return
  return new Promise((resolve) => process.stdout.once('drain', () => resolve()))
}

export async function run(argv: string[]): Promise<number> {
  let values: { dic?: string; trim?: boolean; help?: boolean }
  try {
    ;({ values } = parseArgs({
      args: argv,
      options: { dic: { type: 'string' }, trim: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }))
  } catch (err) {
    process.stderr.write(`jacolbert segment: ${(err as Error).message}\n\n${HELP}`)
    return 2
  }
  if (values.help) {
    process.stdout.write(HELP)
    return 0
  }
  const dic = values.dic ?? process.env.MECAB_DICDIR
  if (!dic) {
    process.stderr.write(`jacolbert segment: --dic DIR is required (or set MECAB_DICDIR)\n\n${HELP}`)
    return 2
  }
  const analyzer = createMecabAnalyzer(dic)
  await segmentStream(analyzer, process.stdin, writeStdout, { trim: values.trim === true })
  return 0
}
