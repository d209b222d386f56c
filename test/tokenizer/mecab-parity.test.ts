/**
 * Parity with the `mecab` command: every JSQuAD passage and question line, with IPADIC and JumanDIC,
 * segments exactly as `mecab -Owakati -d DIR` prints it; golden words (NFKC'd text) with IPADIC.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { createMecabAnalyzer } from '../../src/tokenizer/mecab/index.js'
import { GOLDEN_PATH, IPADIC_DIR, JSQUAD_PATH, JUMANDIC_DIR, dictionaryOnly, hasMecabCommand, hasShared } from '../helpers/shared.js'

/** JSQuAD contexts and questions, split at '\n' exactly as the mecab command reads its input. */
function jsquadLines(): string[] {
  const data = JSON.parse(readFileSync(JSQUAD_PATH, 'utf8')) as { data: Array<{ paragraphs: Array<{ context: string; qas: Array<{ question: string }> }> }> }
  const lines: string[] = []
  for (const article of data.data) {
    for (const p of article.paragraphs) {
      lines.push(...p.context.split('\n'))
      for (const q of p.qas) lines.push(...q.question.split('\n'))
    }
  }
  return lines
}

/** One `mecab` run over all lines; `-b` lifts its 8 KiB line limit so no line is split. */
function mecabWakati(dir: string, lines: string[]): string[] {
  const r = spawnSync('mecab', ['-Owakati', '-b', '5242880', '-d', dir], { input: lines.join('\n') + '\n', maxBuffer: 1 << 30 })
  if (r.status !== 0) throw new Error(`mecab failed: ${r.stderr.toString()}`)
  const out = r.stdout.toString('utf8').split('\n')
  out.pop() // after the last '\n'
  return out
}

function skipUnless(dir: string): { skip: string | false } {
  if (!hasShared) return { skip: 'JSQuAD fixture (../shared) not found' }
  if (!hasMecabCommand()) return { skip: 'the mecab command is not installed (apt-get install -y mecab)' }
  return dictionaryOnly(dir)
}

for (const [name, dir] of [['IPADIC', IPADIC_DIR], ['JumanDIC', JUMANDIC_DIR]] as const) {
  t.test(`JSQuAD lines segment exactly as mecab -Owakati with ${name}`, skipUnless(dir), async (t) => {
    const lines = jsquadLines()
    const expected = mecabWakati(dir, lines)
    t.equal(expected.length, lines.length, 'mecab printed one line per input line')
    t.ok(lines.length > 5000, `${lines.length} lines compared`)
    // 'on' forces the Viterbi pruning that only big matrices (UniDic) get by default: it must not change a word.
    for (const viterbiPruning of ['auto', 'on'] as const) {
      const analyzer = createMecabAnalyzer(dir, { viterbiPruning })
      const mismatches: string[] = []
      let same = 0
      for (let i = 0; i < lines.length; i++) {
        // mecab -Owakati prints every word followed by one space.
        const ours = analyzer.segment(lines[i]).map((w) => `${w} `).join('')
        if (ours === expected[i]) same++
        else if (mismatches.length < 5) mismatches.push(`line ${i}: ${lines[i]}\n  mecab: ${expected[i]}\n  ours:  ${ours}`)
      }
      if (mismatches.length > 0) t.comment(mismatches.join('\n'))
      t.equal(same, lines.length, `pruning ${viterbiPruning}: ${same}/${lines.length} lines identical`)
    }
  })
}

t.test('golden tokenization words (NFKC text) with IPADIC', skipUnless(IPADIC_DIR), async (t) => {
  const golden = JSON.parse(readFileSync(GOLDEN_PATH, 'utf8')) as { tokenization: Array<{ text: string; words: string[] }> }
  const analyzer = createMecabAnalyzer(IPADIC_DIR)
  t.ok(golden.tokenization.length > 100)
  let same = 0
  for (const c of golden.tokenization) {
    const words = analyzer.segment(c.text.normalize('NFKC'))
    if (JSON.stringify(words) === JSON.stringify(c.words)) same++
    else t.same(words, c.words, `golden case ${JSON.stringify(c.text.slice(0, 40))}`)
  }
  t.equal(same, golden.tokenization.length, 'every golden case identical')
  // Single-line golden texts also match the command on the same NFKC'd text.
  const single = golden.tokenization.map((c) => c.text.normalize('NFKC')).filter((s) => !/[\n\0]/.test(s))
  const expected = mecabWakati(IPADIC_DIR, single)
  t.same(single.map((s) => analyzer.segment(s).map((w) => `${w} `).join('')), expected, 'golden texts vs mecab command')
})
