/**
 * Service configuration: environment variables (and command-line flags mirroring them) parsed and validated once into
 * one frozen, typed object. Secrets (API_KEY, HF_TOKEN) are read from the environment only, never from flags, so they
 * do not show up in `ps` output or shell history.
 */
import { parseArgs } from 'node:util'
import { AppError } from './errors.js'

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'

export interface Config {
  /** Local checkpoint folder or Hugging Face repo id. */
  readonly model: string
  readonly modelRevision: string
  readonly modelCacheDir: string
  /** Overrides the model's own MeCab dictionary folder. */
  readonly mecabDicdir: string | undefined
  /** Where index snapshots live. */
  readonly dataDir: string
  readonly host: string
  readonly port: number
  /** When set, every route but /healthz, /readyz and /metrics needs `Authorization: Bearer <apiKey>`. */
  readonly apiKey: string | undefined
  readonly hfEndpoint: string | undefined
  readonly hfToken: string | undefined
  readonly ortProviders: readonly string[]
  readonly ortThreads: number | undefined
  /** on (default, onnxruntime's own): its threads spin-wait for work after each run; off: they sleep (less CPU, slower encodes). */
  readonly ortSpinning: 'on' | 'off'
  readonly encoderWorkers: number
  readonly encoderMaxBatchTokens: number | undefined
  readonly encoderBatchWaitMs: number | undefined
  readonly encoderMaxQueue: number | undefined
  /** Weights/activations of the CPU provider's graph: fp32 (default) or int8 (dynamic quantisation). */
  readonly encoderPrecision: 'fp32' | 'int8'
  /** Search worker threads; undefined = the cores the encoder does not use (see defaultSearchWorkers); 0 = in-process. */
  readonly searchWorkers: number | undefined
  readonly searchSharing: 'on' | 'off'
  readonly maxBodyBytes: number
  /** Most texts in one /encode, /rerank or /search/batch request; /index requests above it run as a job. */
  readonly maxBatchTexts: number
  /** Most documents accepted by one /index request (sync or job). */
  readonly maxIndexDocuments: number
  readonly maxTextChars: number
  /** 0 disables periodic snapshots (shutdown still saves). */
  readonly snapshotIntervalS: number
  readonly indexNbits: 1 | 2 | 4
  readonly logLevel: LogLevel
  // change log (src/change-log): what a write reaches before it is acknowledged
  /** `wal`: a write-ahead log in DATA_DIR/wal, fsync'ed before each answer; `snapshot`: no log, durable at the next snapshot. */
  readonly durability: 'wal' | 'snapshot'
  /** Size at which the write-ahead log starts a new segment file (whole segments are deleted once snapshots cover them). */
  readonly walSegmentBytes: number
  // shared mode (PostgreSQL change log)
  /** postgres://… ; when set, PostgreSQL is the store of record and several replicas may serve the same indexes. */
  readonly databaseUrl: string | undefined
  /** Catch-up round interval when no notification arrives. */
  readonly databasePollMs: number
  /** Longest a search with min_seq (or a write) waits for this replica to catch up before 503 REPLICA_LAGGING. */
  readonly replicaWaitMs: number
  /** How long a delete's tombstone row is kept; replicas further behind reconcile with the live ids instead. */
  readonly tombstoneRetentionS: number
  /** How often this replica purges tombstones older than the retention (0 = never). */
  readonly tombstonePurgeIntervalS: number
  /**
   * Query length when a request does not say: 'fixed' = query_maxlen tokens (ColBERT's default), 'dynamic' = padded
   * with [MASK] to the next multiple of 32 with at least 8 [MASK]s, so long queries are not cut (JaColBERTv2.5).
   */
  readonly queryLength: QueryLength
}

export type QueryLength = 'fixed' | 'dynamic'

type Parser = (raw: string, name: string) => unknown

interface VarSpec {
  env: string
  key: keyof Config
  /** Default used when the variable is unset or empty. */
  def?: string
  parse: Parser
  secret?: boolean
  help: string
}

