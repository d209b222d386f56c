/**
 * The embedded change log: a write-ahead log of segment files under `dir` (DATA_DIR/wal), format in
 * docs/wal-format.md.
 *
 * - append: the record is framed (u32 length, u32 CRC-32 of the payload, u32 CRC-32 of those 8 bytes) and queued; a
 *   single flusher writes every queued frame with one writev and one fdatasync, then resolves them all in order
 *   (group commit: concurrent writers share one fsync, and nobody waits for a timer). Cost per group: one write of
 *   the frames' bytes + one fdatasync.
 * - A write or fsync error leaves the file in an unknown state, so the log stops taking writes (every append then
 *   rejects with CHANGE_LOG_UNAVAILABLE) until the process restarts and replays what reached the disk.
 * - Segments rotate once they pass `segmentBytes`; `truncate` deletes whole segments from the oldest while snapshots
 *   cover every record in them (and rotates the active one first when it is entirely covered).
 * - replay: every segment is read in order and every frame checked. A torn tail (the last frame of the last segment
 *   cut short by a crash, or its header incomplete) was never acknowledged: it is cut off (ftruncate) with a warning.
 *   Anything else that does not verify (a bad CRC, a bad header, a torn frame in an older segment, seqs out of order)
 *   throws AppError('CHANGE_LOG_CORRUPT') naming the file and byte offset: no silent partial load.
 * One process per DATA_DIR (as for snapshots).
 */
