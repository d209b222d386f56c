/**
 * What the chart, the image's HEALTHCHECK and the ServiceMonitor assume about the running app, checked against the
 * real Fastify app (inject(), no listening): probe and metrics routes answer without the bearer token that protects
 * the rest, /readyz keeps traffic away until the model is attached, and the live /metrics exposition declares every
 * metric the Grafana dashboard queries.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadConfig } from '../../src/config.js'
import { compileFilter } from '../../src/index/metadata-filter.js'
import { buildApp } from '../../src/server/app.js'
import { REPO_ROOT } from '../helpers/shared.js'

const app = buildApp({ config: loadConfig({ API_KEY: 'probe-test-key' }), compileFilter })
t.teardown(() => app.close())

t.test('probe paths used by the chart and the Dockerfile answer without a token', async (t) => {
  const protectedRoute = await app.inject({ method: 'GET', url: '/indexes' })
  t.equal(protectedRoute.statusCode, 401, 'other routes need the bearer token (so the next checks mean something)')
  const health = await app.inject({ method: 'GET', url: '/healthz' })
  t.equal(health.statusCode, 200, '/healthz: 200 while the model is still loading (liveness and startup probes)')
  const ready = await app.inject({ method: 'GET', url: '/readyz' })
  t.equal(ready.statusCode, 503, '/readyz: 503 until the model and indexes are attached (readiness probe)')
  t.equal(JSON.parse(ready.body).code, 'NOT_READY', 'with the NOT_READY code')
  const metrics = await app.inject({ method: 'GET', url: '/metrics' })
  t.equal(metrics.statusCode, 200, '/metrics: scraped by the ServiceMonitor without credentials')
  t.match(metrics.headers['content-type'], /^text\/plain/, 'Prometheus text format')
})

t.test('live /metrics declares every metric the dashboard queries', async (t) => {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body
  const declared = new Map<string, string>()
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) declared.set(m[1], m[2])
  t.ok(declared.size > 20, `${declared.size} metric families exported`)
  const dash = readFileSync(join(REPO_ROOT, 'helm', 'jacolbert-server', 'dashboards', 'jacolbert-server.json'), 'utf8')
  const used = new Set([...dash.matchAll(/\b(jacolbert_[a-z0-9_]+)/g)].map((m) => m[1]))
  t.ok(used.size > 15, `${used.size} metric names in the dashboard`)
  for (const name of used) {
    const base = name.replace(/_(bucket|sum|count)$/, '')
    const type = declared.get(name) ?? declared.get(base)
    t.ok(type, `${name} is declared by GET /metrics`)
    if (name !== base && !declared.has(name)) t.equal(type, 'histogram', `${name}: suffix of a histogram`)
  }
})
