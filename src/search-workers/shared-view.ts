/**
 * Publishing an index's search arrays to search workers as one immutable version on shared memory.
 *
 * A version is what `PlaidIndex.searchState()` shows between two writes. Its typed arrays are passed to the workers
 * as SharedArrayBuffer views (structured clone shares them; nothing is copied per query):
 *  - append-only arrays (docStart, docLen, codes, residuals, raw) already on shared memory (growable.ts allocates
 *    there) are passed as they are: a later write only appends beyond the version's nSlots / vectors, which its
 *    readers never look at; a compaction or re-training builds new arrays and leaves the old ones to the old version.
 *  - arrays not yet on shared memory (fresh from a compaction, a re-training, a snapshot restore, the IVF) are mirrored
 *    once into a SharedArrayBuffer of the same capacity; later versions copy only the tail appended since.
 *  - `live` is flipped in place by deletes, so each version gets its own copy: O(nSlots) bytes per published write.
 * Centroid sets and codecs get an id; a worker rebuilds its own (WebAssembly) centroid arena once per id.
 * ids and metadata stay on the main thread: workers answer slot numbers, which the pool maps to the ids and metadata
 * of the same version (those arrays are append-only for slots < nSlots, and replaced wholesale by a compaction).
 */
import type { Ivf } from '../index/ivf.js'
import type { CentroidSet } from '../index/kmeans.js'
import type { SearchView } from '../index/plaid-search.js'
import type { OriginalRowsSource } from '../index/original-rows.js'
import type { ResidualCodec } from '../index/residual-codec.js'
import { searchRowMap } from '../index/residual-rows.js'

type Shareable = Float32Array | Uint8Array | Uint16Array | Uint32Array | Int16Array

export interface SharedCentroids { id: number; k: number; dim: number; rows: Int16Array; coarse: Float32Array; groupOffsets: Uint32Array }
export interface SharedCodec {
  id: number; nbits: 1 | 2 | 4; dim: number; cutoffs: Float32Array; weights: Float32Array; radialFree: boolean; centroidWeight: number
}

/** One version of one index, as a worker receives it. */
export interface SharedViewMessage {
  type: 'view'
  /** unique across indexes and versions in this process */
  key: number
  dim: number
  nSlots: number
  trained: boolean
  docStart: Uint32Array
  docLen: Uint32Array
  live: Uint8Array
  raw: Float32Array
  codes: Uint16Array | Uint32Array
  residuals: Uint8Array
  cset: SharedCentroids | null
  codec: SharedCodec | null
  ivf: Ivf | null
  /** the original vectors' records (shared array or open file), when the index keeps them */
  originals: OriginalRowsSource | null
}

const isShared = (a: Shareable): boolean => typeof SharedArrayBuffer !== 'undefined' && a.buffer instanceof SharedArrayBuffer

/** A shared array of src's length (its capacity) with its first n elements; an empty one stays empty. */
function sharedCopy<T extends Shareable>(src: T, n: number): T {
  const ctor = src.constructor as (new (b: SharedArrayBuffer, offset: number, length: number) => T) & { BYTES_PER_ELEMENT: number }
  // the buffer is never 0 bytes, but the array keeps the length: readers test emptiness by length (ivf delta lists)
  const out = new ctor(new SharedArrayBuffer(Math.max(1, src.length) * ctor.BYTES_PER_ELEMENT), 0, src.length)
  out.set(src.subarray(0, n) as never)
  return out
}

export interface ViewPublisher {
  /** The message for the view as it is now (call between writes). O(nSlots + data appended since the last call). */
  publish(view: SearchView, key: number): SharedViewMessage
}

