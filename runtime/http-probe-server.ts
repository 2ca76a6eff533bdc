/**
 * The small HTTP side door every service has: Prometheus metrics on /metrics and a health check
 * on /healthz (200 while healthy, 503 otherwise, with a JSON body saying why).
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Registry } from 'prom-client'

export interface ProbeServer {
  readonly port: number
  close(): Promise<void>
}

export async function startProbeServer(options: {
  readonly host: string
  readonly port: number
  readonly registry: Registry
  /** The body of /healthz, as JSON; `ok` decides between 200 and 503. */
  readonly health: () => { readonly ok: boolean }
}): Promise<ProbeServer> {
  const server: Server = createServer((req, res) => {
    if (req.url === '/metrics') {
      options.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': options.registry.contentType })
          res.end(text)
        },
        (error: unknown) => {
          res.writeHead(500)
          res.end(String(error))
        },
      )
      return
    }
    if (req.url === '/healthz') {
      const health = options.health()
      res.writeHead(health.ok ? 200 : 503, {
        'content-type': 'application/json',
        'cache-control': 'no-store',
      })
      res.end(JSON.stringify(health))
      return
    }
    res.writeHead(404, { 'content-type': 'text/plain' })
    res.end('not found: try /metrics or /healthz\n')
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, resolve)
  })
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
