/**
 * How close an int8 graph of the tiny fixture model comes to the float64 golden vectors: the cosine of every kept
 * token vector (queries: all positions; documents: real tokens outside the skiplist), worst and mean.
 */
import * as ort from 'onnxruntime-node'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ensureConvertedGraph } from '../../src/model/onnx/onnx-cache.js'
import type { GraphVariant } from '../../src/model/onnx/colbert-graph.js'
import { loadGolden } from './golden-encoding.js'
import { GOLDEN_PATH, TINY_MODEL_DIR } from './shared.js'

export interface GoldenAgreement { graphPath: string; worstCos: number; meanCos: number; worstAbs: number; tokens: number }

export async function goldenAgreement(variant: GraphVariant, cacheDir = mkdtempSync(join(tmpdir(), 'int8-golden-'))): Promise<GoldenAgreement> {
  const golden = loadGolden(GOLDEN_PATH)
  const skip = new Set(golden.skiplist_ids)
  const g = await ensureConvertedGraph(TINY_MODEL_DIR, variant, { cacheDir })
  const session = await ort.InferenceSession.create(g.path, { executionProviders: ['cpu'], intraOpNumThreads: 1 })
  let worstCos = 1
  let sumCos = 0
  let tokens = 0
  let worstAbs = 0
  try {
    for (const e of golden.encoding) {
      const L = e.ids.length
      const feeds = {
        input_ids: new ort.Tensor('int64', BigInt64Array.from(e.ids.map(BigInt)), [1, L]),
        attention_mask: new ort.Tensor('int64', BigInt64Array.from(e.attention_mask.map(BigInt)), [1, L]),
      }
      const out = (await session.run(feeds)).vectors!
      const data = out.data as Float32Array
      const dim = out.dims[2]!
      const rows = e.ids.map((_, i) => i).filter((i) => e.kind === 'query' || (e.attention_mask[i] && !skip.has(e.ids[i]!)))
      rows.forEach((r, j) => {
        let dot = 0
        for (let k = 0; k < dim; k++) {
          dot += data[r * dim + k]! * e.vectors[j * dim + k]!
          worstAbs = Math.max(worstAbs, Math.abs(data[r * dim + k]! - e.vectors[j * dim + k]!))
        }
        worstCos = Math.min(worstCos, dot)
        sumCos += dot
        tokens++
      })
    }
  } finally {
    await session.release()
  }
  return { graphPath: g.path, worstCos, meanCos: sumCos / tokens, worstAbs, tokens }
}
