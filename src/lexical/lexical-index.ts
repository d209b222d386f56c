/**
 * An in-memory BM25 inverted index over caller ids (the lexical side of an index; see bm25.ts for the formula).
 *
 * Storage mirrors the PLAID index: each document version owns a slot (typed arrays docLen, live; ids in an array);
 * an upsert of an existing id tombstones the old slot and appends a new one, a delete tombstones. Postings are per
 * term: two growable typed arrays (slots ascending, term frequencies) — one pair of arrays per term, never an object
 * per posting. Dead slots stay in the postings until compaction (automatic once a quarter of the slots are dead),
 * which rewrites every list without them.
 *
 * Statistics are live: N = live documents, avgdl = Σ live dl / N, and df is counted over the live postings of the
 * term while it is scored (one extra pass over a list the query reads anyway), so deletes need no forward index.
 *
 * Search is term-at-a-time into a per-slot Float64 accumulator: O(Σ postings of the query terms) + O(touched · log k)
 * for the top k. A filter is evaluated once per touched document, before any of its terms is scored.
 * Ties rank by id (code unit order), so results do not depend on slot order.
 */
import { AppError } from '../errors.js'
import { ensureCapacity } from '../index/growable.js'
import { bm25Idf, DEFAULT_BM25, type Bm25Settings } from './bm25.js'

export const LEXICAL_FORMAT_VERSION = 1

export type LexicalStage = 'lexical_postings' | 'lexical_topk'

export interface LexicalHit { id: string; score: number }

export interface LexicalSearchParams {
  k: number
  /** true = the document may be returned; evaluated once per candidate document, before scoring */
  filter?: (id: string) => boolean
}

export interface LexicalStats {
  documents: number
  terms: number
  postings: number
  tombstones: number
  /** typed arrays + an estimate for the term and id strings */
  bytes: number
}

/** What a snapshot holds (same shape as the PLAID IndexState, so the snapshot file format is shared). */
export interface LexicalState {
  formatVersion: number
  settings: Bm25Settings
  scalars: Record<string, number | string | boolean>
  arrays: {
    docLen: Uint32Array
    live: Uint8Array
    /** CSR postings: list of term t = [termStart[t], termStart[t + 1]) */
    termStart: Uint32Array
    postSlot: Uint32Array
    postTf: Uint32Array
    /** UTF-8 of all terms, concatenated; term t = [termTextStart[t], termTextStart[t + 1]) */
    termText: Uint8Array
    termTextStart: Uint32Array
  }
  ids: string[]
  metadata: null[]
}

export interface LexicalIndex {
  readonly settings: Bm25Settings
  /** Adds or replaces documents; a document with no terms is removed instead (it could never match). */
  upsert(docs: Array<{ id: string; terms: string[] }>): void
  delete(ids: string[]): void
  has(id: string): boolean
  /** live documents, O(1) */
  size(): number
  search(queryTerms: string[], params: LexicalSearchParams): { hits: LexicalHit[]; timingsMs: Partial<Record<LexicalStage, number>> }
  stats(): LexicalStats
  compact(): void
  exportState(): LexicalState
}

/** Dead share of slots that triggers automatic compaction. */
const AUTO_COMPACT_DEAD = 0.25

export function validateBm25Settings(s: Partial<Bm25Settings> | undefined, field = 'lexical'): Bm25Settings {
  const k1 = s?.k1 ?? DEFAULT_BM25.k1
  const b = s?.b ?? DEFAULT_BM25.b
  const terms = s?.terms ?? DEFAULT_BM25.terms
  if (terms !== 'surface' && terms !== 'base') {
    throw new AppError('VALIDATION_ERROR', `${field}.terms must be "surface" or "base", got ${JSON.stringify(terms)}`, { field: `${field}.terms` })
  }
  if (typeof k1 !== 'number' || !Number.isFinite(k1) || k1 < 0 || k1 > 100) {
    throw new AppError('VALIDATION_ERROR', `${field}.k1 must be a number in 0..100, got ${String(k1)}`, { field: `${field}.k1` })
  }
  if (typeof b !== 'number' || !Number.isFinite(b) || b < 0 || b > 1) {
    throw new AppError('VALIDATION_ERROR', `${field}.b must be a number in 0..1, got ${String(b)}`, { field: `${field}.b` })
  }
  return { k1, b, terms }
}

