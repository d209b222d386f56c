/**
 * The one place change records reach the in-memory indexes: start-up replay, the live write path (after the append
 * is durable) and a replica's follower all call `apply`, in seq order per index. Records at or below the index's
 * applied seq are skipped, so a record delivered twice (a replica's own write echoed back, a replay overlapping a
 * snapshot) applies once. Cost: that of the index operations themselves.
 */
import { AppError, isAppError } from '../errors.js'
import type { IndexChange } from '../index/index-store.js'
import type { IndexSettings } from '../index/types.js'
import type { Bm25Settings } from '../lexical/bm25.js'
import type { ChangeRecord, ChangeResult } from './change-log.js'

/** The part of an index the applier reads (documents change through ApplyTarget.apply). */
export interface ApplyIndex {
  readonly settings: IndexSettings
  /** Ids of the live documents, for a `retain` change (the PostgreSQL follower's; the index store's indexes have it). */
  ids?(): string[]
}

/** The part of the index store the applier drives (src/index/index-store.ts implements it). */
export interface ApplyTarget {
  get(name: string): ApplyIndex | undefined
  create(name: string, settings?: Partial<IndexSettings>, lexical?: Partial<Bm25Settings>): ApplyIndex
  /** The store's single update point: both engines (PLAID and lexical) change together. */
  apply(name: string, change: IndexChange): { added: string[]; updated: string[] } | { deleted: string[]; missing: string[] }
  drop(name: string): boolean
  markDirty(name: string): void
  /** Seq of the last record applied to the index (restored from its snapshot); 0 when absent. */
  appliedSeq(name: string): number
  setAppliedSeq(name: string, seq: number): void
}

export interface ApplierLogger {
  warn(o: object, msg?: string): void
}

export interface Applier {
  /**
   * Applies `record` unless already applied; returns one result per change, or undefined when skipped. With
   * `replay: true` a change that fails with a 4xx AppError (a write that was refused, never acknowledged) is logged and
   * skipped; otherwise errors propagate.
   */
  apply(record: ChangeRecord, opts?: { replay?: boolean }): ChangeResult[] | undefined
  /** The seq this process has applied for `name` (also after a drop), 0 if none. */
  appliedSeq(name: string): number
}

export function createApplier(target: ApplyTarget, opts: { logger?: ApplierLogger; onApplied?: (record: ChangeRecord) => void } = {}): Applier {
  /** seq of the drop of names that are absent now, so a re-delivered older record is still recognised as applied */
  const droppedAt = new Map<string, number>()

  const appliedSeq = (name: string): number => (target.get(name) !== undefined ? target.appliedSeq(name) : droppedAt.get(name) ?? 0)

  function applyOne(record: ChangeRecord): ChangeResult[] {
    const name = record.index
    const results: ChangeResult[] = []
    for (const ch of record.changes) {
      switch (ch.op) {
        case 'create': {
          const exists = target.get(name) !== undefined
          if (!exists) target.create(name, ch.settings, ch.lexical)
          results.push({ op: 'create', created: !exists })
          break
        }
        case 'drop': {
          const dropped = target.drop(name)
          results.push({ op: 'drop', dropped })
          break
        }
        case 'upsert': {
          const index = target.get(name) ?? target.create(name, ch.create, ch.lexical)
          if (index.settings.dim !== ch.dim) {
            throw new AppError('DIMENSION_MISMATCH', `index ${name} has dimension ${index.settings.dim}, the record's vectors ${ch.dim}`, {
              expected: index.settings.dim,
              got: ch.dim,
            })
          }
          const r = target.apply(name, { op: 'upsert', documents: ch.documents }) as { added: string[]; updated: string[] }
          results.push({ op: 'upsert', ...r })
          break
        }
        case 'delete': {
          const r = target.get(name) !== undefined
            ? (target.apply(name, { op: 'delete', ids: ch.ids }) as { deleted: string[]; missing: string[] })
            : { deleted: [], missing: [...ch.ids] }
          results.push({ op: 'delete', ...r })
          break
        }
        case 'retain': {
          const index = target.get(name)
          let deleted: string[] = []
          if (index !== undefined) {
            if (index.ids === undefined) throw new TypeError(`index ${name} cannot list its ids, so a retain change cannot apply`)
            const keep = new Set(ch.ids)
            const gone = index.ids().filter((id) => !keep.has(id))
            if (gone.length > 0) deleted = (target.apply(name, { op: 'delete', ids: gone }) as { deleted: string[] }).deleted
          }
          results.push({ op: 'retain', deleted })
          break
        }
      }
    }
    return results
  }

  return {
    appliedSeq,
    apply(record, o) {
      const name = record.index
      if (record.seq <= appliedSeq(name)) return undefined
      let results: ChangeResult[]
      try {
        results = applyOne(record)
      } catch (err) {
        if (!(o?.replay && isAppError(err) && err.statusCode < 500)) throw err
        opts.logger?.warn({ index: name, seq: record.seq, code: err.code, err: err.message }, 'change record skipped: it fails to apply (its write was refused)')
        results = []
      }
      if (target.get(name) !== undefined) {
        droppedAt.delete(name)
        target.setAppliedSeq(name, record.seq)
        target.markDirty(name)
      } else {
        droppedAt.set(name, record.seq)
      }
      opts.onApplied?.(record)
      return results
    },
  }
}
