/**
 * The whole Hub download path against a local fake Hub + CDN serving the tiny fixture checkpoint: complete pulls,
 * no-op re-pulls, resumed transfers, corrupt files, 404/401, locking, and the unidic-lite dictionary.
 */
import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AppError } from '../../src/errors.js'
import { COMPLETE_MARKER, modelCacheDir, parseRepoId, pullModel, readCompleteMarker, type PullOptions } from '../../src/model/hub-download.js'
import { TINY_MODEL_DIR, sharedOnly } from '../helpers/shared.js'
import { makeFakeUnidicArchive, sha256Hex, startFakeHub, type FakeHub } from './hub-fake-hub.js'

const REPO = 'answerdotai/JaColBERTv2.5'
const COMMIT = '4f1a2b3c4d5e6f708192a3b4c5d6e7f809112233'
const MODEL_FILES = ['config.json', 'model.safetensors', 'vocab.txt', 'tokenizer_config.json', 'artifact.metadata']
const SPECIAL_TOKENS = Buffer.from('{"cls_token":"[CLS]","sep_token":"[SEP]","pad_token":"[PAD]","mask_token":"[MASK]","unk_token":"[UNK]"}\n')
const UNIDIC_PATH = '/packages/55/2b/unidic-lite-1.0.8.tar.gz'

const fixtures: Record<string, Buffer> = {}
const { archive, dicFiles } = makeFakeUnidicArchive()

async function withHub(t: Test, opts: { requireToken?: string; renamed?: Record<string, string> } = {}): Promise<FakeHub> {
  const files: Record<string, Buffer> = { ...fixtures, 'special_tokens_map.json': SPECIAL_TOKENS }
  const hub = await startFakeHub({ repo: REPO, commit: COMMIT, files, lfs: ['model.safetensors', 'vocab.txt'], cdnFiles: { [UNIDIC_PATH]: archive }, ...opts })
  t.teardown(() => hub.close())
  return hub
}

