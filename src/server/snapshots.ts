/** Timed snapshot saves (periodic and at shutdown), feeding jacolbert_snapshot_duration_seconds. */
import type { AppMetrics } from './plugins/metrics.js'
import type { IndexStorePort } from './ports.js'

export interface SnapshotLogger {
  info(o: object, msg?: string): void
  error(o: object, msg?: string): void
}

/** Save every dirty index; the store skips clean ones. */
export async function saveSnapshots(store: IndexStorePort, metrics: AppMetrics): Promise<void> {
  const end = metrics.snapshotDuration.startTimer()
  try {
    await store.saveAll()
  } finally {
    end()
  }
}

/** Save every `intervalS` seconds (never overlapping); returns a stop function. 0 disables. */
export function startSnapshotLoop(store: IndexStorePort, intervalS: number, metrics: AppMetrics, log: SnapshotLogger): () => void {
  if (intervalS <= 0) return () => {}
  let running = false
  const timer = setInterval(() => {
    if (running) return
    running = true
    saveSnapshots(store, metrics)
      .catch((err: unknown) => log.error({ err }, 'periodic snapshot failed'))
      .finally(() => {
        running = false
      })
  }, intervalS * 1000)
  timer.unref()
  return () => clearInterval(timer)
}
