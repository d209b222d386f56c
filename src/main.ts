/**
 * Process entry: config -> listen (probes answer at once; /readyz is 503 NOT_READY while loading) -> resolve the model
 * (pulled on first use) -> encoder -> restore index snapshots -> replay the change log after them -> ready.
 * SIGTERM/SIGINT: refuse new work, drain in-flight requests and the running indexing job's batch, save dirty indexes
 * (and drop the log segments they cover), close the log and the encoder, exit 0.
 */
import { rm } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { pathToFileURL } from 'node:url'
import { pino, type Logger } from 'pino'
import { createApplier } from './change-log/applier.js'
import type { ChangeLog } from './change-log/change-log.js'
import { createChangeWriter } from './change-log/change-writer.js'
import { createFileWal } from './change-log/file-wal.js'
import { isReplicated, openChangeLog, walDir, walPresent } from './change-log/open-change-log.js'
import { loadConfig, redactConfig, type Config } from './config.js'
import { createEncoder } from './encoder/index.js'
import { createIndexStore } from './index/index-store.js'
import { compileFilter } from './index/metadata-filter.js'
import { createLexicalAnalyzer } from './lexical/analyzer.js'
import { createMecabAnalyzer } from './tokenizer/mecab/index.js'
import { loadColbertTokenizer, resolveDictionaryDir } from './tokenizer/colbert-tokenizer.js'
import { createSearchPool, defaultSearchWorkers, type SearchPool } from './search-workers/search-pool.js'
import { resolveModelDir } from './model/resolve-model.js'
import { buildApp } from './server/app.js'
import { createMetrics } from './server/plugins/metrics.js'
import { describeStartupError } from './startup-error.js'

/** Give up on a graceful shutdown after this long (Kubernetes' default grace period is 30 s). */
const SHUTDOWN_TIMEOUT_MS = 25_000

export interface RunningServer {
  /** The bound address, e.g. http://127.0.0.1:8080. */
  url: string
  /** Resolves when the model and indexes are loaded (rejects when loading failed). */
  loaded: Promise<void>
  /** Graceful shutdown (what SIGTERM does, minus the exit). */
  shutdown(reason: string): Promise<void>
}

export function createLogger(config: Config): Logger {
  return pino({
    level: config.logLevel,
    base: { service: 'jacolbert' },
    // Belt and braces: request logging never includes headers, but a stray object must not leak the key either.
    redact: ['req.headers.authorization', 'headers.authorization', 'apiKey', 'hfToken'],
  })
}

