/**
 * A real, throw-away PostgreSQL server for tests: `initdb` into a temporary folder, `postgres` on a free loopback port,
 * stoppable and restartable mid-test (same port and data), always removed at the end.
 *
 * PostgreSQL refuses to run as root and CI runs as root: as root the server runs as the `postgres` system user
 * (created by Debian's `postgresql` package; override with PG_TEST_USER), spawned with that uid/gid directly (no su, so
 * the server is our own child process and we can signal it by pid). Binaries: PG_BIN, else the highest version under
 * /usr/lib/postgresql/<v>/bin, else `initdb` on PATH. Tests skip with a message when none is found
 * (`apt-get install -y postgresql`; .ci/run does it).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chownSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { freePort } from './free-port.js'

export interface PgServer {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  readonly url: string
  readonly port: number
  /** The temporary folder holding the data directory and the log. */
  readonly dir: string
  /** Connection string for another database on this server (created by createDatabase). */
  urlFor(database: string): string
  createDatabase(name: string): Promise<string>
  /** 'fast' = SIGINT (clean shutdown, clients disconnected), 'immediate' = SIGQUIT (crash-like; recovery at next start). */
  stop(mode?: 'fast' | 'immediate'): Promise<void>
  /** Start again on the same port and data folder; resolves once it accepts connections. */
  start(): Promise<void>
  running(): boolean
  /** Stops the server and removes its folder. Idempotent. */
  close(): Promise<void>
  /** The server's log, for failure messages. */
  log(): string
}

function findBinDir(): string | undefined {
  const fromEnv = process.env.PG_BIN
  if (fromEnv) return existsSync(join(fromEnv, 'postgres')) ? fromEnv : undefined
  const root = '/usr/lib/postgresql'
  if (existsSync(root)) {
    const versions = readdirSync(root).filter((v) => /^\d+$/.test(v) && existsSync(join(root, v, 'bin', 'postgres'))).sort((a, b) => Number(b) - Number(a))
    if (versions.length > 0) return join(root, versions[0], 'bin')
  }
  const which = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' })
  const initdb = which.stdout.trim()
  return initdb ? initdb.replace(/\/initdb$/, '') : undefined
}

interface RunAs {
  uid: number
  gid: number
}

function runAsUser(): RunAs | undefined | string {
  if (process.getuid?.() !== 0) return undefined
  const name = process.env.PG_TEST_USER ?? 'postgres'
  const r = spawnSync('id', ['-u', name], { encoding: 'utf8' })
  const g = spawnSync('id', ['-g', name], { encoding: 'utf8' })
  if (r.status !== 0 || g.status !== 0) return `running as root and there is no "${name}" user to run PostgreSQL as (apt-get install -y postgresql creates it)`
  return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) }
}

const BIN_DIR = findBinDir()
const RUN_AS = runAsUser()

export const postgresSkipReason: string | false =
  BIN_DIR === undefined
    ? 'PostgreSQL server binaries not found (apt-get install -y postgresql, or set PG_BIN); skipping the PostgreSQL tests'
    : typeof RUN_AS === 'string'
      ? RUN_AS
      : false

/** `{ skip: reason }` when no PostgreSQL server can be run here, for `t.test(name, postgresOnly(), fn)`. */
export function postgresOnly(): { skip: string | false } {
  return { skip: postgresSkipReason }
}


const live = new Set<ChildProcess>()
process.once('exit', () => {
  // a test that failed or timed out must not leave servers behind
  for (const child of live) {
    try {
      child.kill('SIGQUIT')
    } catch { /* already gone */ }
  }
})

/** initdb + start. `settings` become `-c name=value` flags. */
export async function startPostgres(opts: { settings?: Record<string, string> } = {}): Promise<PgServer> {
  if (postgresSkipReason) throw new Error(postgresSkipReason)
  const bin = BIN_DIR as string
  const as = RUN_AS as RunAs | undefined
  const root = mkdtempSync(join(tmpdir(), 'jacolbert-pg-'))
  const dataDir = join(root, 'data')
  const logPath = join(root, 'server.log')
  if (as) chownSync(root, as.uid, as.gid)
  // cwd: its own folder, since the repository (e.g. under /root in CI) may not be readable by the postgres user
  const spawnOpts = { ...(as ? { uid: as.uid, gid: as.gid } : {}), cwd: root, env: { ...process.env, LC_ALL: 'C', LANG: 'C' } }
  const init = spawnSync(join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions'], {
    ...spawnOpts,
    encoding: 'utf8',
  })
  if (init.status !== 0) {
    rmSync(root, { recursive: true, force: true })
    throw new Error(`initdb failed (${init.status}): ${init.stderr || init.stdout}`)
  }
  const port = await freePort()
  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: root,
    // tests do not survive an OS crash anyway; fsync would only make them slow on a shared disk
    fsync: 'off',
    full_page_writes: 'off',
    max_connections: '100',
    shared_buffers: '32MB',
    ...opts.settings,
  }
  const args = ['-D', dataDir, '-p', String(port)]
  for (const [k, v] of Object.entries(settings)) args.push('-c', `${k}=${v}`)

  let child: ChildProcess | undefined
  let exited: Promise<void> = Promise.resolve()
  let closed = false

  const start = async (): Promise<void> => {
    if (child) return
    const fd = openSync(logPath, 'a')
    if (as) chownSync(logPath, as.uid, as.gid)
    const c = spawn(join(bin, 'postgres'), args, { ...spawnOpts, stdio: ['ignore', fd, fd] })
    closeSync(fd)
    child = c
    live.add(c)
    exited = new Promise((resolve) => c.once('exit', () => {
      live.delete(c)
      if (child === c) child = undefined
      resolve()
    }))
    const deadline = Date.now() + 60_000
    for (;;) {
      if (child !== c) throw new Error(`postgres exited during start-up:\n${tail()}`)
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 })
      client.on('error', () => {})
      try {
        await client.connect()
        await client.query('SELECT 1')
        await client.end()
        return
      } catch {
        await client.end().catch(() => {})
        if (Date.now() > deadline) throw new Error(`postgres did not accept connections within 60 s:\n${tail()}`)
        await new Promise((r) => setTimeout(r, 100))
      }
    }
  }

  const stop = async (mode: 'fast' | 'immediate' = 'fast'): Promise<void> => {
    const c = child
    if (!c) return
    c.kill(mode === 'fast' ? 'SIGINT' : 'SIGQUIT')
    const timer = setTimeout(() => c.kill('SIGKILL'), 30_000)
    await exited
    clearTimeout(timer)
  }

  const tail = (): string => {
    try {
      return readFileSync(logPath, 'utf8').split('\n').slice(-30).join('\n')
    } catch {
      return '(no log)'
    }
  }

  const url = `postgres://postgres@127.0.0.1:${port}/postgres`
  const server: PgServer = {
    url,
    port,
    dir: root,
    urlFor: (db) => `postgres://postgres@127.0.0.1:${port}/${db}`,
    async createDatabase(name) {
      const client = new pg.Client({ connectionString: url })
      await client.connect()
      try {
        await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`)
      } finally {
        await client.end()
      }
      return server.urlFor(name)
    },
    stop,
    start,
    running: () => child !== undefined,
    async close() {
      if (closed) return
      closed = true
      await stop('immediate')
      rmSync(root, { recursive: true, force: true })
    },
    log: tail,
  }
  try {
    await start()
  } catch (err) {
    await server.close()
    throw err
  }
  return server
}
