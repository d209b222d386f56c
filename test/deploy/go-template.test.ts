/** The Go-template subset behind the chart tests: each construct against the output Go's text/template gives. */
import t from 'tap'
import { createTemplateSet } from '../helpers/go-template.js'

function render(src: string, data: unknown, extra: Record<string, string> = {}): string {
  const set = createTemplateSet()
  for (const [name, text] of Object.entries(extra)) set.add(name, text)
  set.add('main', src)
  return set.execute('main', data)
}

t.test('text, fields and trim markers', async (t) => {
  t.equal(render('a {{ .x }} b', { x: 1 }), 'a 1 b')
  t.equal(render('a  \n {{- .x -}} \n  b', { x: 'X' }), 'aXb', '{{- and -}} eat all surrounding whitespace')
  t.equal(render('{{ .missing.deep }}|', { }), '|', 'missing keys print nothing (Helm)')
  t.equal(render('{{/* note */}}x{{- /* trimmed */ -}}  y', {}), 'xy', 'comments')
  t.equal(render('{{ "a}}b" }}', {}), 'a}}b', 'braces inside a string literal')
})

t.test('numbers: values-file floats vs template ints, as Helm prints them', async (t) => {
  t.equal(render('{{ .n }} {{ .m }} {{ .f }}', { n: 16777216, m: 123456, f: 0.5 }), '1.6777216e+07 123456 0.5', 'float64 %v')
  t.equal(render('{{ .n | int64 }} {{ int64 "42" }} {{ int64 "" }}', { n: 16777216 }), '16777216 42 0', 'sprig int64')
  t.equal(render('{{ kindIs "float64" .n }} {{ kindIs "int" 3 }} {{ kindIs "string" .s }}', { n: 1, s: '' }), 'true true true')
  t.equal(render('{{ gt (int .r) 1 }}', { r: 3 }), 'true', 'int compared with a template literal')
  t.throws(() => render('{{ gt .r 1 }}', { r: 3 }), /incompatible types for comparison: float64 gt int64/, 'float64 vs int, as Go refuses')
})

t.test('conditionals follow Go truthiness', async (t) => {
  const tpl = '{{ if .v }}T{{ else if .w }}W{{ else }}F{{ end }}'
  for (const [v, want] of [[0, 'F'], ['', 'F'], [[], 'F'], [{}, 'F'], [false, 'F'], [null, 'F'], [1, 'T'], ['0', 'T'], [[0], 'T']] as const) {
    t.equal(render(tpl, { v }), want, `if ${JSON.stringify(v)}`)
  }
  t.equal(render(tpl, { v: 0, w: 1 }), 'W', 'else if')
  t.equal(render('{{ with .a }}{{ .b }}{{ else }}none{{ end }}', { a: { b: 'B' } }), 'B', 'with rebinds dot')
  t.equal(render('{{ with .a }}{{ .b }}{{ else }}none{{ end }}', {}), 'none', 'with else')
  t.equal(render('{{ and 1 0 }}/{{ or 0 "" "z" }}/{{ not 0 }}', {}), '0/z/true', 'and/or return an operand')
})

t.test('range, variables and scope', async (t) => {
  t.equal(render('{{ range .l }}[{{ . }}]{{ end }}', { l: ['a', 'b'] }), '[a][b]')
  t.equal(render('{{ range $k, $v := .m }}{{ $k }}={{ $v }};{{ end }}', { m: { b: 2, a: 1 } }), 'a=1;b=2;', 'maps in key order')
  t.equal(render('{{ range .l }}x{{ else }}empty{{ end }}', { l: [] }), 'empty')
  t.equal(render('{{ range .l }}{{ $.p }}{{ . }}{{ end }}', { l: [1, 2], p: '-' }), '-1-2', '$ is the root inside range')
  t.equal(render('{{ $a := 1 }}{{ if true }}{{ $a = 2 }}{{ $b := 3 }}{{ end }}{{ $a }}', {}), '2', '= assigns the outer variable')
  t.throws(() => render('{{ if true }}{{ $b := 3 }}{{ end }}{{ $b }}', {}), /undefined variable \$b/, 'block-scoped :=')
})

t.test('define, include, template and functions', async (t) => {
  const defs = { lib: '{{- define "greet" -}}hi {{ .name }}{{- end -}}' }
  t.equal(render('{{ include "greet" . | upper }}', { name: 'x' }, defs), 'HI X')
  t.equal(render('{{ template "greet" . }}', { name: 'y' }, defs), 'hi y')
  t.equal(render('{{ printf "%s-%s" .a .b | trunc 5 | trimSuffix "-" }}', { a: 'abcd', b: 'e' }), 'abcd')
  t.equal(render('{{ toYaml .m | nindent 2 }}', { m: { b: [1], a: 'x' } }), '\n  a: x\n  b:\n    - 1')
  t.equal(render('{{ .s | quote }} {{ default "d" .e }} {{ .n | toString | quote }}', { s: 'a"b', n: 5 }), '"a\\"b" d "5"')
  t.equal(render('{{ "abc" | b64enc }}', {}), 'YWJj')
  t.equal(render('{{ $d := dict "a" 1 }}{{ $_ := set $d "b" 2 }}{{ toJson $d }}', {}), '{"a":1,"b":2}')
  t.equal(render('{{ index (list "x" "y") 1 }}', {}), 'y')
  t.equal(render('{{ .F.Get "p" }}', { F: { Get: (p: string) => `got ${p}` } }), 'got p', 'method call')
  t.throws(() => render('{{ nosuch 1 }}', {}), /function "nosuch" not defined/)
  t.throws(() => render('{{ required "need x" .x }}', {}), /need x/)
  t.throws(() => render('{{ if .a }}x', {}), /missing \{\{ end \}\}/)
})
