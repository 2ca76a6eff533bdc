/**
 * Every integer parameter of every route (found in the OpenAPI document, so a new route is
 * covered without touching this test) refuses the forms ajv's coercion used to take, with
 * INVALID_PARAMETER naming the parameter and saying what to send; a plain decimal value in
 * range passes validation. The ports are fakes that count reads: a refused request reads nothing.
 */
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { build } from './app.ts'
import { DEFAULT_LIMITS } from './config.ts'
import type { ApiPorts } from './ports.ts'

const KEY = { clientId: 'ops', key: 'ops-key-0123456789abcdef0123' }
let reads = 0
/** Any method call is a read the handler made: counted, and answered with an error (500). */
const port = <T>(): T =>
  new Proxy(
    {},
    {
      get: (_t, name) =>
        name === 'then'
          ? undefined
          : () => {
              reads++
              throw new Error(`read ${String(name)}`)
            },
    },
  ) as T

let app: FastifyInstance
beforeAll(async () => {
  const ports: ApiPorts = {
    registry: { size: 0, get: () => undefined, devices: () => [][Symbol.iterator]() },
    revenue: port(),
    fleet: port(),
    quarantine: port(),
    epochs: port(),
    dlq: port(),
    chain: port(),
    holders: { ...port<NonNullable<ApiPorts['holders']>>(), pools: () => ['pool-a'] },
    auditor: { ...port<NonNullable<ApiPorts['auditor']>>(), pools: () => ['pool-a'] },
    probes: [],
  }
  app = await build({
    grid: { genesisMs: 0, epochLengthMs: 3_600_000, intervalMs: 300_000 },
    limits: DEFAULT_LIMITS,
    online: { windowMs: 900_000, clock: 'fleet' },
    apiKeys: [KEY],
    rateLimit: { max: 1_000_000, windowMs: 60_000 },
    ports,
    logger: false,
  })
  await app.ready()
})
afterAll(() => app?.close())

interface Parameter {
  readonly name: string
  readonly in: 'query' | 'path'
  readonly schema: { type?: string; minimum?: number; maximum?: number; items?: { type?: string } }
}
/** Valid values of the string path parameters, so that only the integer is at fault. */
const PATH_VALUES: Record<string, string> = {
  poolId: 'pool-a',
  deviceId: 'pv-0001',
  address: `0x${'ab'.repeat(20)}`,
  hash: `0x${'ab'.repeat(32)}`,
}

function integerParameters() {
  const doc = app.swagger() as {
    paths: Record<string, Record<string, { parameters?: Parameter[] }>>
  }
  const out: { path: string; parameter: Parameter }[] = []
  for (const [path, operations] of Object.entries(doc.paths))
    for (const operation of Object.values(operations))
      for (const parameter of operation.parameters ?? [])
        if (parameter.schema.type === 'integer' || parameter.schema.items?.type === 'integer')
          out.push({ path, parameter })
  return out
}

function url(path: string, parameter: Parameter, value: string): string {
  const filled = path.replace(/\{(\w+)\}/g, (_m, name: string) =>
    name === parameter.name ? encodeURIComponent(value) : (PATH_VALUES[name] ?? 'x'),
  )
  return parameter.in === 'path' ? filled : `${filled}?${parameter.name}=${encodeURIComponent(value)}`
}

const HOSTILE = ['1e400', '1e2', '0x10', ' 1', '1 ', '+1', '1.5', '1.0', '-0', '01', '', 'Infinity', '1_0']

describe('integer parameters on every route', () => {
  it('covers the operator and auditor routes (holder routes take no integer)', () => {
    const paths = new Set(integerParameters().map((p) => p.path))
    for (const p of [
      '/api/v1/operator/devices',
      '/api/v1/operator/epochs',
      '/api/v1/operator/dlq',
      '/api/v1/operator/quarantine',
      '/api/v1/auditor/pools/{poolId}',
      '/api/v1/auditor/pools/{poolId}/devices',
      '/api/v1/auditor/pools/{poolId}/epochs/{epoch}/devices/{deviceId}',
    ])
      expect(paths, p).toContain(p)
    expect([...paths].filter((p) => p.startsWith('/api/v1/holder'))).toEqual([])
  })

  it.each(HOSTILE)('refuses %j on each of them, reading nothing, and says what to send', async (value) => {
    for (const { path, parameter } of integerParameters()) {
      // An empty path segment is a different route (404); the path case is '%20' etc. above.
      if (parameter.in === 'path' && value === '') continue
      const before = reads
      const res = await app.inject({
        method: 'GET',
        url: url(path, parameter, value),
        headers: { 'x-api-key': KEY.key },
      })
      const where = `${path} ${parameter.name}=${JSON.stringify(value)}`
      expect(res.statusCode, `${where}: ${res.body}`).toBe(400)
      const { error } = res.json()
      expect(error.code, where).toBe('INVALID_PARAMETER')
      expect(error.details.issues[0].at, where).toBe(
        `${parameter.in === 'path' ? 'params' : 'querystring'}/${parameter.name}`,
      )
      expect(error.message, where).toMatch(
        new RegExp(`from ${parameter.schema.minimum} to ${parameter.schema.maximum} in plain decimal digits`),
      )
      expect(reads, where).toBe(before)
    }
  })

  it('refuses values out of range, exactly', async () => {
    for (const { path, parameter } of integerParameters()) {
      const { minimum = 0, maximum = 0 } = parameter.schema
      for (const value of [String(BigInt(minimum) - 1n), String(BigInt(maximum) + 1n)]) {
        const res = await app.inject({
          method: 'GET',
          url: url(path, parameter, value),
          headers: { 'x-api-key': KEY.key },
        })
        expect(res.statusCode, `${path} ${parameter.name}=${value}`).toBe(400)
        expect(res.json().error.code).toBe('INVALID_PARAMETER')
      }
    }
  })

  it('lets the plain decimal bounds through to the route', async () => {
    for (const { path, parameter } of integerParameters()) {
      for (const value of [parameter.schema.minimum, parameter.schema.maximum]) {
        const res = await app.inject({
          method: 'GET',
          url: url(path, parameter, String(value)),
          headers: { 'x-api-key': KEY.key },
        })
        const body = res.json()
        // Past validation: the route ran and read a fake port (500), or refused on its own terms.
        const issue = body.error?.details?.issues?.[0]?.at ?? ''
        expect(issue.endsWith(`/${parameter.name}`), `${path} ${parameter.name}=${value}: ${res.body}`).toBe(
          false,
        )
      }
    }
  })
})
