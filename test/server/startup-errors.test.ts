/**
 * Start-up failures, as a user meets them: `jacolbert serve` run as a child process, its stderr line and its fatal log
 * line read back. Each says its cause once, with the fix, on one line (the error chains are wrapped AppErrors; a logger
 * that prints the chain repeated the cause three times in one message when the Hub was unreachable).
 */
import { spawn } from 'node:child_process'
import { readdirSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { createIndexStore } from '../../src/index/index-store.js'
import { causeOnce, describeStartupError } from '../../src/startup-error.js'
import { AppError } from '../../src/errors.js'
import { IPADIC_DIR, REPO_ROOT, TINY_MODEL_DIR, sharedOnly } from '../helpers/shared.js'

interface Run { code: number | null; stderr: string; fatal: { msg: string; code: string } | undefined; stdout: string }

function serve(env: Record<string, string>, args: string[] = []): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', ...args], {
      cwd: REPO_ROOT,
      // A clean environment: only what the case sets (plus PATH/HOME for node itself).
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', HOST: '127.0.0.1', PORT: '0', ORT_PROVIDERS: 'cpu', LOG_LEVEL: 'info', ...env },
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (b) => (stdout += b))
    child.stderr.on('data', (b) => (stderr += b))
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      const fatalLine = stdout.split('\n').find((l) => l.includes('"level":60'))
      resolve({ code, stderr, stdout, fatal: fatalLine ? (JSON.parse(fatalLine) as { msg: string; code: string }) : undefined })
    })
  })
}

/** How often `needle` occurs in `hay`. */
const count = (hay: string, needle: string) => hay.split(needle).length - 1

function checkOnce(t: Test, run: Run, expected: string, cause: string, exitCode = 1): void {
  t.equal(run.code, exitCode, `exit ${exitCode}`)
  t.equal(run.stderr, `jacolbert: start-up failed: ${expected}\n`, 'stderr: one line, exactly')
  t.equal(run.fatal?.msg, `start-up failed: ${expected}`, 'the fatal log line says the same')
  t.equal(count(run.stderr, cause), 1, `stderr states "${cause}" once`)
  t.equal(count(run.stdout, cause), 1, `the log states "${cause}" once`)
}

t.test('offline first start (the Hub cannot be reached): the cause once, with the fix', async (t) => {
  // A closed port stands for "no network": the same path as a DNS failure, deterministic everywhere.
  const closed = createServer()
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r))
  const port = (closed.address() as { port: number }).port
  await new Promise((r) => closed.close(r))
  const endpoint = `http://127.0.0.1:${port}`
  const run = await serve({ HF_ENDPOINT: endpoint, MODEL_CACHE_DIR: t.testdir(), DATA_DIR: `${t.testdirName}-data` })
  const cause = 'ECONNREFUSED: connection refused'
  checkOnce(t, run,
    `[MODEL_UNAVAILABLE] MODEL=answerdotai/JaColBERTv2.5: cannot reach the Hugging Face Hub at ${endpoint} to download ` +
    `answerdotai/JaColBERTv2.5: ${cause}. Set MODEL to a local checkpoint folder (for example one made with ` +
    '`jacolbert pull answerdotai/JaColBERTv2.5` on a machine with internet access), or give this machine network access to ' +
    `${endpoint} (HF_ENDPOINT selects a mirror).`, cause)
})

t.test('bad settings exit 2 before anything starts, naming the variable and where the settings are listed', async (t) => {
  const run = await serve({ PORT: 'abc' })
  t.equal(run.code, 2)
  t.equal(run.stderr, 'jacolbert: PORT must be an integer in 0..65535, got "abc". `jacolbert serve --help` lists every setting.\n')
  const flag = await serve({}, ['--index-nbits', '3'])
  t.equal(flag.code, 2)
  t.equal(flag.stderr, 'jacolbert: --index-nbits must be 1, 2 or 4, got "3". `jacolbert serve --help` lists every setting.\n')
})

