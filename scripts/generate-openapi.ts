/** `npm run openapi`: regenerate openapi.yaml from the route schemas (the app is built without a model). */
import { readFileSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { loadConfig } from '../src/config.js'
import { buildApp } from '../src/server/app.js'
import { openApiYaml } from '../src/server/openapi.js'

export async function generateOpenApi(): Promise<string> {
  const root = resolve(import.meta.dirname, '..')
  const { version } = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { version: string }
  // No encoder/index: routes and schemas are all there; compileFilter is never called.
  const app = buildApp({ config: loadConfig({}), compileFilter: () => () => true })
  await app.ready()
  const text = openApiYaml(app.jacolbert.routes, version)
  await app.close()
  return text
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = resolve(import.meta.dirname, '..', 'openapi.yaml')
  writeFileSync(out, await generateOpenApi())
  process.stdout.write(`wrote ${out}\n`)
}
