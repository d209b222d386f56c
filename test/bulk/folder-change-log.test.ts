/**
 * `jacolbert index --data-dir` on a DATA_DIR whose write-ahead log holds records newer than the index snapshots (the
 * service was SIGKILLed after acknowledged writes), as a user would run it: the real service and the real CLI as
 * child processes. What the service then serves must be the acknowledged writes AND the bulk run, in that order:
 *  - x: "a" was deleted through the service, then the bulk file brings it back (new version): it must be there, in the
 *    bulk's version; "d", written through the service, must be there too; the bulk's "e" too.
 *  - y: dropped and re-created through the service (with "r"), then bulk-indexed ("s"): the drop must not replay over
 *    the bulk result, and the documents from before the drop must not come back.
 *  - lexical (BM25) search finds documents indexed through the service with text (not stored) and the bulk's own.
 * Also: folder mode refuses a DATA_DIR served in shared mode (PostgreSQL is the store of record there).
 */
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { loadConfig } from '../../src/config.js'
import { openChangeLog } from '../../src/change-log/open-change-log.js'
import { IPADIC_DIR, REPO_ROOT, TINY_MODEL_DIR, dictionaryOnly, sharedOnly } from '../helpers/shared.js'
import { cli } from '../helpers/cli.js'
import { freePort } from '../helpers/free-port.js'

t.setTimeout(600_000)
const skip = sharedOnly().skip || dictionaryOnly(IPADIC_DIR).skip
const MODEL_ARGS = ['--model', TINY_MODEL_DIR, '--dic', IPADIC_DIR, '--providers', 'cpu', '--threads', '1']


interface Service { base: string; child: ChildProcess; log: () => string }

