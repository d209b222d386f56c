/**
 * The ColBERT layout with the words given (no MeCab): golden words in, golden tokens/ids/masks out; plus the layout
 * rules the golden file does not exercise (dynamic length, attend_to_mask_tokens, special tokens, lower-casing).
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  createColbertTokenizer,
  createWordPiece,
  loadColbertSettings,
  loadVocab,
  parseColbertSettings,
  parseTokenizerConfig,
  parseVocab,
  punctuationIds,
  type Segmenter,
} from '../../src/tokenizer/index.js'
import { GOLDEN_PATH, sharedOnly, TINY_MODEL_DIR } from '../helpers/shared.js'

interface GoldenCase {
  text: string
  words: string[]
  query: { tokens: string[]; ids: number[]; attention_mask: number[] }
  document: { tokens: string[]; ids: number[]; attention_mask: number[] }
}

/** Space-separated words; records what it was asked to segment. */
function spaceSegmenter(calls: string[] = []): Segmenter {
  return {
    segment(text) {
      calls.push(text)
      return text.split(/[ \t\n\r]+/).filter(Boolean)
    },
  }
}

const TINY_VOCAB = parseVocab(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', '[unused0]', '[unused1]', '.', ',', '!', 'a', 'b', 'title', 'body', '##s'].join('\n'))
const UNUSED0 = 5
const MASK = 4

t.test('golden words → golden query and document layout', sharedOnly(), async (t) => {
  const golden = JSON.parse(readFileSync(GOLDEN_PATH, 'utf8')) as { tokenization: GoldenCase[]; skiplist_ids: number[]; encoding: Array<{ kind: string; text: string; shape: number[] }> }
  const byText = new Map(golden.tokenization.map((c) => [c.text.normalize('NFKC'), c.words]))
  const seen: string[] = []
  const segmenter: Segmenter = {
    segment(text) {
      seen.push(text)
      if (!text.startsWith('. ')) throw new Error(`expected the ". " prefix, got ${JSON.stringify(text.slice(0, 10))}`)
      const words = byText.get(text.slice(2))
      if (!words) throw new Error(`no golden words for ${JSON.stringify(text.slice(0, 30))}`)
      return ['.', ...words]
    },
  }
  const vocab = loadVocab(join(TINY_MODEL_DIR, 'vocab.txt'))
  const tok = createColbertTokenizer({ vocab, settings: loadColbertSettings(join(TINY_MODEL_DIR, 'artifact.metadata')), segmenter })
  t.equal(tok.vocabSize, 32768)
  t.equal(tok.padId, 0)
  let failures = 0
  for (const c of golden.tokenization) {
    const q = tok.tokenizeQuery(c.text)
    const d = tok.tokenizeDocument(c.text)
    const got = {
      words: q.words,
      query: { tokens: q.tokens, ids: [...q.ids], attention_mask: [...q.attentionMask] },
      document: { tokens: d.tokens, ids: [...d.ids], attention_mask: [...d.attentionMask] },
    }
    const want = { words: c.words, query: c.query, document: c.document }
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      failures++
      t.same(got, want, JSON.stringify(c.text.slice(0, 40)))
    }
    t.equal(q.keepMask, undefined)
  }
  t.equal(failures, 0, `all ${golden.tokenization.length} golden cases`)
  t.ok(seen.length >= golden.tokenization.length * 2)

  t.same(punctuationIds(createWordPiece(vocab)), golden.skiplist_ids, 'skiplist = golden skiplist_ids')
  // the golden encoder dropped exactly the skiplist positions of each document
  for (const e of golden.encoding.filter((x) => x.kind === 'document')) {
    const d = tok.tokenizeDocument(e.text)
    t.equal(d.keepMask!.reduce((a, b) => a + b, 0), e.shape[0], `kept vectors of ${JSON.stringify(e.text.slice(0, 20))}`)
    for (let i = 0; i < d.ids.length; i++) {
      if (d.keepMask![i] !== (golden.skiplist_ids.includes(d.ids[i]) ? 0 : 1)) t.fail(`keepMask at ${i}`)
    }
  }
})

