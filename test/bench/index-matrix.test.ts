import t from 'tap'
import { readdir, readFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { discordant, matrixMain, parseModes, rankSummary, signTestP, targetRanks, unprunedDetail } from '../../bench/index-matrix.js'
import { loadIndexSnapshot, originalsDirOf } from '../../src/index/snapshot.js'

/** Runs f with console.log silenced (the matrix logs its progress), restoring it however f ends. */
async function quietly<T>(f: () => Promise<T>): Promise<T> {
  const log = console.log
  console.log = () => {}
  try {
    return await f()
  } finally {
    console.log = log
  }
}

t.test('sign test: exact binomial tails under p = 1/2', async (t) => {
  // 6 discordant queries all one way: 2 · (1/2)^6
  t.ok(Math.abs(signTestP(0, 6) - 2 / 64) < 1e-12)
  t.ok(Math.abs(signTestP(8, 0) - 2 / 256) < 1e-12)
  // 14 against 25: 2 · Σ_{i ≤ 14} C(39, i) / 2^39
  let tail = 0
  let c = 1
  for (let i = 0; i <= 14; i++) {
    tail += c
    c = (c * (39 - i)) / (i + 1)
  }
  t.ok(Math.abs(signTestP(14, 25) - (2 * tail) / 2 ** 39) < 1e-12)
  t.equal(signTestP(3, 3), 1, 'an even split is capped at 1')
  t.equal(signTestP(0, 0), 1)
  const far = signTestP(0, 2000)
  t.ok(far >= 0 && far < 1e-12, 'a long one-sided run gives a tiny p, not NaN')
})

t.test('discordant queries, both ways', async (t) => {
  const { a, b } = discordant('10110', '01100')
  t.same(a, [0, 3])
  t.same(b, [1])
})

t.test('target ranks count the documents strictly above the target', async (t) => {
  // two queries over four documents
  const scores = Float32Array.from([0.5, 0.9, 0.7, 0.7, /* q1 */ 2, 1, 3, 2])
  const qrels = Int32Array.from([2, 0])
  // q0: the target (0.7) has 0.9 above it, and a tie at 0.7 that does not count; q1: 3 above 2, the tie again not
  t.same(targetRanks(scores, qrels, 4, 2), [2, 2])
  t.same(targetRanks(scores, Int32Array.from([1, 2]), 4, 2), [1, 1])
})

t.test('rank summary', async (t) => {
  t.equal(rankSummary([]), '–')
  t.equal(rankSummary([14, 11, 1, 12]), 'median 12 (1–14), 1 of them ≤ 10')
})

t.test('decoded modes: searched on a second index that keeps no original vectors', async (t) => {
  t.same(parseModes('ours, reference-decoded').map((m) => [m.name, m.decoded === true]), [['ours', false], ['reference-decoded', true]])
  t.same(parseModes('reference-decoded')[0].params(10), parseModes('reference')[0].params(10))
  t.throws(() => parseModes('ours,decoded'), /unknown mode decoded/)

  const dir = t.testdir()
  const json = join(dir, 'out.json')
  t.equal(await quietly(() => matrixMain(['--presets', 'zipf-quarter-l40', '--docs', '400', '--queries', '6', '--warmup', '1', '--cache', join(dir, 'cache'),
    '--modes', 'ours,ours-decoded', '--json', json, '--md', join(dir, 'out.md')])), 0)
  const out = JSON.parse(await readFile(json, 'utf8')) as { cells: { mode: string; k: number; final_ranking: string }[] }
  t.same(out.cells.map((c) => `${c.mode}@${c.k} ${c.final_ranking}`), ['ours@10 originals', 'ours@100 originals', 'ours-decoded@10 decoded', 'ours-decoded@100 decoded'])
  const folders = (await readdir(join(dir, 'cache', 'index'))).sort()
  t.equal(folders.length, 2, 'two indexes of the preset')
  t.ok(folders[1].endsWith('-decoded') && folders[1].startsWith(folders[0]), folders.join(' '))
  const kept = await loadIndexSnapshot(join(dir, 'cache', 'index', folders[0], 'snapshot'))
  const decoded = await loadIndexSnapshot(join(dir, 'cache', 'index', folders[1], 'snapshot'))
  t.equal(kept.stats().originals?.home, 'file')
  t.equal(decoded.stats().originals?.home, 'none', 'no original vectors')
  t.notOk(existsSync(originalsDirOf(join(dir, 'cache', 'index', folders[1], 'snapshot'))))
  t.equal(decoded.stats().centroids, kept.stats().centroids, 'trained alike')
})

t.test('stage report: each target lost at the exact stage\'s cut ranked past the documents the stage scored', async (t) => {
  t.equal(unprunedDetail({}), '')
  t.equal(unprunedDetail({ unpruned_losses: [{ query: 3, approx_rank: 58, understated_by: 1.2961, scored: 48 }] }),
    ' (q3: approximate rank 59, 48 scored, understated by 1.296)')

  const dir = t.testdir()
  const json = join(dir, 'out.json')
  // a tiny exact stage (ndocs 40: 10 documents, at most 20, + at most 5 by the unreached-token credit) so that the
  // cut loses targets on a 1,000-document set (single-topic: near-duplicate documents the approximation orders least well)
  t.equal(await quietly(() => matrixMain(['--presets', 'single-topic', '--docs', '1000', '--queries', '100', '--warmup', '1', '--cache', join(dir, 'cache'),
    '--modes', 'ours', '--candidates', 'tight:ncells=2,threshold=0.4,ndocs=40', '--stages', '--json', json, '--md', join(dir, 'out.md')])), 0)
  const out = JSON.parse(await readFile(json, 'utf8')) as { cells: { mode: string; k: number; stages: { lost_unpruned: number; unpruned_losses?: { approx_rank: number; scored: number }[] } }[] }
  const tight = out.cells.find((c) => c.mode === 'tight' && c.k === 10)!.stages
  t.ok(tight.lost_unpruned > 0, `${tight.lost_unpruned} lost at the cut`)
  t.equal(tight.unpruned_losses?.length, tight.lost_unpruned, 'each loss located in the approximate order')
  // the stage scores a prefix of the approximate order, then up to 5 documents past it: a loss ranks past that prefix
  for (const l of tight.unpruned_losses ?? []) t.ok(l.approx_rank >= l.scored - 5, `rank ${l.approx_rank} past the prefix of ${l.scored} scored`)
  t.match(await readFile(join(dir, 'out.md'), 'utf8'), /approximate rank \d+, \d+ scored, understated by/)
})
