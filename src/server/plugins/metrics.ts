/**
 * Prometheus metrics on a registry of the app's own (never the global one, so several apps can live in one process).
 * Names are a contract with the Grafana dashboard (COMMON.md); changes go into /work/coord/metrics-changes.md.
 * Gauges that mirror state (queue depth, index sizes, snapshot age, jobs) are filled at scrape time from callbacks,
 * so nothing has to remember to update them.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { ChangeLogObserver } from '../../change-log/change-log.js'
import type { EncoderBatchEvent, IndexStats, ReplicationStatus, SearchStage } from '../ports.js'

export interface MetricsSources {
  queueDepth(): number
  indexes(): Array<{ name: string; stats: IndexStats; lastSnapshotAt: number | undefined }>
  jobs(): Record<string, number>
  /** The change log: kind, last assigned seq, and (write-ahead log only) its files. */
  changeLog(): { kind: string; lastSeq: number; segments?: number; bytes?: number } | undefined
  /** Shared mode only (a PostgreSQL change log); undefined otherwise, and the replication gauges stay empty. */
  replication(): ReplicationStatus | undefined
}

export interface AppMetrics {
  readonly registry: Registry
  readonly httpRequests: Counter<'route' | 'method' | 'status_code'>
  readonly httpDuration: Histogram<'route' | 'method' | 'status_code'>
  readonly searchStage: Histogram<'stage'>
  readonly snapshotDuration: Histogram<string>
  readonly backpressure: Counter<'reason'>
  /** Feed to the change log adapter (appends, fsyncs). */
  readonly changeLogObserver: ChangeLogObserver
  /** Feed to createEncoder({ onBatch }). */
  observeEncoderBatch(e: EncoderBatchEvent): void
  observeSearch(timingsMs: Partial<Record<SearchStage, number>>, totalMs: number): void
  /** Lexical (BM25) stages: lexical_analyze, lexical_postings, lexical_topk, plus lexical_total. */
  observeLexicalSearch(timingsMs: Partial<Record<string, number>>, totalMs: number): void
  /** Time to fuse the two lists of a hybrid search (stage `fusion`). */
  observeFusion(ms: number): void
  setModelInfo(info: { model: string; provider: string; dim: number }): void
  /** Where the state gauges read from; set once the encoder and index store exist. */
  bindSources(sources: Partial<MetricsSources>): void
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
const STAGE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]