t.test('model-side failures: bad MECAB_DICDIR, port in use, corrupt snapshot', sharedOnly(), async (t) => {
  const base = { MODEL: TINY_MODEL_DIR, MECAB_DICDIR: IPADIC_DIR }

  const busy = createServer()
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise((r) => busy.close(r)))
  const busyPort = (busy.address() as { port: number }).port

  const dataDir = t.testdir()
  const store = createIndexStore({ dataDir, defaultSettings: { dim: 16, nbits: 2 } })
  store.create('demo').upsert([{ id: 'a', vectors: new Float32Array(16 * 3).fill(0.25) }])
  store.markDirty('demo')
  await store.saveAll()
  await store.close()
  const snapDir = join(dataDir, 'indexes', 'demo')
  const manifest = readdirSync(snapDir).find((f) => f.endsWith('.json'))!
  writeFileSync(join(snapDir, manifest), '{"truncated": ')

  const [dic, port, snap] = await Promise.all([
    serve({ ...base, MECAB_DICDIR: '/nonexistent/dic', DATA_DIR: `${dataDir}-x` }),
    serve({ ...base, PORT: String(busyPort), DATA_DIR: `${dataDir}-y` }),
    serve({ ...base, DATA_DIR: dataDir }),
  ])
  await t.test('MECAB_DICDIR names no folder', async (t) => {
    checkOnce(t, dic, '[DICTIONARY_INVALID] MeCab dictionary folder /nonexistent/dic does not exist or is not a folder. Set MECAB_DICDIR ' +
      "to a MeCab dictionary folder compiled by mecab-dict-index (sys.dic, matrix.bin, char.bin, unk.dic, dicrc), or unset it to use the model's own unidic-lite (now MECAB_DICDIR=/nonexistent/dic).",
    'does not exist or is not a folder')
  })
  await t.test('the port is taken', async (t) => {
    checkOnce(t, port, `[EADDRINUSE] cannot listen on 127.0.0.1:${busyPort}: the address is already in use. Another process listens on ` +
      `127.0.0.1:${busyPort}: stop it, or set PORT (--port) to a free port.`, 'already in use')
  })
  await t.test('a snapshot is corrupt', async (t) => {
    t.comment(snap.stderr)
    const m = /^jacolbert: start-up failed: \[SNAPSHOT_INVALID\] index "demo" could not be restored from (\S+): (.+)\. Nothing was deleted; move the folder away \(or restore a backup\) to start without it\.\n$/.exec(snap.stderr)
    t.ok(m, 'stderr: one line naming the index, the folder, the reason and the fix')
    if (!m) return
    t.equal(m[1], snapDir)
    checkOnce(t, snap, snap.stderr.slice('jacolbert: start-up failed: '.length, -1), m[2])
  })
})

t.test('causeOnce: a wrapper that quotes its cause is said once; a cause it does not quote is added', async (t) => {
  const net = new Error('fetch failed', { cause: new Error('getaddrinfo ENOTFOUND huggingface.co') })
  const inner = new AppError('MODEL_UNAVAILABLE', 'cannot reach the Hub: ENOTFOUND', {}, { cause: net })
  const outer = new AppError('MODEL_UNAVAILABLE', 'MODEL=x: cannot reach the Hub: ENOTFOUND. Set MODEL to a folder', {}, { cause: inner })
  t.equal(causeOnce(outer), 'MODEL=x: cannot reach the Hub: ENOTFOUND. Set MODEL to a folder')
  const plain = new AppError('SNAPSHOT_INVALID', 'could not restore', {}, { cause: new Error('disk read error') })
  t.equal(causeOnce(plain), 'could not restore: disk read error')
  t.equal(describeStartupError(plain).text, '[SNAPSHOT_INVALID] could not restore: disk read error.')
  t.equal(describeStartupError(new Error('boom')).text, '[INTERNAL_ERROR] boom.')
})
