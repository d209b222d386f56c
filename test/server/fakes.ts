/**
 * Small stand-ins for the encoder and index store, for the tests that check HTTP mechanics (errors, limits, auth,
 * backpressure) independent of the model. End-to-end tests use the real tiny model and the real index.
 */
import { AppError } from '../../src/errors.js'
import { DEFAULT_BM25, type Bm25Settings } from '../../src/lexical/bm25.js'
import type { EncodedText, EncoderPort, IndexChange, IndexPort, IndexSettings, IndexStorePort, Metadata, SearchParams } from '../../src/server/ports.js'

/** Deterministic vectors from character codes: one row per character (at least one), L2-normalised. */
export function fakeVectors(text: string, dim: number): EncodedText {
  const n = Math.max(1, Math.min(text.length, 8))
  const v = new Float32Array(n * dim)
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i) || 7
    let norm = 0
    for (let j = 0; j < dim; j++) {
      const x = Math.sin(c * (j + 1) + i)
      v[i * dim + j] = x
      norm += x * x
    }
    for (let j = 0; j < dim; j++) v[i * dim + j] /= Math.sqrt(norm)
  }
  return { vectors: v, n, dim }
}

export function createFakeEncoder(opts: { dim?: number; overloaded?: () => boolean } = {}): EncoderPort & { calls: number } {
  const dim = opts.dim ?? 8
  const enc = {
    calls: 0,
    modelName: 'fake-model',
    dim,
    provider: 'cpu',
    async encodeQueries(texts: string[]) {
      enc.calls++
      if (opts.overloaded?.()) throw new AppError('OVERLOADED', 'encoder queue full', { retryAfterS: 2 })
      return texts.map((t) => fakeVectors(t, dim))
    },
    async encodeDocuments(texts: string[], o?: { returnTokens?: boolean }) {
      enc.calls++
      if (opts.overloaded?.()) throw new AppError('OVERLOADED', 'encoder queue full', { retryAfterS: 2 })
      return texts.map((t) => ({ ...fakeVectors(t, dim), ...(o?.returnTokens ? { tokens: [...t].slice(0, 8) } : {}) }))
    },
    queueDepth: () => 0,
    async close() {},
  }
  return enc
}

/** Exhaustive MaxSim index: exact scores, for checking the HTTP layer's handling of results. */
function createBruteIndex(settings: IndexSettings): IndexPort {
  const docs = new Map<string, { vectors: Float32Array; metadata?: Metadata }>()
  const dim = settings.dim
  return {
    settings,
    upsert(items) {
      const added: string[] = []
      const updated: string[] = []
      for (const d of items) {
        if (d.vectors.length % dim !== 0) throw new AppError('DIMENSION_MISMATCH', 'bad dim')
        ;(docs.has(d.id) ? updated : added).push(d.id)
        docs.set(d.id, d.metadata === undefined ? { vectors: d.vectors } : { vectors: d.vectors, metadata: d.metadata })
      }
      return { added, updated }
    },
    delete(ids) {
      const deleted: string[] = []
      const missing: string[] = []
      for (const id of ids) (docs.delete(id) ? deleted : missing).push(id)
      return { deleted, missing }
    },
    get(id) {
      const d = docs.get(id)
      return d && { id, metadata: d.metadata, nVectors: d.vectors.length / dim }
    },
    search(q: Float32Array, p: SearchParams) {
      const qn = q.length / dim
      const hits: Array<{ id: string; score: number; metadata?: Metadata }> = []
      for (const [id, d] of docs) {
        if (p.filter && !p.filter(d.metadata, id)) continue
        let s = 0
        for (let i = 0; i < qn; i++) {
          let best = -Infinity
          for (let j = 0; j < d.vectors.length / dim; j++) {
            let dot = 0
            for (let k = 0; k < dim; k++) dot += q[i * dim + k] * d.vectors[j * dim + k]
            best = Math.max(best, dot)
          }
          s += best
        }
        hits.push({ id, score: s, metadata: d.metadata })
      }
      hits.sort((a, b) => b.score - a.score)
      return { hits: hits.slice(0, p.k), timingsMs: { exact: 0.01 } }
    },
    stats() {
      let vectors = 0
      for (const d of docs.values()) vectors += d.vectors.length / dim
      return { documents: docs.size, vectors, tombstones: 0, bytes: vectors * dim * 4, trained: false, centroids: 0 }
    },
  }
}

export function createFakeStore(dim = 8): IndexStorePort & { saves: number } {
  const indexes = new Map<string, IndexPort>()
  const dirty = new Set<string>()
  const seqs = new Map<string, number>()
  const check = (name: string) => {
    if (!/^[a-z0-9][a-z0-9_-]{0,63}$/.test(name)) throw new AppError('INVALID_INDEX_NAME', `bad name ${name}`)
  }
  const store = {
    saves: 0,
    list: () =>
      [...indexes].map(([name, ix]) => ({ name, stats: ix.stats(), settings: ix.settings, dirty: dirty.has(name), lastSnapshotAt: undefined })),
    get: (name: string) => indexes.get(name),
    getOrThrow(name: string) {
      const ix = indexes.get(name)
      if (!ix) throw new AppError('INDEX_NOT_FOUND', `no index ${name}`)
      return ix
    },
    create(name: string, s?: Partial<IndexSettings>) {
      check(name)
      if (indexes.has(name)) throw new AppError('INDEX_EXISTS', `index ${name} exists`)
      const ix = createBruteIndex({ dim, nbits: 2, seed: 1, minTrainVectors: 1, kmeansIters: 1, ...s })
      indexes.set(name, ix)
      return ix
    },
    getOrCreate(name: string) {
      return indexes.get(name) ?? store.create(name)
    },
    apply: ((name: string, change: IndexChange) => {
      if (change.op === 'upsert') {
        const r = store.getOrCreate(name).upsert(change.documents)
        dirty.add(name)
        return r
      }
      const r = store.getOrThrow(name).delete(change.ids)
      if (r.deleted.length > 0) dirty.add(name)
      return r
    }) as IndexStorePort['apply'],
    searchLexical(name: string): never {
      store.getOrThrow(name)
      throw new AppError('LEXICAL_UNAVAILABLE', 'the fake store has no lexical side')
    },
    drop: (name: string) => { seqs.delete(name); return indexes.delete(name) },
    markDirty: (name: string) => void dirty.add(name),
    appliedSeq: (name: string) => seqs.get(name) ?? 0,
    setAppliedSeq: (name: string, seq: number) => void seqs.set(name, seq),
    newIndexSettings: (s?: Partial<IndexSettings>): IndexSettings => ({ dim, nbits: 2, seed: 1, minTrainVectors: 1, kmeansIters: 1, ...s }),
    lexicalSettings: (name: string) => (indexes.has(name) ? { ...DEFAULT_BM25 } : undefined),
    newLexicalSettings: (b?: Partial<Bm25Settings>): Bm25Settings => ({ ...DEFAULT_BM25, ...b }),
    async saveAll() {
      store.saves++
      dirty.clear()
    },
  }
  return store
}
