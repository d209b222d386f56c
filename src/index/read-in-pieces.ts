/**
 * Reads a file's first `bytes` bytes into memory the caller owns, in pieces, each through its own byte view:
 * fs.readFile refuses files over 2 GiB, and one byte view over a larger array stops at 2^32 bytes (a 50k-document
 * embedding set is 4.6 GB; an index's residuals pass 2 GiB near 67 M vectors).
 */
import type { FileHandle } from 'node:fs/promises'

/** Bytes per read. */
let pieceBytes = 1 << 30

/** Test hook: small pieces make the piecewise read run on small files. */
export function setReadPieceForTests(bytes: number): void {
  pieceBytes = bytes
}

/**
 * Reads bytes [0, bytes) of `fh` into `buffer` from `byteOffset` on, handing each piece to `onPiece` as it arrives.
 * Returns the bytes read: fewer than `bytes` only when the file ends first.
 */
export async function readInPieces(
  fh: FileHandle, buffer: ArrayBufferLike, byteOffset: number, bytes: number, onPiece?: (piece: Uint8Array) => void,
): Promise<number> {
  let at = 0
  while (at < bytes) {
    const piece = new Uint8Array(buffer, byteOffset + at, Math.min(pieceBytes, bytes - at))
    const { bytesRead } = await fh.read(piece, 0, piece.length, at)
    if (bytesRead === 0) break
    onPiece?.(piece.subarray(0, bytesRead))
    at += bytesRead
  }
  return at
}
