/**
 * A local stand-in for the Hugging Face Hub and its CDN (two node:http servers on 127.0.0.1, i.e. two origins),
 * with the headers the real Hub sends: HEAD/GET `/<repo>/resolve/<rev>/<file>` answers 200 + ETag (git blob sha1)
 * for regular files and 302 to the CDN + X-Linked-Etag (sha256) + X-Linked-Size for LFS files, X-Repo-Commit on
 * both; Range requests get 206. Faults to inject: truncated bodies, corrupt bytes, ignored Range, 404s, 401s.
 */
import { createHash } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { gzipSync } from 'node:zlib'

export interface RequestLog {
  server: 'hub' | 'cdn'
  method: string
  path: string
  range: string | undefined
  authorization: string | undefined
  status: number
}

export interface FakeHubOptions {
  repo: string
  commit: string
  files: Record<string, Buffer>
  /** Served through a 302 to the CDN, like git-lfs files. */
  lfs: string[]
  /** Extra files on the CDN origin, e.g. the unidic-lite archive: path → bytes. */
  cdnFiles?: Record<string, Buffer>
  requireToken?: string
  /** Old repo ids that redirect to `repo`. */
  renamed?: Record<string, string>
}

export interface FakeHub {
  endpoint: string
  cdnOrigin: string
  requests: RequestLog[]
  /** Per file name (or CDN path): close the connection after this many body bytes, `times` times. */
  truncate: Map<string, { afterBytes: number; times: number }>
  /** Per file name: serve it with one byte flipped, `times` times. */
  corrupt: Map<string, number>
  /** Files answered with 404 EntryNotFound. */
  missing: Set<string>
  /** Per file name (or CDN path): send this many body bytes, then stall with the connection open, `times` times. */
  stall: Map<string, { afterBytes: number; times: number }>
  /** Per file name (or CDN path): answer GET with 503 this many times. */
  unavailable: Map<string, number>
  /** Answer Range requests with the whole file (200), like a server without Range support. */
  ignoreRange: boolean
  close(): Promise<void>
}

export function sha256Hex(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex')
}

export function gitBlobSha1(b: Buffer): string {
  return createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex')
}

export async function startFakeHub(opts: FakeHubOptions): Promise<FakeHub> {
  const requests: RequestLog[] = []
  const state = {
    truncate: new Map<string, { afterBytes: number; times: number }>(),
    corrupt: new Map<string, number>(),
    missing: new Set<string>(),
    stall: new Map<string, { afterBytes: number; times: number }>(),
    unavailable: new Map<string, number>(),
    ignoreRange: false,
  }
  const stalled: ServerResponse[] = []
  const lfsBySha = new Map<string, string>()
  for (const name of opts.lfs) lfsBySha.set(sha256Hex(opts.files[name]!), name)

  const log = (server: 'hub' | 'cdn', req: IncomingMessage, res: ServerResponse): void => {
    const entry: RequestLog = {
      server, method: req.method ?? '', path: req.url ?? '', range: req.headers.range,
      authorization: req.headers.authorization, status: 0,
    }
    requests.push(entry)
    res.on('close', () => {
      entry.status = res.statusCode
    })
  }

  const serveBody = (req: IncomingMessage, res: ServerResponse, key: string, content: Buffer, headers: Record<string, string>): void => {
    const down = state.unavailable.get(key) ?? 0
    if (down > 0 && req.method === 'GET') {
      state.unavailable.set(key, down - 1)
      res.writeHead(503, { 'retry-after': '0' }).end('busy')
      return
    }
    let body = content
    const corruptLeft = state.corrupt.get(key) ?? 0
    if (corruptLeft > 0) {
      if (req.method === 'GET') state.corrupt.set(key, corruptLeft - 1)
      body = Buffer.from(content)
      body[body.length >> 1]! ^= 0xff
    }
    let start = 0
    let status = 200
    const range = req.headers.range && !state.ignoreRange ? /^bytes=(\d+)-(\d*)$/.exec(req.headers.range) : null
    if (range) {
      start = Number(range[1])
      if (start >= body.length) {
        res.writeHead(416, { ...headers, 'content-range': `bytes */${body.length}` }).end()
        return
      }
      status = 206
      const end = range[2] ? Math.min(Number(range[2]), body.length - 1) : body.length - 1
      body = body.subarray(start, end + 1)
      headers = { ...headers, 'content-range': `bytes ${start}-${start + body.length - 1}/${content.length}` }
    }
    res.writeHead(status, { ...headers, 'content-length': String(body.length), 'accept-ranges': 'bytes' })
    if (req.method === 'HEAD') {
      res.end()
      return
    }
    const hang = state.stall.get(key)
    if (hang && hang.times > 0 && hang.afterBytes < body.length) {
      hang.times--
      res.write(body.subarray(0, hang.afterBytes))
      stalled.push(res) // never ended; closed with the server
      return
    }
    const cut = state.truncate.get(key)
    if (cut && cut.times > 0 && cut.afterBytes < body.length) {
      cut.times--
      res.write(body.subarray(0, cut.afterBytes), () => setTimeout(() => res.socket?.destroy(), 20))
      return
    }
    res.end(body)
  }

  const cdn = createServer((req, res) => {
    log('cdn', req, res)
    const path = new URL(req.url ?? '/', 'http://x').pathname
    const extra = opts.cdnFiles?.[path]
    if (extra) return serveBody(req, res, path, extra, { 'content-type': 'application/octet-stream' })
    const m = /^\/lfs\/([0-9a-f]{64})$/.exec(path)
    const name = m ? lfsBySha.get(m[1]!) : undefined
    if (!name) return void res.writeHead(404).end('no such object')
    serveBody(req, res, name, opts.files[name]!, { etag: `"cdn-${m![1]!.slice(0, 8)}"`, 'content-type': 'binary/octet-stream' })
  })
  await listen(cdn)
  const cdnOrigin = `http://127.0.0.1:${(cdn.address() as AddressInfo).port}`

  const hub = createServer((req, res) => {
    log('hub', req, res)
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)
    const prefix = `/${opts.repo}/resolve/`
    if (opts.requireToken) {
      const auth = req.headers.authorization
      if (auth !== `Bearer ${opts.requireToken}`) {
        return void res.writeHead(401, { 'x-error-code': auth ? 'RepoNotFound' : 'GatedRepo', 'x-error-message': 'Access restricted' }).end()
      }
    }
    for (const [oldName, newName] of Object.entries(opts.renamed ?? {})) {
      if (newName === opts.repo && path.startsWith(`/${oldName}/resolve/`)) {
        // a renamed repository: the Hub answers with a relative redirect to the new name
        return void res.writeHead(307, { location: `/${opts.repo}/resolve/${path.slice(oldName.length + 10)}` }).end()
      }
    }
    if (!path.startsWith(prefix)) return void res.writeHead(401, { 'x-error-code': 'RepoNotFound' }).end()
    const rest = path.slice(prefix.length)
    const slash = rest.indexOf('/')
    const rev = rest.slice(0, slash)
    const file = rest.slice(slash + 1)
    if (rev !== 'main' && rev !== opts.commit) return void res.writeHead(404, { 'x-error-code': 'RevisionNotFound' }).end()
    const content = opts.files[file]
    if (!content || state.missing.has(file)) {
      return void res.writeHead(404, { 'x-error-code': 'EntryNotFound', 'x-repo-commit': opts.commit }).end()
    }
    if (opts.lfs.includes(file)) {
      const sha = sha256Hex(content)
      return void res.writeHead(302, {
        location: `${cdnOrigin}/lfs/${sha}?signature=abc`,
        'x-repo-commit': opts.commit,
        'x-linked-etag': `"${sha}"`,
        'x-linked-size': String(content.length),
        etag: `W/"redirect-${sha.slice(0, 8)}"`,
      }).end()
    }
    serveBody(req, res, file, content, { etag: `"${gitBlobSha1(content)}"`, 'x-repo-commit': opts.commit, 'content-type': 'text/plain' })
  })
  await listen(hub)
  const endpoint = `http://127.0.0.1:${(hub.address() as AddressInfo).port}`

  return {
    endpoint,
    cdnOrigin,
    requests,
    get truncate() { return state.truncate },
    get corrupt() { return state.corrupt },
    get missing() { return state.missing },
    get stall() { return state.stall },
    get unavailable() { return state.unavailable },
    get ignoreRange() { return state.ignoreRange },
    set ignoreRange(v: boolean) { state.ignoreRange = v },
    async close() {
      for (const r of stalled) r.destroy()
      await Promise.all([closeServer(hub), closeServer(cdn)])
    },
  }
}

