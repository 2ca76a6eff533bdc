/**
 * What the API answers to requests it refuses, on in-memory ports: paths and methods it does not
 * have, hostile ids and cursors, malformed HTTP, and hints that fit the route they come from
 * (attack12c F2–F5). Every refusal is `{"error":{"code","message","hint"}}` with a stable code.
 */
import { connect } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { epochOf } from '../../core/epochs/grid.ts'
import { MAX_DEVICE_TIME_MS } from '../../core/telemetry/decode.ts'
import { STUB_GRID, STUB_KEY, STUB_POOL, stubApp } from './testing/stub-app.ts'

let app: FastifyInstance
const ops = { 'x-api-key': STUB_KEY.key }
const DAY = 'from=2026-06-01T00:00:00Z&to=2026-06-02T00:00:00Z'

interface ErrorJson {
  readonly error: {
    readonly code: string
    readonly message: string
    readonly hint: string
    readonly details?: Record<string, unknown>
  }
}

async function call(
  url: string,
  method: 'GET' | 'POST' | 'DELETE' | 'PUT' = 'GET',
  headers: Record<string, string> = ops,
) {
  const res = await app.inject({ method, url, headers })
  return { status: res.statusCode, headers: res.headers, raw: res.body, json: () => res.json() as ErrorJson }
}

async function refusal(
  url: string,
  status: number,
  code: string,
  method?: 'GET' | 'POST' | 'DELETE' | 'PUT',
) {
  const res = await call(url, method)
  expect(res.status, res.raw).toBe(status)
  const { error } = res.json()
  expect(error.code).toBe(code)
  expect(error.hint.length).toBeGreaterThan(20)
  return { ...error, raw: res.raw, headers: res.headers }
}

beforeAll(async () => {
  app = await stubApp()
})

afterAll(async () => {
  await app?.close()
})

describe('paths the API does not have (attack12c F2)', () => {
  it.each([
    ['a null byte', '/foo%00'],
    ['a file name longer than any file system takes', `/${'x'.repeat(300)}`],
    ['a dotfile', '/.env'],
    ['a path outside the dashboard', '/assets/uplot/../../package.json'],
    ['an API path', '/api/v1/nothing-here'],
  ])('answers %s with 404 NOT_FOUND that points at /docs, never 400 "Forbidden"', async (_what, url) => {
    const error = await refusal(url, 404, 'NOT_FOUND')
    expect(error.message).not.toContain('Forbidden')
    expect(`${error.message} ${error.hint}`).toContain('/docs')
  })

  it('does not echo an id longer than any route takes', async () => {
    const id = 'a'.repeat(150)
    for (const url of [
      `/api/v1/operator/devices/${id}`,
      `/api/v1/auditor/pools/${id}`,
      `/${'b'.repeat(5_000)}`,
    ]) {
      const error = await refusal(url, 404, 'NOT_FOUND')
      expect(error.raw).not.toContain('a'.repeat(101))
      expect(error.raw).not.toContain('b'.repeat(101))
      expect(error.raw.length).toBeLessThan(600)
    }
  })

  it('does not echo the path at all: a key put in it is not answered back (issue 12 F7)', async () => {
    for (const [url, method] of [
      [`/api/v1/operator/${STUB_KEY.key}`, 'GET'],
      [`/${STUB_KEY.key}/fleet`, 'GET'],
      ['/api/v1/operator/fleet/secret-in-path-0123456789', 'GET'],
      [`/api/v1/operator/devices/${STUB_KEY.key}`, 'PUT'],
    ] as const) {
      const res = await call(url, method)
      expect([404, 405], res.raw).toContain(res.status)
      expect(res.raw).not.toContain(STUB_KEY.key)
      expect(res.raw).not.toContain('secret-in-path')
      expect(res.json().error.message).toContain('this path')
    }
  })

  it('answers a URL that does not decode in the error shape, without echoing it', async () => {
    const error = await refusal('/api/v1/operator/fleet%zz', 400, 'INVALID_URL')
    expect(error.raw).not.toContain('%zz')
  })
})

