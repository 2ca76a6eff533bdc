/**
 * What the API answers on a real socket to HTTP that fastify's inject() cannot send: a request
 * without a Host header (attack12e F11), a body that stalls (F14), a request line too long for
 * Node's parser (F10), two Host headers (issue 12 F9). Every refusal is the API's JSON error shape.
 */
import { connect } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { stubApp } from './testing/stub-app.ts'

let app: FastifyInstance
let port: number

beforeAll(async () => {
  app = await stubApp()
  port = await listen(app)
})

afterAll(async () => {
  await app?.close()
})

async function listen(server: FastifyInstance): Promise<number> {
  await server.listen({ host: '127.0.0.1', port: 0 })
  const address = server.server.address()
  if (address === null || typeof address === 'string') throw new Error('not listening on a port')
  return address.port
}

interface Exchange {
  readonly status: number
  readonly headers: string
  readonly body: string
  readonly closedAfterMs: number
}

/** Writes `bytes` on a new connection and reads until the server closes it (or `waitMs`). */
function exchange(toPort: number, bytes: string, waitMs = 5_000): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const started = Date.now()
    let received = ''
    const socket = connect(toPort, '127.0.0.1', () => socket.write(bytes))
    const timer = setTimeout(() => socket.destroy(), waitMs)
    const done = () => {
      clearTimeout(timer)
      const end = received.indexOf('\r\n\r\n')
      resolve({
        status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(received)?.[1] ?? 0),
        headers: end < 0 ? received : received.slice(0, end),
        body: end < 0 ? '' : received.slice(end + 4),
        closedAfterMs: Date.now() - started,
      })
    }
    socket.on('data', (chunk) => {
      received += chunk.toString()
    })
    socket.on('close', done)
    socket.on('error', (error) => (received === '' ? reject(error) : undefined))
  })
}

const errorCode = (body: string) => (JSON.parse(body) as { error: { code: string } }).error.code

describe('a request without a Host header (attack12e F11)', () => {
  it('is refused on HTTP/1.1 with 400 MALFORMED_REQUEST in the error shape', async () => {
    const answer = await exchange(port, 'GET /healthz HTTP/1.1\r\n\r\n')
    expect(answer.status, answer.headers).toBe(400)
    expect(answer.headers.toLowerCase()).toContain('content-type: application/json')
    const body = JSON.parse(answer.body) as { error: { code: string; message: string; hint: string } }
    expect(body.error.code).toBe('MALFORMED_REQUEST')
    expect(body.error.message).toContain('Host')
    expect(body.error.hint).toContain('Host')
  })

  it('is answered on HTTP/1.0, which has no Host header, and with one on HTTP/1.1', async () => {
    const old = await exchange(port, 'GET /healthz HTTP/1.0\r\n\r\n')
    expect(old.status, old.headers).toBe(200)
    const withHost = await exchange(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    expect(withHost.status, withHost.headers).toBe(200)
  })

  it('is refused before the route: an operator route answers 400, not 401', async () => {
    const answer = await exchange(port, 'GET /api/v1/operator/fleet HTTP/1.1\r\n\r\n')
    expect(answer.status).toBe(400)
    expect(errorCode(answer.body)).toBe('MALFORMED_REQUEST')
  })
})

describe('a request with two Host headers (attack issue 12 F9)', () => {
  it('is refused with 400 DUPLICATE_HEADER naming the header, before the route', async () => {
    for (const path of ['/healthz', '/api/v1/operator/fleet']) {
      const answer = await exchange(
        port,
        `GET ${path} HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n`,
      )
      expect(answer.status, answer.headers).toBe(400)
      const body = JSON.parse(answer.body) as { error: { code: string; details: { header: string } } }
      expect(body.error.code).toBe('DUPLICATE_HEADER')
      expect(body.error.details.header).toBe('host')
      expect(answer.headers.toLowerCase()).toContain('connection: close')
    }
  })

  it('takes one Host header', async () => {
    const answer = await exchange(
      port,
      'GET /healthz HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n',
    )
    expect(answer.status, answer.headers).toBe(200)
  })
})

describe('a request whose body stalls (attack12e F14)', () => {
  it('is answered 408 REQUEST_TIMEOUT in the error shape after GRIDROOT_API_REQUEST_TIMEOUT, and closed', async () => {
    const timeoutMs = 300
    const slow = await stubApp({}, { requestTimeoutMs: timeoutMs })
    try {
      const answer = await exchange(
        await listen(slow),
        'POST /api/v1/dev-wallet/rpc HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
          'Content-Length: 10\r\n\r\n{"id":1',
        5_000,
      )
      expect(answer.status, answer.headers).toBe(408)
      expect(errorCode(answer.body)).toBe('REQUEST_TIMEOUT')
      expect(answer.closedAfterMs).toBeGreaterThanOrEqual(timeoutMs - 50)
      expect(answer.closedAfterMs).toBeLessThan(timeoutMs + 1_500)
    } finally {
      await slow.close()
    }
  })

  it('times out headers that never end the same way', async () => {
    const slow = await stubApp({}, { requestTimeoutMs: 300 })
    try {
      const answer = await exchange(await listen(slow), 'GET /healthz HTTP/1.1\r\nHost: x\r\n', 5_000)
      expect(answer.status, answer.headers).toBe(408)
      expect(errorCode(answer.body)).toBe('REQUEST_TIMEOUT')
    } finally {
      await slow.close()
    }
  })

  it('does not cut a response that takes longer than the timeout: it times receiving only', async () => {
    const slowProbe = {
      name: 'slow',
      check: async () => {
        await new Promise((resolve) => setTimeout(resolve, 900))
        return { ok: true }
      },
    }
    const slow = await stubApp({ probes: [slowProbe] }, { requestTimeoutMs: 300 })
    try {
      const answer = await exchange(
        await listen(slow),
        'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
        5_000,
      )
      expect(answer.status, answer.headers).toBe(200)
      expect(answer.closedAfterMs).toBeGreaterThanOrEqual(850)
    } finally {
      await slow.close()
    }
  })
})

describe('a request line or headers over Node’s limit (attack12e F10)', () => {
  const refusal = (answer: Exchange) => {
    expect(answer.status, answer.headers).toBe(431)
    return (
      JSON.parse(answer.body) as { error: { code: string; message: string; hint: string; details: object } }
    ).error
  }

  it('names the URL when the request line alone is too long', async () => {
    for (const length of [17_000, 100_000]) {
      const error = refusal(await exchange(port, `GET /${'a'.repeat(length)} HTTP/1.1\r\nHost: x\r\n\r\n`))
      expect(error.code).toBe('HEADERS_TOO_LARGE')
      expect(error.message).toContain('request line (URL)')
      expect(error.hint).toContain('URL')
      expect(error.details).toMatchObject({ maxBytes: 16_384, tooLong: 'request line' })
    }
  })

  it('names both, URL and headers, when it cannot tell the request line alone is over', async () => {
    const error = refusal(
      await exchange(port, `GET /healthz HTTP/1.1\r\nHost: x\r\nCookie: ${'c'.repeat(40_000)}\r\n\r\n`),
    )
    expect(error.code).toBe('HEADERS_TOO_LARGE')
    expect(error.message).toContain('request line (URL) and headers')
    expect(error.hint).toContain('URL')
    expect(error.hint).toContain('cookies count')
    expect(error.details).toEqual({ maxBytes: 16_384 })
  })
})
