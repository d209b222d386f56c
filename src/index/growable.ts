/**
 * Capacity growth for the append-only typed arrays of the index (factor 1.25 keeps slack, and so bytes/vector, low).
 * The grown arrays live on SharedArrayBuffers.
 */
type AnyTyped = Float32Array | Float64Array | Uint8Array | Uint16Array | Uint32Array | Int32Array

export function ensureCapacity<T extends AnyTyped>(arr: T, need: number): T {
  if (need <= arr.length) return arr
  const cap = Math.max(need, Math.ceil(arr.length * 1.25) + 256)
  // On shared memory, so search workers (src/search-workers) read the appended data in place: a writer only appends
  // beyond what published versions cover, so no copy is needed per write or per query.
  const ctor = arr.constructor as (new (b: SharedArrayBuffer) => T) & { BYTES_PER_ELEMENT: number }
  const out = new ctor(new SharedArrayBuffer(cap * ctor.BYTES_PER_ELEMENT))
  out.set(arr as never)
  return out
}

/** A copy holding exactly the first `n` elements (used after bulk builds and for export). */
export function trimTo<T extends AnyTyped>(arr: T, n: number): T {
  return arr.slice(0, n) as T
}