export function createMetrics(registry: Registry = new Registry(), opts: { defaultMetrics?: boolean } = {}): AppMetrics {
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'jacolbert_' })
  const startedAt = Date.now()
  const sources: MetricsSources = { queueDepth: () => 0, indexes: () => [], jobs: () => ({}), changeLog: () => undefined, replication: () => undefined }

  const httpRequests = new Counter({
    name: 'jacolbert_http_requests_total',
    help: 'HTTP requests by route template, method and status code',
    labelNames: ['route', 'method', 'status_code'] as const,
    registers: [registry],
  })
  const httpDuration = new Histogram({
    name: 'jacolbert_http_request_duration_seconds',
    help: 'HTTP request latency by route template, method and status code',
    labelNames: ['route', 'method', 'status_code'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  })
  const batchSize = new Histogram({
    name: 'jacolbert_encoder_batch_size',
    help: 'texts per encoder batch',
    labelNames: ['kind'] as const,
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
    registers: [registry],
  })
  const batchTokens = new Histogram({
    name: 'jacolbert_encoder_batch_tokens',
    help: 'tokens (sequence positions) per encoder batch',
    labelNames: ['kind'] as const,
    buckets: [16, 64, 256, 1024, 4096, 16384, 65536, 262144],
    registers: [registry],
  })
  const queueWait = new Histogram({
    name: 'jacolbert_encoder_queue_wait_seconds',
    help: 'time texts waited in the encoder queue before their batch ran',
    labelNames: ['kind'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  })
  const compute = new Histogram({
    name: 'jacolbert_encoder_compute_seconds',
    help: 'model run time per encoder batch',
    labelNames: ['kind'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  })
  const tokensTotal = new Counter({
    name: 'jacolbert_encoder_tokens_total',
    help: 'tokens encoded (rate() gives tokens/s)',
    labelNames: ['kind'] as const,
    registers: [registry],
  })
  new Gauge({
    name: 'jacolbert_encoder_queue_depth',
    help: 'texts waiting in the encoder queue',
    registers: [registry],
    collect() {
      this.set(sources.queueDepth())
    },
  })
  const indexGauge = (name: string, help: string, pick: (s: IndexStats) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['index'] as const,
      registers: [registry],
      collect() {
        this.reset()
        for (const ix of sources.indexes()) this.set({ index: ix.name }, pick(ix.stats))
      },
    })
  indexGauge('jacolbert_index_documents', 'live documents per index', (s) => s.documents)
  indexGauge('jacolbert_index_vectors', 'stored token vectors per index', (s) => s.vectors)
  indexGauge('jacolbert_index_bytes', 'approximate in-memory bytes per index', (s) => s.bytes)
  const searchStage = new Histogram({
    name: 'jacolbert_search_stage_seconds',
    help: 'search time by stage: PLAID (centroids|candidates|approx|exact|total), lexical BM25 (lexical_analyze|lexical_postings|lexical_topk|lexical_total), hybrid fusion',
    labelNames: ['stage'] as const,
    buckets: STAGE_BUCKETS,
    registers: [registry],
  })
  new Gauge({
    name: 'jacolbert_snapshot_age_seconds',
    help: 'seconds since the index was last snapshotted (since process start if never)',
    labelNames: ['index'] as const,
    registers: [registry],
    collect() {
      this.reset()
      const now = Date.now()
      for (const ix of sources.indexes()) this.set({ index: ix.name }, (now - (ix.lastSnapshotAt ?? startedAt)) / 1000)
    },
  })
  const snapshotDuration = new Histogram({
    name: 'jacolbert_snapshot_duration_seconds',
    help: 'time to save one index snapshot (periodic and at shutdown)',
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [registry],
  })
  const backpressure = new Counter({
    name: 'jacolbert_backpressure_rejections_total',
    help: 'requests rejected with 503 OVERLOADED, by reason (encoder_queue|job_queue)',
    labelNames: ['reason'] as const,
    registers: [registry],
  })
  new Gauge({
    name: 'jacolbert_jobs',
    help: 'indexing jobs by state (finished jobs are kept for an hour)',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      this.reset()
      for (const [state, n] of Object.entries(sources.jobs())) this.set({ state }, n)
    },
  })
  const logAppends = new Counter({
    name: 'jacolbert_change_log_appends_total',
    help: 'change records made durable (one per write request or job batch)',
    registers: [registry],
  })
  const logBytes = new Counter({
    name: 'jacolbert_change_log_append_bytes_total',
    help: 'bytes of change records made durable',
    registers: [registry],
  })
  const logAppendSeconds = new Histogram({
    name: 'jacolbert_change_log_append_seconds',
    help: 'time from append to durable (write-ahead log: queue + write + fsync)',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  })
  const walFsync = new Histogram({
    name: 'jacolbert_wal_fsync_seconds',
    help: 'write-ahead log fdatasync latency (one per group commit)',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  })
  const walGroup = new Histogram({
    name: 'jacolbert_wal_group_records',
    help: 'records sharing one write-ahead log fsync (group commit)',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128],
    registers: [registry],
  })
  new Gauge({
    name: 'jacolbert_change_log_last_seq',
    help: 'highest change seq assigned by this process (label: log kind wal|off|postgres)',
    labelNames: ['log'] as const,
    registers: [registry],
    collect() {
      this.reset()
      const c = sources.changeLog()
      if (c) this.set({ log: c.kind }, c.lastSeq)
    },
  })
  new Gauge({
    name: 'jacolbert_wal_bytes',
    help: 'bytes in write-ahead log segment files (shrinks when snapshots let segments go)',
    registers: [registry],
    collect() {
      const c = sources.changeLog()
      this.set(c?.bytes ?? 0)
    },
  })
  new Gauge({
    name: 'jacolbert_wal_segments',
    help: 'write-ahead log segment files',
    registers: [registry],
    collect() {
      const c = sources.changeLog()
      this.set(c?.segments ?? 0)
    },
  })
  // shared mode (PostgreSQL change log): where this replica stands
  new Gauge({
    name: 'jacolbert_database_up',
    help: 'shared mode: 1 while the database answers, 0 while it cannot be reached (writes refused, searches served)',
    registers: [registry],
    collect() {
      this.reset()
      const st = sources.replication()
      if (st) this.set(st.databaseUp ? 1 : 0)
    },
  })
  const replicaGauge = (name: string, help: string, pick: (s: ReplicationStatus['indexes'][number]) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['index'] as const,
      registers: [registry],
      collect() {
        this.reset()
        for (const ix of sources.replication()?.indexes ?? []) this.set({ index: ix.name }, pick(ix))
      },
    })
  replicaGauge('jacolbert_replica_applied_seq', 'shared mode: last change seq this replica applied, per index', (s) => s.appliedSeq)
  replicaGauge('jacolbert_replica_head_seq', 'shared mode: last change seq in the database (as last seen), per index', (s) => s.headSeq)
  replicaGauge('jacolbert_replica_lag_changes', 'shared mode: changes in the database not yet applied here, per index', (s) => s.lagChanges)
  replicaGauge('jacolbert_replica_lag_seconds', 'shared mode: age of the oldest change not yet applied here (0 when caught up), per index', (s) => s.lagSeconds)
  new Gauge({
    name: 'jacolbert_replica_catchup_documents',
    help: 'shared mode: documents applied (state=done) of those to apply (state=total) while the replica builds or catches up at start-up',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      this.reset()
      const c = sources.replication()?.catchUp
      if (c) {
        this.set({ state: 'done' }, c.done)
        this.set({ state: 'total' }, c.total)
      }
    },
  })
  const modelInfo = new Gauge({
    name: 'jacolbert_model_info',
    help: 'the served model (value is always 1)',
    labelNames: ['model', 'provider', 'dim'] as const,
    registers: [registry],
  })

  return {
    registry,
    httpRequests,
    httpDuration,
    searchStage,
    snapshotDuration,
    backpressure,
    changeLogObserver: {
      appended(e) {
        logAppends.inc()
        logBytes.inc(e.bytes)
        logAppendSeconds.observe(e.seconds)
      },
      synced(e) {
        walFsync.observe(e.seconds)
        walGroup.observe(e.records)
      },
    },
    observeEncoderBatch(e) {
      const kind = e.kind
      batchSize.observe({ kind }, e.texts)
      batchTokens.observe({ kind }, e.tokens)
      queueWait.observe({ kind }, e.queueWaitMs / 1000)
      compute.observe({ kind }, e.computeMs / 1000)
      tokensTotal.inc({ kind }, e.tokens)
    },
    observeSearch(timingsMs, totalMs) {
      for (const [stage, ms] of Object.entries(timingsMs)) if (typeof ms === 'number') searchStage.observe({ stage }, ms / 1000)
      searchStage.observe({ stage: 'total' }, totalMs / 1000)
    },
    observeLexicalSearch(timingsMs, totalMs) {
      for (const [stage, ms] of Object.entries(timingsMs)) if (typeof ms === 'number') searchStage.observe({ stage }, ms / 1000)
      searchStage.observe({ stage: 'lexical_total' }, totalMs / 1000)
    },
    observeFusion(ms) {
      searchStage.observe({ stage: 'fusion' }, ms / 1000)
    },
    setModelInfo(info) {
      modelInfo.reset()
      modelInfo.set({ model: info.model, provider: info.provider, dim: String(info.dim) }, 1)
    },
    bindSources(s) {
      Object.assign(sources, s)
    },
  }
}
