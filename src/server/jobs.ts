/**
 * In-memory indexing jobs: large /index requests run here one at a time (in submission order, so later upserts of the
 * same id win and memory stays bounded to one batch in flight), with progress a client can poll at GET /jobs/:id.
 * Finished jobs are kept for `ttlMs` (and at most `maxRetained`), then forgotten.
 */
import { randomUUID } from 'node:crypto'
import { AppError, isAppError } from '../errors.js'

export type JobStateName = 'queued' | 'running' | 'succeeded' | 'failed'

export interface Job {
  readonly id: string
  readonly index: string
  state: JobStateName
  done: number
  readonly total: number
  added: number
  updated: number
  /** seq of the last durable batch (0 before the first) */
  seq: number
  error: { code: string; message: string } | undefined
  readonly createdAt: number
  finishedAt: number | undefined
}

export interface JobContext {
  /** Throws AppError('NOT_READY') once shutdown has begun, so a job stops between batches. */
  checkCancelled(): void
  progress(delta: { done: number; added: number; updated: number; seq?: number }): void
}

export interface JobManager {
  submit(index: string, total: number, run: (ctx: JobContext) => Promise<void>): Job
  get(id: string): Job | undefined
  /** Number of jobs not yet finished. */
  pending(): number
  counts(): Record<JobStateName, number>
  /** Resolves when `job` has finished (succeeded or failed). */
  wait(job: Job): Promise<void>
  /** Stop: queued jobs fail at once, the running one stops after its current batch. Resolves when nothing runs. */
  shutdown(): Promise<void>
}

export function createJobManager(opts: { ttlMs?: number; maxRetained?: number; onError?: (job: Job, err: unknown) => void } = {}): JobManager {
  const ttlMs = opts.ttlMs ?? 3_600_000
  const maxRetained = opts.maxRetained ?? 1000
  const jobs = new Map<string, Job>()
  const finished = new Map<string, Promise<void>>()
  let chain: Promise<void> = Promise.resolve()
  let stopping = false

  function prune(): void {
    const now = Date.now()
    for (const [id, job] of jobs) {
      const old = job.finishedAt !== undefined && now - job.finishedAt > ttlMs
      if (old || (jobs.size > maxRetained && job.finishedAt !== undefined)) {
        jobs.delete(id)
        finished.delete(id)
      }
    }
  }

  function finish(job: Job, err?: unknown): void {
    job.finishedAt = Date.now()
    if (err === undefined) {
      job.state = 'succeeded'
      return
    }
    job.state = 'failed'
    if (isAppError(err)) job.error = { code: err.code, message: err.message }
    else {
      job.error = { code: 'INTERNAL_ERROR', message: 'the job failed unexpectedly; see the server log' }
      opts.onError?.(job, err)
    }
  }

  return {
    submit(index, total, run) {
      prune()
      const job: Job = {
        id: randomUUID(),
        index,
        state: 'queued',
        done: 0,
        total,
        added: 0,
        updated: 0,
        seq: 0,
        error: undefined,
        createdAt: Date.now(),
        finishedAt: undefined,
      }
      jobs.set(job.id, job)
      const ctx: JobContext = {
        checkCancelled() {
          if (stopping) throw new AppError('NOT_READY', 'the server is shutting down; the job stopped early (resubmit the rest)')
        },
        progress(d) {
          job.done += d.done
          job.added += d.added
          job.updated += d.updated
          if (d.seq !== undefined && d.seq > job.seq) job.seq = d.seq
        },
      }
      const p = chain.then(async () => {
        try {
          ctx.checkCancelled()
          job.state = 'running'
          await run(ctx)
          finish(job)
        } catch (err) {
          finish(job, err)
        }
      })
      chain = p
      finished.set(job.id, p)
      return job
    },
    get(id) {
      prune()
      return jobs.get(id)
    },
    pending() {
      let n = 0
      for (const j of jobs.values()) if (j.finishedAt === undefined) n++
      return n
    },
    counts() {
      const c: Record<JobStateName, number> = { queued: 0, running: 0, succeeded: 0, failed: 0 }
      for (const j of jobs.values()) c[j.state]++
      return c
    },
    async wait(job) {
      await finished.get(job.id)
    },
    async shutdown() {
      stopping = true
      await chain
    },
  }
}