describe('hints that fit their route (attack12c F3)', () => {
  it('talks about epoch numbers, not RFC 3339, for fromEpoch after toEpoch', async () => {
    const error = await refusal('/api/v1/operator/epochs?fromEpoch=5&toEpoch=2', 400, 'INVALID_RANGE')
    expect(error.hint).toContain('fromEpoch')
    expect(error.hint).not.toContain('RFC 3339')
  })

  it('suggests a coarser resolution only where there is one', async () => {
    const epochs = await refusal('/api/v1/operator/epochs?fromEpoch=0&toEpoch=900', 400, 'RANGE_TOO_LARGE')
    expect(epochs.hint).not.toContain('resolution')
    expect(epochs.hint).toContain('limit')
    const quarantine = await refusal(
      '/api/v1/operator/quarantine/counts?from=2026-01-01T00:00:00Z&to=2027-06-01T00:00:00Z',
      400,
      'RANGE_TOO_LARGE',
    )
    expect(quarantine.hint).not.toContain('resolution')
    const revenue = await refusal(
      '/api/v1/operator/revenue?groupBy=pool&from=2026-01-01T00:00:00Z&to=2026-12-01T00:00:00Z&resolution=5m',
      400,
      'RANGE_TOO_LARGE',
    )
    expect(revenue.hint).toContain('coarser resolution')
  })

  it('refuses a leap second as an invalid parameter, naming it', async () => {
    const error = await refusal(
      '/api/v1/operator/quarantine/counts?from=2026-06-30T23:59:60Z&to=2026-07-01T00:00:00Z',
      400,
      'INVALID_PARAMETER',
    )
    expect(error.details?.parameter).toBe('from')
    expect(error.message).toContain('leap second')
  })

  it('says a dev-wallet body that does not parse is not valid JSON', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/dev-wallet/rpc',
      headers: { 'content-type': 'application/json' },
      payload: '{"jsonrpc":"2.0",',
    })
    expect(res.statusCode, res.body).toBe(400)
    const { error } = res.json() as ErrorJson
    expect(error.code).toBe('INVALID_BODY')
    expect(error.message).toContain('not valid JSON')
    expect(error.hint).not.toContain('named parameter')
  })
})

describe('epochs past device time on the auditor route (attack12c F4)', () => {
  it('refuses an epoch that starts after 2100-01-01 with details.maxEpoch, and takes the last one', async () => {
    const maxEpoch = epochOf(STUB_GRID, MAX_DEVICE_TIME_MS - 1)
    const audit = (epoch: number) => `/api/v1/auditor/pools/${STUB_POOL}/epochs/${epoch}/devices/pv-0001`
    for (const epoch of [maxEpoch + 1, 100_000_000, Number.MAX_SAFE_INTEGER]) {
      const error = await refusal(audit(epoch), 400, 'INVALID_PARAMETER')
      expect(error.details).toMatchObject({ parameter: 'epoch', maxEpoch })
    }
    // The last epoch of device time reaches the audit (whose store lacks the artifact here).
    await refusal(audit(maxEpoch), 503, 'ARTIFACT_UNAVAILABLE')
  })
})

