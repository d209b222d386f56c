/**
 * Builds the Fastify app from injected parts; never listens (src/main.ts does, tests use inject()).
 * The encoder and index store may be attached later (`app.jacolbert.attach`) so health probes answer while a model
 * downloads; until then every route that needs them answers 503 NOT_READY.
 */
import { randomUUID } from 'node:crypto'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifySchema } from 'fastify'
import type { ChangeWriter } from '../change-log/change-writer.js'
import type { Config } from '../config.js'
import { createServerContext, type ServerContext } from './context.js'
import { createJobManager, type JobManager } from './jobs.js'
import { installAuth } from './plugins/auth.js'
import { frameworkErrorHandler, installErrorHandling } from './plugins/errors.js'
import { createMetrics, type AppMetrics } from './plugins/metrics.js'
import { installObservability } from './plugins/observability.js'
import type { CompileFilter, EncoderPort, IndexStorePort } from './ports.js'
import { registerCohereRerankRoutes } from './routes/cohere-rerank.js'
import { registerDocumentRoutes } from './routes/documents.js'
import { registerEncodeRoute } from './routes/encode.js'
import { registerIndexRoutes } from './routes/indexes.js'
import { registerOpsRoutes } from './routes/ops.js'
import { registerSearchRoutes } from './routes/search.js'

export interface BuildAppOptions {
  config: Config
  encoder?: EncoderPort
  indexStore?: IndexStorePort
  /** Write path over the change log; omitted = no log (createNoChangeLog) over `indexStore`. */
  writer?: ChangeWriter
  compileFilter: CompileFilter
  /** A pino logger; omitted = no logging. */
  logger?: FastifyBaseLogger
  /** Metrics on the app's own registry; omitted = a fresh one. */
  metrics?: AppMetrics
  jobs?: JobManager
}

export interface RegisteredRoute {
  method: string
  url: string
  schema: FastifySchema | undefined
}

declare module 'fastify' {
  interface FastifyInstance {
    jacolbert: ServerContext & { routes: RegisteredRoute[] }
  }
}

/** Routes reachable without a bearer token, and logged at debug level only. */
export const PUBLIC_ROUTES: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics'])

const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/

export function buildApp(opts: BuildAppOptions): FastifyInstance {
  const { config } = opts
  const metrics = opts.metrics ?? createMetrics()
  const jobs =
    opts.jobs ??
    createJobManager({ onError: (job, err) => app.log.error({ err, job_id: job.id }, 'indexing job failed unexpectedly') })
  metrics.bindSources({ jobs: () => jobs.counts() })
  const ctx = createServerContext({ config, metrics, jobs, compileFilter: opts.compileFilter })

  const app: FastifyInstance = Fastify({
    ...(opts.logger ? { loggerInstance: opts.logger } : { logger: false }),
    // One line per request from installObservability instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.maxBodyBytes,
    return503OnClosing: false,
    // Honour a caller's x-request-id when it is a sane token, so traces join up across services.
    genReqId: (req) => {
      const h = req.headers['x-request-id']
      return typeof h === 'string' && REQUEST_ID_RE.test(h) ? h : randomUUID()
    },
    // Document ids may be up to 512 characters and arrive percent-encoded in DELETE /indexes/:name/documents/:id.
    routerOptions: { maxParamLength: 4096 },
    frameworkErrors: frameworkErrorHandler,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false } },
  })

  const routes: RegisteredRoute[] = []
  const patterns: Array<{ method: string; re: RegExp }> = []
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    for (const method of methods) {
      if (method === 'HEAD') continue
      routes.push({ method, url: route.url, schema: route.schema })
      const re = new RegExp(`^${route.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z0-9_]+/g, '[^/]+')}/?$`)
      patterns.push({ method, re })
    }
  })
  app.decorate('jacolbert', Object.assign(ctx, { routes }))

  installErrorHandling(app, metrics, () => patterns)
  installObservability(app, metrics, { quietRoutes: PUBLIC_ROUTES, closing: () => ctx.closing() })
  installAuth(app, config.apiKey, PUBLIC_ROUTES)

  registerOpsRoutes(app, ctx)
  registerEncodeRoute(app, ctx)
  registerDocumentRoutes(app, ctx)
  registerIndexRoutes(app, ctx)
  registerSearchRoutes(app, ctx)
  registerCohereRerankRoutes(app, ctx)

  if (opts.encoder && opts.indexStore) {
    ctx.attach({ encoder: opts.encoder, indexStore: opts.indexStore, ...(opts.writer ? { writer: opts.writer } : {}) })
  }
  return app
}
