/**
 * The lexical analyser's terms against the `mecab` command on JSQuAD lines (NFKC-normalised first, as the service
 * does): surface terms = `mecab -Owakati` words; base-form terms = the dictionary's base-form field that `mecab -F`
 * prints (IPADIC %f[6], JumanDIC %f[4]), the surface where it is '*'; then the same lower-casing and the dropping
 * of punctuation-only words, written here independently.
 */
import { execFileSync } from 'node:child_process'
import t from 'tap'
import { baseFormField, createLexicalAnalyzer, featureFields } from '../../src/lexical/analyzer.js'
import { createMecabAnalyzer } from '../../src/tokenizer/mecab/index.js'
import { IPADIC_DIR, JUMANDIC_DIR, dictionaryOnly, hasMecabCommand, hasShared, sharedOnly } from '../helpers/shared.js'
import { loadJsquad } from '../server/jsquad.js'

const skipAll = !hasShared ? sharedOnly() : !hasMecabCommand() ? { skip: 'the mecab command is not installed (apt-get install -y mecab)' } : { skip: false as const }

const keep = (w: string) => /[\p{L}\p{M}\p{N}]/u.test(w)

function mecab(dic: string, lines: string[], format?: string): string[][] {
  const args = ['-d', dic, ...(format === undefined ? ['-Owakati'] : [`--node-format=${format}`, `--unk-format=${format}`, '--eos-format=EOS\\n'])]
  const out = execFileSync('mecab', args, { input: lines.join('\n') + '\n', maxBuffer: 1 << 28 }).toString('utf8')
  if (format === undefined) return out.split('\n').slice(0, lines.length).map((l) => l.split(' ').filter((w) => w.length > 0))
  const res: string[][] = [[]]
  for (const l of out.split('\n')) {
    if (l === 'EOS') res.push([])
    else if (l.length > 0) res[res.length - 1].push(l)
  }
  return res.slice(0, lines.length)
}

t.test('feature CSV parsing and layouts', async (t) => {
  t.same(featureFields('名詞,一般,*,*,*,*,東京,トウキョウ,トーキョー'), ['名詞', '一般', '*', '*', '*', '*', '東京', 'トウキョウ', 'トーキョー'])
  t.same(featureFields('記号,一般,*,*,*,*,"a,b",*'), ['記号', '一般', '*', '*', '*', '*', 'a,b', '*'])
  t.same(featureFields('"say ""hi""",x'), ['say "hi"', 'x'])
  t.equal(baseFormField(9), 6)
  t.equal(baseFormField(7), 4)
  t.equal(baseFormField(26), 10)
  t.equal(baseFormField(3), undefined)
})

for (const [name, dic, field] of [['IPADIC', IPADIC_DIR, 6], ['JumanDIC', JUMANDIC_DIR, 4]] as const) {
  const skip = skipAll.skip ? skipAll : dictionaryOnly(dic)
  t.test(`${name}: surface and base-form terms equal the mecab command's`, skip, async (t) => {
    const analyzer = createLexicalAnalyzer(createMecabAnalyzer(dic))
    t.ok(analyzer.hasBaseForm, 'the dictionary layout is recognised')
    const texts: string[] = []
    for (const p of loadJsquad().slice(0, 150)) texts.push(p.text, ...p.questions.slice(0, 2))
    const lines = texts.map((x) => x.normalize('NFKC')).filter((x) => !x.includes('\n') && !x.includes('\r'))
    const surf = mecab(dic, lines)
    const base = mecab(dic, lines, `%m\\t%f[${field}]\\n`)
    let badSurface = 0, badBase = 0, changed = 0
    for (let i = 0; i < lines.length; i++) {
      const wantSurface = surf[i].filter(keep).map((w) => w.toLowerCase())
      const wantBase = base[i].map((l) => {
        const [m, b] = l.split('\t')
        return b === undefined || b === '' || b === '*' ? m : b
      }).filter(keep).map((w) => w.toLowerCase())
      const gotSurface = analyzer.terms(lines[i])
      const gotBase = analyzer.terms(lines[i], 'base')
      if (JSON.stringify(gotSurface) !== JSON.stringify(wantSurface)) badSurface++
      if (JSON.stringify(gotBase) !== JSON.stringify(wantBase)) badBase++
      if (JSON.stringify(gotBase) !== JSON.stringify(gotSurface)) changed++
    }
    t.equal(badSurface, 0, `${lines.length} lines: surface terms equal mecab -Owakati's words`)
    t.equal(badBase, 0, `${lines.length} lines: base-form terms equal mecab's %f[${field}]`)
    t.ok(changed > lines.length / 2, `base forms differ from surfaces on ${changed} of ${lines.length} lines`)
    t.ok(analyzer.terms('食べた。', 'base').includes('食べる'), `inflection folded to the base form: ${analyzer.terms('食べた。', 'base').join(' ')}`)
    t.same(analyzer.terms('ＸＪ－９０００を買った', 'surface').slice(0, 1)[0], 'xj', 'NFKC + lower case')
  })
}
