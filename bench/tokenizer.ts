/**
 * Tokenizer bench: characters/second of our MeCab analyser vs the `mecab` command on the same corpus
 * (JSQuAD passage and question lines, repeated to at least --chars characters), in one run; dictionary
 * load time; memory after load vs the dictionary files' size; optional parity (% of JSQuAD lines whose
 * segmentation is identical to `mecab -Owakati -d DIR`).
 *
 *   npm run bench:tokenizer -- [--dic DIR]... [--chars N] [--rounds R] [--parity] [--json FILE]
 *
 * The machine may be shared: both sides run R times, interleaved, and the best round of each is compared
 * (our first, cold round is reported too).
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { createMecabAnalyzer } from '../src/tokenizer/mecab/index.js'

const REPO = resolve(dirname(new URL(import.meta.url).pathname), '..')
const JSQUAD = process.env.JSQUAD_PATH ?? resolve(REPO, '..', 'shared', 'fixtures', 'jsquad-valid-v1.3.json')

const { values } = parseArgs({
  options: {
    dic: { type: 'string', multiple: true },
    chars: { type: 'string', default: '5000000' },
    rounds: { type: 'string', default: '3' },
    parity: { type: 'boolean', default: false },
    json: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
})
if (values.help) {
  process.stdout.write('usage: npm run bench:tokenizer -- [--dic DIR]... [--chars N] [--parity] [--json FILE]\n')
  process.exit(0)
}
const dics = values.dic ?? ['/var/lib/mecab/dic/ipadic-utf8']
const minChars = Number(values.chars)

function jsquadLines(): string[] {
  const data = JSON.parse(readFileSync(JSQUAD, 'utf8')) as { data: Array<{ paragraphs: Array<{ context: string; qas: Array<{ question: string }> }> }> }
  const lines: string[] = []
  for (const a of data.data) {
    for (const p of a.paragraphs) {
      lines.push(...p.context.split('\n'))
      for (const q of p.qas) lines.push(...q.question.split('\n'))
    }
  }
  return lines
}

function mecab(dir: string, input: string): { ms: number; out: string } {
  const t0 = performance.now()
  const r = spawnSync('mecab', ['-Owakati', '-b', '5242880', '-d', dir], { input, maxBuffer: 1 << 30 })
  const ms = performance.now() - t0
  if (r.status !== 0) throw new Error(`mecab failed: ${r.stderr.toString()}`)
  return { ms, out: r.stdout.toString('utf8') }
}

/** CPU seconds (user + system) of `mecab` over a file, from bash's `times` (10 ms resolution). */
function mecabCpu(dir: string, file: string): number {
  const r = spawnSync('bash', ['-c', 'mecab -Owakati -b 5242880 -d "$1" < "$2" > /dev/null || exit 1; times', 'bench', dir, file])
  if (r.status !== 0) throw new Error(`mecab failed: ${r.stderr.toString()}`)
  const lines = r.stdout.toString().trim().split('\n')
  const children = lines[lines.length - 1].match(/(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/)
  if (!children) throw new Error(`cannot read times output: ${r.stdout.toString()}`)
  return Number(children[1]) * 60 + Number(children[2]) + Number(children[3]) * 60 + Number(children[4])
}

const cpuSeconds = (u: NodeJS.CpuUsage): number => (u.user + u.system) / 1e6

const mib = (n: number): string => (n / 2 ** 20).toFixed(1)

const base = jsquadLines()
const corpus: string[] = []
let chars = 0
while (chars < minChars) {
  for (const l of base) {
    corpus.push(l)
    chars += l.length
  }
}
const corpusText = corpus.join('\n') + '\n'
const tmp = mkdtempSync(join(tmpdir(), 'bench-tokenizer-'))
const corpusFile = join(tmp, 'corpus.txt')
const emptyFile = join(tmp, 'empty.txt')
writeFileSync(corpusFile, corpusText)
writeFileSync(emptyFile, '')

const results: Record<string, unknown>[] = []
// Analysers stay referenced so that a later dictionary's RSS delta is not offset by freeing an earlier one.
const keepAlive: unknown[] = []
for (const dir of dics) {
  // The command's time = time for the corpus minus the time for an empty input (its own dictionary load).
  const mecabEmpty = Math.min(mecab(dir, '').ms, mecab(dir, '').ms)
  const rounds = Math.max(1, Number(values.rounds))

  global.gc?.()
  const rss0 = process.memoryUsage().rss
  const t0 = performance.now()
  const analyzer = createMecabAnalyzer(dir)
  const loadMs = performance.now() - t0
  keepAlive.push(analyzer)
  const mem1 = process.memoryUsage()
  const rssDelta = mem1.rss - rss0

  let words = 0
  let oursMs = Infinity
  let oursFirstMs = 0
  let mecabMs = Infinity
  let oursCpu = Infinity
  let mecabCpuS = Infinity
  const mecabEmptyCpu = Math.min(mecabCpu(dir, emptyFile), mecabCpu(dir, emptyFile))
  for (let round = 0; round < rounds; round++) {
    mecabMs = Math.min(mecabMs, mecab(dir, corpusText).ms - mecabEmpty)
    mecabCpuS = Math.min(mecabCpuS, mecabCpu(dir, corpusFile) - mecabEmptyCpu)
    const c0 = process.cpuUsage()
    const t1 = performance.now()
    words = 0
    for (const line of corpus) words += analyzer.segment(line).length
    const ms = performance.now() - t1
    oursCpu = Math.min(oursCpu, cpuSeconds(process.cpuUsage(c0)))
    if (round === 0) oursFirstMs = ms
    oursMs = Math.min(oursMs, ms)
  }

  let parity: { lines: number; identical: number; percent: number; firstMismatches: string[] } | undefined
  if (values.parity) {
    const expected = mecab(dir, base.join('\n') + '\n').out.split('\n')
    let identical = 0
    const firstMismatches: string[] = []
    base.forEach((line, i) => {
      const ours = analyzer.segment(line).map((w) => `${w} `).join('')
      if (ours === expected[i]) identical++
      else if (firstMismatches.length < 5) firstMismatches.push(`${line}\n  mecab: ${expected[i]}\n  ours:  ${ours}`)
    })
    parity = { lines: base.length, identical, percent: (100 * identical) / base.length, firstMismatches }
  }

  const oursCps = chars / (oursMs / 1000)
  const mecabCps = chars / (mecabMs / 1000)
  const r = {
    dic: dir,
    dictionaryBytes: analyzer.info.bytes,
    corpusChars: chars,
    corpusLines: corpus.length,
    words,
    rounds,
    oursMs: Math.round(oursMs),
    oursFirstRoundMs: Math.round(oursFirstMs),
    mecabMs: Math.round(mecabMs),
    mecabLoadMs: Math.round(mecabEmpty),
    oursCharsPerS: Math.round(oursCps),
    mecabCharsPerS: Math.round(mecabCps),
    ratio: Number((oursCps / mecabCps).toFixed(3)),
    oursCpuS: Number(oursCpu.toFixed(3)),
    mecabCpuS: Number(mecabCpuS.toFixed(3)),
    cpuRatio: Number((mecabCpuS / oursCpu).toFixed(3)),
    loadMs: Math.round(loadMs),
    rssDeltaBytes: rssDelta,
    rssDeltaOverFiles: Number((rssDelta / analyzer.info.bytes).toFixed(3)),
    heapUsedBytes: mem1.heapUsed,
    arrayBuffersBytes: mem1.arrayBuffers,
    parity,
  }
  results.push(r)
  console.log(`\n${dir}`)
  console.table({
    'chars/s (ours, best round)': r.oursCharsPerS,
    'chars/s (ours, first round)': Math.round(chars / (oursFirstMs / 1000)),
    'chars/s (mecab command, best round, load subtracted)': r.mecabCharsPerS,
    'ratio ours/mecab (wall clock)': r.ratio,
    'chars per CPU-second (ours, best round)': Math.round(chars / oursCpu),
    'chars per CPU-second (mecab command, load subtracted)': Math.round(chars / mecabCpuS),
    'ratio ours/mecab (CPU time)': r.cpuRatio,
    'dictionary load ms (ours)': r.loadMs,
    'dictionary load ms (mecab command, empty input)': r.mecabLoadMs,
    'dictionary files MiB': mib(r.dictionaryBytes),
    'RSS after load - before, MiB': mib(r.rssDeltaBytes),
    'RSS delta / files': r.rssDeltaOverFiles,
    ...(parity ? { 'parity identical lines': `${parity.identical}/${parity.lines} (${parity.percent.toFixed(2)} %)` } : {}),
  })
  if (parity && parity.firstMismatches.length > 0) console.log(parity.firstMismatches.join('\n'))
}

rmSync(tmp, { recursive: true, force: true })
const jsonPath = values.json ?? resolve(REPO, 'bench', 'results', 'tokenizer.json')
mkdirSync(dirname(jsonPath), { recursive: true })
writeFileSync(jsonPath, JSON.stringify({ date: new Date().toISOString(), node: process.version, results }, null, 2))
console.log(`\nwrote ${jsonPath}`)
