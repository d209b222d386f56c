/**
 * Worker thread that owns one onnxruntime session. `session.run()` blocks its thread for the whole batch, which is
 * why it lives here and not on the event loop. Providers are tried in order (e.g. cuda, then cpu); the reply says
 * which one runs and why the others did not load.
 */
import { parentPort, workerData } from 'node:worker_threads'
import * as ort from 'onnxruntime-node'
import type { WorkerInit, WorkerReply, WorkerRequest } from './worker-protocol.js'

const port = parentPort
if (!port) throw new Error('onnx-worker must run in a worker thread')
const init = workerData as WorkerInit

function sessionOptions(provider: string): ort.InferenceSession.SessionOptions {
  const allowSpinning = init.spinning ? '1' : '0'
  return {
    executionProviders: [provider],
    graphOptimizationLevel: 'all',
    // One session per thread; ORT's own pool does the parallel math.
    intraOpNumThreads: init.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    enableCpuMemArena: true,
    enableMemPattern: true,
    // sleeping threads save the CPU that spinning burns while the encoder idles, at some latency per parallel section
    extra: { session: { intra_op: { allow_spinning: allowSpinning }, inter_op: { allow_spinning: allowSpinning } } },
  }
}

async function start(): Promise<{ session: ort.InferenceSession; provider: string } | undefined> {
  const failures: Array<{ provider: string; error: string }> = []
  const supported = new Set(ort.listSupportedBackends().map((b) => b.name))
  for (const provider of init.providers) {
    const graph = init.graphs[provider]
    if (!graph) {
      failures.push({ provider, error: 'no graph for this provider' })
      continue
    }
    if (!supported.has(provider)) {
      failures.push({ provider, error: `not available in this onnxruntime-node build (available: ${[...supported].join(', ')})` })
      continue
    }
    try {
      const session = await ort.InferenceSession.create(graph, sessionOptions(provider))
      port!.postMessage({ type: 'ready', provider, failures } satisfies WorkerReply)
      return { session, provider }
    } catch (err) {
      failures.push({ provider, error: (err as Error).message })
    }
  }
  port!.postMessage({ type: 'init-failed', failures } satisfies WorkerReply)
  return undefined
}

const started = await start()
if (started) {
  const { session } = started
  port.on('message', async (msg: WorkerRequest) => {
    if (msg.type === 'close') {
      await session.release()
      port.close()
      return
    }
    if (init.exitOnTokenId !== undefined && msg.ids.includes(init.exitOnTokenId)) process.exit(3)
    const t0 = performance.now()
    try {
      // int32/uint8 -> int64 here rather than on the event loop (BigInt conversion is ~19k calls for 64 x 300).
      const n = msg.batch * msg.seq
      const inputIds = new BigInt64Array(n)
      const attentionMask = new BigInt64Array(n)
      for (let i = 0; i < n; i++) {
        inputIds[i] = BigInt(msg.ids[i]!)
        attentionMask[i] = msg.mask[i] ? 1n : 0n
      }
      const feeds = {
        input_ids: new ort.Tensor('int64', inputIds, [msg.batch, msg.seq]),
        attention_mask: new ort.Tensor('int64', attentionMask, [msg.batch, msg.seq]),
      }
      const out = await session.run(feeds)
      const t = out.vectors!
      // Copy out of ORT's buffer (which may be native memory that cannot be transferred), then transfer the copy.
      const vectors = (t.data as Float32Array).slice()
      const dim = t.dims[2] as number
      const reply: WorkerReply = { type: 'result', id: msg.id, vectors, dim, computeMs: performance.now() - t0 }
      port.postMessage(reply, [vectors.buffer as ArrayBuffer])
    } catch (err) {
      port.postMessage({ type: 'error', id: msg.id, message: (err as Error).message } satisfies WorkerReply)
    }
  })
} else {
  port.close()
}