class LexicalIndexImpl implements LexicalIndex {
  readonly settings: Bm25Settings
  // documents
  private nSlots = 0
  private liveDocs = 0
  private sumDl = 0
  private docLen = new Uint32Array(0)
  private live = new Uint8Array(0)
  private ids: string[] = []
  private slotOf = new Map<string, number>()
  private idChars = 0
  // terms
  private termId = new Map<string, number>()
  private termStr: string[] = []
  private postSlot: Uint32Array[] = []
  private postTf: Uint32Array[] = []
  private postLen = new Uint32Array(0)
  private nPostings = 0
  private termChars = 0
  // search scratch (grown to nSlots)
  private acc = new Float64Array(0)
  /** 0 untouched, 1 candidate, 2 filtered out */
  private mark = new Uint8Array(0)
  private touched = new Uint32Array(0)

  constructor(settings: Bm25Settings) {
    this.settings = settings
  }

  upsert(docs: Array<{ id: string; terms: string[] }>): void {
    for (const d of docs) {
      if (typeof d?.id !== 'string' || d.id.length === 0) throw new AppError('VALIDATION_ERROR', 'every document needs a non-empty string id')
      if (!Array.isArray(d.terms)) throw new AppError('VALIDATION_ERROR', `document "${d.id}": terms must be an array`)
    }
    const n = docs.length
    this.docLen = ensureCapacity(this.docLen, this.nSlots + n)
    this.live = ensureCapacity(this.live, this.nSlots + n)
    const tf = new Map<string, number>()
    for (const d of docs) {
      const old = this.slotOf.get(d.id)
      if (old !== undefined) this.tombstone(old)
      if (d.terms.length === 0) continue
      tf.clear()
      for (const t of d.terms) tf.set(t, (tf.get(t) ?? 0) + 1)
      const s = this.nSlots++
      this.docLen[s] = d.terms.length
      this.live[s] = 1
      this.ids[s] = d.id
      this.slotOf.set(d.id, s)
      this.idChars += d.id.length
      this.liveDocs++
      this.sumDl += d.terms.length
      for (const [term, f] of tf) this.addPosting(this.termOf(term), s, f)
    }
    this.maybeCompact()
  }

  delete(ids: string[]): void {
    for (const id of ids) {
      const s = this.slotOf.get(id)
      if (s !== undefined) this.tombstone(s)
    }
    this.maybeCompact()
  }

  has(id: string): boolean {
    return this.slotOf.has(id)
  }

  size(): number {
    return this.liveDocs
  }

  search(queryTerms: string[], params: LexicalSearchParams): { hits: LexicalHit[]; timingsMs: Partial<Record<LexicalStage, number>> } {
    const t0 = performance.now()
    const k = params.k
    if (!Number.isInteger(k) || k < 1) throw new AppError('INVALID_SEARCH_PARAMS', `k must be a positive integer, got ${k}`)
    if (this.liveDocs === 0 || queryTerms.length === 0) return { hits: [], timingsMs: { lexical_postings: 0, lexical_topk: 0 } }
    // query terms in first-appearance order, with their counts
    const qtf = new Map<string, number>()
    for (const t of queryTerms) qtf.set(t, (qtf.get(t) ?? 0) + 1)
    if (this.acc.length < this.nSlots) {
      this.acc = new Float64Array(this.nSlots)
      this.mark = new Uint8Array(this.nSlots)
      this.touched = new Uint32Array(this.nSlots)
    }
    const { acc, mark, touched, live, docLen } = this
    const { k1, b } = this.settings
    const n = this.liveDocs
    const avgdl = this.sumDl / n
    const filter = params.filter
    let nTouched = 0
    for (const [term, q] of qtf) {
      const t = this.termId.get(term)
      if (t === undefined) continue
      const slots = this.postSlot[t], tfs = this.postTf[t], len = this.postLen[t]
      let df = 0
      for (let i = 0; i < len; i++) df += live[slots[i]]
      if (df === 0) continue
      const idf = bm25Idf(n, df)
      for (let i = 0; i < len; i++) {
        const s = slots[i]
        if (live[s] === 0) continue
        let m = mark[s]
        if (m === 0) {
          m = filter === undefined || filter(this.ids[s]) ? 1 : 2
          mark[s] = m
          touched[nTouched++] = s
          acc[s] = 0
        }
        if (m !== 1) continue
        const f = tfs[i]
        acc[s] += q * idf * f / (f + k1 * (1 - b + b * docLen[s] / avgdl))
      }
    }
    const t1 = performance.now()
    const hits = this.topK(k, nTouched)
    for (let i = 0; i < nTouched; i++) mark[touched[i]] = 0
    return { hits, timingsMs: { lexical_postings: t1 - t0, lexical_topk: performance.now() - t1 } }
  }