import { mkdir, open, readdir, readFile, rename, rm, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { AppError } from '../errors.js'
import { fsyncDir } from '../index/snapshot-atomic.js'
import type { Change, ChangeLog, ChangeLogObserver, ChangeRecord, ReplayInfo } from './change-log.js'
import { decodeRecord, encodeRecord, peekRecord, RecordFormatError } from './record-codec.js'

export const SEGMENT_MAGIC = Buffer.from('JCBWAL\x00\x01', 'latin1')
export const SEGMENT_HEADER_BYTES = 16
export const FRAME_HEADER_BYTES = 12
/** Largest payload a frame may claim; larger lengths are damage, not data (requests are capped far below). */
export const MAX_RECORD_BYTES = 1 << 30
const SEGMENT_RE = /^(\d{20})\.wal$/

export interface FileWalLogger {
  info(o: object, msg?: string): void
  warn(o: object, msg?: string): void
}

export interface FileWalOptions {
  dir: string
  /** Rotate the active segment once it holds this many bytes (default 64 MiB). */
  segmentBytes?: number
  observer?: ChangeLogObserver
  logger?: FileWalLogger
}

export interface FileWal extends ChangeLog {
  /** Segment files and their total bytes, for metrics. */
  stats(): { segments: number; bytes: number }
}

interface Segment {
  name: string
  path: string
  size: number
  /** highest seq per index in this segment */
  maxSeq: Map<string, number>
  records: number
}

interface Pending {
  frame: Buffer
  seq: number
  index: string
  started: number
  resolve: (seq: number) => void
  reject: (err: unknown) => void
}

export function segmentName(baseSeq: number): string {
  return `${String(baseSeq).padStart(20, '0')}.wal`
}

/** The 12-byte frame header of `payload`. */
export function frameHeader(payload: Buffer): Buffer {
  const h = Buffer.allocUnsafe(FRAME_HEADER_BYTES)
  h.writeUInt32LE(payload.byteLength, 0)
  h.writeUInt32LE(crc32(payload), 4)
  h.writeUInt32LE(crc32(h.subarray(0, 8)), 8)
  return h
}

function corrupt(path: string, offset: number, problem: string): AppError {
  return new AppError(
    'CHANGE_LOG_CORRUPT',
    `write-ahead log ${path} is damaged at byte ${offset}: ${problem}. Records from there on cannot be trusted, and they ` +
      `are not the unacknowledged tail of a crash, so the service will not start without them. Restore DATA_DIR from a ` +
      `backup, or accept losing them: truncate the file at byte ${offset} (truncate -s ${offset} '${path}') and delete ` +
      'later segment files.',
    { file: path, offset },
  )
}

/**
 * Checks every frame of one segment; calls `onFrame` for each good one. Returns the byte length of the good prefix
 * (smaller than the file only for a torn tail, allowed when `last`).
 */
function scanSegment(path: string, buf: Buffer, last: boolean, onFrame: (payload: Buffer, offset: number) => void): number {
  if (buf.byteLength < SEGMENT_HEADER_BYTES) {
    if (last && SEGMENT_MAGIC.subarray(0, Math.min(buf.byteLength, 8)).equals(buf.subarray(0, Math.min(buf.byteLength, 8)))) return 0
    throw corrupt(path, 0, `segment header is ${buf.byteLength} bytes long, expected ${SEGMENT_HEADER_BYTES}`)
  }
  if (!buf.subarray(0, 8).equals(SEGMENT_MAGIC)) throw corrupt(path, 0, 'not a write-ahead log segment (bad magic)')
  let o = SEGMENT_HEADER_BYTES
  while (o < buf.byteLength) {
    const left = buf.byteLength - o
    if (left < FRAME_HEADER_BYTES) {
      if (last) return o
      throw corrupt(path, o, `frame header cut short (${left} bytes) in a segment that is not the last one`)
    }
    const len = buf.readUInt32LE(o)
    if (crc32(buf.subarray(o, o + 8)) !== buf.readUInt32LE(o + 8)) {
      // zeros to the end: space the file system allocated but the crash never filled; never acknowledged
      if (last && buf.subarray(o).every((b) => b === 0)) return o
      throw corrupt(path, o, 'frame header checksum mismatch')
    }
    if (len > MAX_RECORD_BYTES) throw corrupt(path, o, `frame claims ${len} bytes`)
    if (left < FRAME_HEADER_BYTES + len) {
      if (last) return o
      throw corrupt(path, o, `frame of ${len} bytes cut short (${left - FRAME_HEADER_BYTES} present) in a segment that is not the last one`)
    }
    const payload = buf.subarray(o + FRAME_HEADER_BYTES, o + FRAME_HEADER_BYTES + len)
    if (crc32(payload) !== buf.readUInt32LE(o + 4)) throw corrupt(path, o, 'record checksum mismatch')
    onFrame(payload, o)
    o += FRAME_HEADER_BYTES + len
  }
  return o
}

/**
 * The records of one segment, checked as replay checks them (frames, then seqs increasing across segments: `order.prev`
 * is the previous record's seq). `onHead` sees every record's index and seq; `onRecord` gets the decoded records that
 * `wants` (replay: those above what the snapshots cover). Returns the byte length of the good prefix (see scanSegment).
 */
function readSegment(
  path: string, buf: Buffer, last: boolean, base: number, order: { prev: number }, wants: (index: string, seq: number) => boolean,
  onHead: (index: string, seq: number) => void, onRecord: (record: ChangeRecord, bytes: number) => void,
): number {
  return scanSegment(path, buf, last, (payload, offset) => {
    let head: { index: string; seq: number }
    try {
      head = peekRecord(payload)
    } catch (err) {
      throw corrupt(path, offset, (err as Error).message)
    }
    if (head.seq <= order.prev || head.seq < base) {
      throw corrupt(path, offset, `record seq ${head.seq} does not follow seq ${Math.max(order.prev, base - 1)}`)
    }
    order.prev = head.seq
    onHead(head.index, head.seq)
    if (wants(head.index, head.seq)) {
      let record: ChangeRecord
      try {
        record = decodeRecord(payload)
      } catch (err) {
        if (err instanceof RecordFormatError) throw corrupt(path, offset, `record does not parse (${err.message})`)
        throw err
      }
      onRecord(record, payload.byteLength)
    }
  })
}

export interface WalReadout {
  /** Records delivered (those above what the snapshots cover, of `index` when given). */
  records: number
  /** Highest seq of any record in the log, per index (also of records the snapshots cover). */
  maxSeq: Map<string, number>
  /** Highest seq in the log (records and segment bases), 0 for none. */
  lastSeq: number
  /** Bytes after the last whole record of the last segment (a torn tail), left as they are. */
  tornBytes: number
}

/**
 * Reads the log under `dir` without changing anything (no tail cut, no segment created or deleted): what a tool that
 * writes index snapshots of a DATA_DIR (bulk indexing) needs to start from the state the service would restore, and
 * to record in its snapshots the seq they cover. Same checks as replay: damage before the tail throws
 * AppError('CHANGE_LOG_CORRUPT'). A missing folder is an empty log. Do not run it beside a service using `dir`.
 */
export async function readWal(
  dir: string, snapshots: ReadonlyMap<string, number>, onRecord: (r: ChangeRecord) => void, opts: { index?: string } = {},
): Promise<WalReadout> {
  const only = opts.index
  // with `index`, records of other names are still checked, but neither decoded nor delivered
  const wants = (index: string, seq: number): boolean => (only === undefined || index === only) && seq > (snapshots.get(index) ?? 0)

  let all: string[]
  try {
    all = await readdir(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { records: 0, maxSeq: new Map(), lastSeq: 0, tornBytes: 0 }
    throw err
  }
  const names = all.filter((n) => SEGMENT_RE.test(n)).sort()
  const out: WalReadout = { records: 0, maxSeq: new Map(), lastSeq: 0, tornBytes: 0 }
  const order = { prev: 0 }
  for (let i = 0; i < names.length; i++) {
    const path = join(dir, names[i])
    const buf = await readFile(path)
    const base = Number(SEGMENT_RE.exec(names[i])![1])
    out.lastSeq = Math.max(out.lastSeq, base - 1)
    const good = readSegment(path, buf, i === names.length - 1, base, order, wants, (index, seq) => {
      out.maxSeq.set(index, seq)
      out.lastSeq = Math.max(out.lastSeq, seq)
    }, (record) => {
      onRecord(record)
      out.records++
    })
    out.tornBytes = buf.byteLength - good
  }
  return out
}

export function createFileWal(opts: FileWalOptions): FileWal {
  const dir = opts.dir
  const segmentBytes = opts.segmentBytes ?? 64 * 1024 * 1024
  const observer = opts.observer ?? {}
  const log = opts.logger
  const segments: Segment[] = []
  let fh: FileHandle | undefined
  let nextSeq = 1
  /** highest seq on disk; a new segment's base is above it (seqs already handed to queued appends may be below nextSeq) */
  let writtenSeq = 0
  let opened = false
  let failed: unknown
  let pending: Pending[] = []
  /** set and cleared synchronously with the flusher's own check of `pending`, so no append is ever left behind */
  let flushActive = false
  let flushing: Promise<void> = Promise.resolve()
  /** serialises file operations (group writes, rotation, deletion) */
  let io: Promise<void> = Promise.resolve()

  const active = (): Segment => segments[segments.length - 1]

  function withIo<T>(fn: () => Promise<T>): Promise<T> {
    const run = io.then(fn)
    io = run.then(() => undefined, () => undefined)
    return run
  }

  async function createSegment(baseSeq: number): Promise<void> {
    const name = segmentName(baseSeq)
    const path = join(dir, name)
    const header = Buffer.alloc(SEGMENT_HEADER_BYTES)
    SEGMENT_MAGIC.copy(header, 0)
    header.writeUInt32LE(baseSeq % 0x1_0000_0000, 8)
    header.writeUInt32LE(Math.floor(baseSeq / 0x1_0000_0000), 12)
    // header into a temporary file, then renamed: a segment file never exists without its whole header
    const tmp = `${path}.tmp`
    const h = await open(tmp, 'w')
    try {
      await h.write(header, 0, header.byteLength, 0)
      await h.sync()
    } finally {
      await h.close()
    }
    await rename(tmp, path)
    await fsyncDir(dir)
    await fh?.close()
    fh = await open(path, 'a')
    segments.push({ name, path, size: SEGMENT_HEADER_BYTES, maxSeq: new Map(), records: 0 })
  }

  async function replay(snapshots: ReadonlyMap<string, number>, onRecord: (r: ChangeRecord) => void): Promise<ReplayInfo> {
    if (opened) throw new Error('replay() runs once, before appends')
    await mkdir(dir, { recursive: true })
    const all = await readdir(dir)
    for (const n of all) if (n.endsWith('.wal.tmp')) await rm(join(dir, n), { force: true }) // a crash while creating a segment
    const names = all.filter((n) => SEGMENT_RE.test(n)).sort()
    let lastSeq = 0
    const order = { prev: 0 }
    for (const s of snapshots.values()) lastSeq = Math.max(lastSeq, s)
    const info: ReplayInfo = { records: 0, bytes: 0, tornBytes: 0 }
    for (let i = 0; i < names.length; i++) {
      const name = names[i]
      const path = join(dir, name)
      const last = i === names.length - 1
      const buf = await readFile(path)
      const base = Number(SEGMENT_RE.exec(name)![1])
      lastSeq = Math.max(lastSeq, base - 1)
      const seg: Segment = { name, path, size: 0, maxSeq: new Map(), records: 0 }
      const good = readSegment(path, buf, last, base, order, (index, seq) => seq > (snapshots.get(index) ?? 0), (index, seq) => {
        lastSeq = Math.max(lastSeq, seq)
        seg.maxSeq.set(index, seq)
        seg.records++
      }, (record, bytes) => {
        onRecord(record)
        info.records++
        info.bytes += bytes
      })
      if (good < buf.byteLength || good < SEGMENT_HEADER_BYTES) {
        info.tornBytes = buf.byteLength - good
        log?.warn({ file: path, offset: good, bytes: info.tornBytes }, 'write-ahead log: dropped a torn tail (a record cut by a crash; never acknowledged)')
        const h = await open(path, 'r+')
        try {
          if (good < SEGMENT_HEADER_BYTES) {
            await h.close()
            await rm(path)
            await fsyncDir(dir)
            continue
          }
          await h.truncate(good)
          await h.sync()
        } finally {
          await h.close().catch(() => {})
        }
      }
      seg.size = good
      segments.push(seg)
    }
    nextSeq = lastSeq + 1
    writtenSeq = lastSeq
    if (segments.length === 0) await createSegment(nextSeq)
    else fh = await open(active().path, 'a')
    opened = true
    return info
  }

  async function writeGroup(group: Pending[]): Promise<void> {
    const frames: Buffer[] = []
    let bytes = 0
    for (const p of group) {
      const header = frameHeader(p.frame)
      frames.push(header, p.frame)
      bytes += header.byteLength + p.frame.byteLength
    }
    const h = fh!
    // writev may write less than asked (e.g. a signal); continue from where it stopped
    let written = 0
    while (written < bytes) {
      let skip = written
      const rest: Buffer[] = []
      for (const f of frames) {
        if (skip >= f.byteLength) { skip -= f.byteLength; continue }
        rest.push(skip > 0 ? f.subarray(skip) : f)
        skip = 0
      }
      const { bytesWritten } = await h.writev(rest)
      if (bytesWritten <= 0) throw new Error('writev wrote nothing')
      written += bytesWritten
    }
    const t0 = performance.now()
    await h.datasync()
    observer.synced?.({ records: group.length, seconds: (performance.now() - t0) / 1000 })
    const seg = active()
    seg.size += bytes
    seg.records += group.length
    for (const p of group) seg.maxSeq.set(p.index, p.seq)
    writtenSeq = group[group.length - 1].seq
  }

  async function flushLoop(): Promise<void> {
    for (;;) {
      if (pending.length === 0) {
        flushActive = false // in the same synchronous step as the check: a later append starts a new loop
        return
      }
      const group = pending
      pending = []
      try {
        await withIo(async () => {
          await writeGroup(group)
          if (active().size >= segmentBytes) await createSegment(writtenSeq + 1)
        })
      } catch (err) {
        failed = err
        log?.warn({ err, dir }, 'write-ahead log failed; writes are refused until restart')
        const rest = pending
        pending = []
        flushActive = false
        for (const p of [...group, ...rest]) p.reject(unavailable())
        return
      }
      const now = performance.now()
      for (const p of group) {
        observer.appended?.({ bytes: FRAME_HEADER_BYTES + p.frame.byteLength, seconds: (now - p.started) / 1000 })
        p.resolve(p.seq)
      }
    }
  }

  function unavailable(): AppError {
    const why = failed instanceof Error ? failed.message : String(failed)
    return new AppError('CHANGE_LOG_UNAVAILABLE', `the write-ahead log cannot take writes (${why}); restart the service`, { retryAfterS: 5 }, { cause: failed })
  }

  return {
    kind: 'wal',
    replay,
    append(index: string, changes: Change[]): Promise<number> {
      if (!opened) return Promise.reject(new AppError('NOT_READY', 'the write-ahead log is not open yet', { retryAfterS: 1 }))
      if (failed !== undefined) return Promise.reject(unavailable())
      const seq = nextSeq++
      let frame: Buffer
      try {
        frame = encodeRecord({ index, seq, changes })
      } catch (err) {
        return Promise.reject(err)
      }
      if (frame.byteLength > MAX_RECORD_BYTES) {
        return Promise.reject(new AppError('PAYLOAD_TOO_LARGE', `one write of ${frame.byteLength} bytes exceeds the log's record limit`))
      }
      return new Promise<number>((resolve, reject) => {
        pending.push({ frame, seq, index, started: performance.now(), resolve, reject })
        if (!flushActive) {
          flushActive = true
          flushing = flushLoop()
        }
      })
    },
    truncate(covered) {
      return withIo(async () => {
        if (!opened || failed !== undefined) return
        const isCovered = (s: Segment): boolean => [...s.maxSeq].every(([index, seq]) => covered(index) >= seq)
        if (active().records > 0 && isCovered(active())) await createSegment(writtenSeq + 1)
        let removed = 0
        while (segments.length > 1 && isCovered(segments[0])) {
          await rm(segments[0].path, { force: true })
          segments.shift()
          removed++
        }
        if (removed > 0) {
          await fsyncDir(dir)
          log?.info({ segments: removed }, 'write-ahead log: removed segments covered by snapshots')
        }
      })
    },
    lastSeq: () => nextSeq - 1,
    async close() {
      while (flushActive) await flushing
      await withIo(async () => {
        await fh?.close()
        fh = undefined
      })
    },
    stats() {
      let bytes = 0
      for (const s of segments) bytes += s.size
      return { segments: segments.length, bytes }
    },
  }
}
