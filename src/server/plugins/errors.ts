/**
 * One error shape for every 4xx/5xx: `{code, message, statusCode, details?}`. Fastify's own errors (validation, body
 * parsing, limits) are mapped to our codes; anything unexpected becomes a 500 INTERNAL_ERROR whose body says nothing
 * about internals (the log has the stack, keyed by request id).
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { AppError, ERROR_CODES, isAppError, type ErrorCode } from '../../errors.js'
import type { AppMetrics } from './metrics.js'

export interface ErrorBody {
  code: ErrorCode
  message: string
  statusCode: number
  details?: Record<string, unknown>
}

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'VALIDATION_ERROR',
}

const BY_STATUS: Record<number, ErrorCode> = {
  400: 'VALIDATION_ERROR',
  401: 'UNAUTHORIZED',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
}

export function errorBody(code: ErrorCode, message: string, details?: Record<string, unknown>): ErrorBody {
  const body: ErrorBody = { code, message, statusCode: ERROR_CODES[code].status }
  if (details && Object.keys(details).length > 0) body.details = details
  return body
}

/** Map any thrown value to the response body; `internal` tells the caller to log it as a server fault. */
export function toErrorBody(err: unknown): { body: ErrorBody; internal: boolean } {
  if (isAppError(err)) return { body: errorBody(err.code, err.message, err.details), internal: err.statusCode >= 500 && err.code !== 'OVERLOADED' && err.code !== 'NOT_READY' }
  const fe = err as Partial<FastifyError>
  if (fe && Array.isArray(fe.validation)) {
    // JSON turns 1e999 into Infinity, which the schema's number type rejects: report it as the vector problem it is.
    const vec = (fe.validation as Array<{ instancePath?: string; keyword?: string; params?: Record<string, unknown> }>).find(
      (v) => v.keyword === 'type' && v.params?.type === 'number' && /embeddings\/\d+\/\d+$/.test(v.instancePath ?? ''),
    )
    if (vec) {
      const field = `${fe.validationContext ?? 'body'}${vec.instancePath}`
      return { body: errorBody('INVALID_VECTOR', `${field} is not a finite number`, { field }), internal: false }
    }
    const first = fe.validation[0] as { instancePath?: string; params?: Record<string, unknown> } | undefined
    const path = `${fe.validationContext ?? 'body'}${first?.instancePath ?? ''}`
    const extra = first?.params?.additionalProperty ? ` (${String(first.params.additionalProperty)})` : ''
    return { body: errorBody('VALIDATION_ERROR', `${fe.message ?? 'invalid request'}${extra}`, { field: path }), internal: false }
  }
  if (fe && typeof fe.code === 'string' && FASTIFY_CODES[fe.code]) {
    return { body: errorBody(FASTIFY_CODES[fe.code], fe.message ?? 'bad request'), internal: false }
  }
  const status = typeof fe?.statusCode === 'number' ? fe.statusCode : 500
  if (status >= 400 && status < 500) {
    return { body: { code: BY_STATUS[status] ?? 'VALIDATION_ERROR', message: fe.message ?? 'bad request', statusCode: status }, internal: false }
  }
  return { body: errorBody('INTERNAL_ERROR', 'internal error; the server log has details under this request id'), internal: true }
}

/** Retry-After for the capacity errors. */
function retryAfter(body: ErrorBody): number | undefined {
  if (body.code !== 'OVERLOADED' && body.code !== 'NOT_READY') return undefined
  const s = Number(body.details?.retryAfterS)
  return Number.isFinite(s) && s > 0 ? Math.ceil(s) : 1
}

export function sendError(reply: FastifyReply, body: ErrorBody): FastifyReply {
  const ra = retryAfter(body)
  if (ra !== undefined) reply.header('retry-after', String(ra))
  if (body.code === 'UNAUTHORIZED') reply.header('www-authenticate', 'Bearer')
  return reply.code(body.statusCode).type('application/json; charset=utf-8').send(body)
}

/** For Fastify's `frameworkErrors`: router-level failures (malformed percent-encoding, over-long path parameters). */
export function frameworkErrorHandler(err: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const message =
    err.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? 'a path parameter is too long'
      : err.code === 'FST_ERR_BAD_URL'
        ? 'the URL is malformed (invalid percent-encoding)'
        : 'the request cannot be routed'
  void sendError(reply, errorBody('VALIDATION_ERROR', message))
}

/** Installs the error and not-found handlers and the strict JSON body parser. */
export function installErrorHandling(app: FastifyInstance, metrics: AppMetrics, routePatterns: () => Array<{ method: string; re: RegExp }>): void {
  app.setErrorHandler((err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const { body, internal } = toErrorBody(err)
    if (internal) request.log.error({ err }, 'request failed')
    else if (body.statusCode >= 500) request.log.warn({ code: body.code }, body.message)
    if (body.code === 'OVERLOADED') metrics.backpressure.inc({ reason: String((err as AppError).details?.reason ?? 'encoder_queue') })
    return sendError(reply, body)
  })

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]
    const allowed = routePatterns().filter((r) => r.re.test(path)).map((r) => r.method)
    if (allowed.length > 0) {
      reply.header('allow', [...new Set(allowed)].join(', '))
      return sendError(reply, errorBody('METHOD_NOT_ALLOWED', `${request.method} is not allowed on ${path}; use ${[...new Set(allowed)].join(' or ')}`))
    }
    return sendError(reply, errorBody('NOT_FOUND', `no route ${request.method} ${path}`))
  })

  // JSON must be UTF-8 (RFC 8259): decode strictly so invalid bytes are refused instead of silently becoming U+FFFD.
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })
  const parseJson = app.getDefaultJsonParser('error', 'ignore')
  // JSON only: other media types answer 415 instead of reaching the schema as a string.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, raw, done) => {
    const buf = raw as Buffer
    if (buf.length === 0) return done(null, undefined)
    let text: string
    try {
      text = decoder.decode(buf)
    } catch {
      return done(new AppError('INVALID_JSON', 'the request body is not valid UTF-8 (JSON must be UTF-8 encoded)'), undefined)
    }
    parseJson(request, text, (err, body) => {
      if (err) done(new AppError('INVALID_JSON', `the request body is not valid JSON: ${err.message}`), undefined)
      else done(null, body)
    })
  })
}
