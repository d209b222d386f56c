/** What the routes share: config, metrics, jobs, and the model/index parts once they are loaded. */
import { createApplier } from '../change-log/applier.js'
import { createChangeWriter, type ChangeWriter } from '../change-log/change-writer.js'
import { createNoChangeLog } from '../change-log/no-change-log.js'
import type { Config } from '../config.js'
import { AppError } from '../errors.js'
import type { JobManager } from './jobs.js'
import type { AppMetrics } from './plugins/metrics.js'
import type { CompileFilter, EncoderPort, IndexStorePort, ReplicationPort, SearchPoolPort } from './ports.js'

export interface Parts {
  encoder: EncoderPort
  indexStore: IndexStorePort
  /** absent: searches run on the event loop (SEARCH_WORKERS=0) */
  searchPool?: SearchPoolPort
  /** Every mutation goes through it (append to the change log, then apply); default: no log over `indexStore`. */
  writer: ChangeWriter
  /** Shared mode only. */
  replication?: ReplicationPort
}

export interface ServerContext {
  readonly config: Config
  readonly metrics: AppMetrics
  readonly jobs: JobManager
  readonly compileFilter: CompileFilter
  /** True once attach() ran and until shutdown begins. */
  ready(): boolean
  closing(): boolean
  /** The loaded parts, or AppError('NOT_READY') (503) while the model or snapshots are loading. */
  parts(): Parts
  attach(parts: Omit<Parts, 'writer'> & { writer?: ChangeWriter }): void
  beginClose(): void
}

export function createServerContext(opts: {
  config: Config
  metrics: AppMetrics
  jobs: JobManager
  compileFilter: CompileFilter
}): ServerContext {
  let parts: Parts | undefined
  let isClosing = false
  return {
    config: opts.config,
    metrics: opts.metrics,
    jobs: opts.jobs,
    compileFilter: opts.compileFilter,
    ready: () => parts !== undefined && !isClosing,
    closing: () => isClosing,
    parts() {
      if (!parts) throw new AppError('NOT_READY', 'the model and indexes are still loading; retry shortly', { retryAfterS: 5 })
      return parts
    },
    attach(given) {
      const p: Parts = { ...given, writer: given.writer ?? createChangeWriter(createNoChangeLog(), createApplier(given.indexStore)) }
      parts = p
      opts.metrics.setModelInfo({ model: p.encoder.modelName, provider: p.encoder.provider, dim: p.encoder.dim })
      opts.metrics.bindSources({
        queueDepth: () => p.encoder.queueDepth(),
        indexes: () => p.indexStore.list(),
        replication: () => p.replication?.status(),
      })
    },
    beginClose() {
      isClosing = true
    },
  }
}
