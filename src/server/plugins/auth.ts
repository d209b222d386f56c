/**
 * Bearer-token auth: with API_KEY set, every route except the public ones (health, readiness, metrics) needs
 * `Authorization: Bearer <key>`. Both sides are hashed first so timingSafeEqual compares equal lengths and the
 * comparison time says nothing about the key.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { AppError } from '../../errors.js'

const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest()

export function installAuth(app: FastifyInstance, apiKey: string | undefined, publicRoutes: ReadonlySet<string>): void {
  if (!apiKey) return
  const expected = sha256(apiKey)
  app.addHook('onRequest', async (request) => {
    const route = request.routeOptions.url
    if (route !== undefined && publicRoutes.has(route)) return
    const header = request.headers.authorization
    const m = typeof header === 'string' ? /^Bearer[ ]+(\S+)\s*$/i.exec(header) : null
    if (!m) throw new AppError('UNAUTHORIZED', 'missing bearer token: send Authorization: Bearer <API_KEY>')
    if (!timingSafeEqual(sha256(m[1]), expected)) throw new AppError('UNAUTHORIZED', 'wrong bearer token')
  })
}
