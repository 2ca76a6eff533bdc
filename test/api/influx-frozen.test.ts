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
})
