/**
 * ORT_SPINNING: on (the default, onnxruntime's own), its threads spin-wait for work after each run and burn CPU while
 * the encoder is idle; off, they sleep. Measured as the process's CPU time over encodes separated by
 * idle gaps: what the option changes is exactly that CPU, whatever the machine's speed or load.
 */
import t from 'tap'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { createEncoder } from '../../src/encoder/index.js'
import { makeRandomCheckpoint } from '../helpers/make-checkpoint.js'
import { syntheticTokenizer } from '../helpers/synthetic-tokenizer.js'

const MODEL = { vocabSize: 200, hidden: 64, heads: 4, intermediate: 128, layers: 2, dim: 16, docMaxlen: 300 }
const ROUNDS = 20
const GAP_MS = 25

/** CPU ms of this process (all threads) and wall ms over ROUNDS query encodes, each followed by an idle gap. */
async function cpuOverIdleGaps(dir: string, spinning: boolean | undefined): Promise<{ cpuMs: number; wallMs: number }> {
  const enc = await createEncoder({ modelDir: dir, providers: ['cpu'], threads: 2, tokenizer: syntheticTokenizer(16, 200), ...(spinning === undefined ? {} : { spinning }) })
  try {
    for (let i = 0; i < 3; i++) await enc.encodeQueries([`32:${i + 1}`])
    await sleep(GAP_MS)
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    for (let i = 0; i < ROUNDS; i++) {
      await enc.encodeQueries([`32:${i + 7}`])
      await sleep(GAP_MS)
    }
    const c = process.cpuUsage(c0)
    return { cpuMs: (c.user + c.system) / 1000, wallMs: performance.now() - t0 }
  } finally {
    await enc.close()
  }
}

t.test('spinning off leaves the cores idle between encodes; on (the default), the threads burn CPU there', async (t) => {
  const dir = await makeRandomCheckpoint(join(t.testdir(), 'm'), MODEL)
  const off = await cpuOverIdleGaps(dir, false)
  const on = await cpuOverIdleGaps(dir, undefined)
  t.comment(`CPU over ${ROUNDS} encodes with ${GAP_MS} ms gaps: off ${off.cpuMs.toFixed(0)} ms (wall ${off.wallMs.toFixed(0)}), on ${on.cpuMs.toFixed(0)} ms (wall ${on.wallMs.toFixed(0)})`)
  // off: the encodes themselves (a 2-layer, 64-wide model: well under a millisecond each) and the event loop's timers
  t.ok(off.cpuMs < 0.25 * off.wallMs, `spinning off: CPU ${off.cpuMs.toFixed(0)} ms is under a quarter of the ${off.wallMs.toFixed(0)} ms, mostly idle, wall`)
  t.ok(on.cpuMs > 2 * off.cpuMs, `spinning on burns more than twice the CPU: ${on.cpuMs.toFixed(0)} vs ${off.cpuMs.toFixed(0)} ms`)
})
