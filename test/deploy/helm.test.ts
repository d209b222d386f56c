/**
 * The Helm chart, rendered without the helm binary (test/helpers/helm-render.ts), must give well-formed Kubernetes
 * objects that agree with each other and with the service: ports, probe paths, env names (src/config.ts), secret
 * references, GPU requests, persistence, and the init step that pulls the model.
 */
import t, { type Test } from 'tap'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import YAML from 'yaml'
import { CONFIG_VARS } from '../../src/config.js'
import { REPO_ROOT } from '../helpers/shared.js'
import { renderChart, loadChartValues, type RenderedChart, type Values } from '../helpers/helm-render.js'
import { validateJsonSchema } from '../helpers/json-schema-lite.js'

const CHART_DIR = join(REPO_ROOT, 'helm', 'jacolbert-server')
const SCHEMA = JSON.parse(readFileSync(join(CHART_DIR, 'values.schema.json'), 'utf8')) as Record<string, unknown>
const GPU_VALUES = YAML.parse(readFileSync(join(CHART_DIR, 'values-gpu.yaml'), 'utf8')) as Values
const CONFIG_ENV = new Set(CONFIG_VARS.map((v) => v.env))

/** Environment variables the code reads outside src/config.ts (e.g. UNIDIC_LITE_URL in src/model/unidic-lite.ts). */
function envNamesReadBySrc(dir = join(REPO_ROOT, 'src')): Set<string> {
  const names = new Set<string>()
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) for (const n of envNamesReadBySrc(p)) names.add(n)
    else if (e.name.endsWith('.ts')) for (const m of readFileSync(p, 'utf8').matchAll(/\benv(?:\.|\[')([A-Z][A-Z0-9_]+)/g)) names.add(m[1])
  }
  return names
}
const CODE_ENV = new Set([...CONFIG_ENV, ...envNamesReadBySrc()])
/** Names that only reach the pod through extraEnv in a test. */
const EXTRA_ENV_NAME = 'JACOLBERT_NO_SIMD'
const DEFAULT_PORT = Number(CONFIG_VARS.find((v) => v.env === 'PORT')?.def)

type Obj = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

const DNS_1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/

function objectsOf(r: RenderedChart, kind: string): Obj[] {
  return r.objects.filter((o) => o.doc.kind === kind).map((o) => o.doc as Obj)
}
function one(r: RenderedChart, kind: string): Obj {
  const list = objectsOf(r, kind)
  if (list.length !== 1) throw new Error(`expected exactly one ${kind}, found ${list.length}`)
  return list[0]
}
function workload(r: RenderedChart): Obj {
  const list = [...objectsOf(r, 'Deployment'), ...objectsOf(r, 'StatefulSet')]
  if (list.length !== 1) throw new Error(`expected one workload, found ${list.length}`)
  return list[0]
}
function subset(small: Record<string, string>, big: Record<string, string>): boolean {
  return Object.entries(small).every(([k, v]) => big[k] === v)
}
function envMap(container: Obj): Map<string, Obj> {
  return new Map((container.env as Obj[]).map((e) => [e.name as string, e]))
}

type TestContext = Test

/** Checks every rendering must pass; returns the server container for further checks. */
function checkConsistency(t: TestContext, r: RenderedChart, values: Values): Obj {
  const v = values as Obj
  for (const { file, doc } of r.objects) {
    const d = doc as Obj
    t.match(d, { apiVersion: String, kind: String, metadata: { name: String } }, `${file}: apiVersion/kind/metadata.name`)
    t.match(d.metadata.name, DNS_1123, `${file}: ${d.kind} name is a DNS-1123 label`)
    t.ok(d.metadata.name.length <= 63, `${file}: name at most 63 characters`)
    t.equal(d.metadata.labels?.['app.kubernetes.io/instance'], 'rel', `${file}: ${d.kind} has the instance label`)
  }
  const names = r.objects.map((o) => `${o.doc.kind}/${(o.doc as Obj).metadata.name}`)
  t.equal(new Set(names).size, names.length, 'no two objects share kind and name')

  const wl = workload(r)
  const pod = wl.spec.template
  t.ok(subset(wl.spec.selector.matchLabels, pod.metadata.labels), 'workload selector matches its pod labels')
  const containers = pod.spec.containers as Obj[]
  t.equal(containers.length, 1, 'one server container')
  const server = containers[0]
  const httpPort = (server.ports as Obj[]).find((p) => p.name === 'http')
  t.equal(httpPort?.containerPort, DEFAULT_PORT, `container port "http" is ${DEFAULT_PORT}, the service's PORT default`)
  const env = envMap(server)
  t.equal(env.get('PORT')?.value, String(httpPort?.containerPort), 'PORT env equals the container port')
  t.equal(env.size, (server.env as Obj[]).length, 'env names are unique')
  for (const name of env.keys()) t.ok(CODE_ENV.has(name), `env ${name} is a variable the service reads`)

  // Probes: health on /healthz (startup, liveness), readiness on /readyz, all on the http port.
  const resolvePort = (p: unknown) => (typeof p === 'number' ? p : (server.ports as Obj[]).find((x) => x.name === p)?.containerPort)
  t.equal(server.startupProbe.httpGet.path, '/healthz', 'startup probe path')
  t.equal(server.livenessProbe.httpGet.path, '/healthz', 'liveness probe path')
  t.equal(server.readinessProbe.httpGet.path, '/readyz', 'readiness probe path')
  for (const p of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
    t.equal(resolvePort(server[p].httpGet.port), DEFAULT_PORT, `${p} port resolves to ${DEFAULT_PORT}`)
  }
  const startupBudget = server.startupProbe.periodSeconds * server.startupProbe.failureThreshold
  t.ok(startupBudget >= 600, `startup probe tolerates ${startupBudget}s (>= 10 min for conversion + snapshot restore)`)

  // Service -> pod.
  const svc = objectsOf(r, 'Service').find((s) => s.spec.clusterIP !== 'None')!
  t.ok(subset(svc.spec.selector, pod.metadata.labels), 'Service selector matches the pod labels')
  const svcPort = (svc.spec.ports as Obj[]).find((p) => p.name === 'http')!
  t.equal(resolvePort(svcPort.targetPort), DEFAULT_PORT, 'Service targetPort resolves to the container port')
  t.equal(svcPort.port, v.service.port, 'Service port from values')

  // Volumes: every mount resolves; DATA_DIR and MODEL_CACHE_DIR point at the mounted volumes.
  const claimNames = new Set(((wl.spec.volumeClaimTemplates ?? []) as Obj[]).map((c) => c.metadata.name))
  const volumeNames = new Set(((pod.spec.volumes ?? []) as Obj[]).map((x) => x.name))
  const allContainers = [...((pod.spec.initContainers ?? []) as Obj[]), ...containers]
  for (const c of allContainers) {
    for (const m of c.volumeMounts as Obj[]) {
      t.ok(volumeNames.has(m.name) !== claimNames.has(m.name), `${c.name}: mount ${m.name} resolves to exactly one volume or claim`)
    }
  }
  const mountPath = (c: Obj, name: string) => (c.volumeMounts as Obj[]).find((m) => m.name === name)?.mountPath
  t.equal(env.get('DATA_DIR')?.value, mountPath(server, 'data'), 'DATA_DIR is the data volume')
  t.equal(env.get('MODEL_CACHE_DIR')?.value, mountPath(server, 'models'), 'MODEL_CACHE_DIR is the models volume')
  t.equal(pod.spec.securityContext.runAsNonRoot, true, 'pod runs as non-root')
  t.equal(server.securityContext.readOnlyRootFilesystem, true, 'read-only root filesystem')
  t.equal(mountPath(server, 'tmp'), '/tmp', '/tmp stays writable')

  // Secret references resolve to a rendered Secret's keys (or to the user's existing Secret).
  const secrets = new Map(objectsOf(r, 'Secret').map((s) => [s.metadata.name as string, s]))
  for (const c of allContainers) {
    for (const e of c.env as Obj[]) {
      const ref = e.valueFrom?.secretKeyRef
      if (!ref) continue
      if (e.name === 'DATABASE_URL') {
        const name = v.database.existingSecret || `${wl.metadata.name}-database`
        t.equal(ref.name, name, `${c.name}: DATABASE_URL reads the database Secret`)
        t.equal(ref.optional, false, `${c.name}: DATABASE_URL is required`)
        if (!v.database.existingSecret) t.ok(secrets.get(name) && ref.key in secrets.get(name)!.data, 'database Secret holds the key')
      } else if (v.auth.existingSecret) {
        t.equal(ref.name, v.auth.existingSecret, `${c.name}: ${e.name} reads the existing Secret`)
        t.equal(ref.optional, true, `${c.name}: ${e.name} is optional in a Secret we did not write`)
      } else {
        const s = secrets.get(ref.name)
        t.ok(s, `${c.name}: ${e.name} refers to a rendered Secret`)
        t.ok(s && ref.key in s.data, `${c.name}: ${e.name} key ${ref.key} exists in the Secret`)
      }
    }
  }

  // GPU requests only with gpu.enabled; the provider list follows.
  const gpuLimit = server.resources?.limits?.[v.gpu.resourceName]
  if (v.gpu.enabled) {
    t.equal(gpuLimit, v.gpu.count, `limits.${v.gpu.resourceName} = gpu.count`)
    t.match(env.get('ORT_PROVIDERS')?.value, /^cuda,/, 'CUDA first when a GPU is requested')
  } else {
    t.equal(gpuLimit, undefined, 'no GPU limit without gpu.enabled')
    t.notOk(JSON.stringify(pod).includes('nvidia.com/gpu'), 'no GPU resource anywhere in the pod')
    t.equal(env.get('ORT_PROVIDERS')?.value, 'cpu', 'CPU provider without a GPU')
  }

  // Shared mode (a database): a rolling Deployment with emptyDirs, whatever persistence says.
  const shared = Boolean(v.database.url || v.database.existingSecret)
  t.equal(env.has('DATABASE_URL'), shared, 'DATABASE_URL only in shared mode')
  if (shared) {
    t.equal(wl.kind, 'Deployment', 'shared mode gives a Deployment')
    t.same(wl.spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } }, 'rolling update, never fewer ready pods')
    t.equal(objectsOf(r, 'StatefulSet').length, 0, 'no StatefulSet')
    t.equal(wl.spec.replicas, v.replicaCount, 'replicas from replicaCount')
    t.ok((pod.spec.volumes as Obj[]).find((x) => x.name === 'data')?.emptyDir, 'data is an emptyDir (a start-up cache)')
    t.equal(env.get('DATABASE_URL')?.value, undefined, 'the URL never appears in the pod spec')
  } else if (v.persistence.enabled) {
    t.equal(wl.kind, 'StatefulSet', 'persistence gives a StatefulSet')
    t.ok(claimNames.has('data'), 'claim template for data')
    t.equal(claimNames.has('models'), !v.persistence.models.existingClaim, 'claim template for models unless an existing claim')
    const headless = objectsOf(r, 'Service').find((s) => s.metadata.name === wl.spec.serviceName)
    t.equal(headless?.spec.clusterIP, 'None', 'serviceName is a headless Service')
    for (const c of wl.spec.volumeClaimTemplates as Obj[]) t.match(c.spec.resources.requests.storage, /^[0-9]+[KMGT]i$/, 'claim size')
  } else {
    t.equal(wl.kind, 'Deployment', 'no persistence gives a Deployment')
    t.equal(objectsOf(r, 'PersistentVolumeClaim').length, 0, 'no claims')
  }
  if (!shared) t.equal(wl.spec.strategy?.type ?? wl.spec.updateStrategy?.type, wl.kind === 'Deployment' ? 'Recreate' : 'RollingUpdate', 'single-pod mode keeps its strategy')

  // Init step pulls the model into the cache the server reads.
  const init = (pod.spec.initContainers ?? []) as Obj[]
  if (v.model.pull.enabled && !String(v.model.name).startsWith('/')) {
    t.equal(init.length, 1, 'one init container')
    const pull = init[0]
    t.same(pull.command.slice(0, 4), ['node', 'dist/cli/main.js', 'pull', '$(MODEL)'], 'init runs `jacolbert pull $(MODEL)`')
    t.same(pull.command.slice(4), v.model.mecabDicdir ? ['--no-dictionary'] : [], 'unidic-lite skipped only when MECAB_DICDIR is set')
    const pullHelp = readFileSync(join(REPO_ROOT, 'src', 'cli', 'pull-command.ts'), 'utf8')
    for (const flag of pull.command.slice(4)) t.match(pullHelp, new RegExp(`'${flag.slice(2)}': \\{ type: 'boolean'`), `pull accepts ${flag}`)
    const initEnv = envMap(pull)
    t.equal(initEnv.get('MODEL')?.value, v.model.name, 'init container defines MODEL, so $(MODEL) expands')
    for (const name of initEnv.keys()) t.ok(CODE_ENV.has(name), `init env ${name} is a variable the service reads`)
    for (const e of (v.extraEnv ?? []) as Obj[]) t.same(initEnv.get(e.name), e, `extraEnv ${e.name} reaches the init container`)
    t.equal(initEnv.get('MODEL_CACHE_DIR')?.value, env.get('MODEL_CACHE_DIR')?.value, 'same MODEL_CACHE_DIR as the server')
    t.equal(mountPath(pull, 'models'), mountPath(server, 'models'), 'same models mount as the server')
    t.equal(pull.image, server.image, 'init uses the server image')
  } else {
    t.equal(init.length, 0, 'no init container when model.pull.enabled is false or MODEL is a folder')
  }

  for (const ing of objectsOf(r, 'Ingress')) {
    for (const rule of ing.spec.rules as Obj[]) {
      for (const p of rule.http.paths as Obj[]) {
        t.equal(p.backend.service.name, svc.metadata.name, 'Ingress backend is the Service')
        t.ok((svc.spec.ports as Obj[]).some((x) => x.name === p.backend.service.port.name), 'Ingress port name exists on the Service')
      }
    }
  }
  for (const sm of objectsOf(r, 'ServiceMonitor')) {
    t.equal(sm.apiVersion, 'monitoring.coreos.com/v1', 'ServiceMonitor apiVersion')
    t.ok(subset(sm.spec.selector.matchLabels, svc.metadata.labels), 'ServiceMonitor selects the Service')
    t.ok((svc.spec.ports as Obj[]).some((x) => x.name === sm.spec.endpoints[0].port), 'ServiceMonitor port exists on the Service')
    t.equal(sm.spec.endpoints[0].path, '/metrics', 'scrapes /metrics')
  }
  for (const pdb of objectsOf(r, 'PodDisruptionBudget')) {
    t.equal(pdb.apiVersion, 'policy/v1', 'PDB apiVersion')
    t.ok(subset(pdb.spec.selector.matchLabels, pod.metadata.labels), 'PDB selects the pods')
  }
  return server
}

