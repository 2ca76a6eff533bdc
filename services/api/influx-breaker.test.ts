/**
 * InfluxDB routes fail fast while InfluxDB's ping fails (attack12d F5: /healthz knew in 2 s,
 * every route waited the 30 s query timeout), close again as soon as it answers, and say "busy"
 * rather than "did not answer" when InfluxDB is up but does not finish a query in time (F6).
 * The real InfluxDB adapter against an InfluxDB stand-in on a real socket.
 */
import type { FastifyInstance } from 'fastify'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createInfluxReader } from './adapters/influx-reader.ts'
import { createQueryGate } from './domain/query-gate.ts'
import { switchableInflux } from './testing/frozen-node.ts'
import { STUB_KEY, stubApp } from './testing/stub-app.ts'

let influx: Awaited<ReturnType<typeof switchableInflux>>
let app: FastifyInstance
beforeEach(async () => {
  influx = await switchableInflux()
})
afterEach(async () => {
  await app.close()
  await influx.close()
})

async function appOn(queryTimeoutMs: number, silenceMs?: number) {
  const reader = createInfluxReader(
    { url: influx.url, org: 'gridroot', bucket: 'gridroot', token: '' },
    {
      aggregatorGroup: 'agg',
      gate: createQueryGate({ concurrency: 4, queue: 16, waitLimitMs: queryTimeoutMs }),
      queryTimeoutMs,
      ...(silenceMs === undefined ? {} : { silenceMs }),
    },
  )
  app = await stubApp({
    revenue: reader.revenue,
    fleet: reader.fleet,
    quarantine: reader.quarantine,
    epochs: reader.epochs,
    probes: [reader.probe],
  })
}

const timed = async (url: string) => {
  const started = Date.now()
  const response = await app.inject({ url, headers: { 'x-api-key': STUB_KEY.key } })
  return { response, elapsedMs: Date.now() - started }
}
const EPOCHS = '/api/v1/operator/epochs'

describe('InfluxDB circuit breaker', () => {
  it('answers 503 at once while /healthz sees InfluxDB down, and closes when InfluxDB answers', async () => {
    await appOn(20_000)
    expect((await timed(EPOCHS)).response.statusCode).toBe(200)
    influx.set('frozen')
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(503)
    const sent = influx.queries()
    const { response, elapsedMs } = await timed(EPOCHS)
    expect(response.statusCode, response.body).toBe(503)
    expect(response.json().error.code).toBe('UPSTREAM_UNAVAILABLE')
    expect(response.json().error.message).toMatch(/InfluxDB is not answering its health check/)
    expect(response.headers['retry-after']).toBe('2')
    expect(elapsedMs).toBeLessThan(500)
    expect(influx.queries()).toBe(sent)

    influx.set('up')
    const started = Date.now()
    let status = 0
    while (Date.now() - started < 5_000 && status !== 200) {
      await new Promise((r) => setTimeout(r, 200))
      status = (await timed(EPOCHS)).response.statusCode
    }
    expect(status).toBe(200)
    expect(Date.now() - started).toBeLessThan(3_500)
  }, 15_000)

  it('opens on a query that got no answer while the ping fails too, without /healthz', async () => {
    await appOn(1_000)
    influx.set('frozen')
    const first = await timed(EPOCHS)
    expect(first.response.statusCode).toBe(503)
    const second = await timed(EPOCHS)
    expect(second.response.statusCode).toBe(503)
    expect(second.elapsedMs).toBeLessThan(500)
  }, 15_000)

  it('says busy (API_BUSY, retry-after), not "did not answer", when InfluxDB pings but does not finish the query', async () => {
    await appOn(1_000)
    influx.set('busy')
    const { response } = await timed(EPOCHS)
    expect(response.statusCode, response.body).toBe(503)
    const { error } = response.json()
    expect(error.code).toBe('API_BUSY')
    expect(error.message).toMatch(/InfluxDB is up but busy/)
    expect(error.hint).toMatch(/overloaded, not down/)
    expect(response.headers['retry-after']).toBe('5')
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200)
  }, 15_000)

  it('cancels open queries within the silence bound once InfluxDB hears nothing and its ping fails, not after the query timeout (issue 12 F3)', async () => {
    await appOn(20_000, 500)
    expect((await timed(EPOCHS)).response.statusCode).toBe(200)
    influx.set('frozen')
    const [a, b] = await Promise.all([timed(EPOCHS), timed(`${EPOCHS}?limit=3`)])
    for (const { response, elapsedMs } of [a, b]) {
      expect(response.statusCode, response.body).toBe(503)
      const { error } = response.json()
      expect(error.code).toBe('UPSTREAM_UNAVAILABLE')
      expect(error.message).toMatch(/InfluxDB stopped answering: InfluxDB sent nothing for \d+ ms/)
      expect(error.hint).toMatch(/GRIDROOT_API_INFLUX_TIMEOUT/)
      expect(response.headers['retry-after']).toBe('2')
      // The silence bound, a tick and the 2 s ping: far below the 20 s query timeout.
      expect(elapsedMs).toBeLessThan(4_000)
    }
    // The breaker is open: the next one is refused at once.
    expect((await timed(EPOCHS)).elapsedMs).toBeLessThan(500)
  }, 15_000)

  it('lets a silent query on an InfluxDB that still pings run to its timeout (busy, not down)', async () => {
    await appOn(1_500, 200)
    influx.set('busy')
    const { response, elapsedMs } = await timed(EPOCHS)
    expect(response.statusCode, response.body).toBe(503)
    expect(response.json().error.code).toBe('API_BUSY')
    expect(elapsedMs).toBeGreaterThanOrEqual(1_400)
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200)
  }, 15_000)
})
