/**
 * Batch helpers for the encoder: flat int64 tensors for ONNX and length-aware ordering that limits padding.
 */
import type { TokenizedText } from './colbert-tokenizer.js'

export interface PackedBatch {
  /** batchSize × seqLen, row-major, padded with padId */
  inputIds: BigInt64Array
  /** batchSize × seqLen, 1 on each text's own positions (its attentionMask), 0 on padding */
  attentionMask: BigInt64Array
  batchSize: number
  seqLen: number
}

/**
 * Pack texts into right-padded [batch, seqLen] tensors, seqLen = the longest text. Cost O(batch · seqLen).
 * Query [MASK] positions keep their own attention values (0 unless attend_to_mask_tokens); only the added
 * padding is forced to padId/0.
 */
export function packBatch(items: TokenizedText[], padId: number): PackedBatch {
  let seqLen = 0
  for (const it of items) if (it.ids.length > seqLen) seqLen = it.ids.length
  const batchSize = items.length
  const inputIds = new BigInt64Array(batchSize * seqLen)
  const attentionMask = new BigInt64Array(batchSize * seqLen)
  const pad = BigInt(padId)
  for (let b = 0; b < batchSize; b++) {
    const { ids, attentionMask: mask } = items[b]
    const row = b * seqLen
    const n = ids.length
    for (let i = 0; i < n; i++) {
      inputIds[row + i] = BigInt(ids[i])
      attentionMask[row + i] = mask[i] ? 1n : 0n
    }
    if (n < seqLen && pad !== 0n) inputIds.fill(pad, row + n, row + seqLen)
  }
  return { inputIds, attentionMask, batchSize, seqLen }
}

/** Indices of `items` ordered by token count, longest first (stable), so that neighbours pad little. O(n log n). */
export function orderByLength(items: ReadonlyArray<{ ids: ArrayLike<number> }>): number[] {
  const order = items.map((_, i) => i)
  order.sort((a, b) => items[b].ids.length - items[a].ids.length || a - b)
  return order
}

/**
 * Split `order` (e.g. from orderByLength) into consecutive groups whose padded size (count × longest) stays within
 * `maxTokens`; a text longer than the budget gets a group of its own. O(n).
 */
export function splitByTokenBudget(
  items: ReadonlyArray<{ ids: ArrayLike<number> }>,
  order: readonly number[],
  maxTokens: number,
): number[][] {
  const groups: number[][] = []
  let current: number[] = []
  let longest = 0
  for (const idx of order) {
    const len = items[idx].ids.length
    const nextLongest = Math.max(longest, len)
    if (current.length > 0 && nextLongest * (current.length + 1) > maxTokens) {
      groups.push(current)
      current = []
      longest = 0
    }
    current.push(idx)
    longest = Math.max(longest, len)
  }
  if (current.length > 0) groups.push(current)
  return groups
}
