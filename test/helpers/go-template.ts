/**
 * A small Go text/template engine with the Sprig/Helm functions our chart uses, so the chart can be rendered in tests on
 * machines without the helm binary. Supported: text with {{- -}} trimming, comments, pipelines with `|`, parenthesised
 * sub-pipelines, fields (.A.B, $.A, $v.A), variables (:= and =), literals, if/else if/else, with/else, range (lists and
 * maps, one or two variables)/else, define/template/include, and the functions in FUNCS. Semantics follow Go's:
 * empty values (nil, false, 0, "", [], {}) are false; missing map keys are nil and print as "" (Helm's behaviour).
 * Numbers keep Go's two kinds apart: JS numbers are float64 (what Helm makes of every number in a values file, which
 * prints as 1.6777216e+07 from 1e6 up), JS bigints are ints (template literals, int/int64 results), as in Helm.
 * Anything outside the subset throws, naming the template and the construct, so a template edit cannot pass silently.
 */
import { createHash } from 'node:crypto'
import YAML from 'yaml'

type Value = unknown

// ---------------------------------------------------------------------------------------------------------------------
// Lexing: split a template into text and action pieces.

interface TextPiece { kind: 'text'; text: string }
interface ActionPiece { kind: 'action'; tokens: Token[]; src: string }
type Piece = TextPiece | ActionPiece

type Token =
  | { t: 'field'; path: string[] } // .A.B ; [] for "."
  | { t: 'var'; name: string; path: string[] } // $x.A ; name "$" for root
  | { t: 'ident'; name: string }
  | { t: 'string'; value: string }
  | { t: 'number'; value: number | bigint }
  | { t: 'bool'; value: boolean }
  | { t: 'nil' }
  | { t: 'pipe' }
  | { t: 'lparen' }
  | { t: 'rparen' }
  | { t: 'declare' }
  | { t: 'assign' }
  | { t: 'comma' }

function lex(src: string, name: string): Piece[] {
  const pieces: Piece[] = []
  let pos = 0
  let trimNext = false
  while (pos < src.length) {
    const open = src.indexOf('{{', pos)
    let text = open < 0 ? src.slice(pos) : src.slice(pos, open)
    if (trimNext) text = text.replace(/^\s+/, '')
    trimNext = false
    if (open < 0) {
      if (text) pieces.push({ kind: 'text', text })
      break
    }
    let i = open + 2
    if (src[i] === '-' && /\s/.test(src[i + 1] ?? '')) {
      text = text.replace(/\s+$/, '')
      i += 1
    }
    if (text) pieces.push({ kind: 'text', text })
    // Find the closing braces outside string literals.
    let j = i
    let quote: string | undefined
    while (j < src.length) {
      const c = src[j]
      if (quote) {
        if (c === '\\' && quote === '"') j++
        else if (c === quote) quote = undefined
      } else if (c === '"' || c === '`') quote = c
      else if (c === '/' && src[j + 1] === '*') {
        const endComment = src.indexOf('*/', j + 2)
        if (endComment < 0) throw new Error(`${name}: unterminated comment`)
        j = endComment + 1
      } else if (c === '}' && src[j + 1] === '}') break
      j++
    }
    if (j >= src.length) throw new Error(`${name}: unclosed action at offset ${open}`)
    let inner = src.slice(i, j)
    if (/\s-$/.test(inner)) {
      inner = inner.slice(0, -1)
      trimNext = true
    }
    pos = j + 2
    const trimmed = inner.trim()
    if (trimmed.startsWith('/*')) {
      if (!trimmed.endsWith('*/')) throw new Error(`${name}: bad comment action {{${inner}}}`)
      continue
    }
    pieces.push({ kind: 'action', tokens: tokenize(trimmed, name), src: trimmed })
  }
  return pieces
}

