/**
 * Picks the change-log adapter from the configuration (see change-log.ts): DURABILITY=wal (default) → the write-ahead
 * log in DATA_DIR/wal; DURABILITY=snapshot → none. A DATABASE_URL selects PostgreSQL (shared mode; DURABILITY is then
 * moot: the database is the log).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { Config } from '../config.js'
import type { ChangeLog, ChangeLogObserver } from './change-log.js'
import { createFileWal, type FileWal, type FileWalLogger } from './file-wal.js'
import { createNoChangeLog } from './no-change-log.js'
import { createPostgresChangeLog, type PostgresChangeLog, type PostgresLogger } from './postgres/postgres-change-log.js'

export function walDir(dataDir: string): string {
  return join(dataDir, 'wal')
}

/**
 * A file in DATA_DIR saying that the folder is a shared-mode replica's: its snapshots are copies of what PostgreSQL
 * holds, so a tool must not write index snapshots there (bulk folder mode refuses; src/bulk/sinks.ts). Written each
 * time the service opens its change log in shared mode, removed each time it opens one of its own (WAL or none).
 */
export const SHARED_MODE_MARKER = 'shared-mode.json'

/** The marker's content when DATA_DIR was last served in shared mode, else undefined. */
export function readSharedModeMarker(dataDir: string): { openedAt: string } | undefined {
  try {
    return JSON.parse(readFileSync(join(dataDir, SHARED_MODE_MARKER), 'utf8')) as { openedAt: string }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    // unreadable or half-written: still a marker
    return { openedAt: 'unknown' }
  }
}

function markSharedMode(dataDir: string, shared: boolean): void {
  const path = join(dataDir, SHARED_MODE_MARKER)
  if (!shared) {
    rmSync(path, { force: true })
    return
  }
  mkdirSync(dataDir, { recursive: true })
  writeFileSync(path, `${JSON.stringify({ openedAt: new Date().toISOString(), note: 'this DATA_DIR belongs to a shared-mode (DATABASE_URL) replica' })}\n`)
}

export function openChangeLog(
  config: Pick<Config, 'dataDir' | 'durability' | 'walSegmentBytes' | 'databaseUrl' | 'databasePollMs' | 'replicaWaitMs' | 'tombstoneRetentionS' | 'tombstonePurgeIntervalS'>,
  opts: { observer?: ChangeLogObserver; logger?: FileWalLogger & PostgresLogger; appliedSeq?: (name: string) => number } = {},
): ChangeLog | FileWal | PostgresChangeLog {
  markSharedMode(config.dataDir, !!config.databaseUrl)
  if (config.databaseUrl) {
    if (!opts.appliedSeq) throw new TypeError('the postgres change log needs the applier\'s appliedSeq')
    return createPostgresChangeLog({
      url: config.databaseUrl,
      appliedSeq: opts.appliedSeq,
      ...(opts.logger ? { logger: opts.logger } : {}),
      pollIntervalMs: config.databasePollMs,
      applyWaitMs: config.replicaWaitMs,
      tombstoneRetentionS: config.tombstoneRetentionS,
      purgeIntervalMs: config.tombstonePurgeIntervalS * 1000,
    })
  }
  if (config.durability === 'snapshot') return createNoChangeLog()
  return createFileWal({ dir: walDir(config.dataDir), segmentBytes: config.walSegmentBytes, ...opts })
}

/** True when DATA_DIR/wal holds segment files (records a DURABILITY=snapshot start must fold in before dropping). */
export async function walPresent(dataDir: string): Promise<boolean> {
  try {
    return (await readdir(walDir(dataDir))).some((n) => n.endsWith('.wal'))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw err
  }
}

/** The shared (PostgreSQL) log, which reports replication status. */
export function isReplicated(log: ChangeLog): log is PostgresChangeLog {
  return log.kind === 'postgres'
}
