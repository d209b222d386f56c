/** `jacolbert pull` end to end: the real CLI entry in a child process against the local fake Hub. */
import t from 'tap'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { REPO_ROOT, TINY_MODEL_DIR, sharedOnly } from '../helpers/shared.js'
import { makeFakeUnidicArchive, sha256Hex, startFakeHub } from './hub-fake-hub.js'

const REPO = 'answerdotai/JaColBERTv2.5'
const MAIN = join(REPO_ROOT, 'src', 'cli', 'main.ts')

function jacolbert(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  const clean = { ...process.env }
  for (const k of ['HF_ENDPOINT', 'HF_TOKEN', 'MODEL_CACHE_DIR', 'MODEL_REVISION', 'UNIDIC_LITE_URL', 'UNIDIC_LITE_SHA256']) delete clean[k]
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: REPO_ROOT, env: { ...clean, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr })
    })
  })
}

t.test('jacolbert pull downloads, prints the folder, and is a no-op the second time', sharedOnly(), async (t) => {
  const files: Record<string, Buffer> = {}
  for (const f of ['config.json', 'model.safetensors', 'vocab.txt', 'tokenizer_config.json', 'artifact.metadata']) files[f] = readFileSync(join(TINY_MODEL_DIR, f))
  const { archive, dicFiles } = makeFakeUnidicArchive()
  const hub = await startFakeHub({ repo: REPO, commit: 'c'.repeat(40), files, lfs: ['model.safetensors'], cdnFiles: { '/unidic-lite-1.0.8.tar.gz': archive } })
  t.teardown(() => hub.close())
  const cache = await mkdtemp(join(tmpdir(), 'jacolbert-cli-'))
  t.teardown(() => rm(cache, { recursive: true, force: true }))
  const env = { HF_ENDPOINT: hub.endpoint, UNIDIC_LITE_URL: `${hub.cdnOrigin}/unidic-lite-1.0.8.tar.gz`, UNIDIC_LITE_SHA256: sha256Hex(archive) }

  const first = await jacolbert(['pull', REPO, '--cache-dir', cache], env)
  t.equal(first.code, 0, 'exit code 0', { stderr: first.stderr })
  const dir = join(cache, 'answerdotai--JaColBERTv2.5', 'main')
  t.equal(first.stdout, `${dir}\n`, 'prints the folder on stdout')
  t.match(first.stderr, /downloading model\.safetensors \(4\.\d+ MiB\)/, 'progress lines on a non-terminal stderr')
  t.match(first.stderr, /downloading unidic-lite-1\.0\.8\.tar\.gz/)
  t.match(first.stderr, new RegExp(`pulled ${REPO}@main \\(commit c{40}\\): 5 files`))
  for (const [f, data] of Object.entries(files)) t.ok(readFileSync(join(dir, f)).equals(data), `${f} identical`)
  t.ok(readFileSync(join(dir, 'unidic_lite', 'dicdir', 'sys.dic')).equals(dicFiles['sys.dic']!), 'dictionary unpacked')

  const before = hub.requests.length
  const second = await jacolbert(['pull', REPO, '--cache-dir', cache], env)
  t.equal(second.code, 0)
  t.equal(second.stdout, `${dir}\n`)
  t.match(second.stderr, /already complete in the cache/)
  t.equal(hub.requests.length, before, 'no request')

  const noDict = await jacolbert(['pull', REPO, '--cache-dir', join(cache, 'nd'), '--no-dictionary', '--revision', 'c'.repeat(40)], env)
  t.equal(noDict.code, 0, 'exit code 0', { stderr: noDict.stderr })
  t.equal(noDict.stdout, `${join(cache, 'nd', 'answerdotai--JaColBERTv2.5', 'c'.repeat(40))}\n`)
})

t.test('jacolbert pull: usage errors and an unreachable Hub', async (t) => {
  const help = await jacolbert(['pull', '--help'], {})
  t.equal(help.code, 0)
  t.match(help.stdout, /usage: jacolbert pull <repo-id>/)
  const none = await jacolbert(['pull'], {})
  t.equal(none.code, 2)
  t.match(none.stderr, /expected one repo id/)
  const bad = await jacolbert(['pull', REPO, '--bogus'], {})
  t.equal(bad.code, 2)
  const offline = await jacolbert(['pull', REPO, '--cache-dir', join(tmpdir(), 'jacolbert-never')], { HF_ENDPOINT: 'http://127.0.0.1:9' })
  t.equal(offline.code, 1)
  t.match(offline.stderr, /\[MODEL_UNAVAILABLE\] cannot reach the Hugging Face Hub at http:\/\/127\.0\.0\.1:9.*Check this machine's network access/)
  t.equal(offline.stdout, '')
})
