/**
 * The Grafana dashboard shipped with the chart may only query metrics the service really exports: names and label
 * names come from the app's own registry (src/server/plugins/metrics.ts createMetrics(), default process metrics
 * included), not from a hand-kept list. Histograms export <name>_bucket/_sum/_count.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Registry } from 'prom-client'
import { createMetrics } from '../../src/server/plugins/metrics.js'
import { REPO_ROOT } from '../helpers/shared.js'

interface Family { type: string; labels: Set<string> }

/** Every series name the registry can emit -> its family's type and label names. */
function exportedSeries(): Map<string, Family> {
  const metrics = createMetrics(new Registry())
  const out = new Map<string, Family>()
  for (const m of metrics.registry.getMetricsAsArray()) {
    const name = (m as unknown as { name: string }).name
    const labelNames = ((m as unknown as { labelNames?: string[] }).labelNames ?? []) as string[]
    const type = String((m as unknown as { type?: string }).type ?? 'gauge')
    const fam: Family = { type, labels: new Set(labelNames) }
    if (type === 'histogram') {
      out.set(`${name}_bucket`, { type, labels: new Set([...labelNames, 'le']) })
      out.set(`${name}_sum`, fam)
      out.set(`${name}_count`, fam)
    } else if (type === 'summary') {
      out.set(name, { type, labels: new Set([...labelNames, 'quantile']) })
      out.set(`${name}_sum`, fam)
      out.set(`${name}_count`, fam)
    } else out.set(name, fam)
  }
  return out
}

// PromQL words that are not metric names.
const PROMQL_WORDS = new Set([
  'sum', 'avg', 'min', 'max', 'count', 'topk', 'bottomk', 'quantile', 'stddev', 'by', 'without', 'on', 'ignoring',
  'group_left', 'group_right', 'and', 'or', 'unless', 'rate', 'irate', 'increase', 'delta', 'histogram_quantile',
  'clamp_min', 'clamp_max', 'abs', 'time', 'label_values', 'avg_over_time', 'max_over_time', 'offset', 'bool', 'e',
])
const SCRAPE_LABELS = new Set(['job', 'instance'])

interface Usage { metric: string; matcherLabels: string[] }

/** Metric names with their own label matchers, and the labels of by()/without() clauses, of one expression. */
function analyse(expr: string): { metrics: Usage[]; groupLabels: string[]; stray: string[] } {
  const noStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""')
  const metrics: Usage[] = []
  const re = /([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?/g
  const groupLabels: string[] = []
  for (const g of noStrings.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)) groupLabels.push(...g[1].split(',').map((s) => s.trim()).filter(Boolean))
  // Remove by(...) clauses, range selectors and $__ variables before looking for names.
  const stripped = noStrings.replace(/\b(?:by|without)\s*\([^)]*\)/g, ' ').replace(/\[[^\]]*\]/g, ' ').replace(/\$\w+/g, ' ')
  const stray: string[] = []
  for (const m of stripped.matchAll(re)) {
    const word = m[1]
    if (/^\d/.test(word)) continue
    const labels = m[2] ? [...m[2].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)/g)].map((x) => x[1]) : []
    if (PROMQL_WORDS.has(word) && !m[2]) continue
    if (/^[0-9.e+-]+$/.test(word)) continue
    if (word.startsWith('jacolbert_')) metrics.push({ metric: word, matcherLabels: labels })
    else stray.push(word)
  }
  return { metrics, groupLabels, stray }
}

const dashboard = JSON.parse(readFileSync(join(REPO_ROOT, 'helm', 'jacolbert-server', 'dashboards', 'jacolbert-server.json'), 'utf8')) as {
  panels: Array<{ id: number; type: string; title: string; datasource?: { uid: string }; gridPos: { x: number; y: number; w: number; h: number }; targets?: Array<{ expr: string; legendFormat?: string; refId: string }> }>
  templating: { list: Array<{ name: string; type: string; query?: { query: string } | string }> }
  uid: string
}
const series = exportedSeries()

