/**
 * Picks the change-log adapter from the configuration (see change-log.ts): DURABILITY=wal (default) → the write-ahead
 * log in DATA_DIR/wal; DURABILITY=snapshot → none. A DATABASE_URL selects PostgreSQL (shared mode; DURABILITY is then
 * moot: the database is the log).
 */
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

export function openChangeLog(
  config: Pick<Config, 'dataDir' | 'durability' | 'walSegmentBytes' | 'databaseUrl' | 'databasePollMs' | 'replicaWaitMs'>,
  opts: { observer?: ChangeLogObserver; logger?: FileWalLogger & PostgresLogger; appliedSeq?: (name: string) => number } = {},
): ChangeLog | FileWal | PostgresChangeLog {
  if (config.databaseUrl) {
    if (!opts.appliedSeq) throw new TypeError('the postgres change log needs the applier\'s appliedSeq')
    return createPostgresChangeLog({
      url: config.databaseUrl,
      appliedSeq: opts.appliedSeq,
      ...(opts.logger ? { logger: opts.logger } : {}),
      pollIntervalMs: config.databasePollMs,
      applyWaitMs: config.replicaWaitMs,
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
