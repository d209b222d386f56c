import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { run, tokenizeStream } from '../../src/cli/tokenize-command.js'
import { loadColbertTokenizer } from '../../src/tokenizer/index.js'
import { dictionaryOnly, GOLDEN_PATH, IPADIC_DIR, REPO_ROOT, sharedOnly, TINY_MODEL_DIR } from '../helpers/shared.js'

interface GoldenCase {
  text: string
  words: string[]
  query: { tokens: string[]; ids: number[]; attention_mask: number[] }
  document: { tokens: string[]; ids: number[]; attention_mask: number[] }
}

const skip = sharedOnly().skip || dictionaryOnly(IPADIC_DIR).skip

function cli(args: string[], input: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), 'tokenize', ...args], {
    input,
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { ...process.env, MECAB_DICDIR: '' },
    maxBuffer: 1 << 26,
  })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

t.test('jacolbert tokenize (spawned) prints the golden layout, one JSON object per line', { skip }, async (t) => {
  const golden = (JSON.parse(readFileSync(GOLDEN_PATH, 'utf8')) as { tokenization: GoldenCase[] }).tokenization
  // the command reads lines, so texts holding a line break cannot be one input line
  const cases = golden.filter((c) => !/[\r\n]/.test(c.text))
  t.ok(cases.length >= 130)
  const input = cases.map((c) => c.text).join('\n') + '\n'
  for (const kind of ['query', 'document'] as const) {
    const r = cli(['--model', TINY_MODEL_DIR, '--dic', IPADIC_DIR, '--kind', kind], input)
    t.equal(r.status, 0, r.stderr)
    const lines = r.stdout.split('\n')
    t.equal(lines.pop(), '', 'output ends with a newline')
    t.equal(lines.length, cases.length, 'one line out per line in')
    let same = 0
    lines.forEach((line, i) => {
      const got = JSON.parse(line) as Record<string, unknown>
      const want = { words: cases[i].words, ...cases[i][kind] }
      t.same(Object.keys(got), ['words', 'tokens', 'ids', 'attention_mask'])
      if (JSON.stringify(got) === JSON.stringify(want)) same++
      else t.same(got, want, cases[i].text.slice(0, 30))
    })
    t.equal(same, cases.length, `${kind}: ${same}/${cases.length} identical`)
  }
})

/** run() in-process with stdout/stderr captured. */
async function runCaptured(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = { stdout: '', stderr: '' }
  const origOut = process.stdout.write.bind(process.stdout)
  const origErr = process.stderr.write.bind(process.stderr)
  process.stdout.write = ((s: string | Uint8Array) => ((out.stdout += String(s)), true)) as typeof process.stdout.write
  process.stderr.write = ((s: string | Uint8Array) => ((out.stderr += String(s)), true)) as typeof process.stderr.write
  try {
    return { code: await run(args), ...out }
  } finally {
    process.stdout.write = origOut
    process.stderr.write = origErr
  }
}

t.test('usage errors exit 2; a bad checkpoint is an AppError naming the file', async (t) => {
  for (const [args, why] of [
    [[], 'no --model'],
    [['--model', 'x', '--kind', 'passage'], 'bad --kind'],
    [['--model', 'x', '--bogus'], 'unknown option'],
    [['--model', 'x', '--dynamic-length'], '--dynamic-length without --kind query'],
  ] as Array<[string[], string]>) {
    const r = await runCaptured(args)
    t.equal(r.code, 2, why)
    t.match(r.stderr, /jacolbert tokenize: /)
  }
  const help = await runCaptured(['--help'])
  t.equal(help.code, 0)
  t.match(help.stdout, /--model DIR/)
  await t.rejects(runCaptured(['--model', '/nonexistent/model', '--dic', IPADIC_DIR]), { code: 'CHECKPOINT_INVALID', message: /vocab\.txt/ })
})

t.test('tokenizeStream: lines split across chunks and inside multi-byte characters, CRLF, no final newline', { skip }, async (t) => {
  const tok = loadColbertTokenizer(TINY_MODEL_DIR, { dicdir: IPADIC_DIR })
  const bytes = Buffer.from('東京都庁は\r\n新宿区\n\nにあります。', 'utf8')
  async function* chunks(): AsyncGenerator<Buffer> {
    for (let i = 0; i < bytes.length; i += 4) yield bytes.subarray(i, i + 4) // 4-byte pieces split 3-byte characters
  }
  let out = ''
  const n = await tokenizeStream(tok, chunks(), (s) => void (out += s), { kind: 'document' })
  t.equal(n, 4)
  const rows = out.trimEnd().split('\n').map((l) => JSON.parse(l) as { words: string[]; tokens: string[] })
  t.same(rows.map((r) => r.words), [['東京', '都庁', 'は'], ['新宿', '区'], [], ['に', 'あり', 'ます', '。']])
  t.same(rows[2].tokens, ['[CLS]', '[unused1]', '[SEP]'])
  let q = ''
  await tokenizeStream(tok, [Buffer.from('何\n')], (s) => void (q += s), { kind: 'query', dynamicLength: true })
  t.equal((JSON.parse(q) as { ids: number[] }).ids.length, 32)
})
