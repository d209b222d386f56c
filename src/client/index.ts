/**
 * `jacolbert-server/client`: a typed HTTP client for the service, from openapi.yaml (openapi-typescript types +
 * openapi-fetch). Every route, request body and response is typed:
 *
 *   const client = createJacolbertClient('http://localhost:8080', { apiKey: process.env.API_KEY })
 *   const { data, error } = await client.POST('/search', { body: { index: 'demo', query: '日本の首都', k: 5 } })
 *
 * `error` is the service's error body ({code, message, statusCode, details?}) on a 4xx/5xx.
 */
import createClient, { type Client, type ClientOptions } from 'openapi-fetch'
import type { components, operations, paths } from './openapi-types.js'

export type { components, operations, paths }
export type JacolbertClient = Client<paths>
/** The error body every 4xx/5xx carries. */
export type ErrorBody = components['schemas']['Error']

export interface JacolbertClientOptions extends Omit<ClientOptions, 'baseUrl' | 'headers'> {
  /** Sent as `Authorization: Bearer <apiKey>` (the server's API_KEY). */
  apiKey?: string | undefined
  headers?: Record<string, string>
}

export function createJacolbertClient(baseUrl: string, opts: JacolbertClientOptions = {}): JacolbertClient {
  const { apiKey, headers, ...rest } = opts
  return createClient<paths>({
    ...rest,
    baseUrl: baseUrl.replace(/\/+$/, ''),
    headers: { ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}), ...headers },
  })
}
