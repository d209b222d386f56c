/**
 * Bulk indexing throughput: `jacolbert index` into a folder and into a server (--url), against a client loop of
 * POST /index requests, all in the same run on the same machine, over the 1,145 JSQuAD passages with the tiny fixture
 * model (so the figures compare the paths, not the model). Prints a table and writes bench/results/bulk-index.json.
 *
 *   npx tsx bench/bulk-index.ts [--batch 32]
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir, cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../src/config.js'
import { createEncoder } from '../src/encoder/index.js'
import { createIndexStore } from '../src/index/index-store.js'
import { compileFilter } from '../src/index/metadata-filter.js'
import { buildApp } from '../src/server/app.js'
import { IPADIC_DIR, JSQUAD_PATH, REPO_ROOT, TINY_MODEL_DIR } from '../test/helpers/shared.js'

const at = process.argv.indexOf('--batch')
const batch = at > 0 ? Number(process.argv[at + 1]) : 32
const dir = mkdtempSync(join(tmpdir(), 'bulk-bench-'))
const d = JSON.parse(readFileSync(JSQUAD_PATH, 'utf8')) as { data: Array<{ paragraphs: Array<{ context: string }> }> }
const docs = d.data.flatMap((a, ai) => a.paragraphs.map((p, i) => ({ id: `${ai}-${i}`, text: p.context })))
const input = join(dir, 'passages.jsonl')
writeFileSync(input, docs.map((x) => JSON.stringify(x)).join('\n') + '\n')
const MODEL = ['--model', TINY_MODEL_DIR, '--dic', IPADIC_DIR, '--providers', 'cpu', '--threads', '1']
const cli = (args: string[]): { added: number; seconds: number; documentsPerSecond: number } => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), ...args], { encoding: 'utf8', cwd: REPO_ROOT })
  if (r.status !== 0) throw new Error(r.stderr)
  return JSON.parse(r.stdout) as { added: number; seconds: number; documentsPerSecond: number }
}

const rows: Array<{ path: string; documents: number; seconds: number; docsPerSecond: number }> = []
// 1. bulk into a folder (its own encoder in the child process)
const folder = cli(['index', input, '--index', 'bench', '--data-dir', join(dir, 'data'), ...MODEL, '--batch', String(batch), '--quiet', '--json'])
rows.push({ path: `jacolbert index → folder (batch ${batch})`, documents: folder.added, seconds: folder.seconds, docsPerSecond: folder.documentsPerSecond })

// a server in this process, same encoder settings (1 thread)
const encoder = await createEncoder({ modelDir: TINY_MODEL_DIR, dicdir: IPADIC_DIR, providers: ['cpu'], threads: 1, graphCacheDir: join(dir, 'onnx') })
const store = createIndexStore({ defaultSettings: { dim: encoder.dim } })
const app = buildApp({ config: loadConfig({ MAX_BATCH_TEXTS: '256' }), encoder, indexStore: store, compileFilter })
const url = await app.listen({ port: 0, host: '127.0.0.1' })

// 2. a client loop: one POST /index per `batch` documents, one request at a time
let t0 = performance.now()
for (let s = 0; s < docs.length; s += batch) {
  const res = await fetch(`${url}/index`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ index: 'loop', documents: docs.slice(s, s + batch) }) })
  if (!res.ok) throw new Error(`${res.status} ${await res.text()}`)
}
let secs = (performance.now() - t0) / 1000
rows.push({ path: `client loop of POST /index (${batch} docs/request)`, documents: docs.length, seconds: secs, docsPerSecond: docs.length / secs })

// 3. jacolbert index --url against the same server (the server encodes)
const remote = await new Promise<{ added: number; seconds: number; documentsPerSecond: number }>((resolve, reject) => {
  // run the child asynchronously: this process serves its requests meanwhile
  import('node:child_process').then(({ spawn }) => {
    const c = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), 'index', input, '--index', 'remote', '--url', url, '--batch', String(batch), '--progress-file', join(dir, 'p'), '--quiet', '--json'], { cwd: REPO_ROOT })
    let out = '', err = ''
    c.stdout.on('data', (b: Buffer) => (out += b))
    c.stderr.on('data', (b: Buffer) => (err += b))
    c.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(err))))
  }, reject)
})
rows.push({ path: `jacolbert index --url (batch ${batch})`, documents: remote.added, seconds: remote.seconds, docsPerSecond: remote.documentsPerSecond })
t0 = performance.now()
await app.close()
await encoder.close()
secs = 0

const machine = `${cpus().length} × ${cpus()[0]?.model ?? '?'}, load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`
console.log(`bulk indexing, 1,145 JSQuAD passages, tiny fixture model, CPU, 1 thread — ${machine}`)
console.log('| path | documents | seconds | docs/s | vs client loop |')
console.log('|---|---|---|---|---|')
const base = rows[1]!.docsPerSecond
for (const r of rows) console.log(`| ${r.path} | ${r.documents} | ${r.seconds.toFixed(1)} | ${r.docsPerSecond.toFixed(1)} | ${(r.docsPerSecond / base).toFixed(2)}× |`)
mkdirSync(join(REPO_ROOT, 'bench', 'results'), { recursive: true })
writeFileSync(join(REPO_ROOT, 'bench', 'results', 'bulk-index.json'), JSON.stringify({ date: new Date().toISOString(), machine, batch, rows }, null, 2))