t.test('values.yaml and values-gpu.yaml validate against values.schema.json', async (t) => {
  t.same(validateJsonSchema(SCHEMA, loadChartValues(CHART_DIR)), [], 'defaults are valid')
  t.same(validateJsonSchema(SCHEMA, loadChartValues(CHART_DIR, [GPU_VALUES])), [], 'GPU example is valid')
  const bad = (override: Values) => validateJsonSchema(SCHEMA, loadChartValues(CHART_DIR, [override]))
  t.match(bad({ gpu: { count: 'two' } }), [/\$\.gpu\.count: expected integer/], 'wrong type is caught')
  t.match(bad({ gpu: { enable: true } }), [/unknown key "enable"/], 'a misspelt key is caught')
  t.same(bad({ global: { imageRegistry: 'r.example' } }), [], 'global values from a parent chart are allowed')
  t.match(bad({ service: { port: 70000 } }), [/maximum 65535/], 'out-of-range port is caught')
  t.match(bad({ config: { indexNbits: 3 } }), [/not one of/], 'INDEX_NBITS outside 1|2|4 is caught')
  t.match(bad({ config: { logLevel: 'verbose' } }), [/not one of/], 'unknown LOG_LEVEL is caught')
  t.match(bad({ persistence: { data: { size: 'big' } } }), [/does not match/], 'bad quantity is caught')
})

