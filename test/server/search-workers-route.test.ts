/**
 * /search and /search/batch through the search worker pool answer exactly what the in-process search answers on the
 * same index store (two apps over one store, one with the pool attached), filters and metadata included.
 */
import t from 'tap'
import { loadConfig } from '../../src/config.js'
import { compileFilter } from '../../src/index/metadata-filter.js'
import { createSearchPool } from '../../src/search-workers/search-pool.js'
import { buildApp } from '../../src/server/app.js'
import { loadTestParts } from './parts.js'
import { hasShared } from '../helpers/shared.js'
import { loadJsquad } from './jsquad.js'

t.test('search through the worker pool equals the in-process search', { skip: hasShared ? false : 'needs ../shared (the real index store behind the tiny model)' }, async (t) => {
  const parts = await loadTestParts()
  t.teardown(() => parts.close())
  const pool = await createSearchPool({ workers: 2 })
  t.teardown(() => pool.close())
  const store = parts.makeStore()
  const config = loadConfig({ MAX_BATCH_TEXTS: '1200' })
  const local = buildApp({ config, encoder: parts.encoder, indexStore: store, compileFilter })
  t.teardown(() => local.close())
  const pooled = buildApp({ config, compileFilter })
  pooled.jacolbert.attach({ encoder: parts.encoder, indexStore: store, searchPool: pool })
  t.teardown(() => pooled.close())
  const post = async (app: typeof local, url: string, payload: object) => {
    const res = await app.inject({ method: 'POST', url, payload })
    return { status: res.statusCode, body: res.json() }
  }
  const passages = loadJsquad().slice(0, 300)
  const docs = passages.map((p, i) => ({ id: p.id, text: p.text, metadata: { title: p.title, n: i } }))
  t.equal((await post(local, '/index', { documents: docs })).status, 200)
  const questions = passages.slice(0, 40).map((p) => p.questions[0]!)
  let same = 0
  for (const [i, q] of questions.entries()) {
    const body = i % 2 ? { query: q, k: 5 } : { query: q, k: 5, filter: { n: { $lt: 150 } } }
    const a = await post(local, '/search', body)
    const b = await post(pooled, '/search', body)
    if (a.status === 200 && JSON.stringify(a.body) === JSON.stringify(b.body)) same++
    if (i === 3) {
      // a write between searches: the pool publishes a new version
      await post(local, '/index', { documents: docs.slice(0, 20).map((d) => ({ ...d, metadata: { ...d.metadata, updated: true } })) })
    }
  }
  t.equal(same, questions.length, `${same}/${questions.length} /search responses identical`)
  const batch = { queries: questions.slice(0, 8), k: 3 }
  const a = await post(local, '/search/batch', batch)
  const b = await post(pooled, '/search/batch', batch)
  t.equal(b.status, 200)
  t.same(b.body, a.body, '/search/batch identical')
  t.ok(b.body.results.flat().some((h: { metadata?: { updated?: boolean } }) => h.metadata?.updated === true), 'hits carry the metadata of the latest write')
})