function bad(name: string, problem: string, raw: string): never {
  throw new AppError('VALIDATION_ERROR', `${name} ${problem}, got ${JSON.stringify(raw)}`, { variable: name })
}

function int(min: number, max: number): Parser {
  return (raw, name) => {
    if (!/^-?\d+$/.test(raw.trim())) bad(name, `must be an integer in ${min}..${max}`, raw)
    const n = Number(raw.trim())
    if (!Number.isSafeInteger(n) || n < min || n > max) bad(name, `must be an integer in ${min}..${max}`, raw)
    return n
  }
}

const str: Parser = (raw) => raw
const optionalStr: Parser = (raw) => raw

function oneOf<T extends string>(values: readonly T[]): Parser {
  return (raw, name) => {
    const v = raw.trim().toLowerCase()
    if (!(values as readonly string[]).includes(v)) bad(name, `must be one of ${values.join(', ')}`, raw)
    return v
  }
}

const providers: Parser = (raw, name) => {
  const list = raw.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean)
  if (list.length === 0) bad(name, 'must list at least one execution provider (e.g. cuda,cpu)', raw)
  for (const p of list) if (!/^[a-z0-9_-]+$/.test(p)) bad(name, `has an invalid provider name ${JSON.stringify(p)}`, raw)
  return Object.freeze(list)
}

const url: Parser = (raw, name) => {
  try {
    const u = new URL(raw)
    if (u.protocol !== 'http:' && u.protocol !== 'https:') bad(name, 'must be an http(s) URL', raw)
  } catch (e) {
    if (e instanceof AppError) throw e
    bad(name, 'must be an http(s) URL', raw)
  }
  return raw.replace(/\/+$/, '')
}

