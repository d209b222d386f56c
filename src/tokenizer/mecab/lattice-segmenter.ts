/**
 * MeCab's lattice construction and Viterbi search, over UTF-8 bytes, reproducing `mecab -Owakati`.
 *
 * Rules followed (from MeCab 0.996's tokenizer.cpp / viterbi.cpp / char_property.h):
 * - positions are byte offsets; a lookup happens only at positions where some node ends (BOS at 0);
 * - a lookup first skips characters of the SPACE kind (chained: each next char must share a category
 *   bit with the previous one), then every dictionary word that is a prefix of the rest becomes a node
 *   starting after the skipped spaces (its rlength covers them, so whitespace never becomes a word);
 * - unknown words are added when no dictionary word starts there or the char's category has `invoke`:
 *   one grouped word over the whole run of the category (when the run after the first char is at most
 *   max-grouping-size chars), plus words of 1..length chars of the first char's category, and a
 *   single-char word if nothing else was added; each unknown word gets every unk.dic entry of the
 *   category;
 * - a lookup never looks further than 65535 bytes ahead; characters are classified by their UCS-2
 *   value (4-byte UTF-8 sequences, i.e. astral chars such as emoji, are classified as U+0000);
 * - node cost = best(left cost + matrix[left.rcAttr + lsize * right.lcAttr]) + word cost; ties go to
 *   the left node MeCab meets first (its end lists are last-in-first-out), which this code mirrors by
 *   keeping the same linked-list order and a strict `<` (or the lowest list index where it prunes);
 * - EOS connects to the last position (≤ end of text) where a node ends.
 *
 * Cost: O(n · k · m) for n bytes, k nodes starting at a position and m nodes ending there (like MeCab),
 * less where right nodes share an lcAttr (memo) or a row minimum prunes (big matrices); the inner loops
 * touch only typed arrays and allocate nothing once the arena has grown. Memory: 40 bytes per lattice
 * node, kept between calls (released again after an unusually large text).
 */
import type { DictionaryFile } from './dictionary-file.js'

export interface LatticeTables {
  readonly sys: DictionaryFile
  readonly unk: DictionaryFile
  /** First unk.dic token and token count per char category id. */
  readonly unkFirst: Int32Array
  readonly unkCount: Int32Array
  readonly charMap: Uint32Array
  readonly matrix: Int16Array
  readonly lsize: number
  readonly maxGroupingSize: number
  /** Row-minimum pruning of the Viterbi step; default: on for matrices over 8 M entries (same results either way). */
  readonly prune?: boolean
}

/** A byte range [start, end) of the encoded text for each word of the best path, in order. */
export interface ByteSegmentation {
  readonly bytes: Uint8Array
  readonly length: number
  readonly starts: Int32Array
  readonly ends: Int32Array
  /** The dictionary token of each word: t ≥ 0 is sys.dic token t, t < 0 is unk.dic token −t − 1 (for its features). */
  readonly tokens: Int32Array
  readonly count: number
}

const LOOKAHEAD_LIMIT = 65535
const INITIAL_NODES = 1 << 12
// After a text needing more nodes than this (tens of MB of arena), the arena is released again.
const RETAINED_NODES = 1 << 20
const ROW_MIN_UNKNOWN = 0x7fffffff
const PRUNE_MIN_MATRIX_ENTRIES = 1 << 23

export interface LatticeSegmenter {
  /** Segments `bytes[0, length)` (bytes[length..length+8) must be 0); the result is valid until the next call. */
  segmentBytes(bytes: Uint8Array, length: number): ByteSegmentation
}

