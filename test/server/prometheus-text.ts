/**
 * A small, strict parser of the Prometheus text exposition format (0.0.4), enough to check that /metrics is well formed:
 * every sample line parses, belongs to a family declared with # TYPE, and has a numeric value.
 */
export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)/y

export function parsePrometheusText(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>()
  const samples: Sample[] = []
  const lines = text.split('\n')
  lines.forEach((line, i) => {
    if (line === '') return
    if (line.startsWith('# HELP ')) return
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ')
      if (!NAME.test(name) || !['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(type)) throw new Error(`line ${i + 1}: bad TYPE: ${line}`)
      if (types.has(name)) throw new Error(`line ${i + 1}: duplicate TYPE for ${name}`)
      types.set(name, type)
      return
    }
    if (line.startsWith('#')) return
    const m = SAMPLE.exec(line)
    if (!m) throw new Error(`line ${i + 1}: not a sample: ${line}`)
    const labels: Record<string, string> = {}
    if (m[3]) {
      LABEL.lastIndex = 0
      let pos = 0
      while (pos < m[3].length) {
        LABEL.lastIndex = pos
        const lm = LABEL.exec(m[3])
        if (!lm) throw new Error(`line ${i + 1}: bad labels: ${m[3]}`)
        labels[lm[1]] = lm[2].replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\')
        pos = LABEL.lastIndex
      }
    }
    const raw = m[4]
    // Prometheus parses values with Go's ParseFloat: NaN and ±Inf in any letter case.
    const lower = raw.toLowerCase()
    const value = lower === '+inf' || lower === 'inf' ? Infinity : lower === '-inf' ? -Infinity : lower === 'nan' ? NaN : Number(raw)
    if (Number.isNaN(value) && lower !== 'nan') throw new Error(`line ${i + 1}: bad value ${raw}`)
    const family = m[1].replace(/_(bucket|sum|count|total|created)$/, '')
    if (!types.has(m[1]) && !types.has(family)) throw new Error(`line ${i + 1}: sample ${m[1]} has no # TYPE`)
    samples.push({ name: m[1], labels, value })
  })
  return { types, samples }
}

export function sampleValue(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const s = samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))
  return s?.value
}