t.test('default values: CPU Deployment, no optional objects', async (t) => {
  const r = renderChart(CHART_DIR)
  t.same(r.objects.map((o) => o.doc.kind).sort(), ['Deployment', 'Service', 'ServiceAccount'], 'exactly the default objects')
  const server = checkConsistency(t, r, r.values)
  t.equal(envMap(server).has('API_KEY'), false, 'no API_KEY without auth.apiKey')
  t.match(r.notes, /WARNING: auth\.apiKey is empty/, 'NOTES warns about the open API')
  t.match(r.notes, /WARNING: persistence\.enabled is false/, 'NOTES warns about emptyDir snapshots')
  t.equal(workload(r).spec.strategy.type, 'Recreate', 'one pod at a time')
})

t.test('GPU + persistence example', async (t) => {
  const r = renderChart(CHART_DIR, { overrides: [GPU_VALUES] })
  t.same(
    r.objects.map((o) => o.doc.kind).sort(),
    ['ConfigMap', 'Ingress', 'PodDisruptionBudget', 'Secret', 'Service', 'Service', 'ServiceAccount', 'ServiceMonitor', 'StatefulSet'],
    'all optional objects rendered',
  )
  const server = checkConsistency(t, r, r.values)
  const secret = one(r, 'Secret')
  t.equal(Buffer.from(secret.data.API_KEY, 'base64').toString(), 'change-me', 'API_KEY is stored base64-encoded')
  t.same(envMap(server).get('API_KEY')?.valueFrom.secretKeyRef, { name: secret.metadata.name, key: 'API_KEY', optional: false })
  const pod = workload(r).spec.template
  t.same(pod.spec.tolerations, GPU_VALUES.tolerations, 'tolerations passed through')
  t.same(pod.spec.nodeSelector, GPU_VALUES.nodeSelector, 'nodeSelector passed through')
  t.equal(envMap(server).get('ENCODER_MAX_BATCH_TOKENS')?.value, '16384', 'numeric config rendered as a string env value')
  t.match(pod.metadata.annotations['checksum/secret'], /^[0-9a-f]{64}$/, 'pod restarts when the Secret changes')
  const cm = one(r, 'ConfigMap')
  t.equal(cm.metadata.labels.grafana_dashboard, '1', 'Grafana sidecar label')
  const shipped = JSON.parse(readFileSync(join(CHART_DIR, 'dashboards', 'jacolbert-server.json'), 'utf8'))
  t.same(JSON.parse(cm.data['jacolbert-server.json']), shipped, 'ConfigMap carries the dashboard JSON unchanged')
  t.notMatch(r.notes, /auth\.apiKey is empty/, 'no open-API warning with a key')
  t.match(r.notes, /blocks voluntary evictions/, 'NOTES explains the PDB with one replica')
})