function tokenize(s: string, name: string): Token[] {
  const out: Token[] = []
  let i = 0
  const ident = /[A-Za-z_][A-Za-z0-9_]*/y
  const path = /(?:\.[A-Za-z_][A-Za-z0-9_]*)*/y
  while (i < s.length) {
    const c = s[i]
    if (/\s/.test(c)) { i++; continue }
    if (c === '|') { out.push({ t: 'pipe' }); i++; continue }
    if (c === '(') { out.push({ t: 'lparen' }); i++; continue }
    if (c === ')') { out.push({ t: 'rparen' }); i++; continue }
    if (c === ',') { out.push({ t: 'comma' }); i++; continue }
    if (c === ':' && s[i + 1] === '=') { out.push({ t: 'declare' }); i += 2; continue }
    if (c === '=') { out.push({ t: 'assign' }); i++; continue }
    if (c === '"') {
      let j = i + 1
      let v = ''
      while (j < s.length && s[j] !== '"') {
        if (s[j] === '\\') {
          const e = s[j + 1]
          v += e === 'n' ? '\n' : e === 't' ? '\t' : e
          j += 2
        } else v += s[j++]
      }
      out.push({ t: 'string', value: v })
      i = j + 1
      continue
    }
    if (c === '`') {
      const j = s.indexOf('`', i + 1)
      out.push({ t: 'string', value: s.slice(i + 1, j) })
      i = j + 1
      continue
    }
    if (/[0-9]/.test(c) || (c === '-' && /[0-9]/.test(s[i + 1] ?? ''))) {
      const m = /-?[0-9]+(\.[0-9]+)?/y
      m.lastIndex = i
      const r = m.exec(s)!
      out.push({ t: 'number', value: r[1] ? Number(r[0]) : BigInt(r[0]) })
      i += r[0].length
      continue
    }
    if (c === '.') {
      path.lastIndex = i
      const r = path.exec(s)!
      if (r[0] === '') { out.push({ t: 'field', path: [] }); i++; continue }
      out.push({ t: 'field', path: r[0].slice(1).split('.') })
      i += r[0].length
      continue
    }
    if (c === '$') {
      ident.lastIndex = i + 1
      const r = ident.exec(s)
      const varName = r && r.index === i + 1 ? '$' + r[0] : '$'
      i += varName.length
      path.lastIndex = i
      const p = path.exec(s)!
      i += p[0].length
      out.push({ t: 'var', name: varName, path: p[0] ? p[0].slice(1).split('.') : [] })
      continue
    }
    ident.lastIndex = i
    const r = ident.exec(s)
    if (r && r.index === i) {
      const w = r[0]
      i += w.length
      if (w === 'true' || w === 'false') out.push({ t: 'bool', value: w === 'true' })
      else if (w === 'nil') out.push({ t: 'nil' })
      else out.push({ t: 'ident', name: w })
      continue
    }
    throw new Error(`${name}: unexpected character '${c}' in {{ ${s} }}`)
  }
  return out
}

// ---------------------------------------------------------------------------------------------------------------------
// Parsing into a tree.

type Operand =
  | { k: 'field'; path: string[] }
  | { k: 'var'; name: string; path: string[] }
  | { k: 'func'; name: string }
  | { k: 'literal'; value: Value }
  | { k: 'sub'; pipe: Pipeline }
interface Command { operands: Operand[] }
interface Pipeline { decl: string[]; assign: boolean; commands: Command[] }

type Node =
  | { n: 'text'; text: string }
  | { n: 'action'; pipe: Pipeline }
  | { n: 'if' | 'with'; pipe: Pipeline; body: Node[]; otherwise: Node[] }
  | { n: 'range'; pipe: Pipeline; body: Node[]; otherwise: Node[] }
  | { n: 'template'; name: string; pipe: Pipeline | undefined }