const pgUrl: Parser = (raw, name) => {
  let u: URL
  try {
    u = new URL(raw)
  } catch {
    bad(name, 'must be a postgres:// URL', '<redacted>')
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') bad(name, 'must be a postgres:// URL', `${u.protocol}//…`)
  return raw
}

const nbits: Parser = (raw, name) => {
  const n = int(1, 4)(raw, name)
  if (n !== 1 && n !== 2 && n !== 4) bad(name, 'must be 1, 2 or 4', raw)
  return n
}

/** Every variable, in the order the README's table lists them. */
export const CONFIG_VARS: readonly VarSpec[] = [
  { env: 'MODEL', key: 'model', def: 'answerdotai/JaColBERTv2.5', parse: str, help: 'local checkpoint folder or Hugging Face repo id' },
  { env: 'MODEL_REVISION', key: 'modelRevision', def: 'main', parse: str, help: 'hub revision (branch, tag or commit)' },
  { env: 'MODEL_CACHE_DIR', key: 'modelCacheDir', def: './models', parse: str, help: 'where pulled checkpoints are cached' },
  { env: 'MECAB_DICDIR', key: 'mecabDicdir', parse: optionalStr, help: "MeCab dictionary folder (overrides the model's)" },
  { env: 'DATA_DIR', key: 'dataDir', def: './data', parse: str, help: 'index snapshot folder' },
  { env: 'HOST', key: 'host', def: '0.0.0.0', parse: str, help: 'listen address' },
  { env: 'PORT', key: 'port', def: '8080', parse: int(0, 65535), help: 'listen port' },
  { env: 'API_KEY', key: 'apiKey', parse: optionalStr, secret: true, help: 'bearer token required on every route but health and metrics' },
  { env: 'HF_ENDPOINT', key: 'hfEndpoint', parse: url, help: 'Hugging Face Hub endpoint (mirror)' },
  { env: 'HF_TOKEN', key: 'hfToken', parse: optionalStr, secret: true, help: 'Hugging Face token for gated/private repos' },
  { env: 'ORT_PROVIDERS', key: 'ortProviders', def: 'cuda,cpu', parse: providers, help: 'onnxruntime execution providers, in order of preference' },
  { env: 'ORT_THREADS', key: 'ortThreads', parse: int(1, 1024), help: 'intra-op threads per encoder session' },
  { env: 'ORT_SPINNING', key: 'ortSpinning', def: 'on', parse: oneOf(['on', 'off'] as const), help: "on: onnxruntime's threads spin-wait for work between and after runs (faster encodes); off: they sleep (a third less CPU per query, encodes slower)" },
  { env: 'ENCODER_WORKERS', key: 'encoderWorkers', def: '1', parse: int(1, 64), help: 'encoder worker threads' },
  { env: 'ENCODER_MAX_BATCH_TOKENS', key: 'encoderMaxBatchTokens', parse: int(1, 10_000_000), help: 'most tokens in one encoder batch' },
  { env: 'ENCODER_BATCH_WAIT_MS', key: 'encoderBatchWaitMs', parse: int(0, 10_000), help: 'how long a batch waits to fill' },
  { env: 'ENCODER_MAX_QUEUE', key: 'encoderMaxQueue', parse: int(1, 10_000_000), help: 'queued texts before requests get 503 OVERLOADED' },
  { env: 'SEARCH_WORKERS', key: 'searchWorkers', parse: int(0, 256), help: 'search worker threads (0 = search on the event loop); unset = the cores the encoder does not use' },
  { env: 'SEARCH_SHARING', key: 'searchSharing', def: 'on', parse: oneOf(['on', 'off'] as const), help: 'on: a search may hand part of its centroid scores, probe and exact stage to an idle search worker' },
  { env: 'ENCODER_PRECISION', key: 'encoderPrecision', def: 'fp32', parse: oneOf(['fp32', 'int8'] as const), help: "CPU provider graph: fp32, or int8 (dynamic quantisation; check with 'jacolbert eval' first)" },
  { env: 'MAX_BODY_BYTES', key: 'maxBodyBytes', def: String(16 * 1024 * 1024), parse: int(1024, 1024 * 1024 * 1024), help: 'request body limit (bytes)' },
  { env: 'MAX_BATCH_TEXTS', key: 'maxBatchTexts', def: '256', parse: int(1, 100_000), help: 'most texts per /encode, /rerank, /search/batch; larger /index requests run as jobs' },
  { env: 'MAX_INDEX_DOCUMENTS', key: 'maxIndexDocuments', def: '10000', parse: int(1, 10_000_000), help: 'most documents per /index request' },
  { env: 'MAX_TEXT_CHARS', key: 'maxTextChars', def: '20000', parse: int(1, 10_000_000), help: 'longest accepted text (UTF-16 code units)' },
  { env: 'SNAPSHOT_INTERVAL_S', key: 'snapshotIntervalS', def: '300', parse: int(0, 86_400 * 7), help: 'periodic snapshot interval; 0 = only on shutdown' },
  { env: 'INDEX_NBITS', key: 'indexNbits', def: '2', parse: nbits, help: 'residual bits per dimension for new indexes (1, 2 or 4)' },
  { env: 'LOG_LEVEL', key: 'logLevel', def: 'info', parse: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const), help: 'pino log level' },
  { env: 'DURABILITY', key: 'durability', def: 'wal', parse: oneOf(['wal', 'snapshot'] as const), help: 'wal = write-ahead log, answer after fsync; snapshot = durable only once snapshotted' },
  { env: 'WAL_SEGMENT_BYTES', key: 'walSegmentBytes', def: String(64 * 1024 * 1024), parse: int(4096, 1 << 30), help: 'write-ahead log segment size (bytes)' },
  { env: 'DATABASE_URL', key: 'databaseUrl', parse: pgUrl, secret: true, help: 'PostgreSQL connection URL: shared mode (store of record for several replicas)' },
  { env: 'DATABASE_POLL_MS', key: 'databasePollMs', def: '1000', parse: int(50, 600_000), help: 'catch-up interval when no change notification arrives (shared mode)' },
  { env: 'REPLICA_WAIT_MS', key: 'replicaWaitMs', def: '5000', parse: int(0, 600_000), help: 'longest wait for this replica to reach a min_seq or a write\'s predecessors (shared mode)' },
  { env: 'TOMBSTONE_RETENTION_S', key: 'tombstoneRetentionS', def: String(7 * 86_400), parse: int(0, 10 * 365 * 86_400), help: 'how long a delete\'s tombstone row is kept in PostgreSQL; a replica further behind reconciles with the live ids (shared mode)' },
  { env: 'TOMBSTONE_PURGE_INTERVAL_S', key: 'tombstonePurgeIntervalS', def: '3600', parse: int(0, 30 * 86_400), help: 'how often this replica purges tombstones older than the retention; 0 = never (shared mode)' },
  // Query length (JaColBERTv2.5's dynamic query length, per request as `query_length`)
  { env: 'QUERY_LENGTH', key: 'queryLength', def: 'fixed', parse: oneOf(['fixed', 'dynamic'] as const), help: 'query length when a request does not say: fixed (query_maxlen) or dynamic (next multiple of 32, at least 8 [MASK]s)' },
]

