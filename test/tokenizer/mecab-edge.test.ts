/**
 * Edge cases of the MeCab analyser: random mixes of every char class (spaces, controls, emoji, astral
 * kanji, half-width kana, combining marks, U+FFFF…) and very long words/lines against the `mecab`
 * command; defined results where the command cannot answer (lone surrogates, NUL, costs past 2^31);
 * clear errors for broken or unsupported dictionary folders.
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createMecabAnalyzer } from '../../src/tokenizer/mecab/index.js'
import { isAppError } from '../../src/errors.js'
import { IPADIC_DIR, JUMANDIC_DIR, dictionaryOnly, hasMecabCommand } from '../helpers/shared.js'

function mecabWakati(dir: string, lines: string[]): string[] {
  const r = spawnSync('mecab', ['-Owakati', '-b', '5242880', '-d', dir], { input: lines.join('\n') + '\n', maxBuffer: 1 << 30 })
  if (r.status !== 0) throw new Error(`mecab failed: ${r.stderr.toString()}`)
  const out = r.stdout.toString('utf8').split('\n')
  out.pop()
  return out
}

const wakati = (words: string[]): string => words.map((w) => `${w} `).join('')

function needs(dir: string): { skip: string | false } {
  if (!hasMecabCommand()) return { skip: 'the mecab command is not installed (apt-get install -y mecab)' }
  return dictionaryOnly(dir)
}

/** Deterministic lines mixing char classes, runs of one char (grouping limits) and whitespace. */
function fuzzLines(count: number, seed: number): string[] {
  const pool = ['あ', 'い', 'ー', 'ア', 'カ', 'ン', 'ｶ', 'ﾞ', '漢', '字', '東', '京', 'a', 'Z', '1', '０', '１', ' ', '　', '\t', '\r', '\x01', '\x7f',
    '.', '、', '。', '!', '?', '😀', '🎌', '𢌞', 'é', 'Ω', 'д', '한', '々', 'ヶ', '・', '「', '」', '(', ')', '\u200b', '\ufeff', '\u00a0', '\u0301', '\uffff', '\ufffd', 'x']
  let s = seed
  const rnd = (): number => {
    s = (s * 1103515245 + 12345) & 0x7fffffff
    return s / 0x80000000
  }
  const lines: string[] = []
  for (let i = 0; i < count; i++) {
    const n = Math.floor(rnd() * 50)
    let line = ''
    for (let k = 0; k < n; k++) {
      const c = pool[Math.floor(rnd() * pool.length)]
      line += rnd() < 0.3 ? c.repeat(1 + Math.floor(rnd() * 30)) : c
    }
    lines.push(line)
  }
  return lines
}

for (const [name, dir] of [['IPADIC', IPADIC_DIR], ['JumanDIC', JUMANDIC_DIR]] as const) {
  t.test(`random char mixes and long inputs equal mecab with ${name}`, needs(dir), async (t) => {
    const lines = [
      ...fuzzLines(1500, name.length),
      '', ' ', '   \t  ', '\u3000\u3000', '絵文字😀を含む文 🎌', '𢌞𣗄𥝱 サロゲート文字', 'ｶﾀｶﾅﾊﾝｶｸ', 'x'.repeat(150),
      'あ'.repeat(30000), // a 90 KB word: longer than MeCab's 65535-byte look-ahead
      'x'.repeat(8000), // one long unknown run (the command's group scan is quadratic: keep it short)
      ' '.repeat(70000) + 'abc', // leading whitespace past the look-ahead
      '漢字'.repeat(20000),
      '東京都庁は新宿区にあります。'.repeat(2000), // a 42 KB line (the command needs -b for it)
    ]
    const expected = mecabWakati(dir, lines)
    t.equal(expected.length, lines.length)
    for (const viterbiPruning of ['auto', 'on'] as const) {
      const analyzer = createMecabAnalyzer(dir, { viterbiPruning })
      let same = 0
      for (let i = 0; i < lines.length; i++) {
        const ours = wakati(analyzer.segment(lines[i]))
        if (ours === expected[i]) same++
        else if (same + 5 > i) t.equal(ours.slice(0, 300), expected[i].slice(0, 300), `line ${i} ${JSON.stringify(lines[i].slice(0, 60))}`)
      }
      t.equal(same, lines.length, `pruning ${viterbiPruning}: ${same}/${lines.length} lines identical`)
    }
  })
}

