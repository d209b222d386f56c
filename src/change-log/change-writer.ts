/**
 * The write path every mutating route takes (see change-log.ts): append the changes durably, then apply them to the
 * in-memory indexes, synchronously after the append resolves, so apply order is append order.
 */
import { AppError } from '../errors.js'
import type { Applier } from './applier.js'
import type { Change, ChangeLog, ChangeResult } from './change-log.js'

export interface CommitResult {
  seq: number
  /** One per change, in order. */
  results: ChangeResult[]
}

export interface ChangeWriter {
  readonly log: ChangeLog
  readonly applier: Applier
  /** Validate before calling: whatever is appended is replayed at every start-up. */
  commit(index: string, changes: Change[]): Promise<CommitResult>
}

export function createChangeWriter(log: ChangeLog, applier: Applier): ChangeWriter {
  return {
    log,
    applier,
    async commit(index, changes) {
      const seq = await log.append(index, changes)
      const results = applier.apply({ index, seq, changes })
      if (results === undefined) {
        // Only possible if something else (a replica follower) applied this very record first.
        throw new AppError('INTERNAL_ERROR', `change ${seq} of index ${index} was applied before its writer saw it commit`, { seq })
      }
      return { seq, results }
    },
  }
}