const queries: Array<{ where: string; expr: string; legend?: string }> = []
for (const p of dashboard.panels) for (const q of p.targets ?? []) queries.push({ where: `panel "${p.title}" ${q.refId}`, expr: q.expr, legend: q.legendFormat })
for (const v of dashboard.templating.list) {
  if (v.type !== 'query') continue
  // Grafana's label_values(<selector>, <label>): check the selector, and the label as if it were a legend.
  const raw = typeof v.query === 'string' ? v.query : v.query!.query
  const m = /^label_values\((.*),\s*(\w+)\)$/.exec(raw)
  if (!m) throw new Error(`variable $${v.name}: unsupported query ${raw}`)
  queries.push({ where: `variable $${v.name}`, expr: m[1], legend: `{{${m[2]}}}` })
}

t.test('the analyser finds what it should (self-check)', async (t) => {
  const a = analyse('histogram_quantile(0.95, sum by (le, route) (rate(jacolbert_x_bucket{job=~"$job", status_code=~"5.."}[$__rate_interval])))')
  t.same(a.metrics, [{ metric: 'jacolbert_x_bucket', matcherLabels: ['job', 'status_code'] }])
  t.same(a.groupLabels, ['le', 'route'])
  t.same(analyse('sum(rate(http_requests_total[5m]))').stray, ['http_requests_total'], 'a foreign metric is reported')
})

t.test('every query uses exported metrics and their labels', async (t) => {
  t.ok(queries.length >= 20, `${queries.length} queries found`)
  for (const q of queries) {
    const a = analyse(q.expr)
    t.same(a.stray, [], `${q.where}: no unknown identifiers`)
    t.ok(a.metrics.length > 0, `${q.where}: queries at least one metric`)
    const available = new Set<string>(SCRAPE_LABELS)
    for (const u of a.metrics) {
      const fam = series.get(u.metric)
      t.ok(fam, `${q.where}: ${u.metric} is exported by the service`)
      if (!fam) continue
      for (const l of fam.labels) available.add(l)
      for (const l of u.matcherLabels) t.ok(fam.labels.has(l) || SCRAPE_LABELS.has(l), `${q.where}: ${u.metric} has label ${l}`)
      if (/rate\(|increase\(/.test(q.expr) && !u.metric.endsWith('_bucket') && !u.metric.endsWith('_sum') && !u.metric.endsWith('_count')) {
        t.equal(fam.type, 'counter', `${q.where}: rate() only over counters (${u.metric})`)
      }
      if (u.metric.endsWith('_bucket')) t.match(q.expr, /histogram_quantile\(/, `${q.where}: buckets go through histogram_quantile`)
    }
    for (const l of a.groupLabels) t.ok(available.has(l), `${q.where}: grouping label ${l} exists`)
    for (const m of (q.legend ?? '').matchAll(/\{\{\s*(\w+)\s*\}\}/g)) t.ok(available.has(m[1]), `${q.where}: legend label ${m[1]} exists`)
  }
})

t.test('every service metric is on the dashboard', async (t) => {
  const used = new Set(queries.flatMap((q) => analyse(q.expr).metrics.map((u) => u.metric.replace(/_(bucket|sum|count)$/, ''))))
  const app = createMetrics(new Registry(), { defaultMetrics: false })
  for (const m of app.registry.getMetricsAsArray()) {
    const name = (m as unknown as { name: string }).name
    t.ok(used.has(name), `${name} has a panel or variable`)
  }
})

t.test('dashboard structure', async (t) => {
  const ids = dashboard.panels.map((p) => p.id)
  t.equal(new Set(ids).size, ids.length, 'panel ids are unique')
  t.equal(dashboard.uid, 'jacolbert-server', 'stable uid for links')
  t.ok(dashboard.templating.list.some((v) => v.type === 'datasource' && v.name === 'datasource'), 'data source is a variable')
  for (const p of dashboard.panels) {
    t.ok(p.gridPos.x >= 0 && p.gridPos.x + p.gridPos.w <= 24, `${p.title}: fits the 24-column grid`)
    if (p.type !== 'row') t.equal(p.datasource?.uid, '${datasource}', `${p.title}: uses the data source variable`)
  }
  // No two panels overlap.
  const boxes = dashboard.panels.map((p) => p.gridPos)
  let overlaps = 0
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i], b = boxes[j]
      if (a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h) overlaps++
    }
  }
  t.equal(overlaps, 0, 'panels do not overlap')
})