function parsePipeline(tokens: Token[], where: string): Pipeline {
  let toks = tokens
  const decl: string[] = []
  let assign = false
  const declIdx = toks.findIndex((t) => t.t === 'declare' || t.t === 'assign')
  if (declIdx > 0 && toks.slice(0, declIdx).every((t) => t.t === 'var' || t.t === 'comma')) {
    for (const t of toks.slice(0, declIdx)) if (t.t === 'var') decl.push(t.name)
    assign = toks[declIdx].t === 'assign'
    toks = toks.slice(declIdx + 1)
  }
  const commands: Command[] = []
  let i = 0
  const parseOperands = (stopAtParen: boolean): Command[] => {
    const cmds: Command[] = [{ operands: [] }]
    while (i < toks.length) {
      const t = toks[i]
      if (t.t === 'rparen') {
        if (!stopAtParen) throw new Error(`${where}: unbalanced ')'`)
        return cmds
      }
      i++
      if (t.t === 'pipe') { cmds.push({ operands: [] }); continue }
      const cur = cmds[cmds.length - 1]
      if (t.t === 'lparen') {
        const sub = parseOperands(true)
        if (toks[i]?.t !== 'rparen') throw new Error(`${where}: missing ')'`)
        i++
        cur.operands.push({ k: 'sub', pipe: { decl: [], assign: false, commands: sub } })
      } else if (t.t === 'field') cur.operands.push({ k: 'field', path: t.path })
      else if (t.t === 'var') cur.operands.push({ k: 'var', name: t.name, path: t.path })
      else if (t.t === 'ident') cur.operands.push({ k: 'func', name: t.name })
      else if (t.t === 'string' || t.t === 'number' || t.t === 'bool') cur.operands.push({ k: 'literal', value: t.value })
      else if (t.t === 'nil') cur.operands.push({ k: 'literal', value: null })
      else throw new Error(`${where}: unexpected token ${t.t}`)
    }
    if (stopAtParen) throw new Error(`${where}: missing ')'`)
    return cmds
  }
  commands.push(...parseOperands(false))
  if (commands.some((c) => c.operands.length === 0)) throw new Error(`${where}: empty command in pipeline`)
  return { decl, assign, commands }
}

interface Parsed { nodes: Node[]; defines: Map<string, Node[]> }

function parse(src: string, name: string): Parsed {
  const pieces = lex(src, name)
  const defines = new Map<string, Node[]>()
  let i = 0
  // Parses until one of the stop keywords; returns the nodes and the stopping piece.
  const parseList = (stops: string[]): { nodes: Node[]; stop?: ActionPiece } => {
    const nodes: Node[] = []
    while (i < pieces.length) {
      const p = pieces[i++]
      if (p.kind === 'text') { nodes.push({ n: 'text', text: p.text }); continue }
      const first = p.tokens[0]
      const kw = first?.t === 'ident' ? first.name : undefined
      const where = `${name}: {{ ${p.src} }}`
      if (kw && stops.includes(kw)) return { nodes, stop: p }
      if (kw === 'if' || kw === 'with' || kw === 'range') {
        nodes.push(parseControl(kw, p.tokens.slice(1), where))
      } else if (kw === 'define') {
        const nameTok = p.tokens[1]
        if (nameTok?.t !== 'string') throw new Error(`${where}: define needs a string name`)
        const body = parseList(['end'])
        if (!body.stop) throw new Error(`${where}: define without end`)
        defines.set(nameTok.value, body.nodes)
      } else if (kw === 'template') {
        const nameTok = p.tokens[1]
        if (nameTok?.t !== 'string') throw new Error(`${where}: template needs a string name`)
        const rest = p.tokens.slice(2)
        nodes.push({ n: 'template', name: nameTok.value, pipe: rest.length ? parsePipeline(rest, where) : undefined })
      } else if (kw === 'end' || kw === 'else') {
        throw new Error(`${where}: unexpected ${kw}`)
      } else if (kw === 'block' || kw === 'break' || kw === 'continue') {
        throw new Error(`${where}: '${kw}' is outside the supported subset`)
      } else {
        nodes.push({ n: 'action', pipe: parsePipeline(p.tokens, where) })
      }
    }
    if (stops.length) throw new Error(`${name}: missing {{ end }}`)
    return { nodes }
  }
  const parseControl = (kw: 'if' | 'with' | 'range', tokens: Token[], where: string): Node => {
    const pipe = parsePipeline(tokens, where)
    const body = parseList(['else', 'end'])
    let otherwise: Node[] = []
    if (body.stop && (body.stop.tokens[0] as { name: string }).name === 'else') {
      const elseTokens = body.stop.tokens.slice(1)
      const next = elseTokens[0]
      if (next?.t === 'ident' && (next.name === 'if' || next.name === 'with')) {
        // `else if` / `else with`: a nested control sharing our {{ end }}.
        otherwise = [parseControl(next.name, elseTokens.slice(1), where)]
        return { n: kw, pipe, body: body.nodes, otherwise }
      }
      const rest = parseList(['end'])
      otherwise = rest.nodes
    }
    return { n: kw, pipe, body: body.nodes, otherwise }
  }
  const top = parseList([])
  return { nodes: top.nodes, defines }
}

// ---------------------------------------------------------------------------------------------------------------------
// Evaluation.