  stats(): LexicalStats {
    let bytes = this.docLen.byteLength + this.live.byteLength + this.postLen.byteLength + this.acc.byteLength + this.mark.byteLength + this.touched.byteLength
    for (let t = 0; t < this.postSlot.length; t++) bytes += this.postSlot[t].byteLength + this.postTf[t].byteLength + 2 * 64 /* array headers */
    // strings: 2 bytes per char + ~32 bytes of header, plus a Map entry (~24 bytes) each for ids and terms
    bytes += 2 * this.idChars + 56 * this.nSlots + 2 * this.termChars + 56 * this.termStr.length
    return { documents: this.liveDocs, terms: this.termStr.length, postings: this.nPostings, tombstones: this.nSlots - this.liveDocs, bytes }
  }

  compact(): void {
    if (this.nSlots === this.liveDocs) return
    const remap = new Int32Array(this.nSlots).fill(-1)
    const docLen = new Uint32Array(this.liveDocs), ids: string[] = new Array(this.liveDocs)
    let at = 0
    this.slotOf.clear()
    this.idChars = 0
    for (let s = 0; s < this.nSlots; s++) {
      if (!this.live[s]) continue
      remap[s] = at
      docLen[at] = this.docLen[s]
      ids[at] = this.ids[s]
      this.slotOf.set(ids[at], at)
      this.idChars += ids[at].length
      at++
    }
    // rewrite postings without dead slots; drop terms left without postings (term ids are renumbered)
    const termStr: string[] = [], postSlot: Uint32Array[] = [], postTf: Uint32Array[] = []
    const lens: number[] = []
    this.termId.clear()
    this.termChars = 0
    this.nPostings = 0
    for (let t = 0; t < this.termStr.length; t++) {
      const slots = this.postSlot[t], tfs = this.postTf[t], len = this.postLen[t]
      let keep = 0
      for (let i = 0; i < len; i++) if (remap[slots[i]] >= 0) keep++
      if (keep === 0) continue
      const ns = new Uint32Array(keep), nt = new Uint32Array(keep)
      for (let i = 0, j = 0; i < len; i++) {
        const r = remap[slots[i]]
        if (r < 0) continue
        ns[j] = r
        nt[j++] = tfs[i]
      }
      this.termId.set(this.termStr[t], termStr.length)
      this.termChars += this.termStr[t].length
      termStr.push(this.termStr[t])
      postSlot.push(ns)
      postTf.push(nt)
      lens.push(keep)
      this.nPostings += keep
    }
    this.termStr = termStr
    this.postSlot = postSlot
    this.postTf = postTf
    this.postLen = Uint32Array.from(lens)
    this.docLen = docLen
    this.live = new Uint8Array(this.liveDocs).fill(1)
    this.ids = ids
    this.nSlots = this.liveDocs
    this.acc = new Float64Array(0)
    this.mark = new Uint8Array(0)
    this.touched = new Uint32Array(0)
  }

  exportState(): LexicalState {
    const nTerms = this.termStr.length
    const termStart = new Uint32Array(nTerms + 1)
    for (let t = 0; t < nTerms; t++) termStart[t + 1] = termStart[t] + this.postLen[t]
    const total = termStart[nTerms]
    const postSlot = new Uint32Array(total), postTf = new Uint32Array(total)
    for (let t = 0; t < nTerms; t++) {
      postSlot.set(this.postSlot[t].subarray(0, this.postLen[t]), termStart[t])
      postTf.set(this.postTf[t].subarray(0, this.postLen[t]), termStart[t])
    }
    const enc = new TextEncoder()
    const parts = this.termStr.map((s) => enc.encode(s))
    const termTextStart = new Uint32Array(nTerms + 1)
    for (let t = 0; t < nTerms; t++) termTextStart[t + 1] = termTextStart[t] + parts[t].length
    const termText = new Uint8Array(termTextStart[nTerms])
    for (let t = 0; t < nTerms; t++) termText.set(parts[t], termTextStart[t])
    return {
      formatVersion: LEXICAL_FORMAT_VERSION,
      settings: { ...this.settings },
      scalars: { nSlots: this.nSlots, nTerms, postings: total },
      arrays: {
        docLen: this.docLen.slice(0, this.nSlots),
        live: this.live.slice(0, this.nSlots),
        termStart, postSlot, postTf, termText, termTextStart,
      },
      ids: this.ids.slice(0, this.nSlots),
      metadata: new Array<null>(this.nSlots).fill(null),
    }
  }

