import t from 'tap'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  DEFAULT_COLBERT_SETTINGS,
  DEFAULT_TOKENIZER_CONFIG,
  loadColbertSettings,
  loadTokenizerConfig,
  parseColbertSettings,
  parseTokenizerConfig,
} from '../../src/tokenizer/index.js'
import { sharedOnly, TINY_MODEL_DIR } from '../helpers/shared.js'

t.test('defaults are JaColBERTv2.x values', async (t) => {
  t.same(parseColbertSettings({}), {
    dim: 128,
    queryMaxlen: 32,
    docMaxlen: 300,
    queryToken: '[unused0]',
    docToken: '[unused1]',
    attendToMaskTokens: false,
    maskPunctuation: true,
    similarity: 'cosine',
  })
  t.same(parseColbertSettings({ dim: null, doc_maxlen: null }), DEFAULT_COLBERT_SETTINGS, 'null means missing')
  t.same(parseColbertSettings('{"dim": 96}').dim, 96, 'JSON text is accepted')
})

t.test('the fixture checkpoint: markers come from *_token_id, not the "[Q]"/"[D]" display names', sharedOnly(), async (t) => {
  t.same(loadColbertSettings(join(TINY_MODEL_DIR, 'artifact.metadata')), {
    dim: 16,
    queryMaxlen: 32,
    docMaxlen: 64,
    queryToken: '[unused0]',
    docToken: '[unused1]',
    attendToMaskTokens: false,
    maskPunctuation: true,
    similarity: 'cosine',
  })
})

t.test('wrong types and ranges name the file and field', async (t) => {
  const cases: Array<[unknown, string]> = [
    [{ dim: '128' }, 'dim'],
    [{ dim: 0 }, 'dim'],
    [{ dim: 1.5 }, 'dim'],
    [{ query_maxlen: 2 }, 'query_maxlen'],
    [{ doc_maxlen: -1 }, 'doc_maxlen'],
    [{ query_token_id: 5 }, 'query_token_id'],
    [{ doc_token_id: '' }, 'doc_token_id'],
    [{ attend_to_mask_tokens: 'false' }, 'attend_to_mask_tokens'],
    [{ mask_punctuation: 1 }, 'mask_punctuation'],
    [{ similarity: 'dot' }, 'similarity'],
  ]
  for (const [json, field] of cases) {
    t.throws(() => parseColbertSettings(json, '/m/artifact.metadata'), { code: 'CHECKPOINT_INVALID', details: { file: '/m/artifact.metadata', field } }, JSON.stringify(json))
    try {
      parseColbertSettings(json, '/m/artifact.metadata')
    } catch (err) {
      t.match((err as Error).message, `/m/artifact.metadata: field '${field}'`)
    }
  }
  t.throws(() => parseColbertSettings([]), { code: 'CHECKPOINT_INVALID' })
  t.throws(() => parseColbertSettings(null), { code: 'CHECKPOINT_INVALID' })
  t.throws(() => parseColbertSettings('{oops', 'x.json'), { code: 'CHECKPOINT_INVALID', message: /x\.json: not valid JSON/ })
  t.throws(() => loadColbertSettings('/nonexistent/artifact.metadata'), { code: 'CHECKPOINT_INVALID', message: /\/nonexistent\/artifact\.metadata/ })
})

t.test('tokenizer_config: BertJapaneseTokenizer with MeCab + WordPiece only', async (t) => {
  const ok = parseTokenizerConfig({
    tokenizer_class: 'BertJapaneseTokenizer',
    do_lower_case: false,
    word_tokenizer_type: 'mecab',
    subword_tokenizer_type: 'wordpiece',
    mecab_kwargs: { mecab_dic: 'unidic_lite' },
    model_max_length: 512,
    mask_token: { content: '[MASK]', lstrip: true },
  })
  t.equal(ok.mecabDic, 'unidic_lite')
  t.equal(ok.modelMaxLength, 512)
  t.equal(ok.maskToken, '[MASK]', 'AddedToken objects give their content')
  t.same(ok.specialTokens.sort(), ['[CLS]', '[MASK]', '[PAD]', '[SEP]', '[UNK]'])
  t.equal(parseTokenizerConfig({ model_max_length: 1e30 }).modelMaxLength, undefined, 'the "no limit" sentinel is ignored')
  const refused: Array<[unknown, RegExp]> = [
    [{ tokenizer_class: 'BertTokenizer' }, /tokenizer_class/],
    [{ tokenizer_class: 'BertJapaneseTokenizer' }, /word_tokenizer_type is "basic"/],
    [{ tokenizer_class: 'BertJapaneseTokenizer', word_tokenizer_type: 'sudachi' }, /word_tokenizer_type/],
    [{ word_tokenizer_type: 'mecab', subword_tokenizer_type: 'character' }, /subword_tokenizer_type/],
    [{ mecab_kwargs: { mecab_option: '-d /x' } }, /mecab_option/],
    [{ do_lower_case: 'no' }, /do_lower_case/],
    [{ do_subword_tokenize: false }, /do_subword_tokenize/],
  ]
  for (const [json, msg] of refused) t.throws(() => parseTokenizerConfig(json, 'tc.json'), { code: 'CHECKPOINT_INVALID', message: msg }, JSON.stringify(json))
})

t.test('a missing tokenizer_config.json means JaColBERT\'s configuration', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tokcfg-'))
  t.same(loadTokenizerConfig(join(dir, 'tokenizer_config.json')), DEFAULT_TOKENIZER_CONFIG)
  writeFileSync(join(dir, 'tokenizer_config.json'), '{not json')
  t.throws(() => loadTokenizerConfig(join(dir, 'tokenizer_config.json')), { code: 'CHECKPOINT_INVALID' })
})

t.test('the fixture tokenizer_config.json is accepted', sharedOnly(), async (t) => {
  const c = loadTokenizerConfig(join(TINY_MODEL_DIR, 'tokenizer_config.json'))
  t.equal(c.doLowerCase, false)
  t.equal(c.normalizeText, true)
  t.equal(c.mecabDic, 'unidic_lite')
})
