/**
 * Rows of a data file as plain objects, whatever the file format: JSON Lines (`.jsonl`, `.json` with one object per
 * line, `.gz` versions of both), TSV (`.tsv`, header row unless `columns` names the fields) and Apache Parquet
 * (`.parquet`, read with hyparquet one row group at a time). Each row carries its 1-based line (JSONL/TSV) or row
 * (parquet) number so errors can name it; a row that cannot be parsed is yielded as `{ line, error }` and the caller
 * decides whether to stop or skip it.
 */
import { createReadStream } from 'node:fs'
import { open } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { createGunzip } from 'node:zlib'
import { AppError } from '../errors.js'

export type RowValue = unknown
export type Row = Record<string, RowValue>
export type RecordItem = { line: number; row: Row; error?: undefined } | { line: number; row?: undefined; error: string }

export type FileFormat = 'jsonl' | 'tsv' | 'parquet'

export interface ReadRecordsOptions {
  /** Overrides the format the extension implies. */
  format?: FileFormat
  /** TSV without a header row: these names, in column order. */
  columns?: string[]
  /** Parquet: read only these columns (faster on wide files). */
  parquetColumns?: string[]
}

export function formatOf(path: string, override?: FileFormat): FileFormat {
  if (override) return override
  const p = path.toLowerCase().replace(/\.gz$/, '')
  if (p.endsWith('.parquet')) return 'parquet'
  if (p.endsWith('.tsv') || p.endsWith('.tab') || p.endsWith('.txt')) return 'tsv'
  if (p.endsWith('.jsonl') || p.endsWith('.ndjson') || p.endsWith('.json')) return 'jsonl'
  throw new AppError('VALIDATION_ERROR', `${path}: cannot tell the format from the extension (.jsonl, .tsv, .parquet, optionally .gz); name it with --format`, { file: path })
}

async function* lines(path: string): AsyncGenerator<string> {
  const raw = createReadStream(path)
  const input = path.toLowerCase().endsWith('.gz') ? raw.pipe(createGunzip()) : raw
  const failed = new Promise<never>((_, reject) => {
    raw.on('error', reject)
    input.on('error', reject)
  })
  failed.catch(() => undefined)
  const rl = createInterface({ input, crlfDelay: Infinity })
  try {
    const it = rl[Symbol.asyncIterator]()
    for (;;) {
      const r = await Promise.race([it.next(), failed])
      if (r.done) return
      yield r.value
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    throw new AppError('VALIDATION_ERROR', `${path}: cannot read (${e.code ?? e.message})`, { file: path })
  } finally {
    rl.close()
    raw.destroy()
  }
}

/** BigInt (parquet INT64) to a number when exact, else its decimal string; everything else unchanged. */
function plain(v: unknown): unknown {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()
  if (Array.isArray(v)) return v.map(plain)
  return v
}

export async function* readRecords(path: string, opts: ReadRecordsOptions = {}): AsyncGenerator<RecordItem> {
  const format = formatOf(path, opts.format)
  if (format === 'parquet') {
    yield* readParquet(path, opts.parquetColumns)
    return
  }
  let n = 0
  let header: string[] | undefined = opts.columns
  for await (const line of lines(path)) {
    n++
    if (format === 'jsonl') {
      if (line.trim() === '') continue
      try {
        const v = JSON.parse(line) as unknown
        if (!v || typeof v !== 'object' || Array.isArray(v)) yield { line: n, error: 'not a JSON object' }
        else yield { line: n, row: v as Row }
      } catch (err) {
        yield { line: n, error: `invalid JSON (${(err as Error).message})` }
      }
      continue
    }
    if (line === '') continue
    const cells = line.split('\t')
    if (header === undefined) {
      header = cells
      continue
    }
    if (cells.length !== header.length) {
      yield { line: n, error: `has ${cells.length} tab-separated fields, the header has ${header.length}` }
      continue
    }
    const row: Row = {}
    header.forEach((h, i) => (row[h] = cells[i]))
    yield { line: n, row }
  }
}

async function* readParquet(path: string, columns?: string[]): AsyncGenerator<RecordItem> {
  const { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } = await import('hyparquet')
  let file
  try {
    file = await asyncBufferFromFile(path)
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    throw new AppError('VALIDATION_ERROR', `${path}: cannot read (${e.code ?? e.message})`, { file: path })
  }
  let metadata
  try {
    metadata = await parquetMetadataAsync(file)
  } catch (err) {
    throw new AppError('VALIDATION_ERROR', `${path}: not a readable parquet file (${(err as Error).message})`, { file: path })
  }
  let rowStart = 0
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows)
    const rows = await parquetReadObjects({ file, metadata, rowStart, rowEnd, ...(columns ? { columns } : {}) })
    for (let i = 0; i < rows.length; i++) {
      const row: Row = {}
      for (const [k, v] of Object.entries(rows[i]!)) row[k] = plain(v)
      yield { line: rowStart + i + 1, row }
    }
    rowStart = rowEnd
  }
}

/** The first of `names` that `row` has (for defaults that adapt to common column names), or undefined. */
export function pickColumn(row: Row, names: readonly string[]): string | undefined {
  return names.find((n) => Object.prototype.hasOwnProperty.call(row, n))
}

/** A cell as an id: strings and finite numbers (integers print without exponent) are accepted. */
export function cellAsId(v: unknown): string | undefined {
  if (typeof v === 'string' && v !== '') return v
  if (typeof v === 'number' && Number.isFinite(v)) return String(v)
  return undefined
}

/**
 * How many rows `readRecords` will yield at most (for progress ETAs): parquet from its footer, text files by counting
 * non-empty lines (a fast byte scan; minus the header for TSV).
 */
export async function countRecords(path: string, opts: ReadRecordsOptions = {}): Promise<number> {
  const format = formatOf(path, opts.format)
  if (format === 'parquet') {
    const { asyncBufferFromFile, parquetMetadataAsync } = await import('hyparquet')
    return Number((await parquetMetadataAsync(await asyncBufferFromFile(path))).num_rows)
  }
  let n = 0
  for await (const line of lines(path)) if (line !== '' && line.trim() !== '') n++
  return format === 'tsv' && !opts.columns ? Math.max(0, n - 1) : n
}
