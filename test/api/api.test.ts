/**
 * The API against the real stack: InfluxDB (a database of this test's own) and Kafka (a topic
 * prefix of its own), through `inject()`. Every route's success path is compared with sums
 * computed from the fixture rows; error paths cover auth, rate limits and hostile parameters.
 */
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest'
import { createFluxQuerier } from '../../services/api/adapters/flux-query.ts'
import { createQueryGate } from '../../services/api/domain/query-gate.ts'
import { CI_KEY, type FixtureApp, fixtureApp, OPS_KEY } from './app-harness.ts'
import { dropFixture, type Fixture, GENESIS_MS, writeFixture } from './fixture.ts'

const endpoints = inject('endpoints')
const name = `apitest_${process.pid}_${Date.now().toString(36)}`
let fixture: Fixture
let api: FixtureApp

const ops = { 'x-api-key': OPS_KEY.key }
const iso = (ms: number) => new Date(ms).toISOString()
const HOUR = 3_600_000

async function get(url: string, headers: Record<string, string> = ops) {
  const response = await api.app.inject({ method: 'GET', url, headers })
  return { status: response.statusCode, body: response.json(), headers: response.headers }
}

function expectError(
  res: { status: number; body: { error?: { code: string; hint: string } } },
  status: number,
  code: string,
) {
  expect(res.status, JSON.stringify(res.body)).toBe(status)
  expect(res.body.error?.code).toBe(code)
  expect(res.body.error?.hint.length).toBeGreaterThan(10)
}

beforeAll(async () => {
  fixture = await writeFixture(endpoints, name)
  api = await fixtureApp(endpoints, fixture)
  await api.dlq.caughtUp()
})

afterAll(async () => {
  await api?.close()
  if (fixture) await dropFixture(fixture)
})

describe('auth', () => {
  it('refuses operator routes without a key, with a wrong key, and takes a bearer key', async () => {
    expectError(await get('/api/v1/operator/pools', {}), 401, 'UNAUTHORIZED')
    expectError(await get('/api/v1/operator/pools', { 'x-api-key': `${OPS_KEY.key}x` }), 401, 'UNAUTHORIZED')
    expectError(
      await get('/api/v1/operator/pools', { 'x-api-key': OPS_KEY.key.slice(0, -1) }),
      401,
      'UNAUTHORIZED',
    )
    expect((await get('/api/v1/operator/pools', { authorization: `Bearer ${CI_KEY.key}` })).status).toBe(200)
    // The scheme is case-insensitive (RFC 7235).
    for (const scheme of ['bearer', 'BEARER', 'bEaReR'])
      expect((await get('/api/v1/operator/pools', { authorization: `${scheme} ${CI_KEY.key}` })).status).toBe(
        200,
      )
  })

  it('refuses before reading: an unauthenticated hostile query is a 401, not a 400 or a query', async () => {
    expectError(
      await get('/api/v1/operator/revenue?groupBy=pool&from=x&to=y&resolution=1h', {}),
      401,
      'UNAUTHORIZED',
    )
  })
})

describe('rate limits', () => {
  it('limits each client separately and answers 429 RATE_LIMITED with retry-after', async () => {
    const limited = await fixtureApp(endpoints, fixture, { rateLimitMax: 3, dlq: api.dlq })
    try {
      const call = (headers: Record<string, string>) =>
        limited.app.inject({ method: 'GET', url: '/api/v1/operator/pools', headers })
      for (let i = 0; i < 3; i++) expect((await call(ops)).statusCode).toBe(200)
      const refused = await call(ops)
      expect(refused.statusCode).toBe(429)
      expect(refused.json().error.code).toBe('RATE_LIMITED')
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0)
      // The message names the window and when to retry, in the retry-after header's seconds.
      expect(refused.json().error.message).toBe(
        `more than 3 requests in 60 s: retry after ${refused.headers['retry-after']} s`,
      )
      // Another client's key has its own budget.
      expect((await call({ 'x-api-key': CI_KEY.key })).statusCode).toBe(200)
      // Unauthenticated callers are counted per address, apart from the clients.
      expect((await call({})).statusCode).toBe(401)
    } finally {
      await limited.close()
    }
  })

  it('charges wrong and missing keys to the address: a key guesser meets 429, valid keys keep their budget (attack12 F1)', async () => {
    const limited = await fixtureApp(endpoints, fixture, { rateLimitMax: 3, dlq: api.dlq })
    try {
      const call = (url: string, headers: Record<string, string>) =>
        limited.app.inject({ method: 'GET', url, headers })
      const statuses: number[] = []
      for (let i = 0; i < 6; i++) {
        const guess = `wrong-key-${i}-0123456789abcdef0123`
        statuses.push((await call('/api/v1/operator/pools', { 'x-api-key': guess })).statusCode)
      }
      expect(statuses).toEqual([401, 401, 401, 429, 429, 429])
      const refused = await call('/api/v1/operator/pools', {})
      expect(refused.statusCode).toBe(429)
      expect(refused.json().error.code).toBe('RATE_LIMITED')
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0)
      // The address's bucket is the same one public routes use.
      expect((await call('/api/v1/nothing-here', {})).statusCode).toBe(429)
      // A valid key is its own client: the address's exhausted bucket does not refuse it.
      expect((await call('/api/v1/operator/pools', ops)).statusCode).toBe(200)
    } finally {
      await limited.close()
    }
  })
})

