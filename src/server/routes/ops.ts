/** GET /healthz (alive), GET /readyz (model loaded and snapshots restored), GET /metrics (Prometheus text). */
import type { FastifyInstance, FastifySchema } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { AppError } from '../../errors.js'
import type { ServerContext } from '../context.js'
import { HealthResponse, ReadyResponse } from '../schemas/ops.js'

export function registerOpsRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>()
  r.get('/healthz', { schema: { summary: 'Liveness: the process is up', tags: ['operations'], response: { 200: HealthResponse } } }, async () => ({
    status: 'ok' as const,
  }))

  r.get(
    '/readyz',
    { schema: { summary: 'Readiness: model loaded, index snapshots restored and (shared mode) caught up with the database (503 NOT_READY before)', tags: ['operations'], response: { 200: ReadyResponse } } },
    async () => {
      if (ctx.closing()) throw new AppError('NOT_READY', 'the server is shutting down', { retryAfterS: 1 })
      const { encoder, indexStore, replication } = ctx.parts()
      const out = { status: 'ready' as const, model: encoder.modelName, dim: encoder.dim, provider: encoder.provider, indexes: indexStore.list().length }
      // stays 200 while the database is down: failing readiness would pull every replica out of the Service and turn a
      // database outage into a search outage
      return replication ? { ...out, database: replication.status().databaseUp ? ('up' as const) : ('down' as const) } : out
    },
  )

  r.get('/metrics', { schema: { summary: 'Prometheus metrics (text exposition format)', tags: ['operations'] } as FastifySchema }, async (_req, reply) => {
    const text = await ctx.metrics.registry.metrics()
    return reply.type(ctx.metrics.registry.contentType).send(text)
  })
}
