import t from 'tap'
import { orderByLength, packBatch, splitByTokenBudget, type TokenizedText } from '../../src/tokenizer/index.js'

function item(ids: number[], mask?: number[]): TokenizedText {
  return {
    words: [],
    tokens: ids.map(String),
    ids: Int32Array.from(ids),
    attentionMask: Uint8Array.from(mask ?? ids.map(() => 1)),
    keepMask: undefined,
  }
}

t.test('packBatch: row-major int64, right padding with padId and attention 0', async (t) => {
  const items = [item([2, 6, 10, 3]), item([2, 6, 3]), item([2, 5, 3, 4, 4], [1, 1, 1, 0, 0])]
  const b = packBatch(items, 7)
  t.equal(b.batchSize, 3)
  t.equal(b.seqLen, 5)
  t.type(b.inputIds, BigInt64Array)
  t.type(b.attentionMask, BigInt64Array)
  t.same([...b.inputIds].map(Number), [2, 6, 10, 3, 7, 2, 6, 3, 7, 7, 2, 5, 3, 4, 4])
  t.same([...b.attentionMask].map(Number), [1, 1, 1, 1, 0, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0], "a query's own [MASK] attention is kept")
  const zero = packBatch(items.slice(0, 2), 0)
  t.same([...zero.inputIds].map(Number), [2, 6, 10, 3, 2, 6, 3, 0])
  const empty = packBatch([], 0)
  t.same([empty.batchSize, empty.seqLen, empty.inputIds.length], [0, 0, 0])
})

t.test('orderByLength and splitByTokenBudget', async (t) => {
  const items = [item([1, 1]), item([1, 1, 1, 1, 1]), item([1]), item([1, 1, 1, 1, 1]), item([1, 1, 1])]
  const order = orderByLength(items)
  t.same(order, [1, 3, 4, 0, 2], 'longest first, ties in input order')
  const groups = splitByTokenBudget(items, order, 10)
  t.same(groups, [[1, 3], [4, 0, 2]])
  for (const g of groups) {
    const longest = Math.max(...g.map((i) => items[i].ids.length))
    t.ok(longest * g.length <= 10 || g.length === 1, 'each group fits the padded budget')
  }
  t.same(splitByTokenBudget(items, order, 3), [[1], [3], [4], [0], [2]], 'over-budget texts get a group of their own')
  t.same(splitByTokenBudget(items, order, 1000), [order])
})