/** `--model-cache-dir` for MODEL_CACHE_DIR, etc. */
export function flagName(env: string): string {
  return env.toLowerCase().replace(/_/g, '-')
}

/**
 * Parse env and flags (flags win) into a frozen Config. Throws AppError('VALIDATION_ERROR') naming the variable (or
 * flag) at fault. Empty variables count as unset, the usual meaning in container manifests.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env, argv: string[] = []): Config {
  const options: Record<string, { type: 'string' }> = {}
  for (const v of CONFIG_VARS) if (!v.secret) options[flagName(v.env)] = { type: 'string' }
  let flags: Record<string, string | boolean | undefined>
  try {
    flags = parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as Record<string, string | undefined>
  } catch (e) {
    throw new AppError('VALIDATION_ERROR', `bad command-line flag: ${(e as Error).message}`)
  }
  const out: Record<string, unknown> = {}
  for (const v of CONFIG_VARS) {
    const flag = v.secret ? undefined : flags[flagName(v.env)]
    const fromFlag = typeof flag === 'string' && flag !== ''
    const raw = fromFlag ? (flag as string) : env[v.env]
    const name = fromFlag ? `--${flagName(v.env)}` : v.env
    if (raw === undefined || raw === '') {
      out[v.key] = v.def === undefined ? undefined : v.parse(v.def, v.env)
    } else {
      out[v.key] = v.parse(raw, name)
    }
  }
  const config = out as unknown as Config
  // A request of more texts than the encoder queue holds could never be accepted (503 forever).
  if (config.encoderMaxQueue !== undefined && config.maxBatchTexts > config.encoderMaxQueue) {
    throw new AppError(
      'VALIDATION_ERROR',
      `MAX_BATCH_TEXTS (${config.maxBatchTexts}) must not exceed ENCODER_MAX_QUEUE (${config.encoderMaxQueue}): such batches could never be queued`,
      { variable: 'MAX_BATCH_TEXTS' },
    )
  }
  return Object.freeze(config)
}

/** Help text for `jacolbert serve --help`. */
export function configHelp(): string {
  const rows = CONFIG_VARS.map((v) => {
    const flag = v.secret ? '(env only)' : `--${flagName(v.env)}`
    return `  ${v.env.padEnd(26)} ${flag.padEnd(28)} ${v.help}${v.def !== undefined ? ` [default: ${v.def}]` : ''}`
  })
  return rows.join('\n')
}

/** The config with secrets masked, for the start-up log line. */
export function redactConfig(config: Config): Record<string, unknown> {
  return { ...config, apiKey: config.apiKey ? '<set>' : undefined, hfToken: config.hfToken ? '<set>' : undefined, databaseUrl: config.databaseUrl ? '<set>' : undefined }
}
