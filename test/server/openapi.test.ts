/** openapi.yaml must be what scripts/generate-openapi.ts produces from the current route schemas. */
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import t from 'tap'
import { parse } from 'yaml'
import { CLIENT_TYPES_PATH, generateClientTypes, generateOpenApi } from '../../scripts/generate-openapi.js'
import { ERROR_CODES } from '../../src/errors.js'

const ROOT = resolve(import.meta.dirname, '..', '..')

t.test('openapi.yaml is current (run `npm run openapi` when this fails)', async (t) => {
  const fresh = await generateOpenApi()
  const onDisk = readFileSync(resolve(ROOT, 'openapi.yaml'), 'utf8')
  t.equal(onDisk, fresh, 'checked-in openapi.yaml differs from the generated one: run npm run openapi')
})

t.test("the typed client's types are current (run `npm run openapi` when this fails)", async (t) => {
  const fresh = await generateClientTypes(readFileSync(resolve(ROOT, 'openapi.yaml'), 'utf8'))
  t.equal(readFileSync(CLIENT_TYPES_PATH, 'utf8'), fresh, 'src/client/openapi-types.ts differs from what openapi.yaml gives: run npm run openapi')
  t.match(fresh, /"\/v1\/rerank": \{/, 'it covers the routes')
})

t.test('package.json exports the client as a subpath and keeps the entry points', async (t) => {
  const pkg = JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8')) as {
    main: string; bin: Record<string, string>; exports: Record<string, string | Record<string, string>>; type: string
  }
  t.equal(pkg.type, 'module')
  t.equal(pkg.exports['.'], `./${pkg.main}`, 'the main entry is still exported')
  t.equal(pkg.bin.jacolbert, 'dist/cli/main.js')
  t.same(pkg.exports['./client'], { types: './dist/client/index.d.ts', default: './dist/client/index.js' })
  // dist/ mirrors src/ (tsconfig.build.json: rootDir src, outDir dist, declarations on).
  const build = JSON.parse(readFileSync(resolve(ROOT, 'tsconfig.build.json'), 'utf8')) as { compilerOptions: Record<string, unknown> }
  t.match(build.compilerOptions, { rootDir: 'src', outDir: 'dist', declaration: true })
  for (const target of ['./dist/client/index.js', `./${pkg.main}`, `./${pkg.bin.jacolbert}`]) {
    const src = resolve(ROOT, target.replace(/^\.\/dist\//, 'src/').replace(/\.js$/, '.ts'))
    t.ok(existsSync(src), `${target} is built from ${src}`)
  }
  const built = resolve(ROOT, 'dist', 'client', 'index.js')
  if (!existsSync(built)) {
    t.comment('dist/ not built (npm run build): the import through the package name is not checked here')
    return
  }
  const out = execFileSync(process.execPath, ['--input-type=module', '-e',
    "const m = await import('jacolbert-server/client'); process.stdout.write(typeof m.createJacolbertClient)"], { cwd: ROOT, encoding: 'utf8' })
  t.equal(out, 'function', "import('jacolbert-server/client') resolves through package.json exports")
})

t.test('the document covers every route and the error codes', async (t) => {
  const doc = parse(await generateOpenApi()) as any
  t.equal(doc.openapi, '3.1.0')
  const expected = [
    'get /healthz', 'get /readyz', 'get /metrics', 'post /encode', 'post /index', 'post /search', 'post /search/batch',
    'post /rerank', 'post /v1/rerank', 'post /v2/rerank', 'get /indexes', 'post /indexes', 'get /indexes/{name}', 'delete /indexes/{name}',
    'post /indexes/{name}/delete', 'delete /indexes/{name}/documents/{id}', 'get /jobs/{id}',
  ]
  const actual: string[] = []
  for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
    for (const [method, op] of Object.entries(ops)) {
      actual.push(`${method} ${path}`)
      t.ok(op.responses['4XX'] && op.responses['5XX'], `${method} ${path} documents its errors`)
      t.ok(op.summary, `${method} ${path} has a summary`)
    }
  }
  t.same(actual.sort(), expected.sort())
  const codes = doc.components.schemas.Error.properties.code.anyOf.map((c: { const: string }) => c.const)
  t.same(codes.sort(), Object.keys(ERROR_CODES).sort())
  t.same(doc.paths['/healthz'].get.security, [], 'health is public')
  t.same(doc.security, [{ bearer: [] }])
})
