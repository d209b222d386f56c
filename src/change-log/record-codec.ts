/**
 * Binary encoding of a ChangeRecord for the write-ahead log (docs/wal-format.md). Vectors are the float32 rows
 * verbatim (little-endian), so a replay hands the index exactly the values the live write did; ids, texts and JSON
 * (settings, metadata) are UTF-8 with u32 lengths. Cost: one pass over the record, one buffer.
 *
 * payload := u8 version(1) | u32 seqLo | u32 seqHi | u16 nameLen | name | u16 nChanges | change*
 * change  := u8 op
 *   1 create: json(settings)
 *   2 drop
 *   3 upsert: u32 dim | json(create settings) | u32 nDocs | doc*
 *        doc := str(id) | u32 rows | u8 flags(1 metadata, 2 text) | [json(metadata)] | [str(text)] | rows × dim float32
 *   4 delete: u32 n | str(id)*
 * str/json := u32 byteLength | UTF-8 bytes
 * A create's or upsert's settings JSON may hold a `lexical` member (BM25 k1, b, terms); records written before lexical
 * search lack it and decode with `lexical` absent (the defaults), so the record version stays 1.
 */
import { endianness } from 'node:os'
import type { IndexSettings, Metadata } from '../index/types.js'
import type { Bm25Settings } from '../lexical/bm25.js'
import type { Change, ChangeRecord, DocumentChange } from './change-log.js'

const VERSION = 1
const OP = { create: 1, drop: 2, upsert: 3, delete: 4 } as const

/** Thrown by decodeRecord for a payload that passed its CRC but does not parse (the WAL reports it with its offset). */
export class RecordFormatError extends Error {}

if (endianness() !== 'LE') {
  // Vectors are written as the host's float32 memory; on a big-endian host that would silently change every number.
  throw new Error('the write-ahead log needs a little-endian host')
}

/** The settings JSON of a create or upsert: the PLAID settings plus, when given, the lexical ones under `lexical`. */
export function settingsJson(settings: IndexSettings, lexical: Bm25Settings | undefined): string {
  return JSON.stringify(lexical === undefined ? settings : { ...settings, lexical })
}

/** Inverse of settingsJson (also for records from before lexical search, which have no `lexical` member). */
export function splitSettings(v: IndexSettings & { lexical?: Bm25Settings }): { settings: IndexSettings; lexical?: Bm25Settings } {
  const { lexical, ...settings } = v
  return lexical === undefined ? { settings } : { settings, lexical }
}

export function encodeRecord(record: ChangeRecord): Buffer {
  const strs: Buffer[] = []
  const s = (v: string): Buffer => {
    const b = Buffer.from(v, 'utf8')
    strs.push(b)
    return b
  }
  // first pass: sizes (and the UTF-8 buffers, reused by the second pass in the same order)
  let size = 1 + 8 + 2 + s(record.index).byteLength + 2
  for (const ch of record.changes) {
    if (ch.op === 'retain') throw new TypeError('a retain change is delivered by the PostgreSQL follower, never logged')
    size += 1
    if (ch.op === 'create') size += 4 + s(settingsJson(ch.settings, ch.lexical)).byteLength
    else if (ch.op === 'upsert') {
      size += 4 + 4 + s(settingsJson(ch.create, ch.lexical)).byteLength + 4
      for (const d of ch.documents) {
        size += 4 + s(d.id).byteLength + 4 + 1
        if (d.metadata !== undefined) size += 4 + s(JSON.stringify(d.metadata)).byteLength
        if (d.text !== undefined) size += 4 + s(d.text).byteLength
        size += d.vectors.byteLength
      }
    } else if (ch.op === 'delete') {
      size += 4
      for (const id of ch.ids) size += 4 + s(id).byteLength
    }
  }
  const buf = Buffer.allocUnsafe(size)
  let o = 0
  let k = 0
  const putStr = (width: 2 | 4): void => {
    const b = strs[k++]
    o = width === 2 ? buf.writeUInt16LE(b.byteLength, o) : buf.writeUInt32LE(b.byteLength, o)
    o += b.copy(buf, o)
  }
  o = buf.writeUInt8(VERSION, o)
  o = buf.writeUInt32LE(record.seq % 0x1_0000_0000, o)
  o = buf.writeUInt32LE(Math.floor(record.seq / 0x1_0000_0000), o)
  putStr(2)
  o = buf.writeUInt16LE(record.changes.length, o)
  for (const ch of record.changes) {
    if (ch.op === 'retain') continue // refused above
    o = buf.writeUInt8(OP[ch.op], o)
    if (ch.op === 'create') putStr(4)
    else if (ch.op === 'upsert') {
      o = buf.writeUInt32LE(ch.dim, o)
      putStr(4)
      o = buf.writeUInt32LE(ch.documents.length, o)
      for (const d of ch.documents) {
        putStr(4)
        o = buf.writeUInt32LE(d.vectors.length / ch.dim, o)
        o = buf.writeUInt8((d.metadata !== undefined ? 1 : 0) | (d.text !== undefined ? 2 : 0), o)
        if (d.metadata !== undefined) putStr(4)
        if (d.text !== undefined) putStr(4)
        o += Buffer.from(d.vectors.buffer, d.vectors.byteOffset, d.vectors.byteLength).copy(buf, o)
      }
    } else if (ch.op === 'delete') {
      o = buf.writeUInt32LE(ch.ids.length, o)
      for (let i = 0; i < ch.ids.length; i++) putStr(4)
    }
  }
  if (o !== size) throw new Error(`record encoding wrote ${o} of ${size} bytes`)
  return buf
}

