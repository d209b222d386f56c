/**
 * transformers cuts special tokens ("[SEP]", "[MASK]", …) out of the raw text before the word tokenizer runs, so a
 * literal "[SEP]" in a JSQuAD passage is the id of [SEP], not MeCab's "[", "SEP", "]"; each side is analysed on its own.
 * Matching is exact and case-sensitive, leftmost then longest, like transformers' Trie.
 */
export interface TextChunk {
  text: string
  special: boolean
}

/** Split `text` around occurrences of `specials`. Cost O(len · specials) via native indexOf; one chunk when none occur. */
export function splitOnSpecialTokens(text: string, specials: readonly string[]): TextChunk[] {
  const out: TextChunk[] = []
  let pos = 0
  for (;;) {
    let best = -1
    let bestLen = 0
    for (const s of specials) {
      if (s.length === 0) continue
      const at = text.indexOf(s, pos)
      if (at >= 0 && (best < 0 || at < best || (at === best && s.length > bestLen))) {
        best = at
        bestLen = s.length
      }
    }
    if (best < 0) break
    if (best > pos) out.push({ text: text.slice(pos, best), special: false })
    out.push({ text: text.slice(best, best + bestLen), special: true })
    pos = best + bestLen
  }
  if (pos < text.length || out.length === 0) out.push({ text: text.slice(pos), special: false })
  return out
}