t.test('existing Secret, local model folder, several replicas', async (t) => {
  const values: Values = {
    auth: { existingSecret: 'my-keys' },
    model: { name: '/models/local-checkpoint' },
    replicaCount: 3,
    persistence: { enabled: true, models: { existingClaim: 'shared-models' } },
  }
  const r = renderChart(CHART_DIR, { overrides: [values] })
  t.same(validateJsonSchema(SCHEMA, r.values), [], 'values valid')
  t.equal(objectsOf(r, 'Secret').length, 0, 'no Secret of our own')
  const server = checkConsistency(t, r, r.values)
  const env = envMap(server)
  t.equal(env.get('API_KEY')?.valueFrom.secretKeyRef.name, 'my-keys', 'API_KEY from the existing Secret')
  t.equal(env.get('HF_TOKEN')?.valueFrom.secretKeyRef.name, 'my-keys', 'HF_TOKEN from the existing Secret')
  const vol = (workload(r).spec.template.spec.volumes as Obj[]).find((x) => x.name === 'models')
  t.equal(vol?.persistentVolumeClaim?.claimName, 'shared-models', 'models volume is the existing claim')
  t.match(r.notes, /replicaCount is 3/, 'NOTES warns that pods do not share indexes')
})

t.test('model.pull.enabled=false drops the init container for a hub id too', async (t) => {
  const r = renderChart(CHART_DIR, { overrides: [{ model: { pull: { enabled: false } } }] })
  checkConsistency(t, r, r.values)
  t.equal(workload(r).spec.template.spec.initContainers, undefined, 'no initContainers key')
})

