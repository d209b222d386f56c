/**
 * `jacolbert tokenize --model DIR [--dic DIR] [--kind query|document] [--dynamic-length]`: the ColBERT tokenisation of
 * each stdin line as one JSON object per line, `{"words", "tokens", "ids", "attention_mask"}`, in the layout of the
 * model's artifact.metadata. Lines end at '\n'; a '\r' before it (CRLF files) is dropped; a last line without '\n'
 * counts; invalid UTF-8 bytes read as U+FFFD.
 */
import { loadColbertTokenizer, type ColbertTokenizer } from '../tokenizer/index.js'
import { parseCommandArgs } from './command-args.js'
import { streamLines, writeStdout } from './line-stream.js'

const HELP = `usage: jacolbert tokenize --model DIR [--dic DIR] [--kind query|document] [--dynamic-length]

Reads lines on stdin and prints, for each, one JSON object:
  {"words": [...], "tokens": [...], "ids": [...], "attention_mask": [...]}
words are the MeCab surfaces after NFKC; tokens/ids/attention_mask follow the ColBERT query or document layout
of the model's artifact.metadata.

options:
  --model DIR         checkpoint folder (vocab.txt, artifact.metadata, tokenizer_config.json)
  --dic DIR           MeCab dictionary folder (default: $MECAB_DICDIR, else DIR/unidic_lite/dicdir)
  --kind KIND         query or document (default: document)
  --dynamic-length    queries: pad to the next multiple of 32 with at least 8 [MASK]s (JaColBERTv2.5)
  -h, --help          show this help
`

export interface TokenizeStreamOptions {
  kind: 'query' | 'document'
  dynamicLength?: boolean
}

/** One output line (with its '\n') for one input line. */
export function tokenizeLine(tokenizer: ColbertTokenizer, line: string, opts: TokenizeStreamOptions): string {
  const r = opts.kind === 'query' ? tokenizer.tokenizeQuery(line, { dynamicLength: opts.dynamicLength }) : tokenizer.tokenizeDocument(line)
  return `${JSON.stringify({ words: r.words, tokens: r.tokens, ids: Array.from(r.ids), attention_mask: Array.from(r.attentionMask) })}\n`
}

/** Tokenises every line of `input`, handing output text to `write` once per input chunk. Returns the line count. */
export async function tokenizeStream(
  tokenizer: ColbertTokenizer,
  input: AsyncIterable<Buffer | string> | Iterable<Buffer | string>,
  write: (text: string) => void | Promise<void>,
  opts: TokenizeStreamOptions,
): Promise<number> {
  let lines = 0
  const render = (buf: Buffer, start: number, end: number): string => {
    if (end > start && buf[end - 1] === 13) end--
    lines++
    return tokenizeLine(tokenizer, buf.toString('utf8', start, end), opts)
  }
  await streamLines(input, write, { render })
  return lines
}

export async function run(argv: string[]): Promise<number> {
  const args = parseCommandArgs(
    'tokenize', argv,
    { model: { type: 'string' }, dic: { type: 'string' }, kind: { type: 'string' }, 'dynamic-length': { type: 'boolean' } },
    HELP, { require: { option: 'model' } },
  )
  if (typeof args === 'number') return args
  const { values, required: model } = args
  const kind = values.kind ?? 'document'
  if (kind !== 'query' && kind !== 'document') {
    process.stderr.write(`jacolbert tokenize: --kind must be query or document, got '${kind}'\n`)
    return 2
  }
  if (values['dynamic-length'] && kind !== 'query') {
    process.stderr.write('jacolbert tokenize: --dynamic-length applies to --kind query only\n')
    return 2
  }
  const dicdir = values.dic ?? (process.env.MECAB_DICDIR || undefined)
  const tokenizer = loadColbertTokenizer(model, { dicdir })
  await tokenizeStream(tokenizer, process.stdin, writeStdout, { kind, dynamicLength: values['dynamic-length'] })
  return 0
}
