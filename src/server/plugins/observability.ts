/**
 * Per-request bookkeeping: one log line per request (route template, status, latency; never bodies), the HTTP
 * metrics, the x-request-id response header, and refusal of new work once shutdown has begun.
 */
import type { FastifyInstance } from 'fastify'
import { AppError } from '../../errors.js'
import type { AppMetrics } from './metrics.js'

export function installObservability(
  app: FastifyInstance,
  metrics: AppMetrics,
  opts: { quietRoutes: ReadonlySet<string>; closing: () => boolean },
): void {
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id)
    const route = request.routeOptions.url
    if (opts.closing() && !(route !== undefined && opts.quietRoutes.has(route))) {
      reply.header('connection', 'close')
      throw new AppError('NOT_READY', 'the server is shutting down', { retryAfterS: 1 })
    }
  })
  // Requests in flight when shutdown began: close their keep-alive connections after the response, or server.close()
  // would wait for the keep-alive timeout (72 s in Fastify) before the process can exit.
  app.addHook('onSend', async (_request, reply, payload) => {
    if (opts.closing()) reply.header('connection', 'close')
    return payload
  })
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched'
    const labels = { route, method: request.method, status_code: String(reply.statusCode) }
    const ms = reply.elapsedTime
    metrics.httpRequests.inc(labels)
    metrics.httpDuration.observe(labels, ms / 1000)
    const line = { method: request.method, route, url: request.url, statusCode: reply.statusCode, ms: Math.round(ms * 100) / 100 }
    if (opts.quietRoutes.has(route)) request.log.debug(line, 'request')
    else request.log.info(line, 'request')
  })
}
