/**
 * Renders a Helm chart folder the way `helm template` does, for the subset of the template language that
 * go-template.ts implements: values.yaml deep-merged with override files, the built-in objects (.Values, .Release,
 * .Chart, .Files, .Template, .Capabilities), every templates/*.yaml|tpl file, and NOTES.txt. Returns each file's text and
 * the parsed YAML documents of the manifests.
 */
import { readdirSync, readFileSync, existsSync } from 'node:fs'
import { join, relative } from 'node:path'
import YAML from 'yaml'
import { createTemplateSet } from './go-template.js'

export type Values = Record<string, unknown>

export interface RenderedChart {
  /** Rendered text by template path ("jacolbert-server/templates/service.yaml"). */
  files: Map<string, string>
  /** Every non-empty YAML document of the manifests, with the file it came from. */
  objects: Array<{ file: string; doc: Record<string, unknown> }>
  notes: string
  values: Values
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Helm's coalescing: maps merge key by key, everything else (lists included) is replaced; null deletes a key. */
export function mergeValues(base: Values, override: Values): Values {
  const out: Values = { ...base }
  for (const [k, v] of Object.entries(override)) {
    if (v === null) delete out[k]
    else if (isPlainObject(v) && isPlainObject(out[k])) out[k] = mergeValues(out[k] as Values, v)
    else out[k] = v
  }
  return out
}

function capitalizeChart(meta: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(meta)) out[k[0].toUpperCase() + k.slice(1)] = v
  return out
}

export function loadChartValues(chartDir: string, overrides: Values[] = []): Values {
  const defaults = (YAML.parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) ?? {}) as Values
  return overrides.reduce((acc, o) => mergeValues(acc, o), defaults)
}

export function renderChart(
  chartDir: string,
  opts: { overrides?: Values[]; releaseName?: string; namespace?: string } = {},
): RenderedChart {
  const chart = YAML.parse(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as Record<string, unknown>
  const chartName = String(chart.name)
  const values = loadChartValues(chartDir, opts.overrides)
  const set = createTemplateSet()
  const templatesDir = join(chartDir, 'templates')
  const names: string[] = []
  for (const f of readdirSync(templatesDir).sort()) {
    if (!/\.(ya?ml|tpl|txt)$/.test(f)) continue
    const name = `${chartName}/templates/${f}`
    set.add(name, readFileSync(join(templatesDir, f), 'utf8'))
    names.push(name)
  }
  const files = {
    Get(path: string): string {
      const p = join(chartDir, path)
      if (relative(chartDir, p).startsWith('..') || !existsSync(p)) return ''
      return readFileSync(p, 'utf8')
    },
  }
  const context = (templateName: string) => ({
    Values: values,
    Release: { Name: opts.releaseName ?? 'rel', Namespace: opts.namespace ?? 'default', Service: 'Helm', IsInstall: true, IsUpgrade: false, Revision: 1 },
    Chart: capitalizeChart(chart),
    Files: files,
    Capabilities: { KubeVersion: { Version: 'v1.30.0', Major: '1', Minor: '30' } },
    Template: { Name: templateName, BasePath: `${chartName}/templates` },
  })
  const rendered = new Map<string, string>()
  const objects: RenderedChart['objects'] = []
  let notes = ''
  for (const name of names) {
    const base = name.slice(name.lastIndexOf('/') + 1)
    if (base.startsWith('_')) continue
    const text = set.execute(name, context(name))
    rendered.set(name, text)
    if (base === 'NOTES.txt') {
      notes = text
      continue
    }
    for (const part of text.split(/^---[ \t]*$/m)) {
      if (!part.trim()) continue
      const doc = YAML.parse(part, { strict: true, uniqueKeys: true }) as unknown
      if (doc === null || doc === undefined) continue
      if (!isPlainObject(doc)) throw new Error(`${name}: a document is not a mapping:\n${part}`)
      objects.push({ file: name, doc })
    }
  }
  return { files: rendered, objects, notes, values }
}
