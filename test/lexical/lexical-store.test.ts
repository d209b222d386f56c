/**
 * The lexical side inside the index store: kept in step with the PLAID index through apply() (upserts, replacements,
 * embeddings-only upserts, deletes, compaction), filtered like it, saved and restored with its snapshot, rebuilt from
 * stored text for snapshots written before it existed, and refused clearly when it cannot work. Every ranking is
 * checked against the exhaustive BM25 of test/helpers/brute-bm25.ts over the documents the test expects to be live.
 */
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { createIndexStore } from '../../src/index/index-store.js'
import { compileFilter } from '../../src/index/metadata-filter.js'
import { STORED_TEXT_KEY, type Metadata } from '../../src/index/types.js'
import { createLexicalAnalyzer } from '../../src/lexical/analyzer.js'
import { createMecabAnalyzer } from '../../src/tokenizer/mecab/index.js'
import { IPADIC_DIR, dictionaryOnly, hasShared, sharedOnly } from '../helpers/shared.js'
import { bruteForceBm25 } from '../helpers/brute-bm25.js'
import { loadJsquad } from '../server/jsquad.js'

const skip = !hasShared ? sharedOnly() : dictionaryOnly(IPADIC_DIR)
const DIM = 8

function vectors(seed: number, n = 2): Float32Array {
  const v = new Float32Array(n * DIM)
  for (let i = 0; i < v.length; i++) v[i] = Math.sin(seed * 7.31 + i * 1.7)
  return v
}

