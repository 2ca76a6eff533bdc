/**
 * The operator dashboard in real Chromium against the running system: a simulated fleet
 * publishes signed telemetry over MQTT, ingest and the aggregator (real processes) turn it into
 * revenue in InfluxDB, the API runs as its own process, and the revenue charts show the fleet's
 * revenue, equal to the simulator's ground truth to the unit. Screenshot: .run/screenshots/.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { ENDPOINT_ENV, endpointsToEnv } from '../../runtime/endpoints.ts'
import { createFleet } from '../../simulators/fleet/fleet.ts'
import { deviceTotals } from '../support/influx-queries.ts'
import { createHarness, type Harness, printable } from '../support/pipeline-harness.ts'
import { type ServiceProcess, startServiceProcess } from '../support/service-process.ts'
import { launchChromium, screenshotPath } from './browser.ts'

const endpoints = inject('endpoints')
const START = Date.parse('2026-06-01T00:00:00+08:00')
const HOUR = 3_600_000
const grid = { genesisMs: START, epochLengthMs: HOUR, intervalMs: 300_000 }
// Midnight to noon local time: PV plants earn from the morning on.
const fleet = { chargers: 4, pv: 4, swap: 4, startMs: START, sampleMs: 300_000 }
const seed = 'api-dashboard'
const name = `dash${Date.now().toString(36)}`
const KEY = 'dashboard-test-key-0123456789abcdef'

let harness: Harness | undefined
let api: ServiceProcess | undefined
let browser: Browser | undefined
afterAll(async () => {
  await browser?.close()
  await api?.kill('SIGTERM')
  await harness?.close()
})

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 500))
  }
}

describe('operator dashboard (real Chromium, real pipeline)', () => {
  it("charts the simulated fleet's revenue per pool and class, equal to the ground truth", async () => {
    harness = await createHarness({
      endpoints,
      name,
      seed,
      fleet,
      grid,
      durationMs: 12 * HOUR,
      scenario: { faults: { badSignature: 0.03, meterReplace: 0.01 } },
      aggregatorEnv: { GRIDROOT_AGG_GRACE: '10m' },
    })
    const h = harness
    await h.startIngest()
    await h.startAggregator()
    await h.publish()
    const truth = printable(h.truthByDevice())
    await until('the aggregator to reach the ground truth', 90_000, async () => {
      return JSON.stringify(printable(await deviceTotals(h.influx))) === JSON.stringify(truth)
    })

    // The same registry the harness wrote (the fleet is deterministic from its seed).
    const dir = mkdtempSync(join(tmpdir(), 'gridroot-dashboard-'))
    const registryFile = join(dir, 'registry.json')
    writeFileSync(registryFile, JSON.stringify(createFleet({ ...fleet, seed }).registry()))
    api = await startServiceProcess(
      'services/api/main.ts',
      {
        ...endpointsToEnv(endpoints),
        [ENDPOINT_ENV.influxBucket]: h.influx.bucket,
        GRIDROOT_KAFKA_TOPIC_PREFIX: `${name}.`,
        GRIDROOT_REGISTRY_FILE: registryFile,
        GRIDROOT_AGG_GROUP: `${name}-aggregator`,
        GRIDROOT_EPOCH_GENESIS: new Date(START).toISOString(),
        GRIDROOT_EPOCH_LENGTH: String(HOUR),
        GRIDROOT_API_KEYS: `ops:${KEY}`,
        GRIDROOT_API_INSTANCE: `${name}-api`,
      },
      'GRIDROOT_API_PORT',
    )
    await api.waitHealthy()
    const base = `http://127.0.0.1:${api.metricsPort}`

    browser = await launchChromium()
    const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } })
    const failures: string[] = []
    page.on('pageerror', (error) => failures.push(String(error)))
    page.on('requestfailed', (request) => failures.push(`${request.url()} ${request.failure()?.errorText}`))
    await page.goto(`${base}/#key=${KEY}`)
    await page.waitForSelector('#chart-pool canvas', { timeout: 30_000 })
    // Page code as strings: this project's TypeScript has no DOM library.
    await page.waitForFunction("Number(document.querySelector('#chart-class')?.dataset.points) > 0")
    // The tiles come from their own requests, drawn when each answers (the fleet snapshot after
    // the charts, by design): read them once they are drawn, or say what the page shows instead.
    await page
      .waitForFunction(
        "['tile-devices', 'tile-dlq'].every((id) => document.getElementById(id)?.textContent !== '–')",
        undefined,
        { timeout: 30_000 },
      )
      .catch(async (error) => {
        throw new Error(`the tiles were not drawn; status line: ${await page.textContent('#status')}`, {
          cause: error,
        })
      })
    const shown = (await page.evaluate(`(() => {
      const charts = window.__gridroot.charts
      const seriesTotals = (name) => (charts[name]?.plot.data.slice(1) ?? []).map((ys) => ys.reduce((a, b) => a + b, 0))
      const text = (id) => document.getElementById(id)?.textContent ?? ''
      return { pool: seriesTotals('pool'), class: seriesTotals('class'), poolTotalText: text('total-pool'),
        devices: text('tile-devices'), dlq: text('tile-dlq') }
    })()`)) as { pool: number[]; class: number[]; poolTotalText: string; devices: string; dlq: string }
    const truthUnits = [...h.truthByDevice().values()].reduce((sum, t) => sum + t.revenueUnits, 0n)
    const hkd = `HKD ${(truthUnits / 1_000_000n).toLocaleString('en')}.${((truthUnits % 1_000_000n) / 10_000n).toString().padStart(2, '0')}`
    expect(shown.poolTotalText).toContain(hkd)
    // Three pools and three classes drawn, each with revenue (floats only on the chart's axis).
    expect(shown.pool).toHaveLength(3)
    expect(shown.class).toHaveLength(3)
    for (const total of [...shown.pool, ...shown.class]) expect(total).toBeGreaterThan(0)
    const sum = shown.pool.reduce((a, b) => a + b, 0)
    expect(Math.abs(sum - Number(truthUnits) / 1e6)).toBeLessThan(0.01)
    expect(shown.devices).toBe('12')
    expect(Number(shown.dlq)).toBe(h.scenario.counters.injected.badSignature)
    await page.screenshot({ path: screenshotPath('dashboard-operator.png'), fullPage: true })

    // It keeps itself up to date: the status line changes with the next refresh.
    const status = await page.textContent('#status')
    await page.waitForFunction(
      `document.getElementById('status')?.textContent !== ${JSON.stringify(status)}`,
      undefined,
      {
        timeout: 30_000,
      },
    )
    expect(failures).toEqual([])
  })
})
