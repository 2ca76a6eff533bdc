/**
 * Upstreams that fail the way a real one does, for tests of adapters: `frozen` accepts TCP
 * connections and never answers (a SIGSTOPped node: the kernel still completes the handshake),
 * `status(503)` answers every request with that HTTP status, `refusing` is a port nobody
 * listens on. Real sockets, so viem's and fetch's own timeouts and errors are what a test sees.
 */
import { createServer as createHttpServer } from 'node:http'
import { createServer, type Socket } from 'node:net'

export interface FakeUpstream {
  readonly url: string
  close(): Promise<void>
}

export async function frozenUpstream(): Promise<FakeUpstream> {
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${port}/`,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

export async function statusUpstream(status: number): Promise<FakeUpstream> {
  const server = createHttpServer((_request, response) => {
    response.writeHead(status, { 'content-type': 'text/plain' }).end('upstream says no')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

/** A JSON-RPC node that answers every request with `result` (an answering chain node). */
export async function jsonRpcUpstream(result: unknown): Promise<FakeUpstream> {
  const server = createHttpServer((request, response) => {
    request.resume()
    request.on('end', () =>
      response
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ jsonrpc: '2.0', id: 1, result })),
    )
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

/**
 * An InfluxDB stand-in whose state a test sets: `up` (ping 204, every query an empty result),
 * `frozen` (nothing answered: a SIGSTOPped influxd) or `busy` (ping answers, queries never
 * finish: an InfluxDB overloaded with queries).
 */
export async function switchableInflux(): Promise<
  FakeUpstream & { set(state: 'up' | 'frozen' | 'busy'): void; readonly queries: () => number }
> {
  let state: 'up' | 'frozen' | 'busy' = 'up'
  let queries = 0
  const server = createHttpServer((request, response) => {
    const isPing = request.url?.startsWith('/ping') === true
    if (!isPing) queries++
    if (state === 'frozen' || (state === 'busy' && !isPing)) return
    request.resume()
    if (isPing) response.writeHead(204).end()
    else response.writeHead(200, { 'content-type': 'text/csv' }).end('')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${port}`,
    set: (next) => {
      state = next
    },
    queries: () => queries,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** A loopback URL whose port was free a moment ago: connections to it are refused. */
export async function refusingUpstream(): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return `http://127.0.0.1:${port}/`
}