t.test('defined results where the mecab command has no answer', dictionaryOnly(IPADIC_DIR), async (t) => {
  const a = createMecabAnalyzer(IPADIC_DIR)
  t.same(a.segment(''), [], 'empty text')
  t.same(a.segment(' \t\n  '), [], 'whitespace only')
  // Only SPACE-category chars are skipped: with IPADIC '\r' and U+3000 are words, as the command prints them.
  t.same(a.segment(' \r\u3000 '), ['\r', '\u3000'], 'IPADIC: CR and ideographic space are words')
  // Newlines are whitespace inside one text (the command would see separate lines).
  t.same(a.segment('改行\nと\tタブ'), ['改行', 'と', 'タブ'])
  // A lone surrogate is analysed as U+FFFD and returned as itself: words stay substrings of the input.
  for (const lone of ['\uD800', '\uDC00']) {
    const text = `東京${lone}大阪`
    const words = a.segment(text)
    t.equal(words.join(''), text, 'words concatenate to the input')
    t.same(words.map((w) => w.replace(lone, '\uFFFD')), a.segment(text.replace(lone, '\uFFFD')), 'same split as U+FFFD')
  }
  // NUL is an ordinary (control) char inside a text; the command would stop the line there.
  const withNul = a.segment('東京\0大阪')
  t.equal(withNul.join(''), '東京\0大阪')
  t.same(withNul.filter((w) => !w.includes('\0')), ['東京', '大阪'])
  // MeCab fails with "too long sentence" when the path cost passes 2^31 - 1; we keep going.
  const digits = '1'.repeat(100000)
  const words = a.segment(digits)
  t.equal(words.join(''), digits)
  t.ok(words.length > 1000, 'a 100k-digit run is split (runs over max-grouping-size are not grouped)')
  // A 1.2 MB text (over a million lattice nodes: the arena grows, then is released) segments like its parts.
  const sentence = '東京都庁は新宿区にあります。'
  const huge = a.segment(sentence.repeat(30000))
  const one = a.segment(sentence)
  t.equal(huge.length, one.length * 30000)
  t.same(huge.slice(-one.length), one)
  // Reuse after huge inputs keeps working (results do not leak between calls).
  t.same(a.segment('今日は良い天気です'), ['今日', 'は', '良い', '天気', 'です'])
})

t.test('dictionary folder errors are DICTIONARY_INVALID with the file named', dictionaryOnly(IPADIC_DIR), async (t) => {
  const expectInvalid = (dir: string, pattern: RegExp, what: string): void => {
    try {
      createMecabAnalyzer(dir)
      t.fail(`${what}: no error`)
    } catch (err) {
      t.ok(isAppError(err) && err.code === 'DICTIONARY_INVALID', `${what}: DICTIONARY_INVALID`)
      t.match((err as Error).message, pattern, `${what}: message`)
    }
  }
  const tmp = mkdtempSync(join(tmpdir(), 'mecab-dic-'))
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }))
  expectInvalid(join(tmp, 'nope'), /does not exist/, 'missing folder')
  expectInvalid(tmp, /lacks sys\.dic, unk\.dic, matrix\.bin, char\.bin, dicrc/, 'empty folder')
  const broken = join(tmp, 'broken')
  spawnSync('mkdir', [broken])
  for (const f of ['unk.dic', 'matrix.bin', 'char.bin', 'dicrc']) symlinkSync(join(IPADIC_DIR, f), join(broken, f))
  const sys = readFileSync(join(IPADIC_DIR, 'sys.dic'))
  writeFileSync(join(broken, 'sys.dic'), sys.subarray(0, 4096))
  expectInvalid(broken, /sys\.dic: bad magic number or truncated/, 'truncated sys.dic')
  rmSync(join(broken, 'sys.dic'))
  symlinkSync(join(IPADIC_DIR, 'sys.dic'), join(broken, 'sys.dic'))
  rmSync(join(broken, 'char.bin'))
  writeFileSync(join(broken, 'char.bin'), Buffer.alloc(100))
  expectInvalid(broken, /char\.bin: invalid size/, 'broken char.bin')
  rmSync(join(broken, 'char.bin'))
  copyFileSync(join(IPADIC_DIR, 'char.bin'), join(broken, 'char.bin'))
  rmSync(join(broken, 'matrix.bin'))
  writeFileSync(join(broken, 'matrix.bin'), Buffer.from([1, 0, 1, 0, 0, 0]))
  expectInvalid(broken, /matrix\.bin \(1×1\) does not fit sys\.dic/, 'matrix of another dictionary')
  // EUC-JP IPADIC (Debian package mecab-ipadic) is refused with a clear message.
  const eucDir = '/var/lib/mecab/dic/ipadic'
  if (existsSync(join(eucDir, 'sys.dic')) && readFileSync(join(eucDir, 'sys.dic')).subarray(40, 46).toString('latin1') === 'EUC-JP') {
    expectInvalid(eucDir, /charset is EUC-JP; only UTF-8/, 'EUC-JP dictionary')
  }
})

t.test('info describes the loaded dictionary', dictionaryOnly(IPADIC_DIR), async (t) => {
  const a = createMecabAnalyzer(IPADIC_DIR)
  t.equal(a.info.dir, IPADIC_DIR)
  t.match(a.info.charset, /^utf-?8$/i)
  const size = ['sys.dic', 'unk.dic', 'matrix.bin', 'char.bin'].reduce((s, f) => s + readFileSync(join(IPADIC_DIR, f)).length, 0)
  t.equal(a.info.bytes, size)
})