t.test('query: truncation keeps [SEP] last; [MASK] padding has attention 0', async (t) => {
  const tok = createColbertTokenizer({ vocab: TINY_VOCAB, settings: parseColbertSettings({ query_maxlen: 8, doc_maxlen: 6 }), segmenter: spaceSegmenter() })
  const q = tok.tokenizeQuery('a b a b a b a b')
  t.same(q.tokens, ['[CLS]', '[unused0]', 'a', 'b', 'a', 'b', 'a', '[SEP]'])
  t.same([...q.attentionMask], [1, 1, 1, 1, 1, 1, 1, 1])
  const short = tok.tokenizeQuery('a')
  t.same(short.tokens, ['[CLS]', '[unused0]', 'a', '[SEP]', '[MASK]', '[MASK]', '[MASK]', '[MASK]'])
  t.same([...short.ids], [2, UNUSED0, 10, 3, MASK, MASK, MASK, MASK])
  t.same([...short.attentionMask], [1, 1, 1, 1, 0, 0, 0, 0])
  const d = tok.tokenizeDocument('a b , a b')
  t.same(d.tokens, ['[CLS]', '[unused1]', 'a', 'b', ',', '[SEP]'], 'document cut at doc_maxlen with [SEP] last')
  t.same([...d.keepMask!], [1, 1, 1, 1, 0, 1], 'punctuation is not kept')
  t.same([...d.attentionMask], [1, 1, 1, 1, 1, 1])
})

t.test('attend_to_mask_tokens and mask_punctuation=false', async (t) => {
  const tok = createColbertTokenizer({
    vocab: TINY_VOCAB,
    settings: parseColbertSettings({ query_maxlen: 6, attend_to_mask_tokens: true, mask_punctuation: false }),
    segmenter: spaceSegmenter(),
  })
  const q = tok.tokenizeQuery('a')
  t.same([...q.attentionMask], [1, 1, 1, 1, 1, 1])
  t.same(q.tokens.slice(4), ['[MASK]', '[MASK]'])
  t.same([...tok.tokenizeDocument('a , ! b').keepMask!], [1, 1, 1, 1, 1, 1, 1])
})

t.test('dynamic query length: next multiple of 32 with at least 8 [MASK]s', async (t) => {
  const tok = createColbertTokenizer({ vocab: TINY_VOCAB, settings: parseColbertSettings({ query_maxlen: 32 }), segmenter: spaceSegmenter(), maxPositions: 512 })
  const words = (n: number): string => Array.from({ length: n }, () => 'a').join(' ')
  const cases: Array<[number, number, number]> = [
    // pieces, expected length, expected [MASK] count
    [0, 32, 29],
    [21, 32, 8],
    [22, 64, 39],
    [53, 64, 8],
    [54, 96, 39],
    [1000, 512, 8],
  ]
  for (const [n, len, masks] of cases) {
    const q = tok.tokenizeQuery(words(n), { dynamicLength: true })
    t.equal(q.ids.length, len, `${n} pieces → length ${len}`)
    t.equal(q.tokens.filter((x) => x === '[MASK]').length, masks, `${n} pieces → ${masks} [MASK]s`)
    t.equal(q.tokens[len - masks - 1], '[SEP]')
    t.equal(q.attentionMask.reduce((a, b) => a + b, 0), len - masks)
  }
  t.equal(tok.tokenizeQuery(words(40)).ids.length, 32, 'without the option the length stays query_maxlen')
})

t.test('special tokens in the text are cut out before segmentation, like transformers', async (t) => {
  const calls: string[] = []
  const tok = createColbertTokenizer({ vocab: TINY_VOCAB, settings: parseColbertSettings({ query_maxlen: 12 }), segmenter: spaceSegmenter(calls) })
  const d = tok.tokenizeDocument('title [SEP] body')
  t.same(d.words, ['title', '[SEP]', 'body'])
  t.same(d.tokens, ['[CLS]', '[unused1]', 'title', '[SEP]', 'body', '[SEP]'])
  t.same(calls, ['. title ', ' body'], 'each side is segmented on its own, the first with the ". " placeholder')
  const q = tok.tokenizeQuery('a [PAD] b')
  t.same([...q.ids.slice(0, 6)], [2, UNUSED0, 10, MASK, 11, 3], 'a literal [PAD] becomes [MASK], as ColBERT does')
  t.same([...q.attentionMask.slice(0, 6)], [1, 1, 1, 1, 1, 1])
  t.same([...tok.tokenizeDocument('a [PAD]').keepMask!], [1, 1, 1, 0, 1], 'and a [PAD] vector is dropped from documents')
  t.same(tok.tokenizeDocument('[sep]').tokens, ['[CLS]', '[unused1]', '[UNK]', '[SEP]'], 'matching is case-sensitive')
})

