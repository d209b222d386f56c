/**
 * `jacolbert index` as a user runs it (child processes, real signals): bulk indexing of the 1,145 JSQuAD passages
 * into an index folder, interrupted with SIGINT halfway and resumed; the folder is then restored by the service's own
 * index store and must hold every passage exactly once. Also: a running server as the destination, bad rows.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { loadConfig } from '../../src/config.js'
import { createEncoder } from '../../src/encoder/index.js'
import { createIndexStore } from '../../src/index/index-store.js'
import { compileFilter } from '../../src/index/metadata-filter.js'
import { buildApp } from '../../src/server/app.js'
import { IPADIC_DIR, JSQUAD_PATH, REPO_ROOT, TINY_MODEL_DIR, dictionaryOnly, sharedOnly } from '../helpers/shared.js'
import { CLI_ARGS, cli } from '../helpers/cli.js'

const skip = sharedOnly().skip || dictionaryOnly(IPADIC_DIR).skip
const MODEL_ARGS = ['--model', TINY_MODEL_DIR, '--dic', IPADIC_DIR, '--providers', 'cpu', '--threads', '1']

function passages(): Array<{ id: string; text: string; title: string; n: number }> {
  const d = JSON.parse(readFileSync(JSQUAD_PATH, 'utf8')) as { data: Array<{ title: string; paragraphs: Array<{ context: string }> }> }
  let n = 0
  return d.data.flatMap((a, ai) => a.paragraphs.map((p, i) => ({ id: `${ai}-${i}`, text: p.context, title: a.title, n: n++ })))
}

t.test('SIGINT halfway through the 1,145 JSQuAD passages, then resume: every passage exactly once', { skip }, async (t) => {
  const dir = t.testdir()
  const input = join(dir, 'passages.jsonl')
  const all = passages()
  t.equal(all.length, 1145)
  await writeFile(input, all.map((p) => JSON.stringify(p)).join('\n') + '\n')
  const dataDir = join(dir, 'data')
  const args = ['index', input, '--index', 'jsquad', '--data-dir', dataDir, ...MODEL_ARGS, '--batch', '32', '--metadata-col', 'title', '--metadata-col', 'n', '--progress-interval', '200', '--json']

  // first run: SIGINT once the progress line says 400 or more documents are done
  const first = await new Promise<{ code: number | null; stdout: string; stderr: string; sentAt: number }>((resolve, reject) => {
    const child = spawn(process.execPath, [...CLI_ARGS, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = '', stderr = '', sentAt = -1
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d
      const m = [...stderr.matchAll(/ (\d+)\/1145 /g)].pop()
      if (sentAt < 0 && m && Number(m[1]) >= 400) {
        sentAt = Number(m[1])
        child.kill('SIGINT')
      }
    })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr, sentAt }))
  })
  t.ok(first.sentAt >= 400, `SIGINT sent at ${first.sentAt} documents`)
  t.equal(first.code, 130, `interrupted run exits 130 (${first.stderr.slice(-300)})`)
  t.match(first.stderr, /interrupted/)
  const s1 = JSON.parse(first.stdout) as { added: number; documents: number; interrupted: boolean }
  t.equal(s1.interrupted, true)
  t.ok(s1.added > 0 && s1.added < 1145, `first run indexed part of the set (${s1.added})`)

  const restored1 = createIndexStore({ dataDir, defaultSettings: { dim: 16 } })
  await restored1.restoreAll()
  t.equal(restored1.getOrThrow('jsquad').stats().documents, s1.added, 'the interrupted run saved what it had indexed')

  const second = await cli(args)
  t.equal(second.status, 0, second.stderr)
  const s2 = JSON.parse(second.stdout) as { added: number; skippedExisting: number; documents: number; interrupted: boolean }
  t.equal(s2.skippedExisting, s1.added, 'the resumed run skips what is indexed')
  t.equal(s2.added, 1145 - s1.added, 'and indexes only the rest')
  t.equal(s2.documents, 1145)

  // the service's own restore path
  const store = createIndexStore({ dataDir, defaultSettings: { dim: 16 } })
  await store.restoreAll()
  const index = store.getOrThrow('jsquad')
  const ids = index.ids()
  t.equal(ids.length, 1145)
  t.equal(new Set(ids).size, 1145, 'no id twice')
  t.same([...ids].sort(), all.map((p) => p.id).sort(), 'every passage')
  t.equal(index.stats().documents, 1145)
  t.equal(index.stats().tombstones, 0, 'nothing indexed twice and replaced')
  const got = index.get('3-0')
  t.same(got?.metadata, { title: all.find((p) => p.id === '3-0')!.title, n: all.find((p) => p.id === '3-0')!.n })

  // a third run has nothing to do
  const third = await cli(args)
  t.equal(third.status, 0, third.stderr)
  t.match(JSON.parse(third.stdout), { added: 0, skippedExisting: 1145, documents: 1145 })
})

t.test('into a running server, bad rows, TSV without header', { skip }, async (t) => {
  const dir = t.testdir()
  const encoder = await createEncoder({ modelDir: TINY_MODEL_DIR, dicdir: IPADIC_DIR, providers: ['cpu'], threads: 1, graphCacheDir: dir })
  t.teardown(() => encoder.close())
  const config = loadConfig({ API_KEY: 'sekret-key', MAX_BATCH_TEXTS: '16' })
  const store = createIndexStore({ defaultSettings: { dim: encoder.dim } })
  const app = buildApp({ config, encoder, indexStore: store, compileFilter })
  t.teardown(() => app.close())
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  const some = passages().slice(0, 60)
  const input = join(dir, 'docs.tsv')
  // headerless TSV, as ColBERT's collection.tsv; line 5 has a missing field, line 9 repeats an id
  const lines = some.map((p) => `${p.id}\t${p.text.replace(/\t/g, ' ')}`)
  lines[4] = 'broken-row-without-tab'
  lines[8] = `${some[0]!.id}\tduplicate`
  await writeFile(input, lines.join('\n') + '\n')
  const base = ['index', input, '--tsv-columns', 'id,text', '--url', url, '--index', 'remote', '--batch', '20', '--quiet']

  const strict = await cli([...base, '--json'], { API_KEY: 'sekret-key' })
  t.equal(strict.status, 1)
  t.match(strict.stderr, /docs\.tsv:5: has 1 tab-separated fields, the header has 2/)
  const badRows = join(dir, 'bad.jsonl')
  const noKey = await cli([...base, '--skip-bad-rows', '--progress-file', join(dir, 'p0')], { API_KEY: '' })
  t.equal(noKey.status, 1)
  t.match(noKey.stderr, /401 UNAUTHORIZED/)
  const ok = await cli([...base, '--skip-bad-rows', '--bad-rows', badRows, '--json'], { API_KEY: 'sekret-key' })
  t.equal(ok.status, 0, ok.stderr)
  const s = JSON.parse(ok.stdout) as { added: number; badRows: number }
  t.equal(s.badRows, 2)
  t.equal(s.added, 58)
  t.same(readFileSync(badRows, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { line: number }).line), [5, 9])
  t.equal(store.getOrThrow('remote').stats().documents, 58, 'the server holds them')
  const again = await cli([...base, '--skip-bad-rows', '--json'], { API_KEY: 'sekret-key' })
  t.match(JSON.parse(again.stdout), { added: 0, skippedExisting: 58 }, 'resumed from the progress file')
  const usage = await cli(['index', input])
  t.equal(usage.status, 2)
  t.match(usage.stderr, /--data-dir DIR \(or \$DATA_DIR\) or --url URL is required/)
})
