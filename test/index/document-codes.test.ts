/**
 * codeRuns and copyRunCodes against plain computations: every run within the limit unless it is one longer document,
 * runs covering the slots in order, and the codes and ends copied as the documents hold them.
 */
import t from 'tap'
import { codeRuns, copyRunCodes } from '../../src/index/document-codes.js'
import { createPrng } from '../../src/index/prng.js'

t.test('runs cover the slots in order within the limit, and their codes are copied back to back', async (t) => {
  const rng = createPrng(9)
  const nDocs = 60
  const docLen = Uint32Array.from({ length: nDocs }, (_, i) => (i % 11 === 0 ? 0 : 1 + rng.int(40)))
  const docStart = new Uint32Array(nDocs)
  for (let i = 1; i < nDocs; i++) docStart[i] = docStart[i - 1] + docLen[i - 1]
  const codes = Uint16Array.from({ length: docStart[nDocs - 1] + docLen[nDocs - 1] }, () => rng.int(65536))
  const slots = Uint32Array.from({ length: 45 }, () => rng.int(nDocs))
  for (const limit of [1, 25, 100, 1 << 15]) {
    const { bounds, totals, maxDocs, maxCodes } = codeRuns(docLen, slots, limit)
    t.equal(bounds[0], 0, `limit ${limit}: the first run starts at the first slot`)
    t.equal(bounds[bounds.length - 1], slots.length, `limit ${limit}: the last run ends at the last slot`)
    let wantDocs = 0, wantCodes = 0, bad = 0
    for (let r = 0; r + 1 < bounds.length; r++) {
      const i0 = bounds[r], i1 = bounds[r + 1]
      let total = 0
      for (let i = i0; i < i1; i++) total += docLen[slots[i]]
      if (i1 <= i0 || (total > limit && i1 - i0 > 1) || totals[r] !== total) bad++
      // a run stops only where the next document would break the limit
      if (i1 < slots.length && total + docLen[slots[i1]] <= limit) bad++
      wantDocs = Math.max(wantDocs, i1 - i0)
      wantCodes = Math.max(wantCodes, total)
      const into = new Uint16Array(maxCodes), ends = new Int32Array(i1 - i0)
      copyRunCodes(codes, docStart, docLen, slots, i0, i1, into, ends)
      const want: number[] = []
      for (let i = i0; i < i1; i++) {
        want.push(...codes.subarray(docStart[slots[i]], docStart[slots[i]] + docLen[slots[i]]))
        if (ends[i - i0] !== want.length) bad++
      }
      if (Array.from(into.subarray(0, want.length)).join() !== want.join()) bad++
    }
    t.equal(totals.length, bounds.length - 1, `limit ${limit}: a total per run`)
    t.equal(bad, 0, `limit ${limit}: ${bounds.length - 1} runs, each within the limit or one document, its total, codes and ends as held`)
    t.same([maxDocs, maxCodes], [wantDocs, wantCodes], `limit ${limit}: the largest run's documents and codes`)
  }
})