describe('revenue', () => {
  const from = iso(GENESIS_MS)
  const to = iso(GENESIS_MS + 3 * HOUR)
  const expected = (keyOf: (r: Fixture['revenueRows'][number]) => string, resolutionMs: number) => {
    const out = new Map<string, Map<number, bigint>>()
    for (const r of fixture.revenueRows) {
      const w = GENESIS_MS + Math.floor((r.startMs - GENESIS_MS) / resolutionMs) * resolutionMs
      const series = out.get(keyOf(r)) ?? new Map()
      out.set(keyOf(r), series)
      series.set(w, (series.get(w) ?? 0n) + r.revenueUnits)
    }
    return out
  }
  const asMap = (series: { key: string; points: { startMs: number[]; revenueUnits: string[] } }[]) =>
    new Map(
      series.map((s) => [
        s.key,
        new Map(s.points.startMs.map((t, i) => [t, BigInt(s.points.revenueUnits[i] ?? '')])),
      ]),
    )

  it('sums per pool and window in InfluxDB, to the unit, with adjustments in their booked window', async () => {
    const res = await get(`/api/v1/operator/revenue?groupBy=pool&from=${from}&to=${to}&resolution=1h`)
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    expect(res.body.windows).toBe(3)
    expect(asMap(res.body.series)).toEqual(expected((r) => r.poolId, HOUR))
    // int64 beyond 2^53 survives (a float would round 9007199254740993 to ...992).
    const all = res.body.series.flatMap((s: { points: { revenueUnits: string[] } }) => s.points.revenueUnits)
    expect(all.some((v: string) => BigInt(v) > 9_007_199_254_740_993n)).toBe(true)
    for (const s of res.body.series) {
      expect(BigInt(s.totalRevenueUnits)).toBe(
        s.points.revenueUnits.reduce((a: bigint, v: string) => a + BigInt(v), 0n),
      )
    }
  })

  it('groups by asset class at 15 minutes, filtered by pool', async () => {
    const pool = fixture.registry.get(fixture.lagging)?.poolId ?? ''
    const res = await get(
      `/api/v1/operator/revenue?groupBy=class&from=${from}&to=${to}&resolution=15m&pool=${pool}`,
    )
    expect(res.status).toBe(200)
    const rows = fixture.revenueRows.filter((r) => r.poolId === pool)
    const want = new Map<string, Map<number, bigint>>()
    for (const r of rows) {
      const w = GENESIS_MS + Math.floor((r.startMs - GENESIS_MS) / 900_000) * 900_000
      const s = want.get(r.assetClass) ?? new Map()
      want.set(r.assetClass, s)
      s.set(w, (s.get(w) ?? 0n) + r.revenueUnits)
    }
    expect(asMap(res.body.series)).toEqual(want)
  })

  it('groups by named devices and snaps the range to whole windows', async () => {
    const [a, b] = [...fixture.registry.devices()].map((d) => d.deviceId)
    const res = await get(
      `/api/v1/operator/revenue?groupBy=device&device=${a}&device=${b}&from=${iso(GENESIS_MS + 10 * 60_000)}&to=${iso(GENESIS_MS + HOUR + 1)}&resolution=1h`,
    )
    expect(res.status).toBe(200)
    expect(res.body.fromMs).toBe(GENESIS_MS)
    expect(res.body.toMs).toBe(GENESIS_MS + 2 * HOUR)
    const want = expected((r) => r.deviceId, HOUR)
    for (const key of [a, b] as string[]) {
      const got = asMap(res.body.series).get(key)
      expect(got).toEqual(new Map([...(want.get(key) ?? [])].filter(([t]) => t < GENESIS_MS + 2 * HOUR)))
    }
  })

  it.each([
    ['from after to', `groupBy=pool&from=${to}&to=${from}&resolution=1h`, 400, 'INVALID_RANGE'],
    [
      'no offset in the time',
      'groupBy=pool&from=2026-06-01T00:00:00&to=2026-06-02T00:00:00&resolution=1h',
      400,
      'INVALID_PARAMETER',
    ],
    [
      'a year and more',
      'groupBy=pool&from=2026-01-01T00:00:00Z&to=2027-06-01T00:00:00Z&resolution=7d',
      400,
      'RANGE_TOO_LARGE',
    ],
    [
      'too many windows',
      'groupBy=pool&from=2026-01-01T00:00:00Z&to=2026-12-01T00:00:00Z&resolution=5m',
      400,
      'RANGE_TOO_LARGE',
    ],
    // Off the 5-minute grid: not offered at all, so the OpenAPI document lists what is taken.
    [
      'resolution off the interval grid',
      `groupBy=pool&from=${from}&to=${to}&resolution=1m`,
      400,
      'INVALID_PARAMETER',
    ],
    ['resolution not offered', `groupBy=pool&from=${from}&to=${to}&resolution=17m`, 400, 'INVALID_PARAMETER'],
    [
      'unknown parameter',
      `groupBy=pool&from=${from}&to=${to}&resolution=1h&bucket=telemetry`,
      400,
      'INVALID_PARAMETER',
    ],
    [
      'Flux in a device id',
      `groupBy=device&from=${from}&to=${to}&resolution=1h&device=${encodeURIComponent('x" or true or r.device == "')}`,
      400,
      'INVALID_PARAMETER',
    ],
    [
      'Flux in a pool id',
      `groupBy=pool&from=${from}&to=${to}&resolution=1h&pool=${encodeURIComponent('a")|>drop(')}`,
      400,
      'INVALID_PARAMETER',
    ],
    ['unknown pool', `groupBy=pool&from=${from}&to=${to}&resolution=1h&pool=nope`, 404, 'UNKNOWN_POOL'],
    [
      'unknown device',
      `groupBy=device&from=${from}&to=${to}&resolution=1h&device=chg-999999`,
      404,
      'UNKNOWN_DEVICE',
    ],
    ['devices missing', `groupBy=device&from=${from}&to=${to}&resolution=1h`, 400, 'DEVICES_REQUIRED'],
    [
      'too many devices',
      `groupBy=device&from=${from}&to=${to}&resolution=1h&${Array.from({ length: 51 }, (_, i) => `device=d${i}`).join('&')}`,
      400,
      'INVALID_PARAMETER',
    ],
    ['bad groupBy', `groupBy=tariff&from=${from}&to=${to}&resolution=1h`, 400, 'INVALID_PARAMETER'],
    [
      'before 2000',
      'groupBy=pool&from=1990-01-01T00:00:00Z&to=1990-01-02T00:00:00Z&resolution=1h',
      400,
      'INVALID_RANGE',
    ],
  ])('refuses %s', async (_what, query, status, code) => {
    expectError(await get(`/api/v1/operator/revenue?${query}`), status, code)
  })
})