async function tempCache(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'jacolbert-hub-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

function pullOpts(hub: FakeHub, cacheDir: string, extra: Partial<PullOptions> = {}): PullOptions {
  return {
    cacheDir,
    endpoint: hub.endpoint,
    dictionary: { url: `${hub.cdnOrigin}${UNIDIC_PATH}`, sha256: sha256Hex(archive), size: archive.length },
    retryBaseMs: 5,
    firstRequestTimeoutMs: 5000,
    ...extra,
  }
}

async function expectIdenticalToFixtures(t: Test, dir: string): Promise<void> {
  for (const f of MODEL_FILES) t.ok(readFileSync(join(dir, f)).equals(fixtures[f]!), `${f} is byte-identical to the fixture`)
  t.ok(readFileSync(join(dir, 'special_tokens_map.json')).equals(SPECIAL_TOKENS), 'optional special_tokens_map.json downloaded')
  t.notOk(existsSync(join(dir, 'tokenizer.json')), 'absent optional tokenizer.json is skipped')
  t.same(readdirSync(dir).filter((n) => n.endsWith('.part')), [], 'no .part files left')
}

t.before(() => {
  if (!existsSync(TINY_MODEL_DIR)) return
  for (const f of MODEL_FILES) fixtures[f] = readFileSync(join(TINY_MODEL_DIR, f))
})

t.test('repo ids and cache folders', async (t) => {
  t.same(parseRepoId('answerdotai/JaColBERTv2.5'), { owner: 'answerdotai', name: 'JaColBERTv2.5' })
  for (const bad of ['JaColBERTv2.5', 'a/b/c', '/abs/path', './models/x', 'a--b/c', 'a/..', 'a/b..c', '', 'a/', 'own er/name']) {
    t.equal(parseRepoId(bad), undefined, `'${bad}' is not a repo id`)
  }
  t.match(modelCacheDir('/cache', REPO, 'refs/pr/1'), /\/cache\/answerdotai--JaColBERTv2\.5\/refs--pr--1$/)
  t.throws(() => modelCacheDir('/cache', REPO, '../escape'), { code: 'MODEL_UNAVAILABLE' })
})

t.test('pull: files byte-identical, .complete marker, dictionary unpacked; a second pull makes no request', sharedOnly(), async (t) => {
  const hub = await withHub(t)
  const cache = await tempCache(t)
  const progress: Array<{ file: string; bytes: number; total: number | undefined }> = []
  const result = await pullModel(REPO, pullOpts(hub, cache, { onProgress: (p) => progress.push(p) }))
  t.equal(result.dir, join(cache, 'answerdotai--JaColBERTv2.5', 'main'))
  t.equal(result.downloaded, true)
  await expectIdenticalToFixtures(t, result.dir)

  const marker = JSON.parse(readFileSync(join(result.dir, COMPLETE_MARKER), 'utf8'))
  t.equal(marker.commit, COMMIT, 'marker records the commit the revision resolved to')
  t.equal(marker.revision, 'main')
  for (const f of MODEL_FILES) {
    const entry = marker.files.find((x: { name: string }) => x.name === f)
    t.equal(entry?.sha256, createHash('sha256').update(fixtures[f]!).digest('hex'), `marker sha256 of ${f}`)
    t.equal(entry?.size, fixtures[f]!.length, `marker size of ${f}`)
  }
  t.equal(marker.dictionary.sha256, sha256Hex(archive))

  const dicdir = join(result.dir, 'unidic_lite', 'dicdir')
  for (const [name, data] of Object.entries(dicFiles)) t.ok(readFileSync(join(dicdir, name)).equals(data), `dicdir/${name} unpacked`)
  t.notOk(existsSync(join(dicdir, '..', '__init__.py')), 'only the dicdir is unpacked')
  t.same((await readdir(join(cache, 'answerdotai--JaColBERTv2.5'))).sort(), ['main'], 'no staging folder or lock left behind')
  t.same(readdirSync(join(result.dir, 'unidic_lite')).sort(), ['.installed.json', 'dicdir'], 'no archive or staging left in unidic_lite/')

  // requests after the first one are pinned to the commit
  const hubPaths = hub.requests.filter((r) => r.server === 'hub').map((r) => r.path)
  t.ok(hubPaths.slice(1).every((p) => p.includes(`/resolve/${COMMIT}/`)), 'later requests use the resolved commit')
  t.ok(hub.requests.some((r) => r.server === 'cdn' && r.path.startsWith('/lfs/')), 'LFS files came from the CDN redirect')
  const last = progress.filter((p) => p.file === 'model.safetensors').at(-1)
  t.same(last, { file: 'model.safetensors', bytes: fixtures['model.safetensors']!.length, total: fixtures['model.safetensors']!.length }, 'progress reaches the total')

  const before = hub.requests.length
  const again = await pullModel(REPO, pullOpts(hub, cache))
  t.equal(again.downloaded, false)
  t.equal(again.dir, result.dir)
  t.equal(hub.requests.length, before, 'second pull made no request')
})

t.test('an interrupted transfer resumes with a Range request and ends identical', sharedOnly(), async (t) => {
  const hub = await withHub(t)
  const cache = await tempCache(t)
  hub.truncate.set('model.safetensors', { afterBytes: 1_000_000, times: 2 })
  const statuses: string[] = []
  const result = await pullModel(REPO, pullOpts(hub, cache, { onStatus: (m) => statuses.push(m) }))
  await expectIdenticalToFixtures(t, result.dir)
  const ranges = hub.requests.filter((r) => r.server === 'cdn' && r.path.startsWith('/lfs/') && r.range).map((r) => r.range!)
  t.ok(ranges.length >= 2, `resumed twice with Range (${ranges.join(', ')})`)
  t.ok(ranges.every((r) => /^bytes=[1-9]\d*-$/.test(r)), 'Range starts after the bytes already on disk')
  t.ok(hub.requests.some((r) => r.range && r.status === 206), 'server answered 206')
  t.ok(statuses.some((m) => /model\.safetensors: .*retry 1\//.test(m)), 'retry reported')
})

t.test('a server that ignores Range: the download starts over and ends identical', sharedOnly(), async (t) => {
  const hub = await withHub(t)
  const cache = await tempCache(t)
  hub.ignoreRange = true
  hub.truncate.set('model.safetensors', { afterBytes: 500_000, times: 1 })
  const result = await pullModel(REPO, pullOpts(hub, cache))
  await expectIdenticalToFixtures(t, result.dir)
  t.ok(hub.requests.some((r) => r.range && r.status === 200), 'the Range request was answered with 200')
})

t.test('a partial download left by a failed run is resumed by the next run', sharedOnly(), async (t) => {
  const hub = await withHub(t)
  const cache = await tempCache(t)
  hub.truncate.set('model.safetensors', { afterBytes: 2_000_000, times: 1 })
  await t.rejects(pullModel(REPO, pullOpts(hub, cache, { retries: 0 })), { code: 'DOWNLOAD_FAILED', message: /model\.safetensors.*Run the same command again to resume/ })
  const staging = join(cache, 'answerdotai--JaColBERTv2.5', '.incomplete-main')
  t.equal((await stat(join(staging, 'model.safetensors.part'))).size, 2_000_000, 'partial file kept')
  t.notOk(existsSync(join(cache, 'answerdotai--JaColBERTv2.5', 'main')), 'no final folder after a failed run')
  const before = hub.requests.length
  const result = await pullModel(REPO, pullOpts(hub, cache))
  await expectIdenticalToFixtures(t, result.dir)
  const later = hub.requests.slice(before)
  t.ok(later.some((r) => r.server === 'cdn' && r.range === 'bytes=2000000-'), 'second run asked for bytes=2000000-')
  t.notOk(later.some((r) => r.server === 'hub' && r.method === 'GET' && r.path.endsWith('/config.json')), 'files finished by the first run are not fetched again')
})

t.test('a corrupt file is deleted and downloaded again; corrupt twice is refused and never marked complete', sharedOnly(), async (t) => {
  const hub = await withHub(t)
  const cache = await tempCache(t)
  hub.corrupt.set('model.safetensors', 1)
  const statuses: string[] = []
  const ok = await pullModel(REPO, pullOpts(hub, cache, { onStatus: (m) => statuses.push(m) }))
  await expectIdenticalToFixtures(t, ok.dir)
  t.ok(statuses.some((m) => /model\.safetensors: sha256 .* does not match/.test(m)), 'corruption reported')

  const cache2 = await tempCache(t)
  hub.corrupt.set('model.safetensors', 5)
  await t.rejects(pullModel(REPO, pullOpts(hub, cache2)), { code: 'DOWNLOAD_FAILED', message: /model\.safetensors is corrupt after two downloads: sha256/ })
  const repoDir = join(cache2, 'answerdotai--JaColBERTv2.5')
  t.notOk(existsSync(join(repoDir, 'main')), 'no final folder')
  t.notOk(existsSync(join(repoDir, '.incomplete-main', COMPLETE_MARKER)), 'no marker in staging')
  t.notOk(existsSync(join(repoDir, '.incomplete-main', 'model.safetensors.part')), 'corrupt partial file deleted')
  t.notOk(existsSync(join(repoDir, '.incomplete-main', 'model.safetensors')), 'corrupt file never kept')
  t.notOk(existsSync(join(repoDir, '.lock-main')), 'lock released')

  // a regular (non-LFS) file is checked against its git blob sha1 ETag
  const cache3 = await tempCache(t)
  hub.corrupt.set('model.safetensors', 0)
  hub.corrupt.set('config.json', 5)
  await t.rejects(pullModel(REPO, pullOpts(hub, cache3)), { code: 'DOWNLOAD_FAILED', message: /config\.json is corrupt.*git blob sha1/ })
})

t.test('404 on a required file names the file; 404 on an optional file is fine', sharedOnly(), async (t) => {
  const hub = await withHub(t)
  const cache = await tempCache(t)
  hub.missing.add('vocab.txt')
  const err = await pullModel(REPO, pullOpts(hub, cache)).catch((e: unknown) => e)
  t.type(err, AppError)
  t.match(err, { code: 'MODEL_UNAVAILABLE', message: /answerdotai\/JaColBERTv2\.5@[0-9a-f]{40} has no vocab\.txt.*HTTP 404 EntryNotFound/ })
  t.notOk(existsSync(join(cache, 'answerdotai--JaColBERTv2.5', 'main')))

  await t.rejects(pullModel('someone/missing-model', pullOpts(hub, cache)), { code: 'MODEL_UNAVAILABLE', message: /someone\/missing-model needs authentication.*HF_TOKEN/ })
  await t.rejects(pullModel(REPO, pullOpts(hub, cache, { revision: 'v9' })), { code: 'MODEL_UNAVAILABLE', message: /has no revision 'v9'/ })
})

t.test('401: without a token, with a wrong one, with the right one (sent to the Hub only)', sharedOnly(), async (t) => {
  const secret = 'hf_fakeSecretToken123'
  const hub = await withHub(t, { requireToken: secret })
  const cache = await tempCache(t)
  const saved = process.env.HF_TOKEN
  delete process.env.HF_TOKEN
  t.teardown(() => {
    if (saved !== undefined) process.env.HF_TOKEN = saved
  })
  const noToken = await pullModel(REPO, pullOpts(hub, cache)).catch((e: unknown) => e as AppError)
  t.match(noToken, { code: 'MODEL_UNAVAILABLE', message: /needs authentication \(HTTP 401 GatedRepo\).*Set HF_TOKEN/ })
  const wrong = (await pullModel(REPO, pullOpts(hub, cache, { token: 'hf_wrongToken' })).catch((e: unknown) => e)) as AppError
  t.match(wrong, { code: 'MODEL_UNAVAILABLE', message: /rejected HF_TOKEN/ })
  t.notMatch(JSON.stringify({ m: wrong.message, d: wrong.details }), /hf_wrongToken/, 'the token is not in the error')

  const result = await pullModel(REPO, pullOpts(hub, cache, { token: secret }))
  await expectIdenticalToFixtures(t, result.dir)
  const hubAuth = hub.requests.filter((r) => r.server === 'hub' && r.status !== 401)
  t.ok(hubAuth.length > 0 && hubAuth.every((r) => r.authorization === `Bearer ${secret}`), 'token sent to the Hub')
  t.ok(hub.requests.filter((r) => r.server === 'cdn').every((r) => r.authorization === undefined), 'token never sent to the CDN')
  t.notMatch(readFileSync(join(result.dir, COMPLETE_MARKER), 'utf8'), new RegExp(secret), 'token not in the marker')
})

t.test('HF_ENDPOINT and HF_TOKEN from the environment are honoured', sharedOnly(), async (t) => {
  const hub = await withHub(t, { requireToken: 'hf_envToken' })
  const cache = await tempCache(t)
  const saved = { endpoint: process.env.HF_ENDPOINT, token: process.env.HF_TOKEN }
  process.env.HF_ENDPOINT = `${hub.endpoint}/`
  process.env.HF_TOKEN = 'hf_envToken'
  t.teardown(() => {
    for (const [k, v] of [['HF_ENDPOINT', saved.endpoint], ['HF_TOKEN', saved.token]] as const) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
  })
  const { endpoint: _unused, ...opts } = pullOpts(hub, cache)
  const result = await pullModel(REPO, opts)
  await expectIdenticalToFixtures(t, result.dir)
  t.equal(result.marker.endpoint, hub.endpoint)
})

t.test('concurrent pulls of the same model: one downloads, the other waits for it', sharedOnly(), async (t) => {
  const hub = await withHub(t)
  const cache = await tempCache(t)
  const waits: string[] = []
  const [a, b] = await Promise.all([
    pullModel(REPO, pullOpts(hub, cache, { onStatus: (m) => waits.push(m) })),
    pullModel(REPO, pullOpts(hub, cache, { onStatus: (m) => waits.push(m) })),
  ])
  t.equal(a.dir, b.dir)
  t.equal([a.downloaded, b.downloaded].filter(Boolean).length, 1, 'exactly one pull downloaded')
  await expectIdenticalToFixtures(t, a.dir)
  t.equal(hub.requests.filter((r) => r.server === 'cdn' && r.method === 'GET' && r.path.startsWith(`/lfs/${sha256Hex(fixtures['model.safetensors']!)}`)).length, 1, 'model.safetensors fetched once')
  t.ok(waits.some((m) => /waiting for another download/.test(m)), 'the other pull said it was waiting')
})

t.test('a stale lock (dead holder) is taken over', sharedOnly(), async (t) => {
  const hub = await withHub(t)
  const cache = await tempCache(t)
  const { mkdir, writeFile, utimes } = await import('node:fs/promises')
  const repoDir = join(cache, 'answerdotai--JaColBERTv2.5')
  await mkdir(repoDir, { recursive: true })
  await writeFile(join(repoDir, '.lock-main'), '{"pid":999999}')
  const old = new Date(Date.now() - 60_000)
  await utimes(join(repoDir, '.lock-main'), old, old)
  const result = await pullModel(REPO, pullOpts(hub, cache, { lockStaleMs: 1000 }))
  await expectIdenticalToFixtures(t, result.dir)
})

t.test('a folder pulled without the dictionary gets it on a later pull that wants it; force re-downloads', sharedOnly(), async (t) => {
  const hub = await withHub(t)
  const cache = await tempCache(t)
  const first = await pullModel(REPO, pullOpts(hub, cache, { dictionary: false }))
  t.notOk(existsSync(join(first.dir, 'unidic_lite')), 'no dictionary')
  t.equal((await readCompleteMarker(first.dir))?.dictionary, null)
  t.notOk(hub.requests.some((r) => r.path === UNIDIC_PATH), 'archive not requested')
  const second = await pullModel(REPO, pullOpts(hub, cache))
  t.ok(readFileSync(join(second.dir, 'unidic_lite', 'dicdir', 'sys.dic')).equals(dicFiles['sys.dic']!))
  t.equal((await readCompleteMarker(second.dir))?.dictionary?.sha256, sha256Hex(archive))
  const modelGets = hub.requests.filter((r) => r.path.startsWith('/lfs/') && r.method === 'GET').length
  t.equal(modelGets, 2, 'model files not fetched again for the dictionary (2 LFS files)')

  const forced = await pullModel(REPO, pullOpts(hub, cache, { force: true }))
  t.equal(forced.downloaded, true)
  await expectIdenticalToFixtures(t, forced.dir)
  t.same((await readdir(join(cache, 'answerdotai--JaColBERTv2.5'))).sort(), ['main'], 'old copy removed')
})

t.test('a corrupt dictionary archive is refused', sharedOnly(), async (t) => {
  const hub = await withHub(t)
  const cache = await tempCache(t)
  hub.corrupt.set(UNIDIC_PATH, 5)
  await t.rejects(pullModel(REPO, pullOpts(hub, cache)), { code: 'DOWNLOAD_FAILED', message: /unidic-lite-1\.0\.8\.tar\.gz is corrupt/ })
  t.notOk(existsSync(join(cache, 'answerdotai--JaColBERTv2.5', 'main')))
})

t.test('a staging folder from another commit is discarded, not mixed in', sharedOnly(), async (t) => {
  const cache = await tempCache(t)
  const hubA = await withHub(t)
  hubA.truncate.set('model.safetensors', { afterBytes: 1_500_000, times: 1 })
  await t.rejects(pullModel(REPO, pullOpts(hubA, cache, { retries: 0 })), { code: 'DOWNLOAD_FAILED' })
  t.ok(existsSync(join(cache, 'answerdotai--JaColBERTv2.5', '.incomplete-main', 'config.json')), 'first run left finished files')

  // the branch moved: new commit, new weights and config
  const newWeights = Buffer.from(fixtures['model.safetensors']!)
  newWeights[newWeights.length - 1]! ^= 1
  const newConfig = Buffer.from(fixtures['config.json']!.toString('utf8').replace('{', '{\n  "_note": "v2",'))
  const files = { ...fixtures, 'model.safetensors': newWeights, 'config.json': newConfig }
  const hubB = await startFakeHub({ repo: REPO, commit: 'b'.repeat(40), files, lfs: ['model.safetensors'], cdnFiles: { [UNIDIC_PATH]: archive } })
  t.teardown(() => hubB.close())
  const result = await pullModel(REPO, pullOpts(hubB, cache))
  t.ok(readFileSync(join(result.dir, 'model.safetensors')).equals(newWeights), 'new weights, not a resumed mix')
  t.ok(readFileSync(join(result.dir, 'config.json')).equals(newConfig), 'new config')
  t.equal(result.marker.commit, 'b'.repeat(40))
  t.notOk(hubB.requests.some((r) => r.range), 'nothing resumed across commits')
  t.notOk(existsSync(join(result.dir, '.commit')), 'no staging stamp in the final folder')
})

t.test('a stalled transfer hits the idle timeout and resumes; a 503 is retried', sharedOnly(), async (t) => {
  const hub = await withHub(t)
  const cache = await tempCache(t)
  hub.stall.set('model.safetensors', { afterBytes: 1_200_000, times: 1 })
  hub.unavailable.set('vocab.txt', 2)
  const statuses: string[] = []
  const started = Date.now()
  const result = await pullModel(REPO, pullOpts(hub, cache, { idleTimeoutMs: 300, onStatus: (m) => statuses.push(m) }))
  await expectIdenticalToFixtures(t, result.dir)
  t.ok(Date.now() - started < 10_000, 'finished well after the idle timeout, without hanging')
  t.ok(statuses.some((m) => /model\.safetensors: .*no data for 0\.3 s/.test(m)), 'idle timeout reported')
  t.ok(hub.requests.some((r) => r.range === 'bytes=1200000-'), 'resumed after the stalled bytes')
  t.equal(hub.requests.filter((r) => r.server === 'cdn' && r.status === 503).length, 2, 'two 503s')
  t.ok(statuses.some((m) => /vocab\.txt: .*HTTP 503.*retry 2\//.test(m)), '503 retried with backoff')
})

t.test('a renamed repository (relative redirect) is followed', sharedOnly(), async (t) => {
  const hub = await withHub(t, { renamed: { 'bclavie/JaColBERTv2.5': REPO } })
  const cache = await tempCache(t)
  const result = await pullModel('bclavie/JaColBERTv2.5', pullOpts(hub, cache))
  t.equal(result.dir, join(cache, 'bclavie--JaColBERTv2.5', 'main'))
  await expectIdenticalToFixtures(t, result.dir)
  t.ok(hub.requests.some((r) => r.status === 307), 'the redirect was seen')
})
