/**
 * `jacolbert segment --dic DIR` prints byte-for-byte what `mecab -Owakati -d DIR` prints for the same stdin
 * (empty lines, CR, a NUL inside a line, a last line without '\n', chunk boundaries inside lines and chars).
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { createMecabAnalyzer } from '../../src/tokenizer/mecab/index.js'
import { segmentStream } from '../../src/cli/segment-command.js'
import { IPADIC_DIR, REPO_ROOT, dictionaryOnly, hasMecabCommand } from '../helpers/shared.js'

const input = Buffer.from('今日は良い天気です\n\n  東京 \r\nabc\0def\n絵文字😀を含む文 🎌\tｶﾀｶﾅ\n' + 'すもももももももものうち。'.repeat(50) + '\nlast line without newline')

function needs(): { skip: string | false } {
  if (!hasMecabCommand()) return { skip: 'the mecab command is not installed (apt-get install -y mecab)' }
  return dictionaryOnly(IPADIC_DIR)
}

t.test('segmentStream output equals the mecab command, whatever the chunking', needs(), async (t) => {
  const expected = spawnSync('mecab', ['-Owakati', '-d', IPADIC_DIR], { input }).stdout.toString('utf8')
  t.ok(expected.split('\n').length > 6)
  const analyzer = createMecabAnalyzer(IPADIC_DIR)
  for (const size of [input.length, 7, 1]) {
    const chunks: Buffer[] = []
    for (let i = 0; i < input.length; i += size) chunks.push(input.subarray(i, i + size))
    let out = ''
    const lines = await segmentStream(analyzer, Readable.from(chunks), (s) => {
      out += s
    })
    t.equal(out, expected, `chunks of ${size} bytes`)
    t.equal(lines, 7)
  }
  let trimmed = ''
  await segmentStream(analyzer, Readable.from([input]), (s) => {
    trimmed += s
  }, { trim: true })
  t.equal(trimmed, expected.replace(/ \n/g, '\n'), '--trim drops the space before each newline')
})

t.test('jacolbert segment (spawned CLI) equals the mecab command', needs(), async (t) => {
  const expected = spawnSync('mecab', ['-Owakati', '-d', IPADIC_DIR], { input }).stdout
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), 'segment', '--dic', IPADIC_DIR], { input, cwd: REPO_ROOT })
  t.equal(r.status, 0, r.stderr.toString())
  t.ok(r.stdout.equals(expected), 'byte-identical output')
  const bad = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), 'segment', '--dic', '/nonexistent-dic'], { input: '', cwd: REPO_ROOT })
  t.equal(bad.status, 1)
  t.match(bad.stderr.toString(), /DICTIONARY_INVALID.*nonexistent-dic/)
  const help = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), 'segment', '--help'], { cwd: REPO_ROOT })
  t.equal(help.status, 0)
  t.match(help.stdout.toString(), /--dic DIR/)
})
