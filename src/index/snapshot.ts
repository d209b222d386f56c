/**
 * Saving and loading a PlaidIndex to/from a snapshot folder: the format lives in snapshot-format.ts, the crash-safe
 * folder replacement in snapshot-atomic.ts; docs/snapshot-format.md describes both.
 */
import { AppError, isAppError } from '../errors.js'
import { restorePlaidIndex, type PlaidIndex } from './plaid-index.js'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { recoverSnapshotDir, replaceDirAtomically, type SnapshotHooks } from './snapshot-atomic.js'
import { readSnapshotFiles, writeStateFiles } from './snapshot-format.js'
import type { IndexState } from './types.js'

export type { SnapshotHooks, SnapshotStep } from './snapshot-atomic.js'

export interface SnapshotInfo { bytes: number; durationMs: number }

/**
 * Another engine's state saved in a sub-folder of the same snapshot (same file format under its own format name), so
 * it is replaced atomically together with the PLAID index: a loaded snapshot never pairs engines of different moments.
 */
export interface CompanionState { subdir: string; format: string; state: IndexState }

/**
 * Writes `index` to folder `dir` (`seq`: the change-log position its state, and its companions', contain), replacing
 * any previous snapshot there atomically: a crash at any point leaves either the previous or the new snapshot loadable.
 * exportState() returns copies, so the index may change while this writes.
 */
export async function saveIndexSnapshot(
  index: PlaidIndex, dir: string, opts?: { hooks?: SnapshotHooks; seq?: number; companions?: CompanionState[] },
): Promise<SnapshotInfo> {
  const started = performance.now()
  const state = index.exportState()
  // in the same tick as the export: the original vectors it counts are durable before a snapshot names them
  const originalsDurable = index.syncOriginals()
  let bytes = 0
  await replaceDirAtomically(dir, async (tmp) => {
    await originalsDurable
    const seq = opts?.seq ?? 0
    bytes = (await writeStateFiles(state, tmp, opts?.hooks, { seq })).bytes
    for (const c of opts?.companions ?? []) {
      const sub = join(tmp, c.subdir)
      await mkdir(sub)
      bytes += (await writeStateFiles(c.state, sub, opts?.hooks, { format: c.format, seq })).bytes
    }
  }, opts?.hooks)
  index.releaseOriginals(state)
  return { bytes, durationMs: performance.now() - started }
}

/**
 * The folder of the original vectors' files of the index whose snapshot is folder `dir`: beside it, since a save
 * replaces the snapshot folder wholesale while the record file is appended to in place (original-rows.ts).
 */
export function originalsDirOf(dir: string): string {
  return `${dir}.rows`
}

/**
 * Loads the snapshot in `dir` (recovering `<dir>.old` first if a crash interrupted a save). Throws
 * AppError('SNAPSHOT_INVALID') naming the file when it is missing, corrupt, truncated or of another format version.
 */
export async function loadIndexSnapshot(dir: string): Promise<PlaidIndex> {
  return (await loadSnapshot(dir)).index
}

/** loadIndexSnapshot plus the change-log seq the snapshot covers (0 for a version-1 snapshot). */
export async function loadSnapshot(dir: string): Promise<{ index: PlaidIndex; seq: number }> {
  const { present } = await recoverSnapshotDir(dir)
  if (!present) throw new AppError('SNAPSHOT_INVALID', `no snapshot at ${dir}`, { file: dir })
  const { state, seq } = await readSnapshotFiles(dir)
  try {
    return { index: restorePlaidIndex(state, { originalsDir: originalsDirOf(dir) }), seq }
  } catch (err) {
    if (isAppError(err) && err.code === 'SNAPSHOT_INVALID') throw err
    // The files verified, so this is an index-level inconsistency (or a state version this build cannot read).
    throw new AppError('SNAPSHOT_INVALID', `snapshot at ${dir} could not be restored: ${(err as Error).message}`, { file: dir }, { cause: err })
  }
}
