/**
 * The ColBERT encoder: text -> tokenizer (main thread) -> dynamic batching -> ONNX worker threads -> per-text
 * L2-normalised vectors. This folder is the only importer of onnxruntime-node (in onnx-worker.ts, on worker threads,
 * so `session.run()` never blocks the event loop; with ENCODER_PRECISION=int8 also once on the main thread at start,
 * for int8-gemm-probe.ts).
 *
 * Batching: concurrent requests queue per text; a batch is taken when a worker is free and either the oldest text
 * has waited batchWaitMs or enough tokens of its kind wait to fill maxBatchTokens (see batch-scheduler.ts). The
 * queue is bounded (maxQueueTexts); beyond it callers get AppError('OVERLOADED') with a retry hint.
 */
import { availableParallelism } from 'node:os'
import { AppError } from '../errors.js'
import { loadCheckpoint } from '../model/checkpoint.js'
import type { GraphVariant } from '../model/onnx/colbert-graph.js'
import { ensureConvertedGraph } from '../model/onnx/onnx-cache.js'
import type { ColbertSettings } from '../tokenizer/colbert-settings.js'
import { loadColbertTokenizer, type ColbertTokenizer, type TokenizedText } from '../tokenizer/colbert-tokenizer.js'
import { chooseAnchor, pickBatch, waitingTokens } from './batch-scheduler.js'
import { providerUnavailableReason, variantFor, type EncoderPrecision } from './graph-selection.js'
import { signedInt8GemmIsExact } from './int8-gemm-probe.js'
import { startOnnxWorker, type OnnxWorker } from './worker-pool.js'

export interface EncodedText { vectors: Float32Array /* n×dim row-major, L2-normalised */; n: number; dim: number; tokens?: string[] }
export interface EncoderBatchEvent { kind: 'query' | 'document'; texts: number; tokens: number; queueWaitMs: number; computeMs: number; /** which worker ran it (OnnxWorker.id) */ worker: number }
export interface Encoder {
  readonly modelName: string
  readonly dim: number
  readonly provider: string
  readonly settings: ColbertSettings
  encodeQueries(texts: string[], opts?: { returnTokens?: boolean; dynamicLength?: boolean }): Promise<EncodedText[]>
  encodeDocuments(texts: string[], opts?: { returnTokens?: boolean; maxLength?: number }): Promise<EncodedText[]>
  queueDepth(): number
  close(): Promise<void>
}
export interface EncoderLogger { info(o: object, msg?: string): void; warn(o: object, msg?: string): void }
export interface EncoderOptions {
  modelDir: string
  /** Shown as Encoder.modelName (e.g. the hub repo id MODEL named); default modelDir. */
  modelName?: string
  dicdir?: string
  providers?: string[]
  threads?: number
  /**
   * Whether onnxruntime's threads spin-wait for work between and after runs (ORT_SPINNING; default true, onnxruntime's
   * own). On 2 cores, sleeping instead cost a query encode a third less CPU but made requests 1.08–1.15× slower
   * (BENCHMARKS.md § A search request on a CPU encoder).
   */
  spinning?: boolean
  workers?: number
  maxBatchTokens?: number
  maxQueueTexts?: number
  batchWaitMs?: number
  onBatch?: (e: EncoderBatchEvent) => void
  logger?: EncoderLogger
  /** Force one graph variant for every provider (benchmarks, tests); default fp16-fused on cuda, fp32-fused on cpu. */
  graphVariant?: GraphVariant
  /** CPU provider graph precision (ENCODER_PRECISION): fp32 (default) or int8 (int8-fused or int8-u8u8-fused, whichever this CPU runs exactly). Ignored with graphVariant. */
  precision?: EncoderPrecision
  /** Where converted graphs are cached (default <modelDir>/onnx). */
  graphCacheDir?: string
  /** Inject a tokenizer (tests); default loadColbertTokenizer(modelDir, { dicdir }). */
  tokenizer?: ColbertTokenizer
  /** Tests only: workers exit (for real) on a batch holding this token id; see WorkerInit.exitOnTokenId. */
  testWorkerExitOnTokenId?: number
}

/**
 * maxBatchTokens (CPU provider; maxBatchTokensGpu otherwise): on CPU a bigger batch barely raises throughput (measured: 300-token documents/s equal at batch 1
 * and 16) but every text in it waits for the whole batch, so batches stay small; a GPU needs large ones.
 */
export const ENCODER_DEFAULTS = { maxBatchTokens: 2048, maxBatchTokensGpu: 16384, maxQueueTexts: 2048, batchWaitMs: 5, workers: 1, maxDocDelayMs: 2000 }

interface Job {
  kind: 'query' | 'document'
  tok: TokenizedText
  len: number
  enqueuedAt: number
  returnTokens: boolean
  resolve(v: EncodedText): void
  reject(e: Error): void
}

const silentLogger: EncoderLogger = { info() {}, warn() {} }
/** How many texts are tokenised before yielding to the event loop (keeps health checks prompt during big requests). */
const TOKENIZE_SLICE = 8

