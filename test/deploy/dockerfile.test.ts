/**
 * docker/Dockerfile and .dockerignore, parsed (no Docker engine here): stages and their order, the CUDA major the
 * onnxruntime-node CUDA provider needs, the non-root runtime user, port, health check, tini entrypoint, volumes, and
 * environment names the service really reads.
 */
import t from 'tap'
import { readFileSync, existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { CONFIG_VARS } from '../../src/config.js'
import { REPO_ROOT } from '../helpers/shared.js'

interface Instruction { keyword: string; args: string; line: number }
interface Stage { base: string; name: string | undefined; instructions: Instruction[] }

/** Dockerfile -> global ARGs and stages; continuation lines joined, comments and parser directives dropped. */
function parseDockerfile(text: string): { args: Map<string, string>; stages: Stage[] } {
  const logical: Instruction[] = []
  let buf = ''
  let start = 0
  text.split('\n').forEach((raw, i) => {
    const line = raw.trimEnd()
    if (/^\s*#/.test(line)) return // comments, also inside continuations (Docker strips them)
    if (!buf && !line.trim()) return
    if (!buf) start = i + 1
    if (line.endsWith('\\')) {
      buf += line.slice(0, -1) + ' '
      return
    }
    buf += line
    const m = /^\s*([A-Za-z]+)\s+([\s\S]*)$/.exec(buf)
    if (!m) throw new Error(`Dockerfile line ${start}: cannot parse "${buf}"`)
    logical.push({ keyword: m[1].toUpperCase(), args: m[2].trim(), line: start })
    buf = ''
  })
  if (buf) throw new Error('Dockerfile ends inside a continuation line')
  const args = new Map<string, string>()
  const stages: Stage[] = []
  for (const ins of logical) {
    if (ins.keyword === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args)
      if (!m) throw new Error(`line ${ins.line}: bad FROM`)
      const base = m[1].replace(/\$\{(\w+)\}|\$(\w+)/g, (_s, a: string, b: string) => args.get(a ?? b) ?? '')
      stages.push({ base, name: m[2], instructions: [] })
    } else if (stages.length === 0) {
      if (ins.keyword !== 'ARG') throw new Error(`line ${ins.line}: only ARG may precede the first FROM`)
      const [k, v] = ins.args.split('=')
      args.set(k, v ?? '')
    } else {
      stages[stages.length - 1].instructions.push(ins)
    }
  }
  return { args, stages }
}

function envOf(stage: Stage): Map<string, string> {
  const env = new Map<string, string>()
  for (const ins of stage.instructions.filter((i) => i.keyword === 'ENV')) {
    for (const m of ins.args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) env.set(m[1], m[2].replace(/^"|"$/g, ''))
  }
  return env
}
const all = (s: Stage, kw: string) => s.instructions.filter((i) => i.keyword === kw)
const last = (s: Stage, kw: string) => all(s, kw).at(-1)

/** .dockerignore matching for the pattern forms we use: names, paths, trailing `/*`, `*` globs; no negation. */
function dockerIgnored(patterns: string[], path: string): boolean {
  return patterns.some((p) => {
    const re = new RegExp('^' + p.split('*').map((x) => x.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*') + '(/.*)?$')
    return re.test(path)
  })
}

const dockerfile = readFileSync(join(REPO_ROOT, 'docker', 'Dockerfile'), 'utf8')
const { args, stages } = parseDockerfile(dockerfile)
const byName = new Map(stages.map((s) => [s.name, s]))
const CONFIG_ENV = new Set(CONFIG_VARS.map((v) => v.env))
const PORT = CONFIG_VARS.find((v) => v.env === 'PORT')!.def
const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { main: string; scripts: Record<string, string> }

t.test('stages', async (t) => {
  t.same(stages.map((s) => s.name), ['build', 'ort-cuda', 'cpu', 'node', 'gpu'], 'stage names in order; gpu is the default (last)')
  const seen = new Set<string>()
  for (const s of stages) {
    for (const c of all(s, 'COPY')) {
      const from = /--from=(\S+)/.exec(c.args)?.[1]
      if (from) t.ok(seen.has(from), `${s.name}: COPY --from=${from} names an earlier stage`)
    }
    if (s.name) seen.add(s.name)
  }
  t.equal(byName.get('ort-cuda')?.base, 'build', 'ort-cuda extends the build stage')
})

t.test('build stage compiles and prunes', async (t) => {
  const build = byName.get('build')!
  const runs = all(build, 'RUN').map((r) => r.args).join(' && ')
  t.match(runs, /npm ci\b/, 'npm ci from the lock file')
  t.match(runs, /npm run build\b/, 'TypeScript build')
  t.ok(pkg.scripts.build, 'package.json has a build script')
  t.match(runs, /npm prune --omit=dev\b/, 'dev dependencies pruned')
  t.ok(runs.indexOf('npm ci') < runs.indexOf('npm run build') && runs.indexOf('npm run build') < runs.indexOf('npm prune'), 'in that order')
  t.match(build.base, /^node:20[.-]/, 'Node 20 build image')
  const ignore = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
  for (const c of all(build, 'COPY')) {
    const parts = c.args.split(/\s+/).filter((p) => !p.startsWith('--'))
    for (const src of parts.slice(0, -1)) {
      t.ok(existsSync(join(REPO_ROOT, src)), `COPY source ${src} exists in the repository`)
      t.notOk(dockerIgnored(ignore, src), `COPY source ${src} is not excluded by .dockerignore`)
    }
  }
  for (const p of ['node_modules', 'dist', '.git', 'models/foo.onnx', 'data', 'bench/results/x.json', '.env']) {
    t.ok(dockerIgnored(ignore, p), `.dockerignore excludes ${p}`)
  }
  t.match(readFileSync(join(REPO_ROOT, '.npmrc'), 'utf8'), /^onnxruntime-node-install=skip$/m, 'npm ci skips the CUDA download')
})

t.test('CUDA provider: version matches onnxruntime-node', async (t) => {
  const require = createRequire(import.meta.url)
  const meta = require('onnxruntime-node/script/install-metadata.js') as {
    requirements: Record<string, string[]>; manifests: Record<string, Record<string, unknown>>
  }
  const ortCuda = byName.get('ort-cuda')!
  const run = all(ortCuda, 'RUN').map((r) => r.args).join(' ')
  const flag = /ONNXRUNTIME_NODE_INSTALL=(\S+)/.exec(run)?.[1]
  t.ok(flag && meta.requirements['linux/x64'].includes(flag), `install flag ${flag} is a linux/x64 manifest of onnxruntime-node`)
  t.ok(meta.manifests[`linux/x64:${flag}`]?.['./libonnxruntime_providers_cuda.so'], 'that manifest installs the CUDA provider')
  t.match(run, /test -f \S*libonnxruntime_providers_cuda\.so/, 'the build fails if the provider did not land')
  const cudaMajor = /^cuda(\d+)$/.exec(flag ?? '')?.[1]
  const gpu = byName.get('gpu')!
  t.match(gpu.base, new RegExp(`^nvidia/cuda:${cudaMajor}\\.\\d+(\\.\\d+)?-cudnn-runtime-ubuntu\\d+\\.\\d+$`), `gpu base is a CUDA ${cudaMajor} + cuDNN runtime image`)
  t.equal(args.get('CUDA_IMAGE'), gpu.base, 'CUDA_IMAGE build arg sets it')
  t.ok(all(gpu, 'COPY').some((c) => /--from=ort-cuda\b.*node_modules/.test(c.args)), 'gpu copies node_modules with the provider')
  t.ok(all(gpu, 'COPY').some((c) => /--from=node\s+\/usr\/local\/bin\/node\s/.test(c.args)), 'gpu gets the Node binary')
  t.notOk(all(byName.get('cpu')!, 'COPY').some((c) => /--from=ort-cuda/.test(c.args)), 'cpu image does not pull the CUDA provider')
})

for (const name of ['cpu', 'gpu']) {
  t.test(`runtime stage ${name}`, async (t) => {
    const s = byName.get(name)!
    const user = last(s, 'USER')?.args
    t.ok(user && !/^(root|0)(:|$)/.test(user), `runs as a non-root user (${user})`)
    const userIdx = s.instructions.lastIndexOf(last(s, 'USER')!)
    t.notOk(s.instructions.slice(userIdx).some((i) => i.keyword === 'RUN'), 'nothing runs as root after USER')
    t.match(all(s, 'RUN').map((r) => r.args).join(' '), new RegExp(`useradd[^&]*--uid ${user}\\b`), 'the user is created')
    t.same(all(s, 'EXPOSE').map((e) => e.args), [PORT], `EXPOSE ${PORT} (the service's PORT default)`)
    const env = envOf(s)
    t.equal(env.get('PORT'), PORT, 'PORT env')
    for (const k of env.keys()) {
      t.ok(CONFIG_ENV.has(k) || k === 'NODE_ENV' || k.startsWith('NVIDIA_'), `ENV ${k} is read by the service (or by Node/NVIDIA)`)
    }
    const volumes = JSON.parse(last(s, 'VOLUME')!.args) as string[]
    t.same(volumes.sort(), [env.get('DATA_DIR'), env.get('MODEL_CACHE_DIR')].sort(), 'volumes are DATA_DIR and MODEL_CACHE_DIR')
    t.equal(env.get('MODEL'), CONFIG_VARS.find((v) => v.env === 'MODEL')!.def, 'MODEL default as in src/config.ts')
    const hc = last(s, 'HEALTHCHECK')!.args
    t.match(hc, /\/healthz/, 'HEALTHCHECK probes /healthz')
    t.match(hc, /process\.env\.PORT/, 'HEALTHCHECK follows PORT')
    const entry = JSON.parse(last(s, 'ENTRYPOINT')!.args) as string[]
    t.match(entry[0], /(^|\/)tini$/, 'tini is PID 1 (SIGTERM reaches node)')
    t.equal(entry.at(-1), '--', 'tini hands over to CMD')
    t.match(all(s, 'RUN').map((r) => r.args).join(' '), /apt-get install[^&]*\btini\b/, 'tini is installed')
    const cmd = JSON.parse(last(s, 'CMD')!.args) as string[]
    t.same(cmd, ['node', pkg.main], `CMD runs package.json main (${pkg.main})`)
    t.ok(all(s, 'COPY').some((c) => /--chown=/.test(c.args) && /\/app\/dist\b/.test(c.args)), 'compiled app copied')
    t.equal(env.get('ORT_PROVIDERS'), name === 'gpu' ? 'cuda,cpu' : 'cpu', 'providers fit the image')
  })
}