export function isTrue(v: Value): boolean {
  if (v === null || v === undefined || v === false || v === 0 || v === 0n || v === '') return false
  if (Array.isArray(v)) return v.length > 0
  if (typeof v === 'object') return Object.keys(v as object).length > 0
  return true
}

function toText(v: Value): string {
  if (v === null || v === undefined) return ''
  if (typeof v === 'string') return v
  if (typeof v === 'number') return formatFloat64(v)
  if (typeof v === 'bigint' || typeof v === 'boolean') return String(v)
  if (typeof v === 'function') throw new Error('cannot print a function')
  return JSON.stringify(v, jsonBigint) // Go would print map[...]; templates must not rely on it
}

const jsonBigint = (_k: string, x: unknown) => (typeof x === 'bigint' ? Number(x) : x)

/** Go's %v for a float64 (strconv 'g', shortest digits): exponent form when the exponent is < -4 or >= 6. */
function formatFloat64(v: number): string {
  if (!Number.isFinite(v)) return v > 0 ? '+Inf' : v < 0 ? '-Inf' : 'NaN'
  if (v === 0) return Object.is(v, -0) ? '-0' : '0'
  const [mant, expStr] = v.toExponential().split('e') // shortest round-trip digits, like Go's
  const exp = Number(expStr)
  if (exp < -4 || exp >= 6) {
    return `${mant}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`
  }
  return String(v)
}

function field(v: Value, path: string[], where: string): Value {
  let cur = v
  for (const key of path) {
    if (cur === null || cur === undefined) return undefined
    if (typeof cur !== 'object') throw new Error(`${where}: cannot read .${key} of ${typeof cur}`)
    cur = (cur as Record<string, Value>)[key]
  }
  return cur
}

function indentLines(s: string, n: number): string {
  const pad = ' '.repeat(n)
  return s.split('\n').map((l) => pad + l).join('\n')
}

