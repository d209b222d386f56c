/**
 * A replay of the write-ahead log rebuilds the lexical side too: documents indexed with text through the real write
 * path (ChangeWriter -> FileWal on disk -> applier -> IndexStore.apply), then a fresh store on the same DATA_DIR with no
 * snapshot at all replays the log. The replayed store must have the same BM25 settings (non-default k1/b from the
 * create record), and its lexical search must equal both the live store's and an exhaustive BM25 over the live texts.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { createApplier } from '../../src/change-log/applier.js'
import { createChangeWriter } from '../../src/change-log/change-writer.js'
import { createFileWal } from '../../src/change-log/file-wal.js'
import { decodeRecord, encodeRecord } from '../../src/change-log/record-codec.js'
import { createIndexStore } from '../../src/index/index-store.js'
import { createLexicalAnalyzer } from '../../src/lexical/analyzer.js'
import { createMecabAnalyzer } from '../../src/tokenizer/mecab/index.js'
import { bruteForceBm25 } from '../helpers/brute-bm25.js'
import { IPADIC_DIR, dictionaryOnly } from '../helpers/shared.js'

const DIM = 4
const TEXTS = [
  '東京は日本の首都であり、多くの人が住んでいる。',
  '京都には古い寺や神社がたくさんある。',
  '富士山は日本で一番高い山である。',
  '大阪は食べ物がおいしい街として知られている。',
  '東京タワーと東京スカイツリーは東京の名所である。',
  '日本の山には登山客が多く訪れる。',
  '北海道は冬になると雪がたくさん降る。',
  '沖縄の海はとてもきれいである。',
]
const QUERIES = ['東京の名所', '日本の山', '京都の雪景色', 'きれいな海', '大阪の食べ物', '首都']

function vectors(seed: number): Float32Array {
  const v = new Float32Array(2 * DIM)
  for (let i = 0; i < v.length; i++) v[i] = Math.sin(seed * 3.1 + i)
  return v
}

t.test('record codec: lexical settings round-trip, and records without them still decode', async (t) => {
  const settings = { dim: DIM, nbits: 2 as const, seed: 1, minTrainVectors: 1, kmeansIters: 1 }
  const lexical = { k1: 0.9, b: 0.3, terms: 'surface' as const }
  const rec = { index: 'x', seq: 7, changes: [{ op: 'create' as const, settings, lexical }, { op: 'upsert' as const, dim: DIM, create: settings, lexical, documents: [] }] }
  t.same(decodeRecord(encodeRecord(rec)), rec)
  const old = { index: 'x', seq: 8, changes: [{ op: 'create' as const, settings }] }
  const back = decodeRecord(encodeRecord(old))
  t.same(back, old)
  t.notOk('lexical' in back.changes[0]!, 'a record from before lexical search has no lexical settings (defaults)')
})

t.test('WAL replay without a snapshot rebuilds the lexical side', dictionaryOnly(IPADIC_DIR), async (t) => {
  const analyzer = createLexicalAnalyzer(createMecabAnalyzer(IPADIC_DIR))
  const dataDir = mkdtempSync(join(tmpdir(), 'jacolbert-lexreplay-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const walDir = join(dataDir, 'wal')
  const k1 = 0.9
  const b = 0.3

  const live = createIndexStore({ dataDir, defaultSettings: { dim: DIM }, analyzer })
  await live.restoreAll()
  const wal1 = createFileWal({ dir: walDir })
  await wal1.replay(new Map(), () => t.fail('the log starts empty'))
  const writer = createChangeWriter(wal1, createApplier(live))
  const settings = live.newIndexSettings({ dim: DIM })
  await writer.commit('docs', [{ op: 'create', settings, lexical: live.newLexicalSettings({ k1, b }) }])
  const docs = TEXTS.map((text, i) => ({ id: `d${i}`, vectors: vectors(i), text }))
  await writer.commit('docs', [{ op: 'upsert', dim: DIM, create: settings, lexical: live.lexicalSettings('docs'), documents: docs }])
  // a replacement (new text) and a delete, so the replay has to get both right
  await writer.commit('docs', [{ op: 'upsert', dim: DIM, create: settings, documents: [{ id: 'd1', vectors: vectors(11), text: '京都の雪景色はきれいである。' }] }])
  const del = await writer.commit('docs', [{ op: 'delete', ids: ['d6'] }])
  t.equal(del.seq, 4)
  await wal1.close()
  // no snapshot was saved: the replay below starts from nothing but the log
  // (and the original vectors' records, which live beside the snapshot folder and are written with each upsert)
  t.same(readdirSync(dataDir).sort(), ['indexes', 'wal'], 'no snapshot on disk')
  t.same(readdirSync(join(dataDir, 'indexes')), ['docs.rows'], 'only the log and the original vectors\' records')

  const replayed = createIndexStore({ dataDir, defaultSettings: { dim: DIM }, analyzer })
  await replayed.restoreAll()
  t.equal(replayed.list().length, 0, 'no snapshot was restored')
  const wal2 = createFileWal({ dir: walDir })
  const applier2 = createApplier(replayed)
  const info = await wal2.replay(replayed.snapshotSeqs(), (r) => applier2.apply(r, { replay: true }))
  t.equal(info.records, 4)
  await wal2.close()

  t.same(replayed.lexicalSettings('docs'), { k1, b, terms: 'surface' }, 'the create record brought the BM25 settings back')
  t.equal(replayed.appliedSeq('docs'), 4)
  const liveTexts = new Map(TEXTS.map((text, i) => [`d${i}`, text]))
  liveTexts.set('d1', '京都の雪景色はきれいである。')
  liveTexts.delete('d6')
  const brute = bruteForceBm25([...liveTexts].map(([id, text]) => ({ id, terms: analyzer.terms(text) })), k1, b)
  for (const q of QUERIES) {
    const a = live.searchLexical('docs', q, { k: 5 }).hits
    const r = replayed.searchLexical('docs', q, { k: 5 }).hits
    t.same(r.map((h) => h.id), a.map((h) => h.id), `${q}: same ranking as the live store`)
    for (let i = 0; i < r.length; i++) t.ok(Math.abs(r[i]!.score - a[i]!.score) < 1e-9, `${q}: same score at ${i}`)
    const want = brute(analyzer.terms(q), 5)
    t.ok(want.length > 0, `${q}: matches some document`)
    t.same(r.map((h) => h.id), want.map((h) => h.id), `${q}: the exhaustive BM25 ranking`)
    for (let i = 0; i < r.length; i++) t.ok(Math.abs(r[i]!.score - want[i]!.score) < 1e-4, `${q}: exhaustive score at ${i}`)
  }
  await live.close()
  await replayed.close()
})
