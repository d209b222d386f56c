/**
 * Reader for a dictionary's `dicrc` (MeCab's `key = value` settings file; `;` and `#` start comments).
 * Segmentation only depends on `max-grouping-size`; the rest is kept for callers that want it.
 */
export function parseDicrc(text: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '')
    if (line.length === 0 || line[0] === ';' || line[0] === '#') continue
    const eq = line.indexOf('=')
    if (eq < 0) continue
    const key = line.slice(0, eq).trim()
    const value = line.slice(eq + 1).trim()
    if (key.length > 0 && !out.has(key)) out.set(key, value)
  }
  return out
}
