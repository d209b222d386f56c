/**
 * Reader for MeCab's `matrix.bin` (compiled matrix.def): u16 lsize, u16 rsize, then lsize × rsize
 * i16 connection costs; cost(left node's rcAttr, right node's lcAttr) = m[rcAttr + lsize * lcAttr].
 */
import { AppError } from '../../errors.js'

export interface ConnectionMatrix {
  readonly lsize: number
  readonly rsize: number
  readonly costs: Int16Array
}

export function parseConnectionMatrix(bytes: Uint8Array, path: string): ConnectionMatrix {
  if (bytes.length < 4) throw new AppError('DICTIONARY_INVALID', `${path}: file is too small to be a MeCab matrix.bin`, { file: path })
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const lsize = dv.getUint16(0, true)
  const rsize = dv.getUint16(2, true)
  if (4 + 2 * lsize * rsize !== bytes.length) {
    throw new AppError('DICTIONARY_INVALID', `${path}: size ${bytes.length} does not match ${lsize}×${rsize} costs`, { file: path })
  }
  let costs: Int16Array
  if ((bytes.byteOffset + 4) % 2 === 0) costs = new Int16Array(bytes.buffer, bytes.byteOffset + 4, lsize * rsize)
  else costs = new Int16Array(bytes.slice(4).buffer)
  return { lsize, rsize, costs }
}
