/** openapi.yaml must be what scripts/generate-openapi.ts produces from the current route schemas. */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import t from 'tap'
import { parse } from 'yaml'
import { generateOpenApi } from '../../scripts/generate-openapi.js'
import { ERROR_CODES } from '../../src/errors.js'

const ROOT = resolve(import.meta.dirname, '..', '..')

t.test('openapi.yaml is current (run `npm run openapi` when this fails)', async (t) => {
  const fresh = await generateOpenApi()
  const onDisk = readFileSync(resolve(ROOT, 'openapi.yaml'), 'utf8')
  t.equal(onDisk, fresh, 'checked-in openapi.yaml differs from the generated one: run npm run openapi')
})

t.test('the document covers every route and the error codes', async (t) => {
  const doc = parse(await generateOpenApi()) as any
  t.equal(doc.openapi, '3.1.0')
  const expected = [
    'get /healthz', 'get /readyz', 'get /metrics', 'post /encode', 'post /index', 'post /search', 'post /search/batch',
    'post /rerank', 'get /indexes', 'post /indexes', 'get /indexes/{name}', 'delete /indexes/{name}',
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