export function createViewPublisher(): ViewPublisher {
  const mirrors = new WeakMap<object, { dst: Shareable; copied: number }>()
  const csetIds = new WeakMap<CentroidSet, SharedCentroids>()
  const codecIds = new WeakMap<ResidualCodec, SharedCodec>()
  let nextId = 1

  /** `src` itself when on shared memory, else its mirror with the first n elements current. */
  function share<T extends Shareable>(src: T, n: number): T {
    if (isShared(src)) return src
    const m = mirrors.get(src)
    if (m === undefined) {
      const dst = sharedCopy(src, n)
      mirrors.set(src, { dst, copied: n })
      return dst
    }
    // append-only: only the tail since the last publish is new
    if (m.copied < n) {
      ;(m.dst as T).set(src.subarray(m.copied, n) as never, m.copied)
      m.copied = n
    }
    return m.dst as T
  }

  function centroids(cset: CentroidSet): SharedCentroids {
    let s = csetIds.get(cset)
    if (s === undefined) {
      const n = cset.k * cset.dim
      s = { id: nextId++, k: cset.k, dim: cset.dim, rows: sharedCopy(cset.centroids, n), coarse: sharedCopy(cset.coarse, cset.coarse.length), groupOffsets: sharedCopy(cset.groupOffsets, cset.groupOffsets.length) }
      csetIds.set(cset, s)
    }
    return s
  }

  function codecOf(codec: ResidualCodec): SharedCodec {
    let s = codecIds.get(codec)
    if (s === undefined) {
      s = { id: nextId++, nbits: codec.nbits, dim: codec.dim, cutoffs: codec.cutoffs.slice(), weights: codec.weights.slice(), radialFree: codec.radialFree, centroidWeight: codec.centroidWeight }
      codecIds.set(codec, s)
    }
    return s
  }

  /** the original vectors' records: an open file as it is; an array in memory shared (a restored one is mirrored once) */
  function originalsOf(view: SearchView): OriginalRowsSource | null {
    const src = view.originals?.source?.()
    if (src === undefined) return null
    if (src.home === 'file') return src
    return { ...src, bytes: share(src.bytes, src.bytes.length) }
  }

  return {
    publish(view, key) {
      const n = view.nSlots
      let vectors = 0
      for (let s = 0; s < n; s++) vectors = Math.max(vectors, view.docStart[s]! + view.docLen[s]!)
      const bpv = view.codec?.bytesPerVector ?? 0
      const live = new Uint8Array(new SharedArrayBuffer(Math.max(1, n)))
      live.set(view.live.subarray(0, n))
      const ivf = view.ivf
      const originals = originalsOf(view)
      return {
        type: 'view', key, dim: view.dim, nSlots: n, trained: view.trained,
        docStart: share(view.docStart, n),
        docLen: share(view.docLen, n),
        live,
        raw: view.trained ? new Float32Array(0) : share(view.raw, vectors * view.dim),
        codes: view.trained ? share(view.codes, vectors) : new Uint16Array(0),
        residuals: view.trained ? share(view.residuals, vectors * bpv) : new Uint8Array(0),
        cset: view.cset ? centroids(view.cset) : null,
        codec: view.codec ? codecOf(view.codec) : null,
        ivf: ivf
          ? {
              k: ivf.k,
              baseOffsets: share(ivf.baseOffsets, ivf.baseOffsets.length),
              baseGaps: share(ivf.baseGaps, ivf.baseGaps.length),
              // replaced by every write: a fresh copy (small: the slots appended since the last IVF rebuild)
              deltaOffsets: sharedCopy(ivf.deltaOffsets, ivf.deltaOffsets.length),
              deltaGaps: sharedCopy(ivf.deltaGaps, ivf.deltaGaps.length),
              blockSlot: sharedCopy(ivf.blockSlot, ivf.blockSlot.length),
              // changed in place by deletes: a copy per write, like the delta
              baseCounts: sharedCopy(ivf.baseCounts, ivf.baseCounts.length),
              deltaCounts: sharedCopy(ivf.deltaCounts, ivf.deltaCounts.length),
              baseSlots: ivf.baseSlots, countedSlots: ivf.countedSlots,
              // fixed at the rebuild, like the base lists
              baseRowStart: share(ivf.baseRowStart, ivf.baseRowStart.length), tailFrom: ivf.tailFrom,
              baseSkips: share(ivf.baseSkips, ivf.baseSkips.length),
              // an exact stage that reads residuals by vector (no originals) maps them through the base's row map:
              // made once per base here, already on shared memory, so no worker rebuilds it for each version
              ...(view.trained && originals === null ? { baseRows: searchRowMap(ivf) } : {}),
            }
          : null,
        originals,
      }
    },
  }
}