t.test('lexical side in the index store', skip, async (t) => {
  const analyzer = createLexicalAnalyzer(createMecabAnalyzer(IPADIC_DIR))
  const passages = loadJsquad().slice(0, 300)
  const questions = passages.filter((_, i) => i % 6 === 0).map((p) => p.questions[0])
  const dataDir = mkdtempSync(join(tmpdir(), 'jacolbert-lexical-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const store = createIndexStore({ dataDir, defaultSettings: { dim: DIM }, analyzer })
  store.create('docs', { dim: DIM }, { k1: 1.5, b: 0.6 })

  /** what the test expects to be live: id -> text and metadata (text undefined = embeddings only) */
  const model = new Map<string, { text?: string; metadata: Metadata }>()
  const upsert = (docs: Array<{ id: string; text?: string; group: number }>) => {
    const documents = docs.map((d, i) => {
      const metadata: Metadata = d.text === undefined ? { group: d.group } : { group: d.group, [STORED_TEXT_KEY]: d.text }
      model.set(d.id, { text: d.text, metadata })
      return { id: d.id, vectors: vectors(i + d.group), metadata, ...(d.text === undefined ? {} : { text: d.text }) }
    })
    return store.apply('docs', { op: 'upsert', documents })
  }
  const r0 = upsert(passages.map((p, i) => ({ id: p.id, text: p.text, group: i % 3 })))
  t.equal(r0.added.length, 300)

  const check = (label: string, s = store, k1 = 1.5, b = 0.6) => {
    for (const filter of [undefined, { group: 1 }, { group: { $ne: 2 } }]) {
      const pred = filter === undefined ? undefined : compileFilter(filter)
      const live = [...model].filter(([id, d]) => d.text !== undefined && (pred === undefined || pred(d.metadata, id)))
      // the statistics (N, df, avgdl) are the whole live index's; the filter only removes candidates
      const all = [...model].filter(([, d]) => d.text !== undefined).map(([id, d]) => ({ id, terms: analyzer.terms(d.text!) }))
      const brute = bruteForceBm25(all, k1, b)
      const allowed = new Set(live.map(([id]) => id))
      let bad = 0
      for (const q of questions) {
        const got = s.searchLexical('docs', q, pred === undefined ? { k: 10 } : { k: 10, filter: pred }).hits
        const want = brute(analyzer.terms(q), 1000).filter((h) => allowed.has(h.id)).slice(0, 10)
        if (got.length !== want.length || got.some((h, i) => h.id !== want[i].id || Math.abs(h.score - want[i].score) > 1e-9)) bad++
      }
      t.equal(bad, 0, `${label}, filter ${JSON.stringify(filter)}: all ${questions.length} rankings equal the exhaustive BM25`)
    }
  }
  check('after the first upsert')

  // deletes, replacements by other text, embeddings-only replacements: both engines follow
  const del = store.apply('docs', { op: 'delete', ids: passages.slice(0, 40).map((p) => p.id).concat(['nope']) })
  t.equal(del.deleted.length, 40)
  t.same(del.missing, ['nope'])
  for (const p of passages.slice(0, 40)) model.delete(p.id)
  upsert(passages.slice(40, 70).map((p, i) => ({ id: p.id, text: passages[299 - i].text, group: 2 })))
  upsert(passages.slice(70, 90).map((p) => ({ id: p.id, group: 1 })))
  upsert([{ id: 'new-1', text: passages[5].text, group: 1 }])
  const info = store.list().find((e) => e.name === 'docs')!
  t.equal(info.stats.documents, model.size, 'PLAID side has every live document')
  t.equal(info.lexical?.stats.documents, [...model.values()].filter((d) => d.text !== undefined).length, 'lexical side has the live documents with text')
  t.equal(info.lexical?.stats.tombstones, 0, 'a quarter of the slots dead: the lexical side compacted itself')
  t.same(info.lexical?.settings, { k1: 1.5, b: 0.6, terms: 'surface' })
  check('after deletes and upserts')
  for (const p of passages.slice(70, 90)) {
    t.notOk(store.searchLexical('docs', p.questions[0], { k: 300 }).hits.some((h) => h.id === p.id), `${p.id} (embeddings only now) is not found lexically`)
  }

  // restart from the snapshot: identical results, settings kept
  await store.saveAll()
  const before = questions.map((q) => store.searchLexical('docs', q, { k: 10 }).hits)
  const restored = createIndexStore({ dataDir, defaultSettings: { dim: DIM }, analyzer })
  await restored.restoreAll()
  t.same(questions.map((q) => restored.searchLexical('docs', q, { k: 10 }).hits), before, 'restored lexical results identical (ids and scores)')
  t.same(restored.list()[0].lexical?.settings, { k1: 1.5, b: 0.6, terms: 'surface' }, 'BM25 settings restored')
  check('after a restart', restored)

  // a snapshot from before lexical search (no lexical/ folder): rebuilt from stored text on first use
  rmSync(join(dataDir, 'indexes', 'docs', 'lexical'), { recursive: true })
  const legacy = createIndexStore({ dataDir, defaultSettings: { dim: DIM }, analyzer })
  await legacy.restoreAll()
  // the old snapshot carried no BM25 settings, so the rebuilt side has the defaults
  check('rebuilt from stored text (default k1/b)', legacy, 1.2, 0.75)
  t.same(legacy.list()[0].lexical?.settings, { k1: 1.2, b: 0.75, terms: 'surface' })
  await legacy.saveAll()
  const again = createIndexStore({ dataDir, defaultSettings: { dim: DIM }, analyzer })
  await again.restoreAll()
  t.ok(again.list()[0].lexical?.stats.documents === legacy.list()[0].lexical?.stats.documents, 'the rebuilt lexical side was saved')

  // corrupt lexical file: refused like a corrupt PLAID file
  const post = join(dataDir, 'indexes', 'docs', 'lexical', 'postTf.bin')
  const bytes = readFileSync(post)
  bytes[0] ^= 0xff
  writeFileSync(post, bytes)
  const corrupt = createIndexStore({ dataDir, defaultSettings: { dim: DIM }, analyzer })
  await t.rejects(corrupt.restoreAll(), { code: 'SNAPSHOT_INVALID', message: /postTf\.bin.*CRC/ })
})

t.test('lexical search refused clearly when it cannot work', skip, async (t) => {
  const analyzer = createLexicalAnalyzer(createMecabAnalyzer(IPADIC_DIR))
  const store = createIndexStore({ defaultSettings: { dim: DIM }, analyzer })
  store.apply('vecs', { op: 'upsert', documents: [{ id: 'a', vectors: vectors(1) }, { id: 'b', vectors: vectors(2) }] })
  t.throws(() => store.searchLexical('vecs', '東京', { k: 3 }), { code: 'LEXICAL_UNAVAILABLE', message: /no document with text/ })
  t.throws(() => store.searchLexical('missing', '東京', { k: 3 }), { code: 'INDEX_NOT_FOUND' })
  store.create('empty')
  t.same(store.searchLexical('empty', '東京', { k: 3 }).hits, [], 'an empty index answers with no hits')
  const noAnalyzer = createIndexStore({ defaultSettings: { dim: DIM } })
  noAnalyzer.apply('x', { op: 'upsert', documents: [{ id: 'a', vectors: vectors(1), text: '東京' }] })
  t.throws(() => noAnalyzer.searchLexical('x', '東京', { k: 3 }), { code: 'LEXICAL_UNAVAILABLE', message: /no text analyser/ })
  // base-form terms: an inflected query finds the other inflection; surface terms do not
  store.create('base', { dim: DIM }, { terms: 'base' })
  store.apply('base', { op: 'upsert', documents: [{ id: 'd', vectors: vectors(1), text: '昨日はカレーを食べた。' }, { id: 'e', vectors: vectors(2), text: '東京に行く。' }] })
  t.same(store.searchLexical('base', 'カレーを食べる', { k: 3 }).hits.map((h) => h.id), ['d'])
  t.ok(store.searchLexical('base', '食べる', { k: 3 }).hits.length === 1, 'base form: 食べる finds 食べた')
  store.apply('vecs', { op: 'upsert', documents: [{ id: 'd', vectors: vectors(1), text: '昨日はカレーを食べた。' }] })
  t.same(store.searchLexical('vecs', '食べる', { k: 3 }).hits, [], 'surface form: 食べる does not find 食べた')
  t.throws(() => createIndexStore({ defaultSettings: { dim: DIM } }).create('x', { dim: DIM }, { terms: 'base' }), { code: 'VALIDATION_ERROR', message: /base forms/ })
  // a text the analyser refuses leaves both engines unchanged
  t.throws(() => store.apply('vecs', { op: 'upsert', documents: [{ id: 'c', vectors: vectors(3), text: 'a\ud800' }] }), { code: 'INVALID_TEXT' })
  t.equal(store.get('vecs')!.get('c'), undefined)
})
