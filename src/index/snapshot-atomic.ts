/**
 * Crash-safe replacement of a snapshot folder, and recovery after a crash.
 *
 * Protocol for replacing `<dir>` (see docs/snapshot-format.md):
 *   1. write every file into `<dir>.tmp-<pid>-<rand>/`, fsync each file, then fsync that folder;
 *   2. if `<dir>` exists: remove a leftover `<dir>.old` (stale: `<dir>` is complete), rename `<dir>` -> `<dir>.old`;
 *   3. rename the temp folder -> `<dir>`, fsync the parent folder;
 *   4. remove `<dir>.old`.
 * Invariant: at every instant either `<dir>` is a complete snapshot, or `<dir>` is absent and `<dir>.old` is one
 * (only between steps 2 and 3). Readers call `recoverSnapshotDir` first, which renames `<dir>.old` back when `<dir>`
 * is missing. A temp folder is never read; leftovers of dead processes are removed by the next save.
 * Two processes must not save the same folder at once (the store owns its data dir).
 */
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { basename, dirname, join } from 'node:path'

export type SnapshotStep = 'files-written' | 'old-moved-away' | 'new-in-place' | 'old-removed'

/** Test hooks: called after each protocol step (crash tests kill the process here). */
export interface SnapshotHooks {
  afterStep?(step: SnapshotStep): void | Promise<void>
  /** After each data file inside the temp folder is written and fsynced. */
  afterFile?(file: string): void | Promise<void>
}

export const OLD_SUFFIX = '.old'
const TMP_INFIX = '.tmp-'

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw err
  }
}

/** fsync a folder so that renames/creations inside it survive a power loss (no-op where folders cannot be opened). */
export async function fsyncDir(path: string): Promise<void> {
  let fh
  try {
    fh = await open(path, 'r')
    await fh.sync()
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EBADF') throw err
  } finally {
    await fh?.close()
  }
}

/** Writes `data` to `path` and fsyncs it. */
export async function writeFileDurable(path: string, data: Uint8Array | string): Promise<void> {
  const fh = await open(path, 'wx')
  try {
    await fh.writeFile(data)
    await fh.sync()
  } finally {
    await fh.close()
  }
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Removes `<dir>.tmp-<pid>-*` folders left by processes that no longer run. With `includeOwnPid` (for start-up, before
 * any save of this process) also those carrying this process's pid: in a container the service is often pid 1 in
 * every incarnation, so a crashed predecessor's folders carry our pid.
 */
export async function removeDeadTempDirs(dir: string, opts?: { includeOwnPid?: boolean }): Promise<void> {
  const parent = dirname(dir)
  const prefix = basename(dir) + TMP_INFIX
  let entries: string[]
  try {
    entries = await readdir(parent)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw err
  }
  for (const entry of entries) {
    if (!entry.startsWith(prefix)) continue
    const pid = Number.parseInt(entry.slice(prefix.length), 10)
    if (Number.isInteger(pid) && (pid === process.pid ? opts?.includeOwnPid === true : !isProcessAlive(pid))) {
      await rm(join(parent, entry), { recursive: true, force: true })
    }
  }
}

/**
 * Replaces folder `dir` by the files `write(tmpDir)` creates, following the protocol above.
 * `write` must fsync what it writes (use `writeFileDurable`).
 */
export async function replaceDirAtomically(dir: string, write: (tmpDir: string) => Promise<void>, hooks?: SnapshotHooks): Promise<void> {
  const parent = dirname(dir)
  await mkdir(parent, { recursive: true })
  await removeDeadTempDirs(dir)
  const tmp = `${dir}${TMP_INFIX}${process.pid}-${randomBytes(4).toString('hex')}`
  await mkdir(tmp)
  try {
    await write(tmp)
    await fsyncDir(tmp)
  } catch (err) {
    await rm(tmp, { recursive: true, force: true })
    throw err
  }
  await hooks?.afterStep?.('files-written')
  const old = dir + OLD_SUFFIX
  if (await exists(dir)) {
    // `dir` is complete, so a leftover `.old` is strictly older and safe to drop before taking its name.
    await rm(old, { recursive: true, force: true })
    await rename(dir, old)
    await hooks?.afterStep?.('old-moved-away')
  }
  // When `dir` was absent but `.old` exists (a crash between steps 2 and 3), `.old` stays until the new one is in place.
  await rename(tmp, dir)
  await fsyncDir(parent)
  await hooks?.afterStep?.('new-in-place')
  await rm(old, { recursive: true, force: true })
  await hooks?.afterStep?.('old-removed')
}

/**
 * Makes `dir` hold the latest complete snapshot after a crash: when `dir` is missing and `<dir>.old` exists, renames it
 * back. Returns whether a snapshot is present at `dir` now, and whether it was recovered.
 */
export async function recoverSnapshotDir(dir: string): Promise<{ present: boolean; recovered: boolean }> {
  if (await exists(dir)) return { present: true, recovered: false }
  const old = dir + OLD_SUFFIX
  if (!(await exists(old))) return { present: false, recovered: false }
  await rename(old, dir)
  await fsyncDir(dirname(dir))
  return { present: true, recovered: true }
}

/** Deletes a snapshot folder together with its `.old` and temp siblings. */
export async function removeSnapshotDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true })
  await rm(dir + OLD_SUFFIX, { recursive: true, force: true })
  const parent = dirname(dir)
  const prefix = basename(dir) + TMP_INFIX
  let entries: string[] = []
  try {
    entries = await readdir(parent)
  } catch {
    return
  }
  for (const entry of entries) if (entry.startsWith(prefix)) await rm(join(parent, entry), { recursive: true, force: true })
  await fsyncDir(parent)
}