export async function runServer(config: Config, opts: { logger?: Logger; handleSignals?: boolean } = {}): Promise<RunningServer> {
  const log = opts.logger ?? createLogger(config)
  const metrics = createMetrics()
  const app = buildApp({ config, logger: log, metrics, compileFilter })
  const ctx = app.jacolbert
  let parts: { encoder: { close(): Promise<void> }; store: ReturnType<typeof createIndexStore>; searchPool?: SearchPool; log?: ChangeLog } | undefined
  let shuttingDown: Promise<void> | undefined

  const shutdown = (reason: string): Promise<void> => {
    shuttingDown ??= (async () => {
      log.info({ reason }, 'shutting down: refusing new requests, draining in-flight ones')
      ctx.beginClose()
      await app.close() // stops listening, waits for in-flight requests
      await ctx.jobs.shutdown()
      if (parts) {
        await parts.store.close() // stops periodic snapshots, saves every dirty index, truncates the log
        await parts.log?.close()
        await parts.encoder.close()
        await parts.searchPool?.close()
      }
      log.info('shutdown complete')
    })()
    return shuttingDown
  }

  if (opts.handleSignals) {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.on(signal, () => {
        if (shuttingDown) {
          log.warn({ signal }, 'second signal: exiting without waiting')
          process.exit(1)
        }
        const timer = setTimeout(() => {
          log.error({ timeoutMs: SHUTDOWN_TIMEOUT_MS }, 'graceful shutdown timed out')
          process.exit(1)
        }, SHUTDOWN_TIMEOUT_MS)
        timer.unref()
        shutdown(signal).then(
          () => process.exit(0),
          (err: unknown) => {
            log.error({ err }, 'shutdown failed')
            process.exit(1)
          },
        )
      })
    }
  }

  log.info({ config: redactConfig(config) }, 'starting')
  const url = await app.listen({ host: config.host, port: config.port })
  log.info({ url }, 'listening (not ready until the model and indexes are loaded)')

  const loaded = (async () => {
    const t0 = Date.now()
    let lastLog = 0
    const modelDir = await resolveModelDir(config.model, {
      cacheDir: config.modelCacheDir,
      revision: config.modelRevision,
      endpoint: config.hfEndpoint,
      token: config.hfToken,
      onProgress: (p) => {
        const now = Date.now()
        if (now - lastLog < 5000) return
        lastLog = now
        log.info({ file: p.file, bytes: p.bytes, total: p.total }, 'downloading model')
      },
    })
    // One MeCab dictionary in memory, shared by the encoder's tokenizer and the lexical (BM25) analyser.
    const segmenter = createMecabAnalyzer(resolveDictionaryDir(modelDir, config.mecabDicdir))
    const encoder = await createEncoder({
      modelDir,
      tokenizer: loadColbertTokenizer(modelDir, { segmenter }),
      providers: [...config.ortProviders],
      ...(config.ortThreads !== undefined ? { threads: config.ortThreads } : {}),
      spinning: config.ortSpinning === 'on',
      workers: config.encoderWorkers,
      precision: config.encoderPrecision,
      ...(config.encoderMaxBatchTokens !== undefined ? { maxBatchTokens: config.encoderMaxBatchTokens } : {}),
      ...(config.encoderMaxQueue !== undefined ? { maxQueueTexts: config.encoderMaxQueue } : {}),
      ...(config.encoderBatchWaitMs !== undefined ? { batchWaitMs: config.encoderBatchWaitMs } : {}),
      onBatch: (e) => metrics.observeEncoderBatch(e),
      logger: log.child({ component: 'encoder' }),
    })
    let changeLog: ChangeLog | undefined
    const store = createIndexStore({
      dataDir: config.dataDir,
      defaultSettings: { dim: encoder.dim, nbits: config.indexNbits },
      logger: log.child({ component: 'index-store' }),
      analyzer: createLexicalAnalyzer(segmenter),
      onSnapshot: (e) => metrics.snapshotDuration.observe(e.durationMs / 1000),
      afterSaveAll: async () => changeLog?.truncate((name) => store.coveredSeq(name)),
    })
    const searchWorkers = config.searchWorkers ?? defaultSearchWorkers({ cores: availableParallelism(), provider: encoder.provider, ortThreads: config.ortThreads, encoderWorkers: config.encoderWorkers })
    const searchPool = searchWorkers > 0 ? await createSearchPool({
      workers: searchWorkers, sharing: config.searchSharing === 'on', logger: log.child({ component: 'search-pool' }),
    }) : undefined
    log.info({ searchWorkers }, searchWorkers > 0 ? `searches run on ${searchWorkers} worker threads` : 'searches run on the event loop (SEARCH_WORKERS=0)')
    parts = { encoder, store, ...(searchPool ? { searchPool } : {}) }
    await store.restoreAll()
    const logLog = log.child({ component: 'change-log' })
    const applier = createApplier(store, { logger: logLog })
    if (config.durability === 'snapshot' && (await walPresent(config.dataDir))) {
      // Records a previous DURABILITY=wal run left behind are not lost by switching the log off: fold them in first.
      const wal = createFileWal({ dir: walDir(config.dataDir), logger: logLog })
      const r = await wal.replay(store.snapshotSeqs(), (rec) => applier.apply(rec, { replay: true }))
      await store.saveAll()
      await wal.close()
      await rm(walDir(config.dataDir), { recursive: true, force: true })
      logLog.info({ records: r.records }, 'DURABILITY=snapshot: replayed the write-ahead log into snapshots and removed it')
    }
    // shared mode (DATABASE_URL): replay builds or catches up every index from the database before ready, then follows it
    changeLog = openChangeLog(config, { observer: metrics.changeLogObserver, logger: logLog, appliedSeq: (name) => applier.appliedSeq(name) })
    parts.log = changeLog
    const t1 = Date.now()
    const replayed = await changeLog.replay(store.snapshotSeqs(), (rec) => applier.apply(rec, { replay: true }))
    logLog.info({ log: changeLog.kind, ...replayed, lastSeq: changeLog.lastSeq(), ms: Date.now() - t1 }, 'change log replayed')
    const cl = changeLog
    metrics.bindSources({ changeLog: () => ({ kind: cl.kind, lastSeq: cl.lastSeq(), ...('stats' in cl ? (cl as { stats(): object }).stats() : {}) }) })
    if (shuttingDown) return
    const writer = createChangeWriter(changeLog, applier)
    ctx.attach({ encoder, indexStore: store, writer, ...(searchPool ? { searchPool } : {}), ...(isReplicated(changeLog) ? { replication: changeLog } : {}) })
    if (config.snapshotIntervalS > 0) store.startPeriodicSnapshots(config.snapshotIntervalS * 1000)
    log.info(
      { model: encoder.modelName, modelDir, dim: encoder.dim, provider: encoder.provider, indexes: store.list().length, ms: Date.now() - t0 },
      'ready',
    )
  })()
  loaded.catch(() => {}) // the caller awaits it; this only keeps an early failure from counting as unhandled
  return { url, loaded, shutdown }
}

/** `node dist/main.js` / `jacolbert serve`: exit code 1 with a one-line reason when start-up fails. */
export async function main(argv: string[]): Promise<number> {
  let config: Config
  try {
    config = loadConfig(process.env, argv)
  } catch (err) {
    process.stderr.write(`jacolbert: ${(err as Error).message}. \`jacolbert serve --help\` lists every setting.\n`)
    return 2
  }
  const log = createLogger(config)
  let server: RunningServer | undefined
  try {
    server = await runServer(config, { logger: log, handleSignals: true })
    await server.loaded
    return new Promise<number>(() => {}) // runs until a signal
  } catch (err) {
    // Said once, with the fix: the log line carries the code and the text (not the error object, whose serialised
    // message would repeat every cause), the causes' stacks go to debug.
    const failure = describeStartupError(err, config)
    log.debug({ err }, 'start-up failure with its causes')
    log.fatal({ code: failure.code }, `start-up failed: ${failure.text}`)
    process.stderr.write(`jacolbert: start-up failed: ${failure.text}\n`)
    // Stop listening (and close what did load), so the process ends however it was started (`jacolbert serve` sets
    // the exit code and waits for the event loop to drain).
    await server?.shutdown('start-up failed').catch(() => {})
    return 1
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then((code) => process.exit(code))
}