describe('fleet and devices', () => {
  it('counts devices online against the fleet clock, never seen, and anomalies of the last 24 h', async () => {
    const res = await get('/api/v1/operator/fleet')
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    const total = fixture.registry.size
    expect(res.body.total).toEqual({ devices: total, online: total - 2, neverSeen: 1 })
    expect(res.body.asOfMs).toBe(fixture.fleetNowMs)
    expect(res.body.anomalies.byReason).toEqual({ REGISTER_BACKWARDS: 3, POWER_ABOVE_RATED: 2 })
    expect(
      res.body.byClass.charger.devices + res.body.byClass.pv.devices + res.body.byClass.swap.devices,
    ).toBe(total)
  })

  it('tells the fleet clock from the partition watermarks, as /fleet measures it from every device', async () => {
    const res = await get('/api/v1/operator/clock')
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    expect(res.body).toEqual({ asOfMs: fixture.fleetNowMs, clock: 'fleet' })
    expect((await get('/api/v1/operator/fleet')).body.asOfMs).toBe(res.body.asOfMs)
    expectError(await get('/api/v1/operator/clock', {}), 401, 'UNAUTHORIZED')
  })

  it('pages the registry with status, filters by online, and refuses hostile paging', async () => {
    const first = await get('/api/v1/operator/devices?limit=3')
    const second = await get('/api/v1/operator/devices?limit=3&offset=3')
    expect(first.body.total).toBe(fixture.registry.size)
    const ids = [...first.body.devices, ...second.body.devices].map((d: { deviceId: string }) => d.deviceId)
    expect(ids).toEqual(
      [...fixture.registry.devices()]
        .map((d) => d.deviceId)
        .sort()
        .slice(0, 6),
    )
    const offline = await get('/api/v1/operator/devices?online=false')
    expect(offline.body.devices.map((d: { deviceId: string }) => d.deviceId).sort()).toEqual(
      [fixture.lagging, fixture.neverSeen].sort(),
    )
    const never = offline.body.devices.find((d: { deviceId: string }) => d.deviceId === fixture.neverSeen)
    expect(never.lastSeenMs).toBeNull()
    expectError(await get('/api/v1/operator/devices?limit=0'), 400, 'INVALID_PARAMETER')
    expectError(await get('/api/v1/operator/devices?limit=100000'), 400, 'INVALID_PARAMETER')
    expectError(await get('/api/v1/operator/devices?offset=-1'), 400, 'INVALID_PARAMETER')
    expectError(await get('/api/v1/operator/devices?class=nuclear'), 400, 'INVALID_PARAMETER')
  })

  it('shows one device with its anomalies, and refuses unknown or malformed ids', async () => {
    const id = [...fixture.registry.devices()][1]?.deviceId ?? ''
    const res = await get(`/api/v1/operator/devices/${id}`)
    expect(res.status).toBe(200)
    expect(res.body.device.online).toBe(true)
    expect(res.body.anomalies.byReason).toEqual({ REGISTER_BACKWARDS: 3 })
    expectError(await get('/api/v1/operator/devices/chg-999999'), 404, 'UNKNOWN_DEVICE')
    expectError(await get(`/api/v1/operator/devices/${encodeURIComponent('a"b')}`), 400, 'INVALID_PARAMETER')
    expectError(await get(`/api/v1/operator/devices/${id}?from=${iso(GENESIS_MS)}`), 400, 'INVALID_RANGE')
  })

  it('lists pools with their classes', async () => {
    const res = await get('/api/v1/operator/pools')
    const pools = new Set([...fixture.registry.devices()].map((d) => d.poolId))
    expect(res.body.pools.map((p: { poolId: string }) => p.poolId).sort()).toEqual([...pools].sort())
  })
})