export function createLatticeSegmenter(t: LatticeTables): LatticeSegmenter {
  const { charMap, matrix, lsize, maxGroupingSize, unkFirst, unkCount } = t
  const sysTrie = t.sys.trie
  const sysU16 = t.sys.tokenU16
  const sysI16 = t.sys.tokenI16
  const unkU16 = t.unk.tokenU16
  const unkI16 = t.unk.tokenI16
  const spaceType = charMap[0x20] & 0x3ffff
  // The group scan only needs to know whether the run exceeds max-grouping-size, and whether it ends
  // within the first 15 chars (the largest `length`); past both it can stop (keeps long runs linear).
  const groupScanLimit = Math.max(maxGroupingSize, 16) + 1

  // Node arena: 8 int32 fields per node (one cache line holds two nodes), costs apart. Node 0 is BOS.
  // Fields: +0 surface start (after skipped spaces), +1 surface length in bytes, +2 end position
  // (lookup position + rlength), +3 lcAttr, +4 rcAttr, +5 word cost, +6 best previous node, +7 next node
  // in the same end list.
  let cap = INITIAL_NODES
  let nodes = new Int32Array(cap * 8)
  let nCost = new Float64Array(cap)
  // Dictionary token of each node (see ByteSegmentation.tokens); apart from the arena, which has no free field.
  let nTok = new Int32Array(cap)
  let count = 0
  let endHead = new Int32Array(1024)
  let bytes: Uint8Array = new Uint8Array(0)
  // Left-node cache of one position (copied from its end list before the right nodes are connected).
  let lIds = new Int32Array(256)
  let lCost = new Float64Array(256)
  let lRc = new Int32Array(256)
  let lOrder = new Int32Array(256)
  // Per-position memo of the best left node for a right lcAttr (homographs often share it): the same
  // left list and lcAttr give the same minimum and the same tie-break, so reuse is exact.
  const attrs = Math.max(t.sys.lsize, t.sys.rsize, t.unk.lsize, t.unk.rsize, 1)
  const memoStamp = new Int32Array(attrs).fill(-1)
  const memoBest = new Float64Array(attrs)
  const memoNode = new Int32Array(attrs)
  let stamp = 0
  // Smallest connection cost into each right lcAttr (its matrix row), computed on first use: a lower bound
  // that lets the Viterbi step skip most matrix reads, which miss the caches and TLB on big matrices
  // (UniDic: 481 MB). On small matrices (IPADIC 3 MB) the plain scan is faster.
  const prune = t.prune ?? matrix.length > PRUNE_MIN_MATRIX_ENTRIES
  const rowMin = new Int32Array(attrs).fill(ROW_MIN_UNKNOWN)
  function computeRowMin(lc: number): number {
    let min = 32767
    const base = lsize * lc
    for (let i = 0; i < lsize; i++) if (matrix[base + i] < min) min = matrix[base + i]
    rowMin[lc] = min
    return min
  }
  // Result buffers.
  let outStarts = new Int32Array(256)
  let outEnds = new Int32Array(256)
  let outToks = new Int32Array(256)
  // Out-parameter of charInfo (byte length of the char read).
  let mblen = 0

  function grow(): void {
    const n = cap * 2
    const a = new Int32Array(n * 8)
    a.set(nodes)
    nodes = a
    const c = new Float64Array(n)
    c.set(nCost)
    nCost = c
    const tk = new Int32Array(n)
    tk.set(nTok)
    nTok = tk
    cap = n
  }

  function addNode(start: number, len: number, end: number, lc: number, rc: number, wc: number, tok: number): void {
    if (count === cap) grow()
    nTok[count] = tok
    const o = count++ << 3
    nodes[o] = start
    nodes[o + 1] = len
    nodes[o + 2] = end
    nodes[o + 3] = lc
    nodes[o + 4] = rc
    nodes[o + 5] = wc
  }

  /** MeCab's utf8_to_ucs2 + table lookup: CharInfo of the char at p (not reading past `end`); sets mblen. */
  function charInfo(p: number, end: number): number {
    const b0 = bytes[p]
    const rem = end - p
    if (b0 < 0x80) {
      mblen = 1
      return charMap[b0]
    }
    if (rem >= 2 && (b0 & 0xe0) === 0xc0) {
      mblen = 2
      return charMap[((b0 & 0x1f) << 6) | (bytes[p + 1] & 0x3f)]
    }
    if (rem >= 3 && (b0 & 0xf0) === 0xe0) {
      mblen = 3
      return charMap[((b0 & 0x0f) << 12) | ((bytes[p + 1] & 0x3f) << 6) | (bytes[p + 2] & 0x3f)]
    }
    if (rem >= 4 && (b0 & 0xf8) === 0xf0) mblen = 4
    else if (rem >= 5 && (b0 & 0xfc) === 0xf8) mblen = 5
    else if (rem >= 6 && (b0 & 0xfe) === 0xfc) mblen = 6
    else mblen = 1
    return charMap[0]
  }

  function addUnknown(info: number, begin: number, begin2: number, begin3: number): void {
    const cat = (info >>> 18) & 0xff // default category id
    const first = unkFirst[cat]
    const n = unkCount[cat]
    // MeCab stores length and rlength as unsigned short.
    const len = (begin3 - begin2) & 0xffff
    const end = begin + ((begin3 - begin) & 0xffff)
    for (let k = 0; k < n; k++) {
      const o = (first + k) << 3
      addNode(begin2, len, end, unkU16[o], unkU16[o + 1], unkI16[o + 3], -(first + k) - 1)
    }
  }

  /** Adds the nodes starting at `begin` (in MeCab's creation order). */
  function lookup(begin: number, textEnd: number): void {
    const end = textEnd - begin >= LOOKAHEAD_LIMIT ? begin + LOOKAHEAD_LIMIT : textEnd
    const firstNode = count

    // Skip leading spaces (seekToOtherType with the SPACE CharInfo).
    let p = begin
    let cinfo = 0
    mblen = 0
    let cType = spaceType
    while (p !== end) {
      const f = charInfo(p, end)
      cinfo = f
      if ((cType & f & 0x3ffff) === 0) break
      p += mblen
      cType = f
    }
    const begin2 = p
    const firstLen = mblen

    // Dictionary words: common-prefix search of the double-array trie from begin2.
    let searchLen = end - begin2
    if (searchLen === 0) {
      // Darts treats a zero length as "up to the NUL terminator".
      let q = begin2
      while (bytes[q] !== 0) q++
      searchLen = q - begin2
    }
    const trie = sysTrie
    const text = bytes
    let b = trie[0]
    let i = 0
    for (;;) {
      const n = trie[2 * b]
      if (n < 0 && trie[2 * b + 1] === b) {
        const v = -n - 1
        const toks = v & 0xff
        while (count + toks > cap) grow()
        const nd = nodes
        let o = (v >> 8) << 3
        let d = count << 3
        const tok0 = v >> 8
        for (let j = 0; j < toks; j++, o += 8, d += 8) {
          nTok[count + j] = tok0 + j
          nd[d] = begin2
          nd[d + 1] = i
          nd[d + 2] = begin2 + i
          nd[d + 3] = sysU16[o]
          nd[d + 4] = sysU16[o + 1]
          nd[d + 5] = sysI16[o + 3]
        }
        count += toks
      }
      if (i === searchLen) break
      const q = b + text[begin2 + i] + 1
      if (trie[2 * q + 1] !== b) break
      b = trie[2 * q]
      i++
    }

    if (count > firstNode && cinfo >>> 31 === 0 /* not invoke */) return

    let begin3 = begin2 + firstLen
    let groupBegin3 = -1
    if (begin3 > end) {
      addUnknown(cinfo, begin, begin2, begin3)
      if (count > firstNode) return
    }

    if (((cinfo >>> 30) & 1) !== 0 /* group */) {
      // seekToOtherType from the second char, chaining categories.
      let q = begin3
      let clen = 0
      let cT = cinfo
      let stopped = false
      while (q !== end) {
        const f = charInfo(q, end)
        if ((cT & f & 0x3ffff) === 0) break
        q += mblen
        clen++
        cT = f
        if (clen > groupScanLimit) {
          stopped = true
          break
        }
      }
      if (!stopped) {
        if (clen <= maxGroupingSize) addUnknown(cinfo, begin, begin2, q)
        groupBegin3 = q
      }
    }

    const maxLen = (cinfo >>> 26) & 0xf
    const cTypeBits = cinfo & 0x3ffff
    for (let k = 1; k <= maxLen; k++) {
      if (begin3 > end) break
      if (begin3 === groupBegin3) continue
      addUnknown(cinfo, begin, begin2, begin3)
      const f = charInfo(begin3, end)
      if ((cTypeBits & f & 0x3ffff) === 0) break
      begin3 += mblen
    }

    if (count === firstNode) addUnknown(cinfo, begin, begin2, begin3)
  }

  /**
   * Connects the nodes created at one position (ids first..count-1) to the nodes ending there (list at
   * `head`): best left node by cumulative + connection cost, then each joins the end list of its end.
   */
  function connect(head: number, first: number): void {
    const nd = nodes
    const costs = nCost
    const eh = endHead
    // Cache the left nodes of this position in list order.
    let m = 0
    for (let l = head; l >= 0; l = nd[(l << 3) + 7]) m++
    if (m > lIds.length) {
      const size = Math.max(m, lIds.length * 2)
      lIds = new Int32Array(size)
      lCost = new Float64Array(size)
      lRc = new Int32Array(size)
      lOrder = new Int32Array(size)
    }
    const ids = lIds
    const lc0 = lCost
    const rc0 = lRc
    const order = lOrder
    m = 0
    for (let l = head; l >= 0; l = nd[(l << 3) + 7]) {
      const c = costs[l]
      ids[m] = l
      lc0[m] = c
      rc0[m] = nd[(l << 3) + 4]
      if (prune) {
        // Insertion sort of list indices by cumulative cost (m is small).
        let j = m
        while (j > 0 && lc0[order[j - 1]] > c) {
          order[j] = order[j - 1]
          j--
        }
        order[j] = m
      }
      m++
    }
    if (++stamp === 0x7fffffff) {
      memoStamp.fill(-1)
      stamp = 0
    }
    const st = stamp
    // MeCab connects the right nodes newest first.
    for (let r = count - 1; r >= first; r--) {
      const ro = r << 3
      const lc = nd[ro + 3]
      let best: number
      let bestNode: number
      if (memoStamp[lc] === st) {
        best = memoBest[lc]
        bestNode = memoNode[lc]
      } else {
        const base = lsize * lc
        best = Infinity
        if (!prune) {
          bestNode = -1
          for (let k = 0; k < m; k++) {
            const c = lc0[k] + matrix[rc0[k] + base]
            if (c < best) {
              best = c
              bestNode = ids[k]
            }
          }
        } else {
          let rm = rowMin[lc]
          if (rm === ROW_MIN_UNKNOWN) rm = computeRowMin(lc)
          // Left nodes in ascending cumulative cost; once cost + the row's smallest connection cost exceeds
          // the best found, no later one can win or tie. Ties go to the lowest list index, as in MeCab.
          let bestK = -1
          for (let j = 0; j < m; j++) {
            const k = order[j]
            const lcost = lc0[k]
            if (lcost + rm > best) break
            const c = lcost + matrix[rc0[k] + base]
            if (c < best || (c === best && k < bestK)) {
              best = c
              bestK = k
            }
          }
          bestNode = ids[bestK]
        }
        memoStamp[lc] = st
        memoBest[lc] = best
        memoNode[lc] = bestNode
      }
      nd[ro + 6] = bestNode
      costs[r] = best + nd[ro + 5]
      const x = nd[ro + 2]
      nd[ro + 7] = eh[x]
      eh[x] = r
    }
  }

  function segmentBytes(input: Uint8Array, len: number): ByteSegmentation {
    bytes = input
    if (endHead.length < len + 8) endHead = new Int32Array(Math.max(len + 8, endHead.length * 2))
    endHead.fill(-1, 0, len + 8)
    count = 0
    addNode(0, 0, 0, 0, 0, 0, 0)
    nCost[0] = 0
    nodes[6] = -1
    nodes[7] = -1
    endHead[0] = 0

    for (let pos = 0; pos < len; pos++) {
      const head = endHead[pos]
      if (head < 0) continue
      const first = count
      lookup(pos, len)
      connect(head, first)
    }

    // EOS (lcAttr 0, wcost 0) connects to the last position that has ending nodes.
    let eosPos = len
    while (endHead[eosPos] < 0) eosPos--
    let best = Infinity
    let bestNode = -1
    for (let l = endHead[eosPos]; l >= 0; l = nodes[(l << 3) + 7]) {
      const c = nCost[l] + matrix[nodes[(l << 3) + 4]]
      if (c < best) {
        best = c
        bestNode = l
      }
    }

    let words = 0
    for (let n = bestNode; n > 0; n = nodes[(n << 3) + 6]) words++
    if (outStarts.length < words) {
      outStarts = new Int32Array(words * 2)
      outEnds = new Int32Array(words * 2)
      outToks = new Int32Array(words * 2)
    }
    let w = words
    for (let n = bestNode; n > 0; n = nodes[(n << 3) + 6]) {
      w--
      outStarts[w] = nodes[n << 3]
      outEnds[w] = nodes[n << 3] + nodes[(n << 3) + 1]
      outToks[w] = nTok[n]
    }
    if (cap > RETAINED_NODES) {
      cap = INITIAL_NODES
      nodes = new Int32Array(cap * 8)
      nCost = new Float64Array(cap)
      nTok = new Int32Array(cap)
    }
    if (endHead.length > RETAINED_NODES) endHead = new Int32Array(1024)
    return { bytes, length: len, starts: outStarts, ends: outEnds, tokens: outToks, count: words }
  }

  return { segmentBytes }
}
