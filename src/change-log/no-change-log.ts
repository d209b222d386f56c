/**
 * The `off` adapter (DURABILITY=snapshot): nothing is written; a write is as durable as the next snapshot, the service's
 * behaviour before the change log existed. Seqs are still assigned (in memory, above every seq a snapshot covers), so
 * responses carry them.
 */
import type { ChangeLog } from './change-log.js'

export function createNoChangeLog(): ChangeLog {
  let seq = 0
  return {
    kind: 'off',
    async replay(snapshots) {
      for (const s of snapshots.values()) if (s > seq) seq = s
      return { records: 0, bytes: 0, tornBytes: 0 }
    },
    async append() {
      return ++seq
    },
    async truncate() {},
    lastSeq: () => seq,
    async close() {},
  }
}
