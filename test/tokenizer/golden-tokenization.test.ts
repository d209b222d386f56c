/**
 * The whole path through our own MeCab analyser: text → NFKC → words → WordPiece → ColBERT layout, against the golden
 * file (IPADIC), and the ". " placeholder ColBERT puts in front of every text, against the `mecab` command.
 */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { loadColbertTokenizer, type ColbertTokenizer } from '../../src/tokenizer/index.js'
import { dictionaryOnly, GOLDEN_PATH, hasMecabCommand, hasShared, IPADIC_DIR, JSQUAD_PATH, sharedOnly, TINY_MODEL_DIR } from '../helpers/shared.js'

interface GoldenCase {
  text: string
  words: string[]
  query: { tokens: string[]; ids: number[]; attention_mask: number[] }
  document: { tokens: string[]; ids: number[]; attention_mask: number[] }
}

const skip = sharedOnly().skip || dictionaryOnly(IPADIC_DIR).skip
let tokenizer: ColbertTokenizer | undefined
function tok(): ColbertTokenizer {
  tokenizer ??= loadColbertTokenizer(TINY_MODEL_DIR, { dicdir: IPADIC_DIR })
  return tokenizer
}

t.test('golden tokenization: words, query and document tokens/ids/masks, 100 %', { skip }, async (t) => {
  const golden = JSON.parse(readFileSync(GOLDEN_PATH, 'utf8')) as { mecab_dictionary: string; tokenization: GoldenCase[] }
  t.equal(golden.mecab_dictionary, 'ipadic-utf8')
  let same = 0
  for (const c of golden.tokenization) {
    const q = tok().tokenizeQuery(c.text)
    const d = tok().tokenizeDocument(c.text)
    const got = {
      words: q.words,
      query: { tokens: q.tokens, ids: [...q.ids], attention_mask: [...q.attentionMask] },
      document: { tokens: d.tokens, ids: [...d.ids], attention_mask: [...d.attentionMask] },
    }
    const want = { words: c.words, query: c.query, document: c.document }
    if (JSON.stringify(got) === JSON.stringify(want)) same++
    else t.same(got, want, JSON.stringify(c.text.slice(0, 40)))
    t.same(d.words, q.words)
  }
  t.equal(same, golden.tokenization.length, `${same}/${golden.tokenization.length} identical`)
})

t.test('the ". " placeholder: words equal `mecab` on ". " + text, minus the "."', { skip: skip || (hasMecabCommand() ? false : 'mecab command not installed') }, async (t) => {
  // JSQuAD lines whose first words MeCab segments differently after ". " than at the start of a sentence
  const jsquad = JSON.parse(readFileSync(JSQUAD_PATH, 'utf8')) as { data: Array<{ paragraphs: Array<{ context: string; qas: Array<{ question: string }> }> }> }
  const lines: string[] = []
  for (const d of jsquad.data) for (const p of d.paragraphs) {
    lines.push(p.context)
    for (const q of p.qas) lines.push(q.question)
  }
  // the command reads lines, so keep texts without line breaks (they are all single-line in JSQuAD)
  const texts = lines.map((l) => l.normalize('NFKC')).filter((l) => !/[\r\n\0]/.test(l))
  const mecab = (input: string[]): string[][] =>
    execFileSync('mecab', ['-Owakati', '-d', IPADIC_DIR], { input: input.join('\n') + '\n', maxBuffer: 1 << 28 })
      .toString('utf8')
      .split('\n')
      .slice(0, input.length)
      .map((l) => l.split(' ').filter(Boolean))
  const plain = mecab(texts)
  const prefixed = mecab(texts.map((x) => '. ' + x))
  const differing = texts.map((_, i) => i).filter((i) => JSON.stringify(plain[i]) !== JSON.stringify(prefixed[i].slice(1)))
  t.ok(differing.length > 0, `${differing.length} JSQuAD lines segment differently after ". "`)
  for (const i of differing) {
    t.equal(prefixed[i][0], '.')
    t.same(tok().tokenizeDocument(texts[i]).words, prefixed[i].slice(1), texts[i].slice(0, 30))
  }
})

t.test('edge cases through the real analyser never crash', { skip }, async (t) => {
  const texts = ['', ' ', '\u3000\u3000', '\t\n\r', '\u0000', '\u0001\u0002\u001f\u007f', '😀😀😀', '👨‍👩‍👧', 'e\u0301', '\uFEFF', 'x'.repeat(20000),
    '[SEP]', '[CLS] [MASK] [PAD] [UNK]', 'a[SEP]b', '﷽', '\u202E逆\u202C']
  for (const text of texts) {
    const q = tok().tokenizeQuery(text)
    const d = tok().tokenizeDocument(text)
    t.equal(q.ids.length, 32, JSON.stringify(text.slice(0, 10)))
    t.ok(d.ids.length >= 3 && d.ids.length <= 64)
    t.equal(d.tokens.at(-1), '[SEP]')
    t.equal(d.keepMask!.length, d.ids.length)
  }
  t.same(tok().tokenizeDocument('a[SEP]b').tokens, ['[CLS]', '[unused1]', 'a', '[SEP]', 'b', '[SEP]'])
  t.throws(() => tok().tokenizeQuery('\uD83D'), { code: 'INVALID_TEXT' })
})

t.test('loadColbertTokenizer: dictionary resolution and missing files', { skip: hasShared ? false : sharedOnly().skip }, async (t) => {
  t.throws(() => loadColbertTokenizer(TINY_MODEL_DIR), { code: 'DICTIONARY_INVALID', message: /MECAB_DICDIR/ })
  t.throws(() => loadColbertTokenizer(TINY_MODEL_DIR, { dicdir: '/nonexistent/dic' }), { code: 'DICTIONARY_INVALID' })
  t.throws(() => loadColbertTokenizer('/nonexistent/model', { dicdir: IPADIC_DIR }), { code: 'CHECKPOINT_INVALID', message: /vocab\.txt/ })
})
