/**
 * Reader for a dictionary's `dicrc` (MeCab's `key = value` settings; lines starting with `;` or `#` are
 * comments). Segmentation needs none of its values: `max-grouping-size` there never takes effect in
 * MeCab (the command-line default is set first and rc files do not overwrite), and cost-factor only
 * scales costs when a dictionary is compiled. It is read because MeCab refuses a folder without a
 * well-formed dicrc, and so do we.
 */
import { AppError } from '../../errors.js'

export function parseDicrc(text: string, path: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '')
    if (line.length === 0 || line[0] === ';' || line[0] === '#') continue
    const eq = line.indexOf('=')
    if (eq < 0) throw new AppError('DICTIONARY_INVALID', `${path}: format error (no '=') in line ${JSON.stringify(line.slice(0, 80))}`, { file: path })
    const key = line.slice(0, eq).trim()
    // First value wins, as in MeCab's Param::load.
    if (!out.has(key)) out.set(key, line.slice(eq + 1).trim())
  }
  return out
}