describe('epochs', () => {
  it('lists closed epochs with pool totals and the open epoch', async () => {
    const res = await get('/api/v1/operator/epochs')
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    expect(res.body.closedThrough).toBe(1)
    expect(res.body.openEpoch).toBe(2)
    expect(res.body.epochs.map((e: { epoch: number }) => e.epoch)).toEqual([0, 1])
    const epoch0 = fixture.revenueRows
      .filter((r) => r.startMs < GENESIS_MS + HOUR)
      .reduce((sum, r) => sum + r.revenueUnits, 0n)
    expect(BigInt(res.body.epochs[0].revenueUnits)).toBe(epoch0)
    const only1 = await get('/api/v1/operator/epochs?fromEpoch=1&toEpoch=1')
    expect(only1.body.epochs.map((e: { epoch: number }) => e.epoch)).toEqual([1])
    expectError(await get('/api/v1/operator/epochs?fromEpoch=5&toEpoch=2'), 400, 'INVALID_RANGE')
    expectError(await get('/api/v1/operator/epochs?fromEpoch=0&toEpoch=900'), 400, 'RANGE_TOO_LARGE')
    expectError(await get('/api/v1/operator/epochs?fromEpoch=-1'), 400, 'INVALID_PARAMETER')
  })

  it('refuses epochs that start after device time with the bound, never a Flux time past 9999 (attack12 F2)', async () => {
    // Hourly epochs: epoch 70,000,000 starts in year 10011, which no Flux time literal can say.
    for (const url of [
      '/api/v1/operator/epochs?fromEpoch=70000000',
      '/api/v1/operator/epochs?fromEpoch=69999990&toEpoch=70000000',
      '/api/v1/operator/epochs?fromEpoch=100000000',
    ]) {
      const res = await get(url)
      expectError(res, 400, 'INVALID_PARAMETER')
      expect(res.body.error.details.maxEpoch).toBeGreaterThan(600_000)
    }
    const last = (await get('/api/v1/operator/epochs?fromEpoch=69000000')).body.error.details.maxEpoch
    const tail = await get(`/api/v1/operator/epochs?fromEpoch=${last - 1}`)
    expect(tail.status, JSON.stringify(tail.body)).toBe(200)
    expect(tail.body.epochs).toEqual([])
  })
})

