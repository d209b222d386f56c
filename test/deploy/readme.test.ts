/**
 * README.md must stay true to the code: its configuration table against src/config.ts (names, defaults) and the
 * encoder's defaults, its route table against the app's registered routes, its CLI table against src/cli, its quick
 * start against package.json and .ci/run, and its curl examples run, in order, against the real app (with the server
 * tests' stand-in encoder and index store, so no model is needed): every example body must be accepted.
 */
import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { CONFIG_VARS, loadConfig } from '../../src/config.js'
import { ENCODER_DEFAULTS } from '../../src/encoder/index.js'
import { compileFilter } from '../../src/index/metadata-filter.js'
import { defaultSearchParams } from '../../src/index/plaid-search.js'
import { buildApp } from '../../src/server/app.js'
import { REPO_ROOT } from '../helpers/shared.js'
import { createIndexStore } from '../../src/index/index-store.js'
import { createLexicalAnalyzer } from '../../src/lexical/analyzer.js'
import { createMecabAnalyzer } from '../../src/tokenizer/mecab/index.js'
import { IPADIC_DIR } from '../helpers/shared.js'
import { createFakeEncoder } from '../server/fakes.js'

const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8')

/** Rows of the first markdown table whose header starts with `header`, as arrays of trimmed cells. */
function table(header: string): string[][] {
  const lines = readme.split('\n')
  const start = lines.findIndex((l) => l.startsWith(`| ${header} |`))
  if (start < 0) throw new Error(`README has no table headed "${header}"`)
  const rows: string[][] = []
  for (let i = start + 2; i < lines.length && lines[i].startsWith('|'); i++) {
    rows.push(lines[i].replace(/\\\|/g, '\u0000').split('|').slice(1, -1).map((c) => c.trim().replace(/\u0000/g, '|')))
  }
  return rows
}
const unticked = (s: string) => s.replace(/^`|`$/g, '')

t.test('configuration table = src/config.ts', async (t) => {
  const rows = table('Variable')
  t.same(rows.map((r) => unticked(r[0])), CONFIG_VARS.map((v) => v.env), 'every variable, in config.ts order')
  for (const v of CONFIG_VARS) {
    const row = rows.find((r) => unticked(r[0]) === v.env)
    if (!row) continue
    t.equal(row[1], v.def === undefined ? '—' : `\`${v.def}\``, `${v.env}: default`)
  }
  const unsetDefault = (env: string) => /unset = (\d+)/.exec(rows.find((r) => unticked(r[0]) === env)?.[2] ?? '')?.[1]
  t.equal(unsetDefault('ENCODER_MAX_BATCH_TOKENS'), String(ENCODER_DEFAULTS.maxBatchTokens), 'encoder batch-token default (CPU)')
  const batchRow = rows.find((r) => unticked(r[0]) === 'ENCODER_MAX_BATCH_TOKENS')?.[2] ?? ''
  t.match(batchRow, new RegExp(`${ENCODER_DEFAULTS.maxBatchTokensGpu} on CUDA`), 'encoder batch-token default (CUDA)')
  t.equal(unsetDefault('ENCODER_BATCH_WAIT_MS'), String(ENCODER_DEFAULTS.batchWaitMs), 'encoder wait default')
  t.equal(unsetDefault('ENCODER_MAX_QUEUE'), String(ENCODER_DEFAULTS.maxQueueTexts), 'encoder queue default')
})

t.test('search defaults in README = src/index/plaid-search.ts', async (t) => {
  const m = /k ≤ 10: `ncells` (\d+), `centroid_score_threshold` ([\d.]+), `ndocs` (\d+); k ≤ 100: (\d+), ([\d.]+), max\(4k, (\d+)\); larger: (\d+), ([\d.]+), 4k\./.exec(readme)
  t.ok(m, 'README states the defaults')
  if (!m) return
  const n = m.slice(1).map(Number)
  for (const k of [1, 10]) t.same(defaultSearchParams(k), { ncells: n[0], centroidScoreThreshold: n[1], ndocs: n[2] }, `k=${k}`)
  for (const k of [11, 32, 33, 100]) t.same(defaultSearchParams(k), { ncells: n[3], centroidScoreThreshold: n[4], ndocs: Math.max(4 * k, n[5]) }, `k=${k}`)
  for (const k of [101, 1000]) t.same(defaultSearchParams(k), { ncells: n[6], centroidScoreThreshold: n[7], ndocs: 4 * k }, `k=${k}`)
})

t.test('route table = the app routes', async (t) => {
  const app = buildApp({ config: loadConfig({}), compileFilter })
  await app.ready()
  t.teardown(() => app.close())
  const actual = new Set(app.jacolbert.routes.map((r) => `${r.method} ${r.url}`))
  const documented = new Set<string>()
  for (const row of table('Route')) {
    for (const m of row[0].matchAll(/`(GET|POST|DELETE|PUT|PATCH) ([^`]+)`/g)) documented.add(`${m[1]} ${m[2]}`)
  }
  t.same([...documented].sort(), [...actual].sort(), 'README documents exactly the registered routes')
})

t.test('CLI table = the commands that exist', async (t) => {
  const cli = readFileSync(join(REPO_ROOT, 'src', 'cli', 'main.ts'), 'utf8')
  const implemented = [...cli.matchAll(/^\s+'?([\w-]+)'?: \{ module: '\.\/([\w-]+)\.js'/gm)]
    .filter((m) => existsSync(join(REPO_ROOT, 'src', 'cli', `${m[2]}.ts`)))
    .map((m) => m[1])
  const documented = table('Command').map((r) => /^`jacolbert ([\w-]+)/.exec(r[0])?.[1])
  t.same(documented.sort(), implemented.sort(), 'README lists every implemented command and no other')
})

