/**
 * `jacolbert mine-negatives` on JSQuAD with the tiny fixture model (child process): the files are what ColBERT /
 * RAGatouille and PyLate read, every negative comes from the rank window of the exhaustive ranking that
 * `jacolbert eval --run` writes for the same queries, positives are never negatives; sampling is deterministic.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { pickNegatives } from '../../src/training/negatives.js'
import { IPADIC_DIR, JSQUAD_PATH, TINY_MODEL_DIR, dictionaryOnly, sharedOnly } from '../helpers/shared.js'
import { cli } from '../helpers/cli.js'

const skip = sharedOnly().skip || dictionaryOnly(IPADIC_DIR).skip
const MODEL_ARGS = ['--model', TINY_MODEL_DIR, '--dic', IPADIC_DIR, '--providers', 'cpu', '--threads', '1', '--quiet']

t.test('sampling is deterministic per (seed, query) and respects the window', async (t) => {
  const ranking = Array.from({ length: 100 }, (_, i) => `d${i}`)
  const qrels = new Map([['d12', 1], ['d50', 1]])
  const o = { from: 10, to: 60, count: 8, seed: 42 }
  const a = pickNegatives('q1', ranking, qrels, o)
  t.same(pickNegatives('q1', ranking, qrels, o), a, 'same seed and query: same negatives')
  t.not(JSON.stringify(pickNegatives('q1', ranking, qrels, { ...o, seed: 43 })), JSON.stringify(a), 'another seed: others')
  t.not(JSON.stringify(pickNegatives('q2', ranking, qrels, o)), JSON.stringify(a), 'another query: others')
  t.equal(new Set(a).size, 8)
  for (const id of a) {
    const rank = Number(id.slice(1)) + 1
    t.ok(rank >= 10 && rank <= 60 && id !== 'd12' && id !== 'd50', `${id} (rank ${rank}) in window, not a positive`)
  }
  t.same(pickNegatives('q1', ranking.slice(0, 13), qrels, o), ['d9', 'd10', 'd11'], 'a short window gives what it has (d12 is a positive)')
})

t.test('mine-negatives on JSQuAD, checked against eval --run', { skip }, async (t) => {
  const dir = t.testdir()
  const out = join(dir, 'train')
  const run = join(dir, 'run.trec')
  const N = 25
  const [mine, ev] = await Promise.all([
    cli(['mine-negatives', ...MODEL_ARGS, '--format', 'squad', JSQUAD_PATH, '--out', out, '--window', '2-20', '--negatives', '4', '--seed', '7', '--search', 'exhaustive', '--max-queries', String(N), '--json']),
    cli(['eval', ...MODEL_ARGS, '--preset', 'jsquad', JSQUAD_PATH, '--search', 'exhaustive', '--max-queries', String(N), '--metrics', 'recall@20', '--run', run, '--json']),
  ])
  t.equal(mine.status, 0, mine.stderr)
  t.equal(ev.status, 0, ev.stderr)
  const summary = JSON.parse(mine.stdout) as { queries: number; triples: number; pylateTriplets: number }
  t.equal(summary.queries, N)
  t.equal(summary.triples, N)
  t.equal(summary.pylateTriplets, 4 * N)

  const tsv = (name: string): Map<number, string> => new Map(readFileSync(join(out, name), 'utf8').trim().split('\n').map((l) => {
    const at = l.indexOf('\t')
    return [Number(l.slice(0, at)), l.slice(at + 1)] as [number, string]
  }))
  const corpus = tsv('corpus.train.colbert.tsv')
  const queries = tsv('queries.train.colbert.tsv')
  const corpusIds = tsv('corpus.ids.tsv')
  const queryIds = tsv('queries.ids.tsv')
  t.same([...corpus.keys()], [...corpus.keys()].map((_, i) => i), 'pids are 0-based line numbers, as ColBERT collection.tsv')
  // rankings from eval --run: qid -> docids by rank
  const ranking = new Map<string, string[]>()
  for (const line of readFileSync(run, 'utf8').trim().split('\n')) {
    const [qid, , did] = line.split(' ')
    if (!ranking.has(qid!)) ranking.set(qid!, [])
    ranking.get(qid!)!.push(did!)
  }
  // the fixture: paragraph ids are "<article>-<paragraph>", question ids are JSQuAD's own
  const d = JSON.parse(readFileSync(JSQUAD_PATH, 'utf8')) as { data: Array<{ paragraphs: Array<{ context: string; qas: Array<{ id: string; question: string }> }> }> }
  const positiveOf = new Map<string, string>()
  const questionOf = new Map<string, string>()
  d.data.forEach((a, ai) => a.paragraphs.forEach((p, pi) => p.qas.forEach((q) => { positiveOf.set(q.id, `${ai}-${pi}`); questionOf.set(q.id, q.question) })))
  const text = new Map(d.data.flatMap((a, ai) => a.paragraphs.map((p, pi) => [`${ai}-${pi}`, p.context] as [string, string])))

  const triples = readFileSync(join(out, 'triples.train.colbert.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as number[])
  let checked = 0
  for (const [q, pos, ...negs] of triples) {
    const qid = queryIds.get(q!)!
    t.equal(queries.get(q!), questionOf.get(qid), 'queries.tsv holds the question')
    t.equal(corpusIds.get(pos!), positiveOf.get(qid), 'the positive is the question\'s paragraph')
    t.equal(corpus.get(pos!), text.get(corpusIds.get(pos!)!))
    t.equal(negs.length, 4)
    const ranked = ranking.get(qid)!
    for (const n of negs) {
      const id = corpusIds.get(n!)!
      const rank = ranked.indexOf(id) + 1
      if (!(rank >= 2 && rank <= 20) || id === positiveOf.get(qid)) t.fail(`negative ${id} of ${qid} at rank ${rank}`)
      checked++
    }
  }
  t.equal(checked, 4 * N, 'every negative lies in ranks 2–20 of the exhaustive ranking and is not the positive')
  const pyl = readFileSync(join(out, 'triplets.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { query: string; positive: string; negative: string })
  t.equal(pyl.length, 4 * N)
  t.same(Object.keys(pyl[0]!), ['query', 'positive', 'negative'])
  t.equal(pyl[0]!.query, queries.get(triples[0]![0]!))
  t.equal(pyl[0]!.positive, corpus.get(triples[0]![1]!))
  t.equal(pyl[0]!.negative, corpus.get(triples[0]![2]!))
  const bad = await cli(['mine-negatives', ...MODEL_ARGS, '--format', 'squad', JSQUAD_PATH, '--out', out, '--window', '20-2'])
  t.equal(bad.status, 2)
  t.match(bad.stderr, /--window must be FROM-TO/)
})
