/**
 * `min_seq` on searches: a client that wrote through one replica (and got the write's seq) can read its own write
 * through any replica. The wait is bounded by REPLICA_WAIT_MS; after that 503 REPLICA_LAGGING (retry, on any replica).
 * With the embedded log every acknowledged seq is already applied, so only a seq that was never returned waits.
 */
import { AppError } from '../errors.js'
import type { ServerContext } from './context.js'

const POLL_MS = 5

export async function waitForMinSeq(ctx: ServerContext, index: string, minSeq: number): Promise<void> {
  const parts = ctx.parts()
  const applied = (): number => parts.indexStore.appliedSeq(index)
  if (applied() >= minSeq) return
  parts.replication?.wake()
  const deadline = Date.now() + ctx.config.replicaWaitMs
  for (;;) {
    await new Promise((r) => setTimeout(r, POLL_MS))
    if (applied() >= minSeq) return
    if (Date.now() >= deadline || ctx.closing()) {
      throw new AppError('REPLICA_LAGGING', `this replica has applied index ${index} up to seq ${applied()}, not yet min_seq ${minSeq} ` +
        `(waited ${ctx.config.replicaWaitMs} ms); retry shortly, on any replica`, { index, min_seq: minSeq, applied_seq: applied(), retryAfterS: 1 })
    }
  }
}