describe('strict integers', () => {
  // ajv's coercion took all of these as integers (1e400 as Infinity, 0x10 as 16, " 1" as 1).
  const HOSTILE = ['1e400', '0x10', ' 1', '1.5', '-0', '+1', '01', '1e1']
  const range = `from=${iso(GENESIS_MS)}&to=${iso(GENESIS_MS + 3 * HOUR)}`
  it.each([
    ['/api/v1/operator/devices?limit=', 'limit', '1'],
    ['/api/v1/operator/devices?offset=', 'offset', '1'],
    ['/api/v1/operator/epochs?fromEpoch=', 'fromEpoch', '1'],
    ['/api/v1/operator/epochs?limit=', 'limit', '1'],
    ['/api/v1/operator/dlq?partition=', 'partition', '0'],
    ['/api/v1/operator/dlq?limit=', 'limit', '1'],
    [`/api/v1/operator/quarantine?${range}&offset=`, 'offset', '1'],
    [`/api/v1/operator/quarantine?${range}&limit=`, 'limit', '1'],
  ])(
    '%s refuses every non-decimal form with a message that says what to send',
    async (prefix, name, plain) => {
      for (const value of HOSTILE) {
        const res = await get(`${prefix}${encodeURIComponent(value)}`)
        expectError(res, 400, 'INVALID_PARAMETER')
        const error = (res.body as { error: { message: string; details: { issues: { at: string }[] } } })
          .error
        expect(error.details.issues[0]?.at).toBe(`querystring/${name}`)
        expect(error.message).toMatch(/in plain decimal digits/)
      }
      // The same parameter in plain decimal digits is answered.
      expect((await get(`${prefix}${plain}`)).status).toBe(200)
    },
  )
})

describe('DLQ', () => {
  it('counts by reason and pages by offset with the reason filter', async () => {
    const counts = await get('/api/v1/operator/dlq/counts')
    expect(counts.body.total).toBe(fixture.dlqReasons.length)
    expect(counts.body.byReason).toEqual({ BAD_SIGNATURE: 3, MALFORMED_JSON: 1, UNKNOWN_DEVICE: 1 })
    const page1 = await get('/api/v1/operator/dlq?limit=2')
    expect(page1.body.records.map((r: { offset: string }) => r.offset)).toEqual(['0', '1'])
    expect(page1.body.records[0]).toMatchObject({
      partition: 0,
      reason: 'BAD_SIGNATURE',
      detail: 'fixture record 0',
      preview: '{"broken":0',
    })
    expect(page1.body.nextCursor).toBe('0:2')
    const page2 = await get(`/api/v1/operator/dlq?limit=2&cursor=${page1.body.nextCursor}`)
    expect(page2.body.records.map((r: { offset: string }) => r.offset)).toEqual(['2', '3'])
    const one = await get('/api/v1/operator/dlq?partition=0&limit=2&fromOffset=2')
    expect(one.body).toMatchObject({ partition: 0, nextOffset: '4' })
    expect(one.body.records.map((r: { offset: string }) => r.offset)).toEqual(['2', '3'])
    const bad = await get('/api/v1/operator/dlq?reason=BAD_SIGNATURE')
    expect(bad.body.records.map((r: { offset: string }) => r.offset)).toEqual(['0', '2', '4'])
    expectError(await get('/api/v1/operator/dlq?fromOffset=-3'), 400, 'INVALID_PARAMETER')
    expectError(await get('/api/v1/operator/dlq?fromOffset=1e9'), 400, 'INVALID_PARAMETER')
    expectError(await get('/api/v1/operator/dlq?partition=7'), 404, 'UNKNOWN_PARTITION')
    expectError(await get('/api/v1/operator/dlq?reason=bad%20one'), 400, 'INVALID_PARAMETER')
  })
})