function goPrintf(format: string, args: Value[]): string {
  let k = 0
  return format.replace(/%([-+ 0#]*\d*(?:\.\d+)?)([svdqtf%])/g, (_m, _flags: string, verb: string) => {
    if (verb === '%') return '%'
    const a = args[k++]
    if (verb === 'q') return JSON.stringify(toText(a))
    if (verb === 'd') return typeof a === 'bigint' ? String(a) : String(Math.trunc(Number(a)))
    return toText(a)
  })
}

function toYaml(v: Value): string {
  if (v === null || v === undefined) return 'null'
  const s = YAML.stringify(v, { sortMapEntries: true, lineWidth: 0 })
  return s.replace(/\n$/, '')
}

function compare(a: Value, b: Value, op: string): boolean {
  if (typeof a !== typeof b) throw new Error(`incompatible types for comparison: ${goKind(a)} ${op} ${goKind(b)}`)
  const x = a as number
  const y = b as number
  return op === 'lt' ? x < y : op === 'le' ? x <= y : op === 'gt' ? x > y : x >= y
}

function deepCopy<T>(v: T): T {
  return v === undefined ? v : (structuredClone(v) as T)
}

/** reflect.Kind names as Sprig's kindIs/kindOf report them. */
function goKind(v: Value): string {
  if (v === null || v === undefined) return 'invalid'
  if (typeof v === 'number') return 'float64'
  if (typeof v === 'bigint') return 'int64'
  if (typeof v === 'string') return 'string'
  if (typeof v === 'boolean') return 'bool'
  if (Array.isArray(v)) return 'slice'
  if (typeof v === 'function') return 'func'
  return 'map'
}

/** Sprig's int64 (spf13/cast): numbers truncate, numeric strings parse, anything else is 0. */
function toInt64(v: Value): bigint {
  if (typeof v === 'bigint') return v
  if (typeof v === 'number') return BigInt(Math.trunc(v))
  if (typeof v === 'string' && /^-?\d+$/.test(v.trim())) return BigInt(v.trim())
  if (typeof v === 'boolean') return v ? 1n : 0n
  return 0n
}

export interface TemplateSet {
  /** Adds a template file: its top level is registered under `name`, its defines under their own names. */
  add(name: string, src: string): void
  execute(name: string, data: Value): string
  has(name: string): boolean
}

export function createTemplateSet(): TemplateSet {
  const templates = new Map<string, Node[]>()

  type Scope = Map<string, Value>[]
  const lookupVar = (scope: Scope, name: string, where: string): Value => {
    for (let s = scope.length - 1; s >= 0; s--) if (scope[s].has(name)) return scope[s].get(name)
    throw new Error(`${where}: undefined variable ${name}`)
  }

  const FUNCS: Record<string, (...a: Value[]) => Value> = {
    include: (name, data) => execute(String(name), data),
    toYaml: (v) => toYaml(v),
    toJson: (v) => JSON.stringify(v ?? null, jsonBigint),
    nindent: (n, s) => '\n' + indentLines(toText(s), Number(n)),
    indent: (n, s) => indentLines(toText(s), Number(n)),
    quote: (...a) => a.map((x) => JSON.stringify(x === null || x === undefined ? '' : toText(x))).join(' '),
    squote: (...a) => a.map((x) => `'${toText(x)}'`).join(' '),
    default: (d, v) => (isTrue(v) ? v : d),
    required: (msg, v) => {
      if (v === null || v === undefined || v === '') throw new Error(String(msg))
      return v
    },
    fail: (msg) => { throw new Error(String(msg)) },
    printf: (f, ...a) => goPrintf(String(f), a),
    print: (...a) => a.map(toText).join(''),
    trunc: (n, s) => toText(s).slice(0, Number(n)),
    trimSuffix: (suf, s) => (toText(s).endsWith(String(suf)) ? toText(s).slice(0, -String(suf).length || undefined) : toText(s)),
    trimPrefix: (pre, s) => (toText(s).startsWith(String(pre)) ? toText(s).slice(String(pre).length) : toText(s)),
    trim: (s) => toText(s).trim(),
    replace: (a, b, s) => toText(s).split(String(a)).join(String(b)),
    contains: (sub, s) => toText(s).includes(String(sub)),
    hasPrefix: (pre, s) => toText(s).startsWith(String(pre)),
    lower: (s) => toText(s).toLowerCase(),
    upper: (s) => toText(s).toUpperCase(),
    toString: (v: Value) => toText(v),
    int: (v) => toInt64(v),
    int64: (v) => toInt64(v),
    kindIs: (kind, v) => goKind(v) === kind || (kind === 'int' && goKind(v) === 'int64'),
    kindOf: (v) => goKind(v),
    b64enc: (s) => Buffer.from(toText(s), 'utf8').toString('base64'),
    sha256sum: (s) => createHash('sha256').update(toText(s)).digest('hex'),
    eq: (a, ...bs) => bs.some((b) => a === b),
    ne: (a, b) => a !== b,
    lt: (a, b) => compare(a, b, 'lt'),
    le: (a, b) => compare(a, b, 'le'),
    gt: (a, b) => compare(a, b, 'gt'),
    ge: (a, b) => compare(a, b, 'ge'),
    and: (...a) => { for (const x of a) if (!isTrue(x)) return x; return a[a.length - 1] },
    or: (...a) => { for (const x of a) if (isTrue(x)) return x; return a[a.length - 1] },
    not: (v) => !isTrue(v),
    empty: (v) => !isTrue(v),
    list: (...a) => a,
    dict: (...a) => {
      const o: Record<string, Value> = {}
      for (let i = 0; i + 1 < a.length; i += 2) o[String(a[i])] = a[i + 1]
      return o
    },
    set: (d, k, v) => { (d as Record<string, Value>)[String(k)] = v; return d },
    hasKey: (d, k) => Object.prototype.hasOwnProperty.call(d ?? {}, String(k)),
    deepCopy: (v) => deepCopy(v),
    index: (v, ...keys) => {
      let cur = v
      for (const k of keys) cur = cur === null || cur === undefined ? undefined : (cur as Record<string, Value>)[String(k)]
      return cur
    },
    len: (v) => (typeof v === 'string' || Array.isArray(v) ? v.length : Object.keys(v ?? {}).length),
    ternary: (a, b, c) => (isTrue(c) ? a : b),
  }

  function evalOperand(op: Operand, dot: Value, scope: Scope, where: string): Value {
    switch (op.k) {
      case 'field': return field(dot, op.path, where)
      case 'var': return field(lookupVar(scope, op.name, where), op.path, where)
      case 'literal': return op.value
      case 'sub': return evalPipeline(op.pipe, dot, scope, where)
      case 'func': {
        const f = FUNCS[op.name]
        if (!f) throw new Error(`${where}: function "${op.name}" not defined`)
        return f()
      }
    }
  }

  function evalCommand(cmd: Command, dot: Value, scope: Scope, where: string, piped: Value[]): Value {
    const [head, ...rest] = cmd.operands
    const args = () => [...rest.map((o) => evalOperand(o, dot, scope, where)), ...piped]
    if (head.k === 'func') {
      const f = FUNCS[head.name]
      if (!f) throw new Error(`${where}: function "${head.name}" not defined`)
      return f(...args())
    }
    // A field that holds a function is a method call (.Files.Get "x").
    if (head.k === 'field' || head.k === 'var') {
      const parentPath = head.path.slice(0, -1)
      const base = head.k === 'field' ? dot : lookupVar(scope, head.name, where)
      const parent = field(base, parentPath, where)
      const v = field(base, head.path, where)
      if (typeof v === 'function') return (v as (...a: Value[]) => Value).apply(parent, args())
      if (rest.length || piped.length) throw new Error(`${where}: ${head.path.join('.')} is not a method but has arguments`)
      return v
    }
    if (rest.length || piped.length) throw new Error(`${where}: a value cannot take arguments`)
    return evalOperand(head, dot, scope, where)
  }

  function evalPipeline(pipe: Pipeline, dot: Value, scope: Scope, where: string): Value {
    let v: Value
    pipe.commands.forEach((c, i) => {
      v = evalCommand(c, dot, scope, where, i === 0 ? [] : [v])
    })
    if (pipe.decl.length === 1) {
      const name = pipe.decl[0]
      if (pipe.assign) {
        let done = false
        for (let s = scope.length - 1; s >= 0 && !done; s--) if (scope[s].has(name)) { scope[s].set(name, v); done = true }
        if (!done) throw new Error(`${where}: assignment to undeclared ${name}`)
      } else scope[scope.length - 1].set(name, v)
    }
    return v
  }

  function run(nodes: Node[], dot: Value, scope: Scope, name: string, out: string[]): void {
    for (const node of nodes) {
      const where = name
      switch (node.n) {
        case 'text': out.push(node.text); break
        case 'action': {
          const v = evalPipeline(node.pipe, dot, scope, where)
          if (node.pipe.decl.length === 0) out.push(toText(v))
          break
        }
        case 'if':
        case 'with': {
          scope.push(new Map())
          const v = evalPipeline(node.pipe, dot, scope, where)
          if (isTrue(v)) run(node.body, node.n === 'with' ? v : dot, scope, name, out)
          else run(node.otherwise, dot, scope, name, out)
          scope.pop()
          break
        }
        case 'range': {
          const decl = node.pipe.decl
          const v = evalPipeline({ ...node.pipe, decl: [] }, dot, scope, where)
          const entries: Array<[Value, Value]> = Array.isArray(v)
            ? v.map((x, i) => [i, x])
            : v && typeof v === 'object'
              ? Object.keys(v).sort().map((k) => [k, (v as Record<string, Value>)[k]])
              : typeof v === 'bigint'
                ? Array.from({ length: Number(v) }, (_x, i) => [BigInt(i), BigInt(i)])
                : []
          if (v !== null && v !== undefined && typeof v !== 'object' && typeof v !== 'bigint') {
            throw new Error(`${where}: range over ${typeof v}`)
          }
          if (entries.length === 0) { run(node.otherwise, dot, scope, name, out); break }
          for (const [k, x] of entries) {
            const s = new Map<string, Value>()
            if (decl.length === 1) s.set(decl[0], x)
            if (decl.length === 2) { s.set(decl[0], k); s.set(decl[1], x) }
            scope.push(s)
            run(node.body, x, scope, name, out)
            scope.pop()
          }
          break
        }
        case 'template': {
          const data = node.pipe ? evalPipeline(node.pipe, dot, scope, where) : undefined
          out.push(execute(node.name, data))
          break
        }
      }
    }
  }

  function execute(name: string, data: Value): string {
    const nodes = templates.get(name)
    if (!nodes) throw new Error(`template "${name}" not defined`)
    const out: string[] = []
    run(nodes, data, [new Map([['$', data]])], name, out)
    return out.join('')
  }

  return {
    add(name, src) {
      const parsed = parse(src, name)
      templates.set(name, parsed.nodes)
      for (const [n, body] of parsed.defines) templates.set(n, body)
    },
    execute,
    has: (name) => templates.has(name),
  }
}
