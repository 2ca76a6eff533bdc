/**
 * `npm run bench:api`: the API's revenue route for a fleet of 16,000 devices (InfluxDB sums the
 * per-interval points of all of them per window), beside a bare fastify route returning a
 * constant, measured in the same run with the same load generator; and the dashboard's first
 * load in Chromium (bytes, time to the first chart) beside a blank page from the same server.
 * The auditor's proof route (a device's leaf, proof and readings, checked by `verify` against
 * a finalized root on an anvil of the benchmark's own) for the same 16,000-device fleet, replayed
 * through the aggregator's rules for epoch 0 and built into its pools' trees and archives as the
 * oracle builds them. Results: bench/results/api.json.
 *
 * Settings: GRIDROOT_STACK_RUN_DIR (reuse a running stack), GRIDROOT_BENCH_API_SECONDS (per
 * measurement, default 10), GRIDROOT_BENCH_API_CONCURRENCY (default 8), GRIDROOT_BENCH_API_ONLY=proof
 * (the proof route and the bare route only, with no 16,000-device revenue fixture in InfluxDB:
 * results in bench/results/api-proof.json).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify from 'fastify'
import { indexRegistry } from '../core/identity/registry.ts'
import { createFileArtifactStore } from '../runtime/artifact-store.ts'
import type { Endpoints } from '../runtime/endpoints.ts'
import { createAuditReader } from '../services/api/adapters/audit-reader.ts'
import type { DlqTail } from '../services/api/adapters/dlq-tail.ts'
import { createOracleChain, toContractProposal } from '../services/oracle/adapters/chain.ts'
import { runFleet } from '../services/oracle/domain/fleet-replay.fixture.ts'
import { buildPoolEpoch, isProblem } from '../services/oracle/domain/pool-epoch.ts'
import { fixtureApp, OPS_KEY } from '../test/api/app-harness.ts'
import { launchChromium } from '../test/api/browser.ts'
import { dropFixture, type Fixture, GENESIS_MS, writeFixture } from '../test/api/fixture.ts'
import { startDedicatedAnvil } from '../test/contracts/support/dedicated-anvil.ts'
import { addPool, finalizeEpoch } from '../test/contracts/support/oracle.ts'
import { deploySystem, poolIdHex } from '../test/contracts/support/system.ts'
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
const proofOnly = process.env.GRIDROOT_BENCH_API_ONLY === 'proof'

runBench(async () => {
  const stack = await acquireBenchStack(process.env.GRIDROOT_STACK_RUN_DIR)
  cleanups.push(() => releaseBenchStack(stack))
  const name = `benchapi_${process.pid}_${Date.now().toString(36)}`
  const revenueFleet = proofOnly ? { chargers: 1, pv: 1, swap: 1 } : FLEET
  progress(
    `writing ${HOURS} h of 5-minute revenue points for ${revenueFleet.chargers + revenueFleet.pv + revenueFleet.swap} devices`,
  )
  const fixture = await writeFixture(stack.endpoints, name, { devices: revenueFleet, hours: HOURS })
  cleanups.push(() => dropFixture(fixture))
  const api = await fixtureApp(stack.endpoints, fixture, { rateLimitMax: 10_000_000 })
  cleanups.push(() => api.close())
  await api.dlq.caughtUp()
  await api.app.listen({ host: '127.0.0.1', port: 0 })
  const apiBase = `http://127.0.0.1:${(api.app.server.address() as { port: number }).port}`

  // The proof route: epoch 0 of the fleet's largest pool (by leaves) finalized on a chain of its own.
  progress(`replaying ${FLEET.chargers + FLEET.pv + FLEET.swap} devices' signed telemetry for epoch 0`)
  const fleet = runFleet({}, FLEET, 1.25)
  const auditRegistry = indexRegistry([...fleet.registry.values()])
  const totals = fleet.replay.epochResults(0)
  const poolIds = [...new Set(totals.map((t) => t.poolId))]
  const builds = poolIds.map((poolId) => {
    const b = buildPoolEpoch(poolId, 0, 0, totals, (d) => fleet.replay.paidReadings(0, d), fleet.replay)
    if (isProblem(b)) throw new Error(b.detail)
    return b
  })
  const audited = builds.reduce((a, b) => (b.leaves.length > a.leaves.length ? b : a))
  const anvil = await startDedicatedAnvil('bench-api')
  cleanups.push(() => anvil.stop())
  const system = await deploySystem(anvil.endpoint, { challengeWindowSec: 60 })
  const artifactDir = mkdtempSync(join(tmpdir(), 'gridroot-bench-api-'))
  cleanups.push(async () => rmSync(artifactDir, { recursive: true, force: true }))
  const store = createFileArtifactStore({ dir: artifactDir })
  await store.put(audited.treeBytes)
  await store.put(audited.archiveBytes)
  await addPool(system, poolIdHex(audited.proposal.poolId), 0n)
  await finalizeEpoch(system, toContractProposal(audited.proposal))
  const auditApi = await fixtureApp(stack.endpoints, fixture, {
    rateLimitMax: 10_000_000,
    dlq: api.dlq,
    registry: auditRegistry,
    auditor: createAuditReader({
      chain: createOracleChain({
        endpoint: anvil.endpoint,
        oracle: system.contracts.revenueOracle,
        fromBlock: 0n,
      }),
      store,
      registry: auditRegistry,
      rules: fleet.replay,
      pools: poolIds,
    }),
  })
  cleanups.push(() => auditApi.app.close())
  await auditApi.app.listen({ host: '127.0.0.1', port: 0 })
  const auditBase = `http://127.0.0.1:${(auditApi.app.server.address() as { port: number }).port}`
  const auditedDevice = audited.leaves[Math.floor(audited.leaves.length / 2)]?.deviceId as string
  const proofUrl = `${auditBase}/api/v1/auditor/pools/${audited.proposal.poolId}/epochs/0/devices/${auditedDevice}`
  // The first audit loads, hashes and parses the pool's tree and archive (then kept by hash).
  const firstStarted = performance.now()
  const first = await fetch(proofUrl)
  const firstBody = (await first.json()) as { verified?: boolean }
  const firstRequestMs = performance.now() - firstStarted
  if (first.status !== 200 || firstBody.verified !== true)
    throw new Error(
      `the proof route did not verify: ${first.status} ${JSON.stringify(firstBody).slice(0, 500)}`,
    )

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
  const proof = await measure(`proof route (${audited.leaves.length} leaves)`, proofUrl)
  const proofParams = { intervalMs: 300_000, concurrency, seconds }
  const proofResults = [
    benchResult({
      name: 'api-proof-rps',
      subject: `GET /auditor/…/devices/{id}: verify of one leaf of a ${audited.leaves.length}-leaf pool epoch (fleet of ${auditRegistry.size})`,
      baseline: 'bare fastify route returning a constant',
      unit: 'requests/s',
      value: proof.requestsPerSecond,
      baselineValue: bareLoad.requestsPerSecond,
      params: {
        ...proofParams,
        devices: auditRegistry.size,
        leaves: audited.leaves.length,
        treeBytes: audited.treeBytes.length,
        archiveBytes: audited.archiveBytes.length,
        p50Ms: proof.p50Ms,
        firstRequestMs,
        bytesPerResponse: proof.bytesPerResponse,
        errors: proof.errorStatuses,
        requests: proof.requests,
      },
    }),
    benchResult({
      name: 'api-proof-p99',
      subject: `GET /auditor/…/devices/{id}: verify of one leaf of a ${audited.leaves.length}-leaf pool epoch`,
      baseline: 'bare fastify route returning a constant',
      unit: 'ms (p99)',
      value: proof.p99Ms,
      baselineValue: bareLoad.p99Ms,
      params: { ...proofParams, devices: auditRegistry.size, leaves: audited.leaves.length },
    }),
  ]
  if (proofOnly) {
    writeFileSync(join(RESULTS_DIR, 'api-proof.json'), `${JSON.stringify(proofResults, null, 2)}\n`)
    console.log(formatResults(proofResults))
    return
  }
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
    ...proofResults,
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