export async function createEncoder(opts: EncoderOptions): Promise<Encoder> {
  const log = opts.logger ?? silentLogger
  const maxQueueTexts = opts.maxQueueTexts ?? ENCODER_DEFAULTS.maxQueueTexts
  const batchWaitMs = opts.batchWaitMs ?? ENCODER_DEFAULTS.batchWaitMs
  const nWorkers = Math.max(1, opts.workers ?? ENCODER_DEFAULTS.workers)
  const threads = opts.threads ?? Math.max(1, Math.floor(availableParallelism() / nWorkers))
  const spinning = opts.spinning ?? true

  const ckpt = await loadCheckpoint(opts.modelDir)
  const settings = ckpt.settings
  const tokenizer = opts.tokenizer ?? loadColbertTokenizer(opts.modelDir, opts.dicdir ? { dicdir: opts.dicdir } : {})

  // Providers: drop the ones that cannot load here (with the reason), convert/cache a graph for each remaining one.
  const requested = (opts.providers && opts.providers.length ? opts.providers : ['cuda', 'cpu']).map((p) => p.trim().toLowerCase())
  const graphs: Record<string, string> = {}
  const providers: string[] = []
  for (const p of requested) {
    const why = providerUnavailableReason(p)
    if (why) {
      log.warn({ provider: p, reason: why }, `execution provider ${p} unavailable; falling back`)
      continue
    }
    const probeInt8 = p === 'cpu' && opts.precision === 'int8' && !opts.graphVariant
    const signedInt8Exact = probeInt8 ? await signedInt8GemmIsExact() : true
    if (probeInt8 && !signedInt8Exact) log.info({ provider: p }, "this CPU's u8·s8 integer GEMM saturates (no VNNI): int8 weights stored unsigned, exact but slower")
    const variant = variantFor(p, opts.graphVariant, opts.precision, signedInt8Exact)
    const t0 = performance.now()
    const g = await ensureConvertedGraph(ckpt, variant, opts.graphCacheDir ? { cacheDir: opts.graphCacheDir } : {})
    log.info({ provider: p, variant, graph: g.path, converted: g.converted, ms: Math.round(performance.now() - t0) }, g.converted ? 'converted checkpoint to ONNX' : 'using cached ONNX graph')
    graphs[p] = g.path
    providers.push(p)
  }
  if (!providers.length) throw new AppError('ENCODER_FAILED', `none of the execution providers ${requested.join(', ')} can run here`, { providers: requested })

  const workers: OnnxWorker[] = []
  const idle: OnnxWorker[] = []
  let closed = false
  const startWorker = async (): Promise<OnnxWorker> => {
    let w: OnnxWorker | undefined
    const init = { graphs, providers, threads, spinning, ...(opts.testWorkerExitOnTokenId !== undefined ? { exitOnTokenId: opts.testWorkerExitOnTokenId } : {}) }
    w = await startOnnxWorker(init, (err) => {
      log.warn({ err: err.message }, 'encoder worker stopped; starting a new one')
      const i = w ? workers.indexOf(w) : -1
      if (i >= 0) workers.splice(i, 1)
      const j = w ? idle.indexOf(w) : -1
      if (j >= 0) idle.splice(j, 1)
      if (!closed) {
        startWorker().then((nw) => {
          idle.push(nw)
          dispatch()
        }, (e: Error) => log.warn({ err: e.message }, 'could not restart encoder worker'))
      }
    })
    workers.push(w)
    return w
  }
  for (let i = 0; i < nWorkers; i++) idle.push(await startWorker())
  const provider = workers[0]!.provider
  const maxBatchTokens = opts.maxBatchTokens ?? (provider === 'cpu' ? ENCODER_DEFAULTS.maxBatchTokens : ENCODER_DEFAULTS.maxBatchTokensGpu)
  for (const f of workers[0]!.failures) log.warn({ provider: f.provider, reason: f.error }, `execution provider ${f.provider} failed to load; falling back`)
  log.info({ provider, workers: nWorkers, threads, spinning, dim: settings.dim, maxBatchTokens }, `encoder running on ${provider}`)

  const queue: Job[] = []
  let timer: NodeJS.Timeout | undefined
  // Throughput estimate (tokens/s, exponential average) for the Retry-After hint.
  let tokensPerSecond = 0

  function dispatch(): void {
    if (timer) {
      clearTimeout(timer)
      timer = undefined
    }
    while (idle.length && queue.length) {
      const now = performance.now()
      const anchor = chooseAnchor(queue, now, ENCODER_DEFAULTS.maxDocDelayMs)!
      const waited = now - anchor.enqueuedAt
      if (waited < batchWaitMs && waitingTokens(queue, anchor.kind) < maxBatchTokens) {
        timer = setTimeout(dispatch, Math.max(0, batchWaitMs - waited))
        return
      }
      const batch = pickBatch(queue, maxBatchTokens, anchor)
      const taken = new Set(batch)
      for (let i = queue.length - 1; i >= 0; i--) if (taken.has(queue[i]!)) queue.splice(i, 1)
      void runBatch(idle.pop()!, batch)
    }
  }

  async function runBatch(worker: OnnxWorker, batch: Job[]): Promise<void> {
    const seq = batch.reduce((m, j) => Math.max(m, j.len), 0)
    const B = batch.length
    // Right-padded [B, seq] with [PAD] ids and attention 0. O(B·seq).
    const inputIds = new Int32Array(B * seq).fill(tokenizer.padId)
    const mask = new Uint8Array(B * seq)
    let tokens = 0
    for (let b = 0; b < B; b++) {
      const { ids, attentionMask } = batch[b]!.tok
      inputIds.set(ids, b * seq)
      mask.set(attentionMask, b * seq)
      tokens += ids.length
    }
    const start = performance.now()
    const queueWaitMs = start - batch.reduce((m, j) => Math.min(m, j.enqueuedAt), Infinity)
    try {
      const { vectors, dim, computeMs } = await worker.run(inputIds, mask, B, seq)
      const rate = tokens / Math.max(1e-3, (performance.now() - start) / 1000)
      tokensPerSecond = tokensPerSecond ? 0.8 * tokensPerSecond + 0.2 * rate : rate
      for (let b = 0; b < B; b++) batch[b]!.resolve(extract(batch[b]!, vectors, b, seq, dim))
      opts.onBatch?.({ kind: batch[0]!.kind, texts: B, tokens, queueWaitMs, computeMs, worker: worker.id })
    } catch (err) {
      for (const j of batch) j.reject(err as Error)
    } finally {
      if (workers.includes(worker)) idle.push(worker)
      dispatch()
    }
  }

  /** Rows of one text from the batch output: queries keep every position, documents the keepMask ones. O(n·dim). */
  function extract(job: Job, all: Float32Array, b: number, seq: number, dim: number): EncodedText {
    const base = b * seq * dim
    const keep = job.kind === 'document' ? job.tok.keepMask : undefined
    const n = keep ? keep.reduce((s, k) => s + k, 0) : job.len
    const vectors = new Float32Array(n * dim)
    let r = 0
    for (let i = 0; i < job.len; i++) {
      if (keep && !keep[i]) continue
      vectors.set(all.subarray(base + i * dim, base + (i + 1) * dim), r * dim)
      r++
    }
    const out: EncodedText = { vectors, n, dim }
    if (job.returnTokens) out.tokens = keep ? job.tok.tokens.filter((_, i) => keep[i]) : job.tok.tokens.slice(0, job.len)
    return out
  }

  function checkCapacity(n: number): void {
    if (closed) throw new AppError('NOT_READY', 'the encoder is closed')
    if (queue.length + n > maxQueueTexts) {
      const waiting = queue.reduce((s, j) => s + j.len, 0)
      const retryAfterS = Math.min(60, Math.max(1, Math.ceil(tokensPerSecond ? waiting / tokensPerSecond : 1)))
      throw new AppError('OVERLOADED', `the encoder queue is full (${queue.length} texts waiting, limit ${maxQueueTexts}); retry in ${retryAfterS} s`, { retryAfterS, queued: queue.length, limit: maxQueueTexts })
    }
  }

  async function encode(kind: Job['kind'], texts: string[], returnTokens: boolean, dynamicLength: boolean, maxLength?: number): Promise<EncodedText[]> {
    checkCapacity(texts.length)
    const toks: TokenizedText[] = []
    for (let i = 0; i < texts.length; i++) {
      if (i > 0 && i % TOKENIZE_SLICE === 0) await new Promise((r) => setImmediate(r))
      toks.push(kind === 'query' ? tokenizer.tokenizeQuery(texts[i]!, { dynamicLength }) : tokenizer.tokenizeDocument(texts[i]!, maxLength !== undefined ? { maxLength } : undefined))
    }
    checkCapacity(texts.length)
    const now = performance.now()
    const results = toks.map((tok) => new Promise<EncodedText>((resolve, reject) => {
      queue.push({ kind, tok, len: tok.ids.length, enqueuedAt: now, returnTokens, resolve, reject })
    }))
    dispatch()
    return Promise.all(results)
  }

  return {
    modelName: opts.modelName ?? opts.modelDir,
    dim: settings.dim,
    provider,
    settings,
    encodeQueries: (texts, o = {}) => encode('query', texts, !!o.returnTokens, !!o.dynamicLength),
    encodeDocuments: (texts, o = {}) => encode('document', texts, !!o.returnTokens, false, o.maxLength),
    queueDepth: () => queue.length,
    async close() {
      closed = true
      if (timer) clearTimeout(timer)
      for (const j of queue.splice(0)) j.reject(new AppError('NOT_READY', 'the encoder was closed'))
      await Promise.all(workers.splice(0).map((w) => w.close()))
    },
  }
}