  /** Installs a snapshot's arrays after checking them; AppError SNAPSHOT_INVALID when inconsistent. */
  static fromState(state: LexicalState): LexicalIndexImpl {
    const bad = (msg: string): never => { throw new AppError('SNAPSHOT_INVALID', `lexical index state: ${msg}`) }
    if (state?.formatVersion !== LEXICAL_FORMAT_VERSION) bad(`unsupported format version ${state?.formatVersion} (expected ${LEXICAL_FORMAT_VERSION})`)
    let settings: Bm25Settings
    try {
      settings = validateBm25Settings(state.settings)
    } catch (err) {
      return bad((err as Error).message)
    }
    const idx = new LexicalIndexImpl(settings)
    const ar = state.arrays as Partial<LexicalState['arrays']>
    const sc = state.scalars
    const nSlots = sc.nSlots, nTerms = sc.nTerms
    if (typeof nSlots !== 'number' || !Number.isSafeInteger(nSlots) || nSlots < 0) bad('scalar nSlots missing or invalid')
    if (typeof nTerms !== 'number' || !Number.isSafeInteger(nTerms) || nTerms < 0) bad('scalar nTerms missing or invalid')
    const need = <T extends { length: number }>(name: string, a: unknown, ctor: new (...x: never[]) => T, len?: number): T => {
      if (!(a instanceof ctor)) return bad(`array ${name} missing or of the wrong type`)
      if (len !== undefined && a.length !== len) bad(`array ${name} has length ${a.length}, expected ${len}`)
      return a
    }
    const docLen = need('docLen', ar.docLen, Uint32Array, nSlots as number)
    const live = need('live', ar.live, Uint8Array, nSlots as number)
    const termStart = need('termStart', ar.termStart, Uint32Array, (nTerms as number) + 1)
    const total = termStart[nTerms as number]
    const postSlot = need('postSlot', ar.postSlot, Uint32Array, total)
    const postTf = need('postTf', ar.postTf, Uint32Array, total)
    const termTextStart = need('termTextStart', ar.termTextStart, Uint32Array, (nTerms as number) + 1)
    const termText = need('termText', ar.termText, Uint8Array, termTextStart[nTerms as number])
    if (!Array.isArray(state.ids) || state.ids.length !== nSlots) bad('ids length does not match the slots')
    idx.nSlots = nSlots as number
    idx.docLen = docLen
    idx.live = live
    idx.ids = state.ids.slice()
    for (let s = 0; s < idx.nSlots; s++) {
      if (live[s] > 1) bad(`live flag of slot ${s} is ${live[s]}`)
      if (!live[s]) continue
      const id = idx.ids[s]
      if (typeof id !== 'string' || idx.slotOf.has(id)) bad(`id ${JSON.stringify(id)} is missing or live twice`)
      idx.slotOf.set(id, s)
      idx.idChars += id.length
      idx.liveDocs++
      idx.sumDl += docLen[s]
    }
    const dec = new TextDecoder('utf-8', { fatal: true })
    idx.postLen = new Uint32Array(nTerms as number)
    for (let t = 0; t < (nTerms as number); t++) {
      const a = termStart[t], e = termStart[t + 1]
      if (e < a || termTextStart[t + 1] < termTextStart[t]) bad(`term ${t} has a negative extent`)
      let term: string
      try {
        term = dec.decode(termText.subarray(termTextStart[t], termTextStart[t + 1]))
      } catch {
        return bad(`term ${t} is not valid UTF-8`)
      }
      if (idx.termId.has(term)) bad(`term ${JSON.stringify(term)} appears twice`)
      for (let i = a; i < e; i++) {
        if (postSlot[i] >= idx.nSlots || (i > a && postSlot[i] <= postSlot[i - 1])) bad(`postings of term ${t} are out of range or unsorted`)
        if (postTf[i] === 0) bad(`posting ${i} has tf 0`)
      }
      idx.termId.set(term, t)
      idx.termStr.push(term)
      idx.termChars += term.length
      // views into the snapshot arrays; the first append to a list copies it into its own growable array
      idx.postSlot.push(postSlot.subarray(a, e))
      idx.postTf.push(postTf.subarray(a, e))
      idx.postLen[t] = e - a
    }
    idx.nPostings = total
    return idx
  }