describe('consistency (attack12c F5)', () => {
  it.each([
    ['devices', '/api/v1/operator/devices?pool='],
    ['quarantine', `/api/v1/operator/quarantine?${DAY}&pool=`],
    ['quarantine counts', `/api/v1/operator/quarantine/counts?${DAY}&pool=`],
    ['revenue', `/api/v1/operator/revenue?groupBy=pool&${DAY}&resolution=1h&pool=`],
  ])('answers an unknown pool on %s with 404 UNKNOWN_POOL, a known one with 200', async (_what, url) => {
    const error = await refusal(`${url}no-such-pool`, 404, 'UNKNOWN_POOL')
    expect(error.details).toEqual({ unknown: ['no-such-pool'] })
    expect((await call(`${url}${STUB_POOL}`)).status).toBe(200)
  })

  it('lists in the OpenAPI document exactly the resolutions the revenue route takes', async () => {
    const doc = (await call('/docs/json', 'GET', {})).raw
    const revenue = JSON.parse(doc).paths['/api/v1/operator/revenue'].get
    const resolution = revenue.parameters.find((p: { name: string }) => p.name === 'resolution')
    const offered: string[] = resolution.schema.enum
    expect(offered).not.toContain('1m')
    expect(offered).toContain('5m')
    for (const r of offered) {
      const res = await call(`/api/v1/operator/revenue?groupBy=pool&${DAY}&resolution=${r}`)
      expect(res.status, `${r}: ${res.raw}`).toBe(200)
    }
    await refusal(`/api/v1/operator/revenue?groupBy=pool&${DAY}&resolution=1m`, 400, 'INVALID_PARAMETER')
  })

  it('answers a wrong method on an existing path with 405 and an Allow header', async () => {
    const post = await refusal('/api/v1/operator/fleet', 405, 'METHOD_NOT_ALLOWED', 'POST')
    expect(post.headers.allow).toBe('GET, HEAD')
    const put = await refusal('/api/v1/operator/devices/pv-0001', 405, 'METHOD_NOT_ALLOWED', 'PUT')
    expect(put.headers.allow).toBe('GET, HEAD')
    const del = await refusal('/healthz', 405, 'METHOD_NOT_ALLOWED', 'DELETE')
    expect(del.details).toEqual({ allow: ['GET', 'HEAD'] })
    const get = await refusal('/api/v1/dev-wallet/rpc', 405, 'METHOD_NOT_ALLOWED', 'GET')
    expect(get.headers.allow).toBe('POST')
    // A path nothing serves stays a 404, whatever the method.
    await refusal('/api/v1/operator/nothing', 404, 'NOT_FOUND', 'POST')
  })

  it('refuses a DLQ cursor beyond int64 without echoing it, and takes the largest', async () => {
    const error = await refusal(
      '/api/v1/operator/dlq?partition=0&fromOffset=9999999999999999999',
      400,
      'INVALID_PARAMETER',
    )
    expect(error.raw).not.toContain('9999999999999999999')
    expect(error.details).toMatchObject({ parameter: 'fromOffset', maxOffset: '9223372036854775807' })
    expect((await call('/api/v1/operator/dlq?partition=0&fromOffset=9223372036854775807')).status).toBe(200)
    const across = await refusal(
      '/api/v1/operator/dlq?cursor=0:9999999999999999999',
      400,
      'INVALID_PARAMETER',
    )
    expect(across.raw).not.toContain('9999999999999999999')
    expect(across.details).toMatchObject({ parameter: 'cursor' })
  })

  it('pages every DLQ partition without partition, from a cursor naming each (issue 12 F1)', async () => {
    const res = await call('/api/v1/operator/dlq')
    expect(res.status, res.raw).toBe(200)
    expect(JSON.parse(res.raw)).toEqual({
      nextCursor: '0:10',
      records: [],
      asOfMs: STUB_GRID.genesisMs,
      caughtUp: true,
    })
    // A cursor past a partition's end continues at its end (attack12d F8).
    expect((await call('/api/v1/operator/dlq?cursor=0:99')).status).toBe(200)
    await refusal('/api/v1/operator/dlq?cursor=3:0', 404, 'UNKNOWN_PARTITION')
    for (const url of [
      '/api/v1/operator/dlq?fromOffset=0',
      '/api/v1/operator/dlq?partition=0&cursor=0:1',
      '/api/v1/operator/dlq?cursor=0:1,0:2',
      '/api/v1/operator/dlq?cursor=0:01',
    ]) {
      const error = await refusal(url, 400, 'INVALID_PARAMETER')
      expect(error.message, url).toMatch(/fromOffset|cursor/)
    }
  })

  it('continues a DLQ cursor past the partition end at the end, and refuses leading zeros (attack12d F8)', async () => {
    // The stub's partition 0 ends at offset 10 (its reader echoes a cursor beyond, as the tail did).
    for (const fromOffset of ['11', '30', '9223372036854775807']) {
      const res = await call(`/api/v1/operator/dlq?partition=0&fromOffset=${fromOffset}`)
      expect(res.status, res.raw).toBe(200)
      expect(JSON.parse(res.raw)).toMatchObject({ partition: 0, nextOffset: '10', records: [] })
    }
    for (const fromOffset of ['00', '010']) {
      const error = await refusal(
        `/api/v1/operator/dlq?partition=0&fromOffset=${fromOffset}`,
        400,
        'INVALID_PARAMETER',
      )
      expect(error.message).toContain('fromOffset')
    }
    expect((await call('/api/v1/operator/dlq?partition=0&fromOffset=0')).status).toBe(200)
  })

  it('serves a favicon', async () => {
    const res = await call('/favicon.ico', 'GET', {})
    expect(res.status).toBe(200)
    expect(res.headers['content-type']).toBe('image/vnd.microsoft.icon')
  })

  it('answers headers too large (431) in the error shape', async () => {
    await app.listen({ host: '127.0.0.1', port: 0 })
    const address = app.server.address()
    if (address === null || typeof address === 'string') throw new Error('not listening on a port')
    const answer = await new Promise<string>((resolve, reject) => {
      let received = ''
      const socket = connect(address.port, '127.0.0.1', () => {
        socket.write(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'h'.repeat(40_000)}\r\n\r\n`)
      })
      socket.on('data', (chunk) => {
        received += chunk.toString()
      })
      socket.on('close', () => resolve(received))
      socket.on('error', (error) => (received === '' ? reject(error) : resolve(received)))
    })
    expect(answer).toMatch(/^HTTP\/1\.1 431 /)
    const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as ErrorJson
    expect(body.error.code).toBe('HEADERS_TOO_LARGE')
    expect(body.error.hint).toContain('header')
  })
})
