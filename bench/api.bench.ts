/**
 * `npm run bench:api`: the API's revenue route for a fleet of 16,000 devices (InfluxDB sums the
 * per-interval points of all of them per window), beside a bare fastify route returning a
 * constant, measured in the same run with the same load generator; and the dashboard's first
 * load in Chromium (bytes, time to the first chart) beside a blank page from the same server.
 * Results: bench/results/api.json. The proof route joins when the auditor routes land.
 *
 * Settings: GRIDROOT_STACK_RUN_DIR (reuse a running stack), GRIDROOT_BENCH_API_SECONDS (per
 * measurement, default 10), GRIDROOT_BENCH_API_CONCURRENCY (default 8).
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Fastify from 'fastify'
import type { Endpoints } from '../runtime/endpoints.ts'
import type { DlqTail } from '../services/api/adapters/dlq-tail.ts'
import { fixtureApp, OPS_KEY } from '../test/api/app-harness.ts'
import { launchChromium } from '../test/api/browser.ts'
import { dropFixture, type Fixture, GENESIS_MS, writeFixture } from '../test/api/fixture.ts'
import { acquireBenchStack, releaseBenchStack } from './support/bench-stack.ts'
import { type LoadResult, runLoad } from './support/http-load.ts'
import { cleanups, progress, runBench } from './support/progress.ts'
import { type BenchResult, benchResult, formatResults, median, RESULTS_DIR } from './support/results.ts'

const seconds = Number(process.env.GRIDROOT_BENCH_API_SECONDS ?? 30)
// Two clients: each revenue request over the whole fleet keeps InfluxDB 1.8's Flux engine busy
// for seconds on this 2-core machine; more would only queue there (and time out).
const concurrency = Number(process.env.GRIDROOT_BENCH_API_CONCURRENCY ?? 2)
const FLEET = { chargers: 9_000, pv: 3_000, swap: 4_000 }
const HOURS = 2

runBench(async () => {
  const stack = await acquireBenchStack(process.env.GRIDROOT_STACK_RUN_DIR)
  cleanups.push(() => releaseBenchStack(stack))
  const name = `benchapi_${process.pid}_${Date.now().toString(36)}`
  progress(
    `writing ${HOURS} h of 5-minute revenue points for ${FLEET.chargers + FLEET.pv + FLEET.swap} devices`,
  )
  const fixture = await writeFixture(stack.endpoints, name, { devices: FLEET, hours: HOURS })
  cleanups.push(() => dropFixture(fixture))
  const api = await fixtureApp(stack.endpoints, fixture, { rateLimitMax: 10_000_000 })
  cleanups.push(() => api.close())
  await api.dlq.caughtUp()
  await api.app.listen({ host: '127.0.0.1', port: 0 })
  const apiBase = `http://127.0.0.1:${(api.app.server.address() as { port: number }).port}`

  const bare = Fastify({ logger: false })
  bare.get('/constant', async () => ({ ok: true }))
  bare.get('/blank', async (_request, reply) =>
    reply.type('text/html').send('<!doctype html><title>blank</title><p>blank'),
  )
  await bare.listen({ host: '127.0.0.1', port: 0 })
  cleanups.push(() => bare.close())
  const bareBase = `http://127.0.0.1:${(bare.server.address() as { port: number }).port}`

  const from = new Date(GENESIS_MS).toISOString()
  const to = new Date(GENESIS_MS + HOURS * 3_600_000).toISOString()
  const devices = [...fixture.registry.devices()].slice(0, 10).map((d) => `device=${d.deviceId}`)
  const routes = {
    bare: `${bareBase}/constant`,
    revenueByPool: `${apiBase}/api/v1/operator/revenue?groupBy=pool&from=${from}&to=${to}&resolution=5m`,
    revenueByDevice: `${apiBase}/api/v1/operator/revenue?groupBy=device&from=${from}&to=${to}&resolution=5m&${devices.join('&')}`,
  }
  const headers = { 'x-api-key': OPS_KEY.key }

  const measure = async (label: string, url: string) => {
    await runLoad({ url, headers, concurrency: 1, durationMs: 1 })
    progress(`measuring ${label} for ${seconds} s at concurrency ${concurrency}`)
    const result = await runLoad({ url, headers, concurrency, durationMs: seconds * 1000 })
    progress(
      `${label}: ${result.requestsPerSecond.toFixed(2)} req/s, p99 ${result.p99Ms.toFixed(1)} ms, ${result.errors} errors ${JSON.stringify(result.errorStatuses)}`,
    )
    return result
  }
  const bareLoad = await measure('bare fastify constant', routes.bare)
  const byPool = await measure('revenue by pool (16,000 devices)', routes.revenueByPool)
  const byDevice = await measure('revenue of 10 devices', routes.revenueByDevice)
  const range = `from=${from}&to=${to}&resolution=5m`
  const classResults = await measureClassRoute({ fixture, apiBase, range, bare: bareLoad, measure })

  const loads = Number(process.env.GRIDROOT_BENCH_API_LOADS ?? 2)
  progress(`dashboard first load in Chromium (${loads} cold loads, and a blank page)`)
  const browser = await launchChromium()
  cleanups.push(() => browser.close())
  const load = async (url: string, ready: string, mark: string) => {
    const context = await browser.newContext()
    const page = await context.newPage()
    const cdp = await context.newCDPSession(page)
    await cdp.send('Network.enable')
    await cdp.send('Network.setCacheDisabled', { cacheDisabled: true })
    let bytes = 0
    cdp.on('Network.loadingFinished', (event) => {
      bytes += event.encodedDataLength
    })
    await page.goto(url)
    await page.waitForFunction(ready, undefined, { timeout: 300_000 })
    const ms = (await page.evaluate(mark)) as number
    await context.close()
    return { ms, bytes }
  }
  const dashboard: { ms: number; bytes: number }[] = []
  const blank: { ms: number; bytes: number }[] = []
  for (let i = 0; i < loads; i++) {
    dashboard.push(
      await load(
        `${apiBase}/#key=${OPS_KEY.key}`,
        "performance.getEntriesByName('gridroot-first-chart').length > 0",
        "performance.getEntriesByName('gridroot-first-chart')[0].startTime",
      ),
    )
    blank.push(
      await load(
        `${bareBase}/blank`,
        "document.readyState === 'complete'",
        "performance.getEntriesByType('navigation')[0].loadEventEnd",
      ),
    )
  }

  const devicePointsResults = await measureDevicePointsRoute({
    endpoints: stack.endpoints,
    fixture,
    dlq: api.dlq,
    range,
    bare: bareLoad,
  })

  const params = { ...benchParams(fixture), source: 'revenue_rollup' }
  const results: BenchResult[] = [
    benchResult({
      name: 'api-revenue-by-pool-rps',
      subject: 'GET /revenue groupBy=pool, 16,000 devices, 2 h at 5 min (from the rollups)',
      baseline: 'bare fastify route returning a constant',
      unit: 'requests/s',
      value: byPool.requestsPerSecond,
      baselineValue: bareLoad.requestsPerSecond,
      params: {
        ...params,
        p50Ms: byPool.p50Ms,
        bytesPerResponse: byPool.bytesPerResponse,
        errors: byPool.errorStatuses,
        requests: byPool.requests,
      },
    }),
    benchResult({
      name: 'api-revenue-by-pool-p99',
      subject: 'GET /revenue groupBy=pool, 16,000 devices, 2 h at 5 min (from the rollups)',
      baseline: 'bare fastify route returning a constant',
      unit: 'ms (p99)',
      value: byPool.p99Ms,
      baselineValue: bareLoad.p99Ms,
      params,
    }),
    benchResult({
      name: 'api-revenue-by-device-rps',
      subject: 'GET /revenue groupBy=device, 10 devices, 2 h at 5 min',
      baseline: 'bare fastify route returning a constant',
      unit: 'requests/s',
      value: byDevice.requestsPerSecond,
      baselineValue: bareLoad.requestsPerSecond,
      params: {
        ...params,
        p50Ms: byDevice.p50Ms,
        p99Ms: byDevice.p99Ms,
        errors: byDevice.errorStatuses,
        requests: byDevice.requests,
      },
    }),
    ...classResults,
    ...devicePointsResults,
    benchResult({
      name: 'api-dashboard-first-chart',
      subject: 'dashboard cold load to the first chart with data (Chromium)',
      baseline: 'blank page from a bare fastify server, to its load event',
      unit: 'ms',
      value: median(dashboard.map((d) => d.ms)),
      baselineValue: median(blank.map((d) => d.ms)),
      params: { ...params, loads: dashboard.map((d) => Math.round(d.ms)) },
    }),
    benchResult({
      name: 'api-dashboard-first-load-bytes',
      subject: 'dashboard cold load, bytes over the wire (all requests until the first chart)',
      baseline: 'blank page from a bare fastify server',
      unit: 'bytes',
      value: median(dashboard.map((d) => d.bytes)),
      baselineValue: median(blank.map((d) => d.bytes)),
      params,
    }),
  ]
  writeFileSync(join(RESULTS_DIR, 'api.json'), `${JSON.stringify(results, null, 2)}\n`)
  console.log(formatResults(results))
}, 20 * 60_000)

type Measure = (label: string, url: string) => Promise<LoadResult>

function benchParams(fixture: Fixture) {
  return { devices: fixture.registry.size, hours: HOURS, intervalMs: 300_000, concurrency, seconds }
}

/** A load's requests/s and p99 beside the same run's bare route. */
function loadFigures(
  name: string,
  subject: string,
  r: LoadResult,
  bare: LoadResult,
  params: Record<string, unknown>,
): BenchResult[] {
  const baseline = 'bare fastify route returning a constant'
  return [
    benchResult({
      name: `${name}-rps`,
      subject,
      baseline,
      unit: 'requests/s',
      value: r.requestsPerSecond,
      baselineValue: bare.requestsPerSecond,
      params: {
        ...params,
        p50Ms: r.p50Ms,
        p99Ms: r.p99Ms,
        bytesPerResponse: r.bytesPerResponse,
        errors: r.errorStatuses,
        requests: r.requests,
      },
    }),
    benchResult({
      name: `${name}-p99`,
      subject,
      baseline,
      unit: 'ms (p99)',
      value: r.p99Ms,
      baselineValue: bare.p99Ms,
      params,
    }),
  ]
}