function listen(server: Server): Promise<void> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections()
  return new Promise((resolve) => server.close(() => resolve()))
}

/** A minimal ustar writer for test archives (regular files and directories; names up to 100 bytes). */
export function makeTar(entries: Array<{ name: string; data?: Buffer; type?: '0' | '5' | '2' }>): Buffer {
  const blocks: Buffer[] = []
  for (const e of entries) {
    const data = e.data ?? Buffer.alloc(0)
    const h = Buffer.alloc(512)
    h.write(e.name, 0, 100, 'utf8')
    h.write('0000644\0', 100, 'latin1')
    h.write('0000000\0', 108, 'latin1')
    h.write('0000000\0', 116, 'latin1')
    h.write(`${(e.type === '5' ? 0 : data.length).toString(8).padStart(11, '0')}\0`, 124, 'latin1')
    h.write('00000000000\0', 136, 'latin1')
    h.write('        ', 148, 'latin1')
    h.write(e.type ?? '0', 156, 'latin1')
    h.write('ustar\0', 257, 'latin1')
    h.write('00', 263, 'latin1')
    let sum = 0
    for (const b of h) sum += b
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1')
    blocks.push(h)
    if (e.type !== '5' && data.length > 0) {
      blocks.push(data, Buffer.alloc((512 - (data.length % 512)) % 512))
    }
  }
  blocks.push(Buffer.alloc(1024))
  return Buffer.concat(blocks)
}

/** A fake unidic-lite sdist: `unidic-lite-1.0.8/unidic_lite/dicdir/{sys.dic,...}` plus package files around it. */
export function makeFakeUnidicArchive(): { archive: Buffer; dicFiles: Record<string, Buffer> } {
  const dicFiles: Record<string, Buffer> = {
    'sys.dic': Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7919) % 251)),
    'matrix.bin': Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 31) % 256)),
    'char.bin': Buffer.from('fake char.bin'),
    'unk.dic': Buffer.from('fake unk.dic'),
    dicrc: Buffer.from('; fake dicrc\ncost-factor = 700\n'),
    'mecabrc': Buffer.alloc(0),
  }
  const tar = makeTar([
    { name: 'unidic-lite-1.0.8/', type: '5' },
    { name: 'unidic-lite-1.0.8/setup.py', data: Buffer.from('print("setup")\n') },
    { name: 'unidic-lite-1.0.8/unidic_lite/', type: '5' },
    { name: 'unidic-lite-1.0.8/unidic_lite/__init__.py', data: Buffer.from('DICDIR = "..."\n') },
    { name: 'unidic-lite-1.0.8/unidic_lite/dicdir/', type: '5' },
    ...Object.entries(dicFiles).map(([n, data]) => ({ name: `unidic-lite-1.0.8/unidic_lite/dicdir/${n}`, data })),
  ])
  return { archive: gzipSync(tar), dicFiles }
}