t.test('quick start = package.json scripts and .ci/run', async (t) => {
  const block = /## Quick start[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? ''
  t.same(block.trim().split('\n'), ['npm ci && npm start', 'npm test'], 'exactly two commands')
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  t.match(pkg.scripts.prestart, /npm run build/, 'npm start builds first')
  t.match(pkg.scripts.start, /node dist\/main\.js/, 'npm start runs the server')
  const ci = readFileSync(join(REPO_ROOT, '.ci', 'run'), 'utf8')
  t.match(ci, /^npm ci$/m, '.ci/run installs with npm ci')
  t.match(ci, /^npm test$/m, ".ci/run runs README's test command")
  const aptReadme = /apt-get install -y ([a-z0-9 -]+)/.exec(readme)?.[1].trim().split(/\s+/).sort()
  const aptCi = /apt-get install -y ([a-z0-9 -]+)/.exec(ci)?.[1].trim().split(/\s+/).sort()
  t.same(aptReadme, aptCi, 'same apt packages in README and .ci/run')
})

interface Curl { method: string; path: string; body: string | undefined; expect: string | undefined; src: string }

/** curl commands of the README's sh blocks (continuations joined), with the `# {...}` line that follows, if any. */
function curlExamples(): Curl[] {
  const out: Curl[] = []
  for (const block of readme.matchAll(/```sh\n([\s\S]*?)```/g)) {
    const lines = block[1].split('\n')
    for (let i = 0; i < lines.length; i++) {
      // only requests to the service (the evaluation section also downloads datasets with curl)
      if (!lines[i].startsWith('curl ') || !lines[i].includes('localhost:8080')) continue
      let cmd = lines[i]
      while (cmd.endsWith('\\') || /-d '[^']*$/.test(cmd)) cmd = cmd.replace(/\\$/, '') + '\n' + lines[++i]
      const next = lines[i + 1]
      const method = /-X (\w+)/.exec(cmd)?.[1] ?? (cmd.includes(' -d ') ? 'POST' : 'GET')
      const path = /localhost:8080(\/[^\s'"]*)/.exec(cmd)?.[1] ?? ''
      const body = /-d '([^']*)'/.exec(cmd)?.[1]
      out.push({ method, path, body, expect: next?.startsWith('# {') ? next.slice(2) : undefined, src: cmd })
    }
  }
  return out
}

t.test('curl examples run against the app', async (t) => {
  const dim = 128
  const encoder = createFakeEncoder({ dim })
  // The stand-in returns tokens for documents only; give queries theirs too, as the real encoder does.
  const encodeQueries = encoder.encodeQueries.bind(encoder)
  encoder.encodeQueries = async (texts: string[], opts?: { returnTokens?: boolean }) =>
    (await encodeQueries(texts)).map((e, i) => (opts?.returnTokens ? { ...e, tokens: [...texts[i]].slice(0, e.n) } : e))
  // The real index store (the hybrid examples need its lexical side), with IPADIC as the analyser's dictionary when
  // installed (CI installs it); without it, lexical and hybrid examples are skipped.
  const hasIpadic = existsSync(join(IPADIC_DIR, 'sys.dic'))
  const indexStore = createIndexStore({ defaultSettings: { dim }, ...(hasIpadic ? { analyzer: createLexicalAnalyzer(createMecabAnalyzer(IPADIC_DIR)) } : {}) })
  const app = buildApp({ config: loadConfig({}), encoder, indexStore, compileFilter })
  t.teardown(() => app.close())
  const examples = curlExamples().filter((ex) => hasIpadic || !/"mode": "(lexical|hybrid)"/.test(ex.body ?? ''))
  t.ok(examples.length >= 8, `${examples.length} curl examples found`)
  let ran = 0
  for (const ex of examples) {
    const placeholder = /…|\.\.\.|<[a-z_]+>/.test(ex.path + (ex.body ?? ''))
    if (placeholder) continue // bodies elided for the reader ("[...]", "…", "<job_id>")
    ran++
    const res = await app.inject({
      method: ex.method as 'GET',
      url: ex.path,
      ...(ex.body !== undefined ? { payload: ex.body, headers: { 'content-type': 'application/json' } } : {}),
    })
    t.ok(res.statusCode >= 200 && res.statusCode < 300, `${ex.method} ${ex.path} → ${res.statusCode} ${res.statusCode >= 300 ? res.body : ''}`)
    if (ex.expect && !ex.expect.includes('…')) t.same(res.json(), JSON.parse(ex.expect), `${ex.method} ${ex.path}: the response shown in README`)
    else if (ex.expect) {
      // Elided values: the keys shown must be the keys returned.
      const shownKeys = [...ex.expect.matchAll(/"(\w+)":/g)].map((m) => m[1])
      const body = res.body
      for (const k of new Set(shownKeys)) t.ok(body.includes(`"${k}":`), `${ex.method} ${ex.path}: response has "${k}"`)
    }
  }
  t.ok(ran >= 7, `${ran} examples executed`)
})