describe('quarantine', () => {
  const range = () => `from=${iso(GENESIS_MS)}&to=${iso(fixture.fleetNowMs + 1)}`
  it('pages quarantined readings newest first and counts them by reason', async () => {
    const res = await get(`/api/v1/operator/quarantine?${range()}&limit=4`)
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    // Points carry seq in their nanoseconds: at equal milliseconds the higher seq is newer.
    const want = [...fixture.quarantine].sort((a, b) => b.timeMs - a.timeMs || b.seq - a.seq).slice(0, 4)
    expect(res.body.readings.map((r: { seq: number }) => r.seq)).toEqual(want.map((q) => q.seq))
    expect(res.body.readings[0].reading).toMatchObject({ type: 'pv.inverter' })
    const next = await get(`/api/v1/operator/quarantine?${range()}&limit=4&offset=4`)
    expect(next.body.readings).toHaveLength(fixture.quarantine.length - 4)
    const counts = await get(`/api/v1/operator/quarantine/counts?${range()}&reason=POWER_ABOVE_RATED`)
    expect(counts.body).toMatchObject({ total: 2, byReason: { POWER_ABOVE_RATED: 2 } })
    expectError(await get(`/api/v1/operator/quarantine?${range()}&offset=20000`), 400, 'OFFSET_TOO_DEEP')
    expectError(await get('/api/v1/operator/quarantine'), 400, 'INVALID_PARAMETER')
    expectError(await get(`/api/v1/operator/quarantine?${range()}&device=nobody`), 404, 'UNKNOWN_DEVICE')
  })
})