t.test('every service setting can be set from values, and only those', async (t) => {
  const values: Values = {
    model: { mecabDicdir: '/dic', hfEndpoint: 'https://hub.internal', unidicLite: { url: 'https://mirror.internal/unidic-lite-1.0.8.tar.gz', sha256: 'a'.repeat(64) } },
    extraEnv: [{ name: EXTRA_ENV_NAME, value: '1' }],
    auth: { apiKey: 'k', hfToken: 'h' },
    database: { url: 'postgres://j:pw@pg:5432/j', pollMs: 500, replicaWaitMs: 2000, tombstoneRetentionS: 86400, tombstonePurgeIntervalS: 600 },
    config: {
      ortProviders: 'cpu', ortThreads: 4, encoderWorkers: 2, encoderMaxBatchTokens: 8192, encoderBatchWaitMs: 0,
      encoderMaxQueue: 1000, maxBodyBytes: 1048576, maxBatchTexts: 64, maxIndexDocuments: 5000, maxTextChars: 4000,
      snapshotIntervalS: 0, indexNbits: 4, logLevel: 'debug', queryLength: 'dynamic',
      durability: 'snapshot', walSegmentBytes: 1048576, encoderPrecision: 'int8', searchWorkers: 2, searchSharing: 'off', ortSpinning: 'off',
    },
  }
  const r = renderChart(CHART_DIR, { overrides: [values] })
  t.same(validateJsonSchema(SCHEMA, r.values), [], 'values valid')
  const server = checkConsistency(t, r, r.values)
  const env = envMap(server)
  const expected = [...CONFIG_ENV, 'UNIDIC_LITE_URL', 'UNIDIC_LITE_SHA256', EXTRA_ENV_NAME]
  t.ok(expected.every((n) => CODE_ENV.has(n)), 'all of them are read by the code')
  t.same([...env.keys()].sort(), expected.sort(), 'the chart can set every variable of src/config.ts, the unidic-lite source, and extraEnv')
  t.same(env.get(EXTRA_ENV_NAME), { name: EXTRA_ENV_NAME, value: '1' }, 'extraEnv passed through as given')
  t.equal(env.get('ENCODER_BATCH_WAIT_MS')?.value, '0', 'a zero is rendered, not dropped')
  // Helm reads values-file numbers as float64, which Go prints as 1.048576e+06 from a million up.
  t.equal(env.get('MAX_BODY_BYTES')?.value, '1048576', 'large numbers are rendered as integers, not 1.048576e+06')
  t.equal(env.get('ENCODER_MAX_QUEUE')?.value, '1000', 'MAX queue')
  t.equal(env.get('SNAPSHOT_INTERVAL_S')?.value, '0', 'SNAPSHOT_INTERVAL_S=0 is rendered')
  const secrets = objectsOf(r, 'Secret')
  const secret = secrets.find((x) => !x.metadata.name.endsWith('-database'))!
  t.same(Object.keys(secret.data).sort(), ['API_KEY', 'HF_TOKEN'], 'Secret holds both keys')
  t.equal(env.get('DATABASE_POLL_MS')?.value, '500')
  t.equal(env.get('REPLICA_WAIT_MS')?.value, '2000')
})

