/** Capacity growth for the append-only typed arrays of the index (factor 1.25 keeps slack, and so bytes/vector, low). */
type AnyTyped = Float32Array | Float64Array | Uint8Array | Uint16Array | Uint32Array | Int32Array

export function ensureCapacity<T extends AnyTyped>(arr: T, need: number): T {
  if (need <= arr.length) return arr
  const cap = Math.max(need, Math.ceil(arr.length * 1.25) + 256)
  const ctor = arr.constructor as new (n: number) => T
  const out = new ctor(cap)
  out.set(arr as never)
  return out
}

/** A copy holding exactly the first `n` elements (used after bulk builds and for export). */
export function trimTo<T extends AnyTyped>(arr: T, n: number): T {
  return arr.slice(0, n) as T
}