/** The class route, read from the rollups. */
async function measureClassRoute(o: {
  readonly fixture: Fixture
  readonly apiBase: string
  readonly range: string
  readonly bare: LoadResult
  readonly measure: Measure
}): Promise<BenchResult[]> {
  const byClass = await o.measure(
    'revenue by class (16,000 devices)',
    `${o.apiBase}/api/v1/operator/revenue?groupBy=class&${o.range}`,
  )
  return loadFigures(
    'api-revenue-by-class',
    'GET /revenue groupBy=class, 16,000 devices, 2 h at 5 min (from the rollups)',
    byClass,
    o.bare,
    { ...benchParams(o.fixture), source: 'revenue_rollup' },
  )
}

/**
 * The pool route summed from every device's points, as before the rollups
 * (GRIDROOT_API_REVENUE_SOURCE=devices, a second app over the same data), for
 * `GRIDROOT_BENCH_API_DEVICES_SECONDS` (default 40: a request takes seconds). Measured last:
 * InfluxDB goes on with a query whose client gave up, which would slow what comes after.
 */
async function measureDevicePointsRoute(o: {
  readonly endpoints: Endpoints
  readonly fixture: Fixture
  readonly dlq: DlqTail
  readonly range: string
  readonly bare: LoadResult
}): Promise<BenchResult[]> {
  const devicesApp = await fixtureApp(o.endpoints, o.fixture, {
    rateLimitMax: 10_000_000,
    revenueSource: 'devices',
    dlq: o.dlq,
  })
  cleanups.push(() => devicesApp.close())
  await devicesApp.app.listen({ host: '127.0.0.1', port: 0 })
  const devicesBase = `http://127.0.0.1:${(devicesApp.app.server.address() as { port: number }).port}`
  const devicesSeconds = Number(process.env.GRIDROOT_BENCH_API_DEVICES_SECONDS ?? 40)
  progress(`measuring revenue by pool from device points for ${devicesSeconds} s`)
  const byPoolDevices = await runLoad({
    url: `${devicesBase}/api/v1/operator/revenue?groupBy=pool&${o.range}`,
    headers: { 'x-api-key': OPS_KEY.key },
    concurrency,
    durationMs: devicesSeconds * 1000,
  })
  progress(
    `revenue by pool from device points: ${byPoolDevices.requestsPerSecond.toFixed(2)} req/s, p99 ${byPoolDevices.p99Ms.toFixed(1)} ms, ${byPoolDevices.errors} errors ${JSON.stringify(byPoolDevices.errorStatuses)}`,
  )
  return loadFigures(
    'api-revenue-by-pool-device-points',
    'GET /revenue groupBy=pool, 16,000 devices, 2 h at 5 min, summed from the device points (before the rollups)',
    byPoolDevices,
    o.bare,
    { ...benchParams(o.fixture), source: 'interval + adjustment' },
  )
}