t.test('the chart agrees with the CLI and package.json', async (t) => {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> }
  t.equal(pkg.bin.jacolbert, 'dist/cli/main.js', 'init container path is the jacolbert bin')
  const cli = readFileSync(join(REPO_ROOT, 'src', 'cli', 'main.ts'), 'utf8')
  t.match(cli, /\bpull: \{ module: '\.\/pull-command\.js'/, 'the CLI dispatches `pull`')
  const chart = YAML.parse(readFileSync(join(CHART_DIR, 'Chart.yaml'), 'utf8')) as Record<string, string>
  t.equal(chart.apiVersion, 'v2', 'Helm 3 chart')
  t.match(chart.version, /^\d+\.\d+\.\d+/, 'SemVer chart version')
})

const SHARED_VALUES = YAML.parse(readFileSync(join(CHART_DIR, 'values-shared.yaml'), 'utf8')) as Values

t.test('shared mode (values-shared.yaml): several interchangeable pods, DATABASE_URL from the existing Secret', async (t) => {
  t.same(validateJsonSchema(SCHEMA, loadChartValues(CHART_DIR, [SHARED_VALUES])), [], 'example is valid')
  const r = renderChart(CHART_DIR, { overrides: [SHARED_VALUES, { persistence: { enabled: true } }] })
  t.same(r.objects.map((o) => o.doc.kind).sort(), ['Deployment', 'PodDisruptionBudget', 'Service', 'ServiceAccount'], 'no StatefulSet, no claims, no Secret of ours')
  const server = checkConsistency(t, r, r.values)
  t.equal(workload(r).spec.replicas, 3)
  t.same(envMap(server).get('DATABASE_URL')?.valueFrom.secretKeyRef, { name: 'jacolbert-db', key: 'DATABASE_URL', optional: false })
  t.match(r.notes, /Shared mode: PostgreSQL/, 'NOTES explain shared mode')
  t.match(r.notes, /pg_dump/, 'NOTES name the backup tool')
  t.notMatch(r.notes, /Each pod keeps its own indexes/, 'no single-pod warning')
  t.notMatch(r.notes, /snapshots live in an emptyDir/, 'no emptyDir warning: the database holds the data')
})

t.test('shared mode with the URL in values: the chart writes a database Secret, and pods roll when it changes', async (t) => {
  const r = renderChart(CHART_DIR, { overrides: [{ database: { url: 'postgres://u:pw@db:5432/j' } }] })
  checkConsistency(t, r, r.values)
  const secret = one(r, 'Secret')
  t.match(secret.metadata.name, /-database$/)
  t.equal(Buffer.from(secret.data.DATABASE_URL, 'base64').toString(), 'postgres://u:pw@db:5432/j')
  t.match(workload(r).spec.template.metadata.annotations['checksum/database-secret'], /^[0-9a-f]{64}$/)
  t.match(r.notes, /replicaCount is 1: set 2 or more/, 'NOTES ask for more replicas')
  const bad = validateJsonSchema(SCHEMA, loadChartValues(CHART_DIR, [{ database: { url: 'mysql://x' } }]))
  t.match(bad, [/database\.url.*does not match/], 'a non-PostgreSQL URL is caught')
})