/** Index name and seq of an encoded record, without decoding the rest. */
export function peekRecord(p: Buffer): { index: string; seq: number } {
  const r = reader(p)
  if (r.u8() !== VERSION) throw new RecordFormatError(`record version ${p[0]} is not supported`)
  const seq = r.u32() + r.u32() * 0x1_0000_0000
  const index = r.str(2)
  return { index, seq }
}

export function decodeRecord(p: Buffer): ChangeRecord {
  const r = reader(p)
  if (r.u8() !== VERSION) throw new RecordFormatError(`record version ${p[0]} is not supported`)
  const seq = r.u32() + r.u32() * 0x1_0000_0000
  const index = r.str(2)
  const n = r.u16()
  const changes: Change[] = []
  for (let i = 0; i < n; i++) {
    const op = r.u8()
    if (op === OP.create) changes.push({ op: 'create', ...splitSettings(r.json<IndexSettings>()) })
    else if (op === OP.drop) changes.push({ op: 'drop' })
    else if (op === OP.upsert) {
      const dim = r.u32()
      const { settings: create, lexical } = splitSettings(r.json<IndexSettings>())
      const nd = r.u32()
      const documents: DocumentChange[] = []
      for (let j = 0; j < nd; j++) {
        const id = r.str(4)
        const rows = r.u32()
        const flags = r.u8()
        const d: DocumentChange = { id, vectors: new Float32Array(0) }
        if (flags & 1) d.metadata = r.json<Metadata>()
        if (flags & 2) d.text = r.str(4)
        d.vectors = r.floats(rows * dim)
        documents.push(d)
      }
      changes.push(lexical === undefined ? { op: 'upsert', dim, create, documents } : { op: 'upsert', dim, create, lexical, documents })
    } else if (op === OP.delete) {
      const m = r.u32()
      const ids: string[] = []
      for (let j = 0; j < m; j++) ids.push(r.str(4))
      changes.push({ op: 'delete', ids })
    } else throw new RecordFormatError(`unknown change op ${op}`)
  }
  if (r.pos() !== p.byteLength) throw new RecordFormatError(`${p.byteLength - r.pos()} bytes left after the record`)
  return { index, seq, changes }
}

function reader(p: Buffer) {
  let o = 0
  const need = (n: number): void => {
    if (n < 0 || o + n > p.byteLength) throw new RecordFormatError(`record ends early (needs ${n} bytes at ${o} of ${p.byteLength})`)
  }
  const utf8 = new TextDecoder('utf-8', { fatal: true })
  const r = {
    pos: () => o,
    u8(): number {
      need(1)
      return p[o++]
    },
    u16(): number {
      need(2)
      const v = p.readUInt16LE(o)
      o += 2
      return v
    },
    u32(): number {
      need(4)
      const v = p.readUInt32LE(o)
      o += 4
      return v
    },
    str(width: 2 | 4): string {
      const n = width === 2 ? r.u16() : r.u32()
      need(n)
      let v: string
      try {
        v = utf8.decode(p.subarray(o, o + n))
      } catch {
        throw new RecordFormatError('a string is not valid UTF-8')
      }
      o += n
      return v
    },
    json<T>(): T {
      const s = r.str(4)
      try {
        return JSON.parse(s) as T
      } catch {
        throw new RecordFormatError('a JSON field does not parse')
      }
    },
    floats(count: number): Float32Array {
      const bytes = count * 4
      need(bytes)
      const v = new Float32Array(count) // own, aligned memory: the index keeps (copies of) it
      new Uint8Array(v.buffer).set(p.subarray(o, o + bytes))
      o += bytes
      return v
    },
  }
  return r
}