  private termOf(term: string): number {
    let t = this.termId.get(term)
    if (t === undefined) {
      t = this.termStr.length
      this.termId.set(term, t)
      this.termStr.push(term)
      this.termChars += term.length
      this.postSlot.push(new Uint32Array(2))
      this.postTf.push(new Uint32Array(2))
      this.postLen = ensureCapacity(this.postLen, t + 1)
      this.postLen[t] = 0
    }
    return t
  }

  private addPosting(t: number, slot: number, tf: number): void {
    const len = this.postLen[t]
    let slots = this.postSlot[t], tfs = this.postTf[t]
    if (len === slots.length) {
      // also copies a list that is still a view into a restored snapshot's shared array
      slots = new Uint32Array(Math.max(4, len * 2))
      slots.set(this.postSlot[t].subarray(0, len))
      tfs = new Uint32Array(slots.length)
      tfs.set(this.postTf[t].subarray(0, len))
      this.postSlot[t] = slots
      this.postTf[t] = tfs
    }
    slots[len] = slot
    tfs[len] = tf
    this.postLen[t] = len + 1
    this.nPostings++
  }

  private tombstone(s: number): void {
    if (!this.live[s]) return
    this.live[s] = 0
    this.liveDocs--
    this.sumDl -= this.docLen[s]
    this.slotOf.delete(this.ids[s])
  }

  private maybeCompact(): void {
    const dead = this.nSlots - this.liveDocs
    if (dead > 0 && dead >= AUTO_COMPACT_DEAD * this.nSlots) this.compact()
  }

  /** The best k of the touched candidate slots: a bounded min-heap (worst on top), O(touched · log k). */
  private topK(k: number, nTouched: number): LexicalHit[] {
    const { acc, mark, touched, ids } = this
    const heap = new Uint32Array(Math.min(k, nTouched))
    let size = 0
    // a ranks below b
    const worse = (a: number, b: number): boolean => acc[a] < acc[b] || (acc[a] === acc[b] && ids[a] > ids[b])
    const down = (i: number): void => {
      for (;;) {
        const l = 2 * i + 1, r = l + 1
        let w = i
        if (l < size && worse(heap[l], heap[w])) w = l
        if (r < size && worse(heap[r], heap[w])) w = r
        if (w === i) return
        const tmp = heap[i]; heap[i] = heap[w]; heap[w] = tmp
        i = w
      }
    }
    for (let i = 0; i < nTouched; i++) {
      const s = touched[i]
      if (mark[s] !== 1) continue
      if (size < heap.length) {
        let j = size++
        heap[j] = s
        while (j > 0) {
          const p = (j - 1) >> 1
          if (!worse(heap[j], heap[p])) break
          const tmp = heap[j]; heap[j] = heap[p]; heap[p] = tmp
          j = p
        }
      } else if (size > 0 && worse(heap[0], s)) {
        heap[0] = s
        down(0)
      }
    }
    const out = Array.from(heap.subarray(0, size))
    out.sort((a, b) => (acc[b] - acc[a]) || (ids[a] < ids[b] ? -1 : ids[a] > ids[b] ? 1 : 0))
    return out.map((s) => ({ id: ids[s], score: acc[s] }))
  }
}

export function createLexicalIndex(settings?: Partial<Bm25Settings>): LexicalIndex {
  return new LexicalIndexImpl(validateBm25Settings(settings))
}

/** Rebuilds an index from exportState()'s output (arrays adopted, not copied). */
export function restoreLexicalIndex(state: LexicalState): LexicalIndex {
  return LexicalIndexImpl.fromState(state)
}
