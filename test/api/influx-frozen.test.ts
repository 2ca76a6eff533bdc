/**
 * The InfluxDB circuit breaker against a real, frozen influxd (attack12d F5): a dedicated
 * InfluxDB of this test (never the shared stack's) is SIGSTOPped; /healthz says so in 2 s and
 * from then on InfluxDB routes answer 503 at once instead of each waiting out the query
 * timeout; after SIGCONT they answer again within the breaker's one-second probe.
 */
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createInfluxReader } from '../../services/api/adapters/influx-reader.ts'
import { createQueryGate } from '../../services/api/domain/query-gate.ts'
import { STUB_KEY, stubApp } from '../../services/api/testing/stub-app.ts'
import { REPO_ROOT } from '../../stack/paths.ts'
import { type DedicatedInflux, startDedicatedInflux } from '../support/dedicated-influx.ts'

const QUERY_TIMEOUT_MS = 20_000
/** GRIDROOT_API_INFLUX_TIMEOUT of the second case. */
const SILENCE_MS = 2_000
let influx: DedicatedInflux
beforeAll(async () => {
  influx = await startDedicatedInflux(join(REPO_ROOT, '.run', `influx-frozen-${process.pid}`))
}, 90_000)
afterAll(async () => {
  await influx?.stop()
})

describe('InfluxDB routes with influxd frozen', () => {
  it('answer 503 at once once /healthz sees it down, and 200 again soon after it thaws', async () => {
    const reader = createInfluxReader(influx.endpoint, {
      aggregatorGroup: 'gridroot-aggregator',
      gate: createQueryGate({ concurrency: 4, queue: 16, waitLimitMs: QUERY_TIMEOUT_MS }),
      queryTimeoutMs: QUERY_TIMEOUT_MS,
    })
    const app = await stubApp({
      revenue: reader.revenue,
      fleet: reader.fleet,
      quarantine: reader.quarantine,
      epochs: reader.epochs,
      probes: [reader.probe],
    })
    const epochs = async () => {
      const started = Date.now()
      const response = await app.inject({
        url: '/api/v1/operator/epochs',
        headers: { 'x-api-key': STUB_KEY.key },
      })
      return { response, elapsedMs: Date.now() - started }
    }
    try {
      expect((await epochs()).response.statusCode).toBe(200)
      influx.freeze()
      const health = await app.inject({ url: '/healthz' })
      expect(health.statusCode).toBe(503)
      expect(health.json().checks[0]).toMatchObject({ name: 'influxdb', ok: false })
      for (let i = 0; i < 3; i++) {
        const { response, elapsedMs } = await epochs()
        expect(response.statusCode).toBe(503)
        expect(response.json().error.code).toBe('UPSTREAM_UNAVAILABLE')
        expect(response.headers['retry-after']).toBe('2')
        expect(elapsedMs).toBeLessThan(500)
      }
      influx.thaw()
      const thawed = Date.now()
      let status = 0
      while (status !== 200 && Date.now() - thawed < 10_000) {
        await new Promise((r) => setTimeout(r, 250))
        status = (await epochs()).response.statusCode
      }
      expect(status).toBe(200)
      expect(Date.now() - thawed).toBeLessThan(5_000)
    } finally {
      influx.thaw()
      await app.close()
    }
  }, 60_000)

  it('answer 503 within the silence bound, without /healthz, on revenue and fleet routes, not after the query timeout (issue 12 F3)', async () => {
    // The default query timeout: on the old code every route waited it out (and a ping more).
    const reader = createInfluxReader(influx.endpoint, {
      aggregatorGroup: 'gridroot-aggregator',
      gate: createQueryGate({ concurrency: 4, queue: 16, waitLimitMs: 30_000 }),
      queryTimeoutMs: 30_000,
      silenceMs: SILENCE_MS,
    })
    const app = await stubApp({
      revenue: reader.revenue,
      fleet: reader.fleet,
      quarantine: reader.quarantine,
      epochs: reader.epochs,
      probes: [reader.probe],
    })
    const routes = [
      '/api/v1/operator/revenue?groupBy=pool&from=2026-06-01T00:00:00Z&to=2026-06-02T00:00:00Z&resolution=1h',
      '/api/v1/operator/fleet',
      '/api/v1/operator/epochs',
    ]
    const timed = async (url: string) => {
      const started = Date.now()
      const response = await app.inject({ url, headers: { 'x-api-key': STUB_KEY.key } })
      return { url, response, elapsedMs: Date.now() - started }
    }
    try {
      for (const url of routes) expect((await timed(url)).response.statusCode, url).toBe(200)
      influx.freeze()
      for (const { url, response, elapsedMs } of await Promise.all(routes.map(timed))) {
        expect(response.statusCode, `${url}: ${response.body}`).toBe(503)
        expect(response.json().error.code, url).toBe('UPSTREAM_UNAVAILABLE')
        // The silence bound, a watchdog tick, the 2 s ping.
        expect(elapsedMs, url).toBeLessThan(SILENCE_MS + 4_000)
      }
      influx.thaw()
      const thawed = Date.now()
      let status = 0
      while (status !== 200 && Date.now() - thawed < 10_000) {
        await new Promise((r) => setTimeout(r, 250))
        status = (await timed(routes[0] as string)).response.statusCode
      }
      expect(status).toBe(200)
    } finally {
      influx.thaw()
      await app.close()
    }
  }, 90_000)
})