t.test('do_lower_case lower-cases text and words but not special tokens', async (t) => {
  const calls: string[] = []
  const tok = createColbertTokenizer({
    vocab: TINY_VOCAB,
    settings: parseColbertSettings({}),
    segmenter: spaceSegmenter(calls),
    tokenizerConfig: parseTokenizerConfig({ tokenizer_class: 'BertJapaneseTokenizer', word_tokenizer_type: 'mecab', do_lower_case: true }),
  })
  t.same(tok.tokenizeDocument('TITLE [SEP] BodyS').tokens, ['[CLS]', '[unused1]', 'title', '[SEP]', 'body', '##s', '[SEP]'])
})

t.test('empty, whitespace, control characters, lone surrogates', async (t) => {
  const tok = createColbertTokenizer({ vocab: TINY_VOCAB, settings: parseColbertSettings({ query_maxlen: 6 }), segmenter: spaceSegmenter() })
  for (const text of ['', '   ', '\n\t\r', '\u0000\u0001\u007f', '😀', 'ｱ\u3000']) {
    const q = tok.tokenizeQuery(text)
    t.equal(q.ids.length, 6, JSON.stringify(text))
    t.equal(q.tokens[0], '[CLS]')
    const d = tok.tokenizeDocument(text)
    t.equal(d.tokens.at(-1), '[SEP]', JSON.stringify(text))
  }
  t.same(tok.tokenizeDocument('').tokens, ['[CLS]', '[unused1]', '[SEP]'])
  t.throws(() => tok.tokenizeQuery('a\uD800b'), { code: 'INVALID_TEXT' })
  t.throws(() => tok.tokenizeDocument('\uDC00'), { code: 'INVALID_TEXT' })
})

t.test('settings that do not fit the vocabulary or the model are refused', async (t) => {
  t.throws(
    () => createColbertTokenizer({ vocab: TINY_VOCAB, settings: parseColbertSettings({ query_token_id: '[unused9]' }), segmenter: spaceSegmenter() }),
    { code: 'CHECKPOINT_INVALID', message: /\[unused9\]/ },
  )
  t.throws(
    () => createColbertTokenizer({ vocab: TINY_VOCAB, settings: parseColbertSettings({ doc_maxlen: 600 }), segmenter: spaceSegmenter(), maxPositions: 512 }),
    { code: 'CHECKPOINT_INVALID', message: /doc_maxlen 600/ },
  )
  t.throws(() => createColbertTokenizer({ vocab: parseVocab('[PAD]\n[CLS]\n'), settings: parseColbertSettings({}), segmenter: spaceSegmenter() }), {
    code: 'CHECKPOINT_INVALID',
  })
})

t.test('documents cut shorter per call (Cohere max_tokens_per_doc), never longer than doc_maxlen', async (t) => {
  const tok = createColbertTokenizer({ vocab: TINY_VOCAB, settings: parseColbertSettings({ doc_maxlen: 8 }), segmenter: spaceSegmenter() })
  const text = 'a b a b a b a b a b'
  t.same(tok.tokenizeDocument(text).tokens, ['[CLS]', '[unused1]', 'a', 'b', 'a', 'b', 'a', '[SEP]'], 'doc_maxlen 8')
  t.same(tok.tokenizeDocument(text, { maxLength: 5 }).tokens, ['[CLS]', '[unused1]', 'a', 'b', '[SEP]'], 'cut to 5')
  t.same(tok.tokenizeDocument(text, { maxLength: 100 }).tokens, tok.tokenizeDocument(text).tokens, 'a larger limit is doc_maxlen')
  t.same(tok.tokenizeDocument(text, { maxLength: 1 }).tokens, ['[CLS]', '[unused1]', '[SEP]'], 'at least the frame')
  const cut = tok.tokenizeDocument('a , b', { maxLength: 4 })
  t.same(cut.tokens, ['[CLS]', '[unused1]', 'a', '[SEP]'])
  t.same([...cut.keepMask!], [1, 1, 1, 1])
})