async function startService(dataDir: string, env: Record<string, string> = {}): Promise<Service> {
  const port = await freePort()
  let log = ''
  const child = spawn(process.execPath, ['--import', 'tsx', resolve(REPO_ROOT, 'src', 'main.ts')], {
    cwd: REPO_ROOT,
    env: {
      ...process.env, MODEL: TINY_MODEL_DIR, MECAB_DICDIR: IPADIC_DIR, HOST: '127.0.0.1', PORT: String(port), DATA_DIR: dataDir,
      ORT_PROVIDERS: 'cpu', ORT_THREADS: '1', LOG_LEVEL: 'info', API_KEY: '', SNAPSHOT_INTERVAL_S: '0', DURABILITY: 'wal', DATABASE_URL: '', ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()))
  const base = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 180_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the service exited (${child.exitCode}) during start-up:\n${log.slice(-3000)}`)
    if (await fetch(`${base}/readyz`).then((r) => r.status === 200, () => false)) return { base, child, log: () => log }
    if (Date.now() > deadline) throw new Error(`not ready in time:\n${log.slice(-3000)}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

async function stop(s: Service, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
  if (s.child.exitCode !== null || s.child.signalCode !== null) return
  const exited = new Promise((r) => s.child.once('exit', r))
  s.child.kill(signal)
  await exited
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function call(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const r = await fetch(`${base}${path}`, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })
  return { status: r.status, body: await r.json().catch(() => undefined) }
}

/** Every document of `index` with its metadata.v, by an exhaustive search (undefined when the index is absent). */
async function contents(base: string, index: string): Promise<Record<string, unknown> | undefined> {
  const r = await call(base, 'POST', '/search', { index, query: '日本', k: 1000, include: ['metadata'], params: { ndocs: 1_000_000, centroid_score_threshold: -1 } })
  if (r.status === 404 && r.body?.code === 'INDEX_NOT_FOUND') return undefined
  if (r.status !== 200) throw new Error(`search answered ${r.status} ${JSON.stringify(r.body)}`)
  const hits = r.body.results as Array<{ id: string; metadata?: { v?: unknown } }>
  return Object.fromEntries(hits.map((h) => [h.id, h.metadata?.v]).sort(([a], [b]) => String(a).localeCompare(String(b))))
}

async function lexicalIds(base: string, index: string, query: string): Promise<string[]> {
  const r = await call(base, 'POST', '/search', { index, query, mode: 'lexical', k: 10 })
  if (r.status !== 200) return [`${r.status} ${r.body?.code}`]
  return (r.body.results as Array<{ id: string }>).map((h) => h.id).sort()
}

t.test('bulk indexing into a DATA_DIR with write-ahead log records newer than the snapshots', { skip }, async (t) => {
  const dir = t.testdir()
  const dataDir = join(dir, 'data')
  let svc: Service | undefined
  t.teardown(() => void svc?.child.kill('SIGKILL'))
  const ok = (r: { status: number; body: unknown }, what: string): void => {
    if (r.status !== 200) throw new Error(`${what}: ${r.status} ${JSON.stringify(r.body)}`)
  }

  // 1. written through the service, then a clean stop: the snapshots cover everything so far
  svc = await startService(dataDir)
  ok(await call(svc.base, 'POST', '/index', { index: 'x', wait: true, documents: [
    { id: 'a', text: '北海道の冬は寒い', metadata: { v: 'service-1' } },
    { id: 'b', text: '沖縄の海は青い', metadata: { v: 'service-1' } },
    { id: 'c', text: '京都の寺は古い', metadata: { v: 'service-1' } },
  ] }), 'index x')
  ok(await call(svc.base, 'POST', '/index', { index: 'y', wait: true, documents: [
    { id: 'p', text: '福岡のラーメン', metadata: { v: 'service-1' } },
    { id: 'q', text: '神戸の港', metadata: { v: 'service-1' } },
  ] }), 'index y')
  await stop(svc, 'SIGTERM')

  // 2. acknowledged writes that only the write-ahead log holds (SIGKILL: no snapshot at exit)
  svc = await startService(dataDir)
  ok(await call(svc.base, 'POST', '/indexes/x/delete', { ids: ['a'] }), 'delete a')
  ok(await call(svc.base, 'POST', '/index', { index: 'x', wait: true, documents: [{ id: 'd', text: '大阪の食べ物はおいしい', metadata: { v: 'service-2' } }] }), 'index d')
  ok(await call(svc.base, 'DELETE', '/indexes/y'), 'drop y')
  ok(await call(svc.base, 'POST', '/index', { index: 'y', wait: true, documents: [{ id: 'r', text: '仙台の牛たん', metadata: { v: 'service-2' } }] }), 'index r')
  t.same(await contents(svc.base, 'x'), { b: 'service-1', c: 'service-1', d: 'service-2' }, 'before the kill: x')
  t.same(await contents(svc.base, 'y'), { r: 'service-2' }, 'before the kill: y')
  await stop(svc, 'SIGKILL')
  svc = undefined

  // 3. bulk runs into the same DATA_DIR
  const xFile = join(dir, 'x.jsonl')
  await writeFile(xFile, [
    { id: 'a', text: '札幌の雪まつり', v: 'bulk' },
    { id: 'e', text: '名古屋の城', v: 'bulk' },
  ].map((r) => JSON.stringify(r)).join('\n') + '\n')
  const yFile = join(dir, 'y.jsonl')
  await writeFile(yFile, `${JSON.stringify({ id: 's', text: '広島のお好み焼き', v: 'bulk' })}\n`)
  for (const [file, index] of [[xFile, 'x'], [yFile, 'y']] as const) {
    const r = await cli(['index', file, '--index', index, '--data-dir', dataDir, ...MODEL_ARGS, '--metadata-col', 'v', '--json', '--quiet'], { DATABASE_URL: '' })
    t.equal(r.status, 0, `bulk ${index}: ${r.stderr.slice(-2000)}`)
  }

  // 4. the service restarts: acknowledged writes, then the bulk result
  svc = await startService(dataDir)
  t.same(await contents(svc.base, 'x'), { a: 'bulk', b: 'service-1', c: 'service-1', d: 'service-2', e: 'bulk' }, 'x: every acknowledged write and the bulk run')
  t.same(await contents(svc.base, 'y'), { r: 'service-2', s: 'bulk' }, 'y: the drop does not replay over the bulk result, and p, q stay dropped')
  t.same(await lexicalIds(svc.base, 'x', '沖縄'), ['b'], 'lexical: a document indexed through the service with text keeps its terms')
  t.same(await lexicalIds(svc.base, 'x', '名古屋'), ['e'], 'lexical: a bulk document is searchable by its words')
  t.same(await lexicalIds(svc.base, 'x', '北海道'), [], 'lexical: the deleted version of "a" is gone')
  t.same(await lexicalIds(svc.base, 'x', '札幌'), ['a'], 'lexical: the bulk version of "a" is there')
  t.same(await lexicalIds(svc.base, 'y', '仙台'), ['r'], 'lexical: y after the re-create')

  // 5. and it still takes writes, with seqs above everything before
  const w = await call(svc.base, 'POST', '/index', { index: 'x', wait: true, documents: [{ id: 'f', text: '横浜の中華街', metadata: { v: 'service-3' } }] })
  t.equal(w.status, 200)
  await stop(svc, 'SIGKILL')
  svc = await startService(dataDir)
  t.same(await contents(svc.base, 'x'), { a: 'bulk', b: 'service-1', c: 'service-1', d: 'service-2', e: 'bulk', f: 'service-3' }, 'x after another crash: nothing lost, nothing back')
  t.same(await contents(svc.base, 'y'), { r: 'service-2', s: 'bulk' }, 'y after another crash')
  await stop(svc, 'SIGTERM')
  svc = undefined
})

t.test('folder mode refuses a DATA_DIR of shared mode, and DATABASE_URL', { skip }, async (t) => {
  const dir = t.testdir()
  const dataDir = join(dir, 'data')
  const file = join(dir, 'docs.jsonl')
  await writeFile(file, `${JSON.stringify({ id: 'a', text: '東京の空' })}\n`)
  const args = ['index', file, '--index', 'x', '--data-dir', dataDir, ...MODEL_ARGS, '--quiet']

  const withUrl = await cli(args, { DATABASE_URL: 'postgres://u@127.0.0.1:1/db' })
  t.equal(withUrl.status, 1)
  t.match(withUrl.stderr, /SHARED_MODE_FOLDER|shared mode/)
  t.match(withUrl.stderr, /--url/, 'the message names the fix')
  t.notOk(existsSync(join(dataDir, 'indexes', 'x')), 'nothing written')

  // a service opened this DATA_DIR in shared mode (openChangeLog marks it; no connection is made until replay)
  const config = loadConfig({ DATA_DIR: dataDir, DATABASE_URL: 'postgres://u@127.0.0.1:1/db' })
  const log = openChangeLog(config, { appliedSeq: () => 0 })
  await log.close()
  const marked = await cli(args, { DATABASE_URL: '' })
  t.equal(marked.status, 1, 'refused')
  t.match(marked.stderr, /shared mode/)
  t.notOk(existsSync(join(dataDir, 'indexes', 'x')), 'nothing written')

  // the same DATA_DIR served with its own write-ahead log again: folder mode works
  const wal = openChangeLog(loadConfig({ DATA_DIR: dataDir }), {})
  await wal.close()
  const fine = await cli(args, { DATABASE_URL: '' })
  t.equal(fine.status, 0, fine.stderr)
  t.ok(existsSync(join(dataDir, 'indexes', 'x')))
})
