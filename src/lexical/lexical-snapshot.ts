/**
 * The lexical index inside an index snapshot: sub-folder `lexical/` of `<DATA_DIR>/indexes/<name>/`, in the same
 * file format as the PLAID state (manifest with CRC-32 per file, raw little-endian arrays; docs/snapshot-format.md)
 * under the format name `jacolbert-lexical-snapshot`. It is written into the same temporary folder as the PLAID files
 * and so replaced atomically with them. A snapshot without the sub-folder was written before lexical search existed:
 * the caller rebuilds the lexical side from stored text on demand.
 */
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { AppError, isAppError } from '../errors.js'
import { readStateFiles } from '../index/snapshot-format.js'
import type { CompanionState } from '../index/snapshot.js'
import type { IndexState } from '../index/types.js'
import { restoreLexicalIndex, type LexicalIndex, type LexicalState } from './lexical-index.js'

export const LEXICAL_SNAPSHOT_FORMAT = 'jacolbert-lexical-snapshot'
export const LEXICAL_SUBDIR = 'lexical'

export function lexicalCompanion(lexical: LexicalIndex): CompanionState {
  return { subdir: LEXICAL_SUBDIR, format: LEXICAL_SNAPSHOT_FORMAT, state: lexical.exportState() as unknown as IndexState }
}

/** The lexical index saved in snapshot folder `dir`, or undefined when the snapshot has none (an older snapshot). */
export async function loadLexicalSnapshot(dir: string): Promise<LexicalIndex | undefined> {
  const sub = join(dir, LEXICAL_SUBDIR)
  try {
    await stat(sub)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  const state = await readStateFiles(sub, { format: LEXICAL_SNAPSHOT_FORMAT })
  try {
    return restoreLexicalIndex(state as unknown as LexicalState)
  } catch (err) {
    if (isAppError(err) && err.code === 'SNAPSHOT_INVALID') throw err
    throw new AppError('SNAPSHOT_INVALID', `lexical snapshot at ${sub} could not be restored: ${(err as Error).message}`, { file: sub }, { cause: err })
  }
}
