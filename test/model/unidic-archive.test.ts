/**
 * The archive readers against archives made by independent tools (GNU tar in ustar, gnu and pax formats; Info-ZIP),
 * hostile archives (path traversal, bad checksums, truncation, CRC errors), and installUnidicLite for both the
 * sdist (tar.gz) and a wheel (zip) layout.
 */
import t, { type Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { extractTar } from '../../src/model/tar-reader.js'
import { extractZip, listZipEntries } from '../../src/model/zip-reader.js'
import { hasUnidicLite, installUnidicLite, selectDicdirEntry } from '../../src/model/unidic-lite.js'
import { makeFakeUnidicArchive, makeTar, sha256Hex, startFakeHub } from './hub-fake-hub.js'

function hasTool(cmd: string, arg: string): boolean {
  try {
    execFileSync(cmd, [arg], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}
const HAS_TAR = hasTool('tar', '--version')
const HAS_ZIP = hasTool('zip', '-v')

async function tmp(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'jacolbert-archive-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** A source tree with awkward sizes (0, 511, 512, 513 bytes, 300 KB) and a name longer than 100 bytes. */
function sourceTree(root: string): Record<string, Buffer> {
  const longDir = `${'d'.repeat(60)}/${'e'.repeat(60)}`
  const files: Record<string, Buffer> = {
    'pkg/empty.txt': Buffer.alloc(0),
    'pkg/b511.bin': randomBytes(511),
    'pkg/b512.bin': randomBytes(512),
    'pkg/b513.bin': randomBytes(513),
    'pkg/sub/big.bin': randomBytes(300_000),
    [`pkg/${longDir}/${'f'.repeat(40)}.txt`]: Buffer.from('long name\n'),
    'pkg/日本語.txt': Buffer.from('非ASCIIの名前\n'),
  }
  for (const [name, data] of Object.entries(files)) {
    const p = join(root, name)
    execFileSync('mkdir', ['-p', join(p, '..')])
    writeFileSync(p, data)
  }
  return files
}

function checkExtracted(t: Test, dest: string, files: Record<string, Buffer>, got: Array<{ name: string }>): void {
  for (const [name, data] of Object.entries(files)) {
    t.ok(existsSync(join(dest, name)) && readFileSync(join(dest, name)).equals(data), `${name} (${data.length} bytes) extracted identical`)
  }
  t.same(got.map((e) => e.name).sort(), Object.keys(files).sort(), 'exactly the regular files were extracted')
}

for (const format of ['gnu', 'pax', 'ustar'] as const) {
  t.test(`tar (${format}, made by GNU tar) gz and plain`, { skip: HAS_TAR ? false : 'tar command not installed' }, async (t) => {
    const dir = await tmp(t)
    const src = join(dir, 'src')
    const files = sourceTree(src)
    for (const gz of [true, false]) {
      const archive = join(dir, `a-${format}.tar${gz ? '.gz' : ''}`)
      execFileSync('tar', [`--format=${format}`, gz ? '-czf' : '-cf', archive, '-C', src, 'pkg'])
      const dest = join(dir, `out-${format}-${gz}`)
      const got = await extractTar(archive, dest, (name) => name)
      checkExtracted(t, dest, files, got)
    }
  })
}

const HAS_PYTHON = hasTool('python3', '--version')

t.test('tar.gz streamed by Python tarfile (how setuptools writes an sdist), pax and gnu', { skip: HAS_PYTHON ? false : 'python3 not installed' }, async (t) => {
  const dir = await tmp(t)
  const src = join(dir, 'src')
  const files = sourceTree(src)
  for (const format of ['PAX_FORMAT', 'GNU_FORMAT']) {
    const archive = join(dir, `py-${format}.tar.gz`)
    const script = `import tarfile, sys\nwith tarfile.open(sys.argv[1], 'w|gz', format=tarfile.${format}) as tf:\n    tf.add('pkg')\n`
    execFileSync('python3', ['-c', script, archive], { cwd: src })
    const dest = join(dir, `out-${format}`)
    checkExtracted(t, dest, files, await extractTar(archive, dest, (name) => name))
  }
})

t.test('zip (made by Info-ZIP): deflated and stored entries, CRC and size checks', { skip: HAS_ZIP ? false : 'zip command not installed' }, async (t) => {
  const dir = await tmp(t)
  const src = join(dir, 'src')
  const files = sourceTree(src)
  for (const level of ['-9', '-0']) {
    const archive = join(dir, `a${level}.zip`)
    execFileSync('zip', ['-q', '-r', level, archive, 'pkg'], { cwd: src })
    const entries = await listZipEntries(archive)
    t.ok(entries.some((e) => e.isDirectory), 'directory entries listed')
    t.ok(entries.every((e) => e.method === (level === '-0' ? 0 : e.size === 0 ? 0 : 8) || e.isDirectory || e.method === 0), 'compression methods')
    const dest = join(dir, `out${level}`)
    const got = await extractZip(archive, dest, (name) => name)
    checkExtracted(t, dest, files, got)
  }
  // flip one byte of stored data: the CRC check must catch it
  const stored = join(dir, 'a-0.zip')
  const bytes = readFileSync(stored)
  const at = bytes.indexOf(files['pkg/sub/big.bin']!.subarray(1000, 1032))
  t.ok(at > 0, 'found the stored bytes')
  bytes[at]! ^= 0x55
  writeFileSync(join(dir, 'bad.zip'), bytes)
  await t.rejects(extractZip(join(dir, 'bad.zip'), join(dir, 'out-bad'), (n) => n), { code: 'DOWNLOAD_FAILED', message: /big\.bin' fails its CRC-32 check/ })
  writeFileSync(join(dir, 'junk.zip'), randomBytes(2000))
  await t.rejects(listZipEntries(join(dir, 'junk.zip')), { code: 'DOWNLOAD_FAILED', message: /no end-of-central-directory/ })
})

t.test('hostile and broken tar archives', async (t) => {
  const dir = await tmp(t)
  const evil = join(dir, 'evil.tar.gz')
  writeFileSync(evil, gzipSync(makeTar([{ name: 'p/unidic_lite/dicdir/../../../escape.txt', data: Buffer.from('x') }])))
  await t.rejects(extractTar(evil, join(dir, 'out'), selectDicdirEntry), { code: 'DOWNLOAD_FAILED', message: /unsafe path/ })
  t.notOk(existsSync(join(dir, 'escape.txt')), 'nothing written outside')

  const ok = makeTar([{ name: 'p/a.txt', data: Buffer.from('hello') }])
  const badSum = Buffer.from(ok)
  badSum[0] = 0x71 // change the name without fixing the checksum
  writeFileSync(join(dir, 'badsum.tar'), badSum)
  await t.rejects(extractTar(join(dir, 'badsum.tar'), join(dir, 'o2'), (n) => n), { code: 'DOWNLOAD_FAILED', message: /header checksum/ })

  const gz = gzipSync(makeTar([{ name: 'p/big', data: randomBytes(100_000) }]))
  writeFileSync(join(dir, 'trunc.tar.gz'), gz.subarray(0, gz.length >> 1))
  await t.rejects(extractTar(join(dir, 'trunc.tar.gz'), join(dir, 'o3'), (n) => n), { code: 'DOWNLOAD_FAILED' })

  const links = makeTar([{ name: 'p/unidic_lite/dicdir/link', type: '2' }, { name: 'p/unidic_lite/dicdir/sys.dic', data: Buffer.from('s') }])
  writeFileSync(join(dir, 'links.tar'), links)
  const got = await extractTar(join(dir, 'links.tar'), join(dir, 'o4'), selectDicdirEntry)
  t.same(got.map((e) => e.name), ['p/unidic_lite/dicdir/sys.dic'], 'symlinks are not extracted')
})

t.test('selectDicdirEntry', async (t) => {
  t.equal(selectDicdirEntry('unidic-lite-1.0.8/unidic_lite/dicdir/sys.dic'), 'sys.dic')
  t.equal(selectDicdirEntry('unidic_lite/dicdir/matrix.bin'), 'matrix.bin')
  t.equal(selectDicdirEntry('unidic-lite-1.0.8/unidic_lite/dicdir/'), undefined)
  t.equal(selectDicdirEntry('unidic-lite-1.0.8/unidic_lite/__init__.py'), undefined)
  t.equal(selectDicdirEntry('x/not_unidic_lite/dicdir/sys.dic'), undefined)
  t.equal(selectDicdirEntry('a/b/unidic_lite/dicdir/sys.dic'), undefined)
})

t.test('installUnidicLite: sdist (tar.gz) and wheel (zip) layouts; an archive without a dicdir is refused', async (t) => {
  const dir = await tmp(t)
  const { archive, dicFiles } = makeFakeUnidicArchive()
  let wheel: Buffer | undefined
  if (HAS_ZIP) {
    const w = join(dir, 'wheel-src')
    for (const [name, data] of Object.entries(dicFiles)) {
      await mkdir(join(w, 'unidic_lite', 'dicdir'), { recursive: true })
      writeFileSync(join(w, 'unidic_lite', 'dicdir', name), data)
    }
    writeFileSync(join(w, 'unidic_lite', '__init__.py'), '')
    execFileSync('zip', ['-q', '-r', join(dir, 'unidic_lite-1.0.8-py3-none-any.whl'), 'unidic_lite'], { cwd: w })
    wheel = readFileSync(join(dir, 'unidic_lite-1.0.8-py3-none-any.whl'))
  }
  const notDic = gzipSync(makeTar([{ name: 'x-1.0/setup.py', data: Buffer.from('') }]))
  const hub = await startFakeHub({
    repo: 'a/b', commit: '0'.repeat(40), files: {}, lfs: [],
    cdnFiles: { '/sdist.tar.gz': archive, '/not-dic.tar.gz': notDic, ...(wheel ? { '/unidic_lite-1.0.8-py3-none-any.whl': wheel } : {}) },
  })
  t.teardown(() => hub.close())

  const m1 = join(dir, 'm1')
  const r1 = await installUnidicLite(m1, { source: { url: `${hub.cdnOrigin}/sdist.tar.gz`, sha256: sha256Hex(archive) }, retryBaseMs: 5 })
  t.equal(r1.dir, join(m1, 'unidic_lite', 'dicdir'))
  t.ok(hasUnidicLite(m1))
  for (const [name, data] of Object.entries(dicFiles)) t.ok(readFileSync(join(r1.dir, name)).equals(data), `sdist: ${name}`)
  const requests = hub.requests.length
  const again = await installUnidicLite(m1, { source: { url: `${hub.cdnOrigin}/sdist.tar.gz`, sha256: sha256Hex(archive) } })
  t.same(again, r1, 'an installed dictionary is reused')
  t.equal(hub.requests.length, requests, 'without a request')

  if (wheel) {
    const m2 = join(dir, 'm2')
    const r2 = await installUnidicLite(m2, { source: { url: `${hub.cdnOrigin}/unidic_lite-1.0.8-py3-none-any.whl`, sha256: sha256Hex(wheel) }, retryBaseMs: 5 })
    for (const [name, data] of Object.entries(dicFiles)) t.ok(readFileSync(join(r2.dir, name)).equals(data), `wheel: ${name}`)
  }

  const m3 = join(dir, 'm3')
  await t.rejects(installUnidicLite(m3, { source: { url: `${hub.cdnOrigin}/not-dic.tar.gz` }, retryBaseMs: 5 }), { code: 'DICTIONARY_INVALID', message: /no unidic_lite\/dicdir\/\{sys\.dic,matrix\.bin,char\.bin,unk\.dic,dicrc\}/ })
  t.notOk(hasUnidicLite(m3))
  t.notOk(existsSync(join(m3, 'unidic_lite', 'dicdir')), 'no half dictionary folder')

  await t.rejects(installUnidicLite(join(dir, 'm4'), { source: { url: `${hub.cdnOrigin}/sdist.tar.gz`, sha256: '0'.repeat(64) }, retryBaseMs: 5 }), { code: 'DOWNLOAD_FAILED', message: /is corrupt after two downloads/ })
})
