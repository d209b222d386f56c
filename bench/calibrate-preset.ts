/**
 * How a preset's query noise was chosen: exact MaxSim success@10 (brute force, bench/exact-maxsim.ts) of a preset's
 * queries at several query-noise levels, on the preset's own documents (the mixture model draws documents and queries
 * from separate streams, so the documents are the same at every level). Only exact MaxSim is consulted — never an
 * index — so the presets are not fitted to the engine under test.
 *
 *   npx tsx bench/calibrate-preset.ts --preset NAME --noises 0.9,1.1,1.3  [--queries 100] [--fraction 1] [--set key=value …]
 *
 * --fraction f < 1 is the cheap proxy: f·N documents drawn from the same distribution (same topic count, so the same
 * popularity curve), and success@(10·f) among them estimates success@10 among N (the target must beat the same
 * share of the collection). Cost S·32·f·T·dim.
 */
import { parseArgs } from 'node:util'
import { findPreset, generate, type DataModel } from './data-models.js'
import { exactScores } from './exact-maxsim.js'

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { preset: { type: 'string' }, noises: { type: 'string' }, queries: { type: 'string', default: '100' }, fraction: { type: 'string', default: '1' }, set: { type: 'string', multiple: true } } })
  if (values.preset === undefined || values.noises === undefined) {
    console.error('usage: npx tsx bench/calibrate-preset.ts --preset NAME --noises 0.9,1.1,1.3 [--queries 100] [--fraction 1]')
    return 2
  }
  const preset = findPreset(values.preset)
  if (preset.model.kind !== 'mixture') throw new Error('only mixture presets keep their documents when the query noise changes')
  const noises = values.noises.split(',').map(Number)
  // --set key=value (repeatable): try a model parameter (numbers without editing the preset
  // (a pair as lo:hi, e.g. queryShare=0.3:0.4)
  const overrides: Record<string, number | number[]> = Object.fromEntries((values.set ?? []).map((kv) => {
    const [key, v] = kv.split('=')
    return [key, v.includes(':') ? v.split(':').map(Number) : Number(v)]
  }))
  const nq = Number(values.queries)
  const frac = Number(values.fraction)
  const kAt = Math.max(1, Math.round(10 * frac))
  const t0 = performance.now()
  let docSide: { dim: number; nDocs: number; docs: Float32Array; doclens: Int32Array; docOffsets: Float64Array } | undefined
  const qAll: Float32Array[] = []
  const qrelsAll: Int32Array[] = []
  let L = 0
  for (const noise of noises) {
    const model: DataModel = { ...preset.model, ...overrides, queryNoise: noise, queries: nq, docs: Math.round(preset.model.docs * frac), docsPerTopic: preset.model.docsPerTopic * frac }
    const g = generate(model, preset.seed)
    L = g.queryLen
    if (docSide === undefined) {
      const nDocs = g.doclens.length
      const docOffsets = new Float64Array(nDocs + 1)
      for (let d = 0; d < nDocs; d++) docOffsets[d + 1] = docOffsets[d] + g.doclens[d]
      const docs = new Float32Array(docOffsets[nDocs] * g.dim)
      let o = 0
      for (const c of g.docs) { docs.set(c, o); o += c.length }
      docSide = { dim: g.dim, nDocs, docs, doclens: g.doclens, docOffsets }
    } else {
      for (const _ of g.docs) { /* drain: queries are built while documents stream */ }
    }
    qAll.push(g.queries)
    qrelsAll.push(g.qrels)
  }
  const qs = new Float32Array(qAll.reduce((s, q) => s + q.length, 0))
  let o = 0
  for (const q of qAll) { qs.set(q, o); o += q.length }
  console.log(`${preset.name}: ${docSide!.nDocs} docs, ${docSide!.docOffsets[docSide!.nDocs]} vectors; generated in ${((performance.now() - t0) / 1000).toFixed(0)} s`)
  const t1 = performance.now()
  const scores = exactScores(docSide!, qs, L)
  const n = docSide!.nDocs
  noises.forEach((noise, li) => {
    let ok = 0
    for (let q = 0; q < nq; q++) {
      const row = (li * nq + q) * n
      const target = scores[row + qrelsAll[li][q]]
      let above = 0
      for (let d = 0; d < n; d++) if (scores[row + d] > target) above++
      if (above < kAt) ok++
    }
    console.log(`${preset.name} query-noise ${noise}: exact success@${kAt} of ${n} docs ${(ok / nq).toFixed(3)} (${nq} queries; estimates success@10 of ${preset.model.docs})`)
  })
  console.log(`exact in ${((performance.now() - t1) / 1000).toFixed(0)} s`)
  return 0
}

process.exitCode = await main(process.argv.slice(2))
