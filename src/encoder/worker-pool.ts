/**
 * Starts ONNX worker threads. The worker module is resolved next to this file with this file's extension, so the
 * same code runs from dist (.js) and from TypeScript under tsx or tap's loader (.ts). A tiny eval'd bootstrap
 * imports it through the ESM loader. The worker inherits process.execArgv, but on Node 20 hooks that tsx or tap
 * register with module.register() do not reach worker threads (ERR_UNKNOWN_FILE_EXTENSION), so when running from
 * .ts the bootstrap first registers tsx's hooks (a dev dependency; dist never takes this path).
 */
import { Worker } from 'node:worker_threads'
import { AppError } from '../errors.js'
import type { WorkerInit, WorkerReply, WorkerRequest } from './worker-protocol.js'

export function workerModuleUrl(): URL {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js'
  return new URL(`./onnx-worker${ext}`, import.meta.url)
}

export interface OnnxWorker {
  /** Distinct per started worker in this process (a replacement gets a new one). */
  readonly id: number
  readonly provider: string
  readonly failures: Array<{ provider: string; error: string }>
  run(ids: Int32Array, mask: Uint8Array, batch: number, seq: number): Promise<{ vectors: Float32Array; dim: number; computeMs: number }>
  close(): Promise<void>
}

let workersStarted = 0

export async function startOnnxWorker(init: WorkerInit, onExit?: (err: Error) => void): Promise<OnnxWorker> {
  const url = workerModuleUrl().href
  const load = url.endsWith('.ts')
    ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(url)}) })`
    : `import(${JSON.stringify(url)})`
  const worker = new Worker(`${load}.catch((e) => { console.error(e); process.exit(70) })`, {
    eval: true,
    workerData: init,
    execArgv: process.execArgv,
  })
  const pending = new Map<number, { resolve: (r: { vectors: Float32Array; dim: number; computeMs: number }) => void; reject: (e: Error) => void }>()
  let nextId = 1
  let closing = false
  let started = false
  const ready = new Promise<{ provider: string; failures: Array<{ provider: string; error: string }> }>((resolve, reject) => {
    worker.on('message', (msg: WorkerReply) => {
      if (msg.type === 'ready') resolve({ provider: msg.provider, failures: msg.failures })
      else if (msg.type === 'init-failed') {
        const why = msg.failures.map((f) => `${f.provider}: ${f.error}`).join('; ')
        reject(new AppError('ENCODER_FAILED', `no execution provider could load the model (${why})`, { failures: msg.failures }))
      } else if (msg.type === 'result') {
        const p = pending.get(msg.id)
        pending.delete(msg.id)
        p?.resolve({ vectors: msg.vectors, dim: msg.dim, computeMs: msg.computeMs })
      } else if (msg.type === 'error') {
        const p = pending.get(msg.id)
        pending.delete(msg.id)
        p?.reject(new AppError('ENCODER_FAILED', `onnxruntime failed: ${msg.message}`))
      }
    })
    const fail = (err: Error): void => {
      reject(err)
      for (const p of pending.values()) p.reject(new AppError('ENCODER_FAILED', `encoder worker stopped: ${err.message}`))
      pending.clear()
      // Only a worker that was running is replaced; one that fails to start rejects startOnnxWorker instead.
      if (!closing && started) onExit?.(err)
    }
    worker.on('error', fail)
    worker.on('exit', (code) => {
      if (!closing || pending.size) fail(new Error(`worker exited with code ${code}`))
    })
  })
  const { provider, failures } = await ready
  started = true
  return {
    id: ++workersStarted,
    provider,
    failures,
    run(ids, mask, batch, seq) {
      return new Promise((resolve, reject) => {
        const id = nextId++
        pending.set(id, { resolve, reject })
        const req: WorkerRequest = { type: 'run', id, ids, mask, batch, seq }
        worker.postMessage(req, [ids.buffer as ArrayBuffer, mask.buffer as ArrayBuffer])
      })
    },
    async close() {
      closing = true
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
      worker.postMessage({ type: 'close' } satisfies WorkerRequest)
      const timer = setTimeout(() => void worker.terminate(), 5000)
      await exited
      clearTimeout(timer)
    },
  }
}
