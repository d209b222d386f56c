/**
 * Picks the next batch from the queue of waiting texts. Rules:
 *  - the anchor (by default the oldest waiting text; see chooseAnchor) is always in the next batch;
 *  - only texts of its kind (queries and documents never share a batch);
 *  - texts of similar length join it so padding stays small: candidates sorted by length, the window grows around
 *    the oldest text, shorter neighbours first (they add no padding), while batch rows × longest length ≤ maxTokens.
 * Cost: O(q log q) for q waiting texts of that kind (the queue is bounded by maxQueueTexts).
 */
export interface Waiting { kind: 'query' | 'document'; len: number; enqueuedAt: number }

export function pickBatch<T extends Waiting>(queue: readonly T[], maxTokens: number, anchor: T | undefined = queue[0]): T[] {
  const oldest = anchor
  if (!oldest) return []
  const same = queue.filter((w) => w.kind === oldest.kind)
  // Stable sort by length; ties keep arrival order.
  const sorted = same.map((w, i) => ({ w, i })).sort((a, b) => a.w.len - b.w.len || a.i - b.i).map((x) => x.w)
  const at = sorted.indexOf(oldest)
  let lo = at
  let hi = at
  let maxLen = oldest.len
  for (;;) {
    const rows = hi - lo + 2
    if (lo > 0 && rows * maxLen <= maxTokens) {
      lo--
      continue
    }
    if (hi < sorted.length - 1 && rows * Math.max(maxLen, sorted[hi + 1]!.len) <= maxTokens) {
      hi++
      maxLen = Math.max(maxLen, sorted[hi]!.len)
      continue
    }
    break
  }
  return sorted.slice(lo, hi + 1)
}

/** Tokens waiting of one kind (padding excluded). */
export function waitingTokens(queue: readonly Waiting[], kind: Waiting['kind']): number {
  let n = 0
  for (const w of queue) if (w.kind === kind) n += w.len
  return n
}

/**
 * Which text the next batch is built around: the oldest query when one waits (queries are interactive; a search
 * should not sit behind an indexing batch), unless the oldest document has already waited maxDocDelayMs, which
 * bounds document starvation. O(q).
 */
export function chooseAnchor<T extends Waiting>(queue: readonly T[], now: number, maxDocDelayMs: number): T | undefined {
  const oldest = queue[0]
  if (!oldest || oldest.kind === 'query' || now - oldest.enqueuedAt >= maxDocDelayMs) return oldest
  return queue.find((w) => w.kind === 'query') ?? oldest
}
