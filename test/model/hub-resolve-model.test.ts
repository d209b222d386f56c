/**
 * resolveModelDir: local folders, bad specs, cached repo ids without network, and fast, explicit failures when the
 * Hub cannot be reached (connection refused, a host that never answers, a name that does not resolve).
 */
import t, { type Test } from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { resolveModelDir } from '../../src/model/resolve-model.js'
import { TINY_MODEL_DIR, sharedOnly } from '../helpers/shared.js'
import { makeFakeUnidicArchive, sha256Hex, startFakeHub } from './hub-fake-hub.js'

const REPO = 'answerdotai/JaColBERTv2.5'

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'jacolbert-resolve-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** A port on 127.0.0.1 where nothing listens (connection refused). */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  const { port } = server.address() as { port: number }
  await new Promise<void>((r) => server.close(() => r()))
  return port
}

t.test('a local folder is used as it is, relative or absolute', sharedOnly(), async (t) => {
  t.equal(await resolveModelDir(TINY_MODEL_DIR, { cacheDir: '/nonexistent' }), TINY_MODEL_DIR)
  t.equal(await resolveModelDir(relative(process.cwd(), TINY_MODEL_DIR), { cacheDir: '/nonexistent' }), TINY_MODEL_DIR)
  await t.rejects(resolveModelDir(join(TINY_MODEL_DIR, 'config.json'), { cacheDir: '/x' }), { code: 'MODEL_UNAVAILABLE', message: /^MODEL=.*config\.json is a file/ })
})

t.test('specs that are neither a folder nor a repo id', async (t) => {
  await t.rejects(resolveModelDir('./no/such/folder', { cacheDir: '/x' }), { code: 'MODEL_UNAVAILABLE', message: /^MODEL=\.\/no\/such\/folder: no such folder/ })
  await t.rejects(resolveModelDir('not a model', { cacheDir: '/x' }), { code: 'MODEL_UNAVAILABLE', message: /^MODEL=not a model is neither an existing folder nor a Hugging Face repo id/ })
  await t.rejects(resolveModelDir('  ', { cacheDir: '/x' }), { code: 'MODEL_UNAVAILABLE', message: /^MODEL is empty/ })
})

t.test('offline: connection refused fails fast, names MODEL and says what to do', async (t) => {
  const cache = await tempDir(t)
  const endpoint = `http://127.0.0.1:${await closedPort()}`
  const started = Date.now()
  const err = (await resolveModelDir(REPO, { cacheDir: cache, endpoint, dictionary: false }).catch((e: unknown) => e)) as Error & { code?: string }
  const ms = Date.now() - started
  t.match(err, { code: 'MODEL_UNAVAILABLE' })
  t.match(err.message, /^MODEL=answerdotai\/JaColBERTv2\.5: cannot reach the Hugging Face Hub at http:\/\/127\.0\.0\.1:\d+ to download answerdotai\/JaColBERTv2\.5: ECONNREFUSED/)
  t.match(err.message, /Set MODEL to a local checkpoint folder/)
  t.match(err.message, /HF_ENDPOINT/)
  t.ok(ms < 3000, `failed in ${ms} ms (no retries before the first answer)`)
  t.same(await readdir(cache), [], 'nothing written, no lock or empty folder left')
})

t.test('offline: a host that never answers fails at the first-request deadline', async (t) => {
  const sockets: Socket[] = []
  const blackhole = createServer((s) => sockets.push(s)) // accepts, never answers (like a dropped route)
  await new Promise<void>((r) => blackhole.listen(0, '127.0.0.1', () => r()))
  t.teardown(() => {
    for (const s of sockets) s.destroy()
    blackhole.close()
  })
  const endpoint = `http://127.0.0.1:${(blackhole.address() as { port: number }).port}`
  const cache = await tempDir(t)
  const started = Date.now()
  const err = await resolveModelDir(REPO, { cacheDir: cache, endpoint, firstRequestTimeoutMs: 400, dictionary: false }).catch((e: unknown) => e as Error)
  const ms = Date.now() - started
  t.match(err, { code: 'MODEL_UNAVAILABLE', message: /^MODEL=answerdotai\/JaColBERTv2\.5: cannot reach .*no response within 0\.4 s.*Set MODEL to a local checkpoint folder/ })
  t.ok(ms >= 350 && ms < 2500, `failed after ${ms} ms`)
})

t.test('offline: a host name that does not resolve', async (t) => {
  const cache = await tempDir(t)
  const started = Date.now()
  // .invalid never resolves (RFC 6761); the deadline bounds a resolver that does not answer at all
  const err = await resolveModelDir(REPO, { cacheDir: cache, endpoint: 'http://hub.example.invalid', firstRequestTimeoutMs: 5000, dictionary: false }).catch((e: unknown) => e as Error)
  t.match(err, { code: 'MODEL_UNAVAILABLE', message: /^MODEL=answerdotai\/JaColBERTv2\.5: cannot reach .*(ENOTFOUND|EAI_AGAIN|no response within)/ })
  t.ok(Date.now() - started < 6000)
})

t.test('a repo id: pulled on first use (with unidic-lite), then served from the cache with the Hub gone', sharedOnly(), async (t) => {
  const files: Record<string, Buffer> = {}
  for (const f of ['config.json', 'model.safetensors', 'vocab.txt', 'tokenizer_config.json', 'artifact.metadata']) files[f] = readFileSync(join(TINY_MODEL_DIR, f))
  const { archive } = makeFakeUnidicArchive()
  const hub = await startFakeHub({ repo: REPO, commit: 'a'.repeat(40), files, lfs: ['model.safetensors'], cdnFiles: { '/u.tar.gz': archive } })
  const cache = await tempDir(t)
  const statuses: string[] = []
  const opts = { cacheDir: cache, endpoint: hub.endpoint, dictionary: { url: `${hub.cdnOrigin}/u.tar.gz`, sha256: sha256Hex(archive) }, onStatus: (m: string) => statuses.push(m) }
  const dir = await resolveModelDir(REPO, opts)
  t.equal(dir, join(cache, 'answerdotai--JaColBERTv2.5', 'main'))
  t.ok(readFileSync(join(dir, 'model.safetensors')).equals(files['model.safetensors']!))
  t.ok(existsSync(join(dir, 'unidic_lite', 'dicdir', 'sys.dic')), 'dictionary where loadColbertTokenizer looks')
  await hub.close()
  t.equal(await resolveModelDir(REPO, opts), dir, 'cached copy used without the Hub')

  // a half download never looks complete: remove the marker, the Hub is gone, so resolving must fail
  await rm(join(dir, '.complete'))
  await t.rejects(resolveModelDir(REPO, { ...opts, firstRequestTimeoutMs: 2000 }), { code: 'MODEL_UNAVAILABLE', message: /^MODEL=answerdotai/ })
  await writeFile(join(dir, '.complete'), '{ not json')
  await t.rejects(resolveModelDir(REPO, { ...opts, firstRequestTimeoutMs: 2000 }), { code: 'MODEL_UNAVAILABLE' })
})
