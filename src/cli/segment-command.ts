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
import { createMecabAnalyzer, type MecabAnalyzer } from '../tokenizer/mecab/index.js'
import { parseCommandArgs } from './command-args.js'
import { streamLines, writeStdout } from './line-stream.js'

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
  let lines = 0
  const render = (buf: Buffer, start: number, end: number): string => {
    const nul = buf.subarray(start, end).indexOf(0)
    const stop = nul >= 0 ? start + nul : end
    const words = analyzer.segment(buf.toString('utf8', start, stop))
    lines++
    if (words.length === 0) return '\n'
    return opts.trim ? `${words.join(' ')}\n` : `${words.join(' ')} \n`
  }
  // Like mecab, a last line without '\n' is analysed unless it is empty as a C string.
  await streamLines(input, write, { render, keepLastLine: (last) => last[0] !== 0 })
  return lines
}

export async function run(argv: string[]): Promise<number> {
  const args = parseCommandArgs('segment', argv, { dic: { type: 'string' }, trim: { type: 'boolean' } }, HELP, {
    require: { option: 'dic', env: 'MECAB_DICDIR' },
  })
  if (typeof args === 'number') return args
  const { values, required: dic } = args
  const analyzer = createMecabAnalyzer(dic)
  await segmentStream(analyzer, process.stdin, writeStdout, { trim: values.trim === true })
  return 0
}
