/**
 * Where this process connects to: hosts of fetch (undici) connections and of net sockets, from Node's diagnostics
 * channels. The client tests assert that SDKs (cohere-ai, LangChain) reach only the test server: no telemetry.
 */
import dc from 'node:diagnostics_channel'
import type { Socket } from 'node:net'

/** The code that records connections, as a module's source, to preload in a child process (`--import`). */
export const OUTBOUND_GUARD_SOURCE = `
import dc from 'node:diagnostics_channel'
const seen = new Set()
const note = (h) => { if (h && !seen.has(h)) { seen.add(h); process.stderr.write('OUTBOUND ' + h + '\\n') } }
dc.subscribe('undici:client:beforeConnect', ({ connectParams }) => note(connectParams.hostname))
dc.subscribe('net.client.socket', ({ socket }) => {
  socket.once('lookup', (_e, _a, _f, host) => note(host))
  socket.once('connect', () => note(socket.remoteAddress))
})
`

export function watchOutbound(): { hosts: Set<string>; stop(): void } {
  const hosts = new Set<string>()
  const onFetch = (m: unknown) => hosts.add((m as { connectParams: { hostname: string } }).connectParams.hostname)
  const onSocket = (m: unknown) => {
    const socket = (m as { socket: Socket }).socket
    socket.once('lookup', (_e: unknown, _a: unknown, _f: unknown, host: string) => hosts.add(host))
    socket.once('connect', () => socket.remoteAddress && hosts.add(socket.remoteAddress))
  }
  dc.subscribe('undici:client:beforeConnect', onFetch)
  dc.subscribe('net.client.socket', onSocket)
  return {
    hosts,
    stop() {
      dc.unsubscribe('undici:client:beforeConnect', onFetch)
      dc.unsubscribe('net.client.socket', onSocket)
    },
  }
}
