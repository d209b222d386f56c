import t from 'tap'
import { readFileSync } from 'node:fs'
import { createWordPiece, isPythonSpace, parseVocab, type Vocab } from '../../src/tokenizer/index.js'
import { sharedOnly, VOCAB_PATH, TINY_MODEL_DIR } from '../helpers/shared.js'

const SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']

function vocabOf(tokens: string[]): Vocab {
  return parseVocab([...SPECIALS, ...tokens].join('\n') + '\n')
}

function run(vocab: Vocab, word: string): string[] {
  const ids: number[] = []
  const tokens: string[] = []
  createWordPiece(vocab).tokenizeWord(word, ids, tokens)
  t.same(ids, tokens.map((x) => vocab.idOf(x)), 'ids and token strings agree')
  return tokens
}

/** Transformers' algorithm written the obvious way (no piece-length bound), as an independent reference. */
function reference(vocab: Vocab, word: string): string[] {
  const out: string[] = []
  for (const part of word.split(/[\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/).filter(Boolean)) {
    const chars = Array.from(part)
    if (chars.length > 100) {
      out.push('[UNK]')
      continue
    }
    const sub: string[] = []
    let start = 0
    let bad = false
    while (start < chars.length) {
      let end = chars.length
      let cur: string | undefined
      while (start < end) {
        let s = chars.slice(start, end).join('')
        if (start > 0) s = '##' + s
        if (vocab.has(s)) {
          cur = s
          break
        }
        end--
      }
      if (cur === undefined) {
        bad = true
        break
      }
      sub.push(cur)
      start = end
    }
    if (bad) out.push('[UNK]')
    else out.push(...sub)
  }
  return out
}

t.test('greedy longest match with ## continuations', async (t) => {
  const v = vocabOf(['un', 'una', '##aff', '##able', '##a', '##ffable', 'a'])
  t.same(run(v, 'unaffable'), ['una', '##ffable'], 'longest first piece wins, then the longest continuation')
  t.same(run(v, 'un'), ['un'])
  t.same(run(v, 'aaa'), ['a', '##a', '##a'])
})

t.test('a word may start with a literal "##" token; the search bounds allow it', async (t) => {
  const v = vocabOf(['##abcdef', 'x', '##y'])
  t.equal(v.maxContinuationCodePoints, 6)
  t.same(run(v, '##abcdef'), ['##abcdef'])
  t.same(run(v, 'x##abcdef'), ['[UNK]'], 'after the first piece only "##"+substring is looked up')
  t.same(run(v, 'xy'), ['x', '##y'])
})

t.test('any unmatched part makes the whole word one [UNK]', async (t) => {
  const v = vocabOf(['un', '##aff'])
  t.same(run(v, 'unaffx'), ['[UNK]'])
  t.same(run(v, 'xun'), ['[UNK]'])
  t.same(run(v, 'aff'), ['[UNK]'], 'a continuation piece cannot start a word')
})

t.test('100-code-point limit counts code points, not UTF-16 units', async (t) => {
  const v = vocabOf(['a', '##a', '𠀋', '##𠀋'])
  t.equal(run(v, 'a'.repeat(100)).length, 100, '100 code points are tokenised')
  t.same(run(v, 'a'.repeat(101)), ['[UNK]'], '101 code points are one [UNK]')
  const hundred = '𠀋'.repeat(100)
  t.equal(hundred.length, 200, 'surrogate pairs: 200 UTF-16 units')
  const pieces = run(v, hundred)
  t.equal(pieces.length, 100, 'a surrogate pair is one code point')
  t.same(pieces.slice(0, 2), ['𠀋', '##𠀋'])
  t.same(run(v, '𠀋'.repeat(101)), ['[UNK]'])
})

t.test('words are split on Python whitespace first', async (t) => {
  const v = vocabOf(['un', '##aff', 'a'])
  t.same(run(v, 'un\u3000a'), ['un', 'a'])
  t.same(run(v, ' un\u2028aff '), ['un', '[UNK]'], 'each part fails or succeeds on its own')
  t.same(run(v, '  '), [], 'whitespace only gives nothing')
  t.same(run(v, ''), [])
  const pythonSpaces = [0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004,
    0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000]
  const found: number[] = []
  for (let c = 0; c < 0x10000; c++) if (isPythonSpace(c)) found.push(c)
  t.same(found, pythonSpaces, "isPythonSpace is exactly Python's str.isspace() (list taken from CPython)")
})

t.test('vocab.txt: id = line number, empty line kept, CRLF and a missing final newline handled', async (t) => {
  const v = parseVocab('[PAD]\r\n[UNK]\r\n\r\nx\r\n##y')
  t.same(v.tokens, ['[PAD]', '[UNK]', '', 'x', '##y'])
  t.equal(v.idOf(''), 2)
  t.equal(v.idOf('##y'), 4)
  t.equal(v.idOf('nope'), -1)
  t.equal(v.maxTokenCodePoints, 5)
  t.equal(v.maxContinuationCodePoints, 1)
  t.equal(parseVocab('a\na\n').idOf('a'), 1, 'a repeated token maps to its last line, like a Python dict')
  t.throws(() => parseVocab(''), { code: 'CHECKPOINT_INVALID' })
})

t.test('fixture vocabulary: 32768 ids, empty line 16, agrees with a brute-force WordPiece', sharedOnly(), async (t) => {
  const v = parseVocab(readFileSync(VOCAB_PATH, 'utf8'))
  t.equal(v.size, 32768)
  t.equal(v.tokens[15], '', 'line 16 (id 15) is empty')
  t.same(SPECIALS.map((s) => v.idOf(s)), [0, 1, 2, 3, 4])
  t.same(parseVocab(readFileSync(`${TINY_MODEL_DIR}/vocab.txt`, 'utf8')).tokens, v.tokens, 'the checkpoint carries the same vocabulary')
  // random words over characters the vocabulary knows, plus some it does not
  const alphabet = Array.from('日本語の東京都庁はがをにでありますカタカナアイウabcxyzABC123!?。、𠀋😀')
  let seed = 12345
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    return seed % n
  }
  const wp = createWordPiece(v)
  let mismatches = 0
  for (let i = 0; i < 3000; i++) {
    const len = 1 + rand(i % 50 === 0 ? 120 : 8)
    let w = ''
    for (let k = 0; k < len; k++) w += alphabet[rand(alphabet.length)]
    const ids: number[] = []
    const toks: string[] = []
    wp.tokenizeWord(w, ids, toks)
    if (JSON.stringify(toks) !== JSON.stringify(reference(v, w))) mismatches++
  }
  t.equal(mismatches, 0, '3000 random words match the unbounded reference')
})
