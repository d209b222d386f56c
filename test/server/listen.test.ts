/**
 * The real process path (src/main.ts runServer) on a real socket: listens at once, becomes ready after loading the
 * tiny model, serves index -> search with bearer auth, saves its snapshot on shutdown, and a second server restored
 * from DATA_DIR answers identically.
 */
import t from 'tap'
import { loadConfig } from '../../src/config.js'
import { runServer } from '../../src/main.js'
import { IPADIC_DIR, TINY_MODEL_DIR, sharedOnly } from '../helpers/shared.js'
import { loadJsquad } from './jsquad.js'

t.test('listening server: ready, auth, index -> search, shutdown snapshot, restart', sharedOnly(), async (t) => {
  const dataDir = t.testdir()
  const env = {
    MODEL: TINY_MODEL_DIR,
    MECAB_DICDIR: IPADIC_DIR,
    HOST: '127.0.0.1',
    PORT: '0',
    DATA_DIR: dataDir,
    ORT_PROVIDERS: 'cpu',
    ORT_THREADS: '1',
    API_KEY: 'test-key',
    LOG_LEVEL: 'silent',
    SNAPSHOT_INTERVAL_S: '0',
  }
  const auth = { authorization: 'Bearer test-key', 'content-type': 'application/json' }
  const passages = loadJsquad().slice(0, 120)
  const queries = passages.slice(0, 6).map((p) => p.questions[0])

  const s1 = await runServer(loadConfig(env))
  t.teardown(() => s1.shutdown('test teardown'))
  t.equal((await fetch(`${s1.url}/healthz`)).status, 200, 'alive right after listen')
  await s1.loaded
  const ready = await fetch(`${s1.url}/readyz`)
  t.equal(ready.status, 200)
  t.equal(((await ready.json()) as { dim: number }).dim, 16)

  const unauth = await fetch(`${s1.url}/index`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
  t.equal(unauth.status, 401)
  t.equal(unauth.headers.get('www-authenticate'), 'Bearer')
  t.ok(unauth.headers.get('x-request-id'), 'request id header')
  t.equal((await fetch(`${s1.url}/metrics`)).status, 200, 'metrics public')

  const docs = passages.map((p, i) => ({ id: `p${i}`, text: p.text, metadata: { title: p.title } }))
  const idx = await fetch(`${s1.url}/index`, { method: 'POST', headers: auth, body: JSON.stringify({ index: 'jsquad', documents: docs }) })
  t.equal(idx.status, 200)
  t.equal(((await idx.json()) as { added: string[] }).added.length, docs.length)

  const search = async (url: string) => {
    const out: Array<{ results: unknown[] }> = []
    for (const query of queries) {
      const r = await fetch(`${url}/search`, { method: 'POST', headers: auth, body: JSON.stringify({ index: 'jsquad', query, k: 5 }) })
      t.equal(r.status, 200)
      out.push((await r.json()) as { results: unknown[] })
    }
    return out
  }
  const before = await search(s1.url)
  t.equal(before[0].results.length, 5)
  await s1.shutdown('test')
  await t.rejects(fetch(`${s1.url}/healthz`), 'stopped listening')

  const s2 = await runServer(loadConfig(env))
  t.teardown(() => s2.shutdown('test teardown'))
  await s2.loaded
  const list = (await (await fetch(`${s2.url}/indexes`, { headers: auth })).json()) as { indexes: Array<{ name: string; documents: number }> }
  t.same(list.indexes.map((i: { name: string; documents: number }) => [i.name, i.documents]), [['jsquad', docs.length]], 'restored from the shutdown snapshot')
  t.same(await search(s2.url), before, 'identical results after restart')
})

t.test('start-up fails fast, naming MODEL, when the model cannot be found', async (t) => {
  const s = await runServer(loadConfig({ MODEL: 'no-such-owner/no-such-model', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'silent', HF_ENDPOINT: 'http://127.0.0.1:9', DATA_DIR: `${t.testdirName}-data`, MODEL_CACHE_DIR: `${t.testdirName}-models` }))
  t.teardown(() => s.shutdown('test'))
  t.equal((await fetch(`${s.url}/readyz`)).status, 503, 'NOT_READY while loading')
  await t.rejects(s.loaded, { code: 'MODEL_UNAVAILABLE', message: /MODEL/ })
})

t.test('the process: SIGTERM drains, snapshots and exits 0', sharedOnly(), async (t) => {
  const { spawn } = await import('node:child_process')
  const { existsSync } = await import('node:fs')
  const { resolve } = await import('node:path')
  const { REPO_ROOT } = await import('../helpers/shared.js')
  const dataDir = t.testdir()
  const { freePort } = await import('../helpers/free-port.js')
  const port = await freePort() // not a random one: it may be in use (tap runs test files in parallel)
  const child = spawn(process.execPath, ['--import', 'tsx', resolve(REPO_ROOT, 'src', 'main.ts')], {
    cwd: REPO_ROOT,
    env: { ...process.env, MODEL: TINY_MODEL_DIR, MECAB_DICDIR: IPADIC_DIR, HOST: '127.0.0.1', PORT: String(port), DATA_DIR: dataDir, ORT_PROVIDERS: 'cpu', ORT_THREADS: '1', LOG_LEVEL: 'info', API_KEY: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (out += d.toString()))
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
  t.teardown(() => void child.kill('SIGKILL'))
  const base = `http://127.0.0.1:${port}`
  let ready = false
  for (let i = 0; i < 300 && !ready && child.exitCode === null; i++) {
    ready = await fetch(`${base}/readyz`).then((r) => r.status === 200, () => false)
    if (!ready) await new Promise((r) => setTimeout(r, 100))
  }
  t.ok(ready, 'ready')
  const r = await fetch(`${base}/index`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ index: 'sig', documents: [{ id: 'a', text: '東京は日本の首都である。' }] }) })
  t.equal(r.status, 200)
  child.kill('SIGTERM')
  t.equal(await exited, 0, 'exit code 0')
  t.ok(existsSync(resolve(dataDir, 'indexes', 'sig')), 'the index was snapshotted at shutdown')
  t.match(out, /"msg":"shutdown complete"/)
  t.notMatch(out, /東京/, 'no request text in the log')
})