describe('health, docs and errors', () => {
  it('reports health, metrics, the OpenAPI document and the docs page', async () => {
    const health = await get('/healthz', {})
    expect(health.status).toBe(200)
    expect(health.body.checks.map((c: { name: string }) => c.name).sort()).toEqual(['influxdb', 'kafka-dlq'])
    const metrics = await api.app.inject({ method: 'GET', url: '/metrics' })
    expect(metrics.body).toContain('gridroot_api_requests_total')
    const doc = await get('/docs/json', {})
    expect(doc.body.openapi).toBe('3.0.3')
    expect(Object.keys(doc.body.paths)).toEqual(
      expect.arrayContaining([
        '/api/v1/operator/revenue',
        '/api/v1/operator/fleet',
        '/api/v1/operator/dlq',
        '/healthz',
      ]),
    )
    expect(doc.body.components.securitySchemes.apiKey).toBeDefined()
    const page = await api.app.inject({ method: 'GET', url: '/docs/' })
    expect(page.statusCode).toBe(200)
    expect(page.body).toContain('swagger')
    expectError(await get('/api/v1/nothing-here', {}), 404, 'NOT_FOUND')
  })

  it('refuses unknown query parameters on routes that declare none, with the parameter named (attack12 F5)', async () => {
    const routes = [
      '/api/v1/operator/fleet',
      '/api/v1/operator/clock',
      '/api/v1/operator/pools',
      '/api/v1/operator/dlq/counts',
      '/healthz',
      '/metrics',
      '/docs/json',
      '/',
    ]
    for (const route of routes) {
      const res = await api.app.inject({ method: 'GET', url: `${route}?verbose=1`, headers: ops })
      expectError({ status: res.statusCode, body: res.json() }, 400, 'INVALID_PARAMETER')
      expect(res.json().error.details.issues[0].parameter, route).toBe('verbose')
      expect(
        (await api.app.inject({ method: 'HEAD', url: `${route}?verbose=1`, headers: ops })).statusCode,
      ).toBe(400)
    }
    for (const route of routes) {
      expect((await api.app.inject({ method: 'GET', url: route, headers: ops })).statusCode, route).toBe(200)
    }
  })

  it("bounds the InfluxDB queries in flight: beyond a client's share of bound and queue, 503 API_BUSY at once, /healthz 200 (attack12 F3, attack12d F6)", async () => {
    const gate = createQueryGate({ concurrency: 2, queue: 2 })
    const gated = await fixtureApp(endpoints, fixture, { dlq: api.dlq, gate })
    try {
      const devices = [...fixture.registry.devices()].map((d) => `device=${d.deviceId}`)
      const url = `/api/v1/operator/revenue?groupBy=device&${devices.join('&')}&from=${iso(GENESIS_MS)}&to=${iso(GENESIS_MS + 3 * HOUR)}&resolution=5m`
      const responses = await Promise.all(
        Array.from({ length: 20 }, () => gated.app.inject({ method: 'GET', url, headers: ops })),
      )
      const health = await gated.app.inject({ method: 'GET', url: '/healthz' })
      const statuses = responses.map((r) => r.statusCode)
      // One client holds its share of the gate (attack12d F6): 1 of the 2 running, 1 of the 2
      // waiting; the rest arrive before a slot frees (counts, not timings: a slot freed early only
      // lets more through).
      const busy = responses.filter((r) => r.statusCode === 503)
      expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(2)
      expect(busy.length).toBeGreaterThan(0)
      expect(statuses.filter((s) => s !== 200 && s !== 503)).toEqual([])
      for (const r of busy) {
        expect(r.json().error.code).toBe('API_BUSY')
        expect(Number(r.headers['retry-after'])).toBeGreaterThan(0)
      }
      expect(gate.stats().maxRunning).toBe(1)
      expect(health.statusCode).toBe(200)
    } finally {
      await gated.close()
    }
  })

  it('refuses a body above the limit with 413 BODY_TOO_LARGE in the error shape', async () => {
    const wallet = await fixtureApp(endpoints, fixture, {
      dlq: api.dlq,
      devWallet: {
        chainId: 31337,
        accounts: () => [],
        forward: async () => ({ result: null }),
        sendTransaction: async () => ({ result: null }),
      },
    })
    try {
      const res = await wallet.app.inject({
        method: 'POST',
        url: '/api/v1/dev-wallet/rpc',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'eth_chainId',
          params: ['x'.repeat(100_000)],
        }),
      })
      expectError({ status: res.statusCode, body: res.json() }, 413, 'BODY_TOO_LARGE')
      expect(res.json().error.details.maxBytes).toBe(64 * 1024)
    } finally {
      await wallet.close()
    }
  })

  it('takes an address in lower, upper or right EIP-55 case and refuses a wrong checksum', async () => {
    const holders = await fixtureApp(endpoints, fixture, {
      dlq: api.dlq,
      holders: {
        pools: () => [],
        contracts: () => ({ chainId: 31337, pools: [] }),
        paymentToken: async () => ({ symbol: 'USDC', decimals: 6 }),
        position: async () => {
          throw new Error('no pools')
        },
        distributedEpochs: async () => new Set(),
      },
    })
    try {
      const checksummed = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed'
      const wrong = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD'
      for (const ok of [checksummed, checksummed.toLowerCase(), `0x${checksummed.slice(2).toUpperCase()}`]) {
        const res = await holders.app.inject({ method: 'GET', url: `/api/v1/holder/${ok}` })
        expect(res.statusCode, ok).toBe(200)
        expect(res.json().address).toBe(checksummed.toLowerCase())
      }
      const res = await holders.app.inject({ method: 'GET', url: `/api/v1/holder/${wrong}` })
      expectError({ status: res.statusCode, body: res.json() }, 400, 'INVALID_PARAMETER')
      expect(res.json().error.details).toEqual({ parameter: 'address', checksummed })
    } finally {
      await holders.close()
    }
  })

  it('cancels an InfluxDB query its caller gave up on: the slow query leaves the in-flight count at once', async () => {
    const querier = createFluxQuerier(fixture.influx, { timeoutMs: 110_000 })
    // InfluxDB 1.8's Flux has sleep(): a query that would take 100 s unless cancelled.
    const slow = `import "csv"
csv.from(csv: "#datatype,string,long\\n#group,false,false\\n#default,,\\n,result,_value\\n,,1\\n") |> sleep(duration: 100s)`
    const controller = new AbortController()
    const pending = querier.rows(slow, controller.signal)
    expect(querier.inFlight()).toBe(1)
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(querier.inFlight()).toBe(1)
    controller.abort()
    await expect(pending).rejects.toMatchObject({ code: 'QUERY_ABANDONED' })
    expect(querier.inFlight()).toBe(0)
    // The query timeout cancels it the same way, as InfluxDB not answering (503).
    const timed = createFluxQuerier(fixture.influx, { timeoutMs: 300 })
    await expect(timed.rows(slow)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
    expect(timed.inFlight()).toBe(0)
  })

  it('releases the gate and the in-flight gauge when the client disconnects, and closes the InfluxDB connection', async () => {
    // A stalled InfluxDB: takes each query and never answers; records when the API hangs up.
    const held: IncomingMessage[] = []
    let upstreamClosed = 0
    const stalled = createServer((req) => {
      held.push(req)
      req.socket.on('close', () => upstreamClosed++)
    })
    await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve))
    const gate = createQueryGate({ concurrency: 1, queue: 1 })
    const gated = await fixtureApp(endpoints, fixture, {
      dlq: api.dlq,
      gate,
      influxUrl: `http://127.0.0.1:${(stalled.address() as AddressInfo).port}`,
    })
    try {
      await gated.app.listen({ host: '127.0.0.1', port: 0 })
      const base = `http://127.0.0.1:${(gated.app.server.address() as AddressInfo).port}`
      const gauge = async (name: string) => {
        const text = (await gated.app.inject({ method: 'GET', url: '/metrics' })).body
        return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1])
      }
      const url = `${base}/api/v1/operator/revenue?groupBy=pool&from=${iso(GENESIS_MS)}&to=${iso(GENESIS_MS + HOUR)}&resolution=1h`
      const clients = [new AbortController(), new AbortController()]
      const requests = clients.map((c) =>
        fetch(url, { headers: ops, signal: c.signal }).catch((e: unknown) => e),
      )
      await vi.waitFor(async () => {
        expect(await gauge('gridroot_api_influx_queries_in_flight')).toBe(1)
        expect(await gauge('gridroot_api_influx_queries_waiting')).toBe(1)
      })
      expect(gate.stats()).toMatchObject({ running: 1, waiting: 1 })
      for (const c of clients) c.abort()
      await Promise.all(requests)
      // Without cancelling, the query would hold its slot until the 30 s query timeout.
      await vi.waitFor(
        async () => {
          expect(gate.stats()).toMatchObject({ running: 0, waiting: 0 })
          expect(await gauge('gridroot_api_influx_queries_in_flight')).toBe(0)
          expect(await gauge('gridroot_api_influx_queries_waiting')).toBe(0)
          expect(upstreamClosed).toBe(1)
        },
        { timeout: 5_000 },
      )
      // The waiting one never reached InfluxDB.
      expect(held).toHaveLength(1)
    } finally {
      await gated.close()
      stalled.closeAllConnections()
      await new Promise((resolve) => stalled.close(resolve))
    }
  })

  it('tells a query InfluxDB refused (500 QUERY_FAILED) from an InfluxDB that does not answer (503)', async () => {
    const revenue = `/api/v1/operator/revenue?groupBy=pool&from=${iso(GENESIS_MS)}&to=${iso(GENESIS_MS + HOUR)}&resolution=1h`
    // InfluxDB 1.8 answers 500 "no database" for a bucket that does not exist, as for bad Flux.
    const missing = { ...fixture, influx: { ...fixture.influx, bucket: `${name}_missing/autogen` } }
    const refusing = await fixtureApp(endpoints, missing, { dlq: api.dlq })
    try {
      const res = await refusing.app.inject({ method: 'GET', url: revenue, headers: ops })
      expectError({ status: res.statusCode, body: res.json() }, 500, 'QUERY_FAILED')
      const metrics = (await refusing.app.inject({ method: 'GET', url: '/metrics' })).body
      expect(metrics).not.toMatch(/gridroot_api_requests_total\{[^}]*status="503"/)
    } finally {
      await refusing.close()
    }
    const nowhere = { ...fixture, influx: { ...fixture.influx, url: 'http://127.0.0.1:9' } }
    const down = await fixtureApp(endpoints, nowhere, { dlq: api.dlq })
    try {
      const res = await down.app.inject({ method: 'GET', url: revenue, headers: ops })
      expectError({ status: res.statusCode, body: res.json() }, 503, 'UPSTREAM_UNAVAILABLE')
    } finally {
      await down.close()
    }
  })

  it('serves the dashboard and uPlot from the package, and nothing else from node_modules', async () => {
    const index = await api.app.inject({ method: 'GET', url: '/' })
    expect(index.statusCode).toBe(200)
    expect(index.body).toContain('/assets/uplot/uPlot.iife.min.js')
    // Every page names its icon inline: no /favicon.ico request (a 404) on each load.
    for (const page of ['/', '/holder.html', '/auditor.html']) {
      expect((await api.app.inject({ method: 'GET', url: page })).body, page).toContain(
        '<link rel="icon" href="data:,">',
      )
    }
    expect((await api.app.inject({ method: 'GET', url: '/assets/uplot/uPlot.iife.min.js' })).statusCode).toBe(
      200,
    )
    expect((await api.app.inject({ method: 'GET', url: '/assets/uplot/../package.json' })).statusCode).toBe(
      404,
    )
    expect((await api.app.inject({ method: 'GET', url: '/assets/uplot/uPlot.cjs.js' })).statusCode).toBe(404)
  })
})
