/** Float32 rounding steps for thresholds compared in float32 kernels (S > t instead of S ≥ threshold). */

const f32Box = new Float32Array(1)
const i32Box = new Int32Array(f32Box.buffer)

/** The adjacent float32 of float32 x towards +∞ (up) or −∞. */
function float32Step(x: number, up: boolean): number {
  f32Box[0] = x
  if (x === 0) i32Box[0] = up ? 1 : -2147483647 // ± the smallest subnormal
  else i32Box[0] += (x > 0) === up ? 1 : -1
  return f32Box[0]
}

/** The largest float32 t such that, for every float32 x, x > t ⟺ x ≥ threshold (threshold finite). */
export function float32Below(threshold: number): number {
  f32Box[0] = threshold
  let u = f32Box[0]
  if (u < threshold) u = float32Step(u, true) // the smallest float32 ≥ threshold
  return float32Step(u, false)
}
