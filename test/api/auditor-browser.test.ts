/**
 * The auditor view in real Chromium against the running system: a simulated fleet publishes
 * signed telemetry over MQTT, ingest and the aggregator (real processes) close epochs, three
 * oracle signers and a submitter (real processes) publish each pool epoch's tree and readings
 * archive and finalize its root in RevenueOracle on an anvil of the test's own (the test moves
 * its clock past the challenge window), and the API runs as its own process on the same chain
 * and artifact store. An auditor picks a pool, a device and epoch 0 and verifies: every check
 * passes, the leaf's revenue is the simulator's ground truth to the unit, and the linked tree
 * hashes to the treeHash on-chain. Screenshot: .run/screenshots/dashboard-auditor.png.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import type { Hex } from 'viem'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { revenueOracleAbi } from '../../contracts/abi/index.ts'
import { DEV_ACCOUNT_ROLES, devAccount } from '../../contracts/deploy/dev-accounts.ts'
import { parseRegistry } from '../../core/identity/registry.ts'
import { writeContractsFile } from '../../runtime/contracts-file.ts'
import { ENDPOINT_ENV, endpointsToEnv } from '../../runtime/endpoints.ts'
import { createOracleChain } from '../../services/oracle/adapters/chain.ts'
import { contentHash } from '../../services/oracle/domain/pool-epoch.ts'
import { VERIFY_CHECKS } from '../../services/oracle/domain/verify.ts'
import { createFleet } from '../../simulators/fleet/fleet.ts'
import { type DedicatedAnvil, startDedicatedAnvil } from '../contracts/support/dedicated-anvil.ts'
import { contractsFileOf, deploySystem, exec, poolIdHex, type System } from '../contracts/support/system.ts'
import { createHarness, type Harness } from '../support/pipeline-harness.ts'
import { type ServiceProcess, startServiceProcess } from '../support/service-process.ts'
import { launchChromium, screenshotPath } from './browser.ts'

const endpoints = inject('endpoints')
const START = Date.parse('2026-06-01T00:00:00+08:00')
const HOUR = 3_600_000
const grid = { genesisMs: START, epochLengthMs: HOUR, intervalMs: 300_000 }
// The oracle end-to-end test's fleet: enough devices for every telemetry partition to hold records.
const fleetSpec = { chargers: 8, pv: 6, swap: 6, startMs: START, sampleMs: 300_000 }
const SEED = 'api-auditor-browser'
const name = `aud${Date.now().toString(36)}`
const WINDOW_SEC = 600
const keyOf = (index: number): Hex =>
  `0x${Buffer.from(devAccount(index).getHdKey().privateKey as Uint8Array).toString('hex')}`
const registry = parseRegistry(createFleet({ ...fleetSpec, seed: SEED }).registry())
const pools = [...new Set([...registry.devices()].map((d) => d.poolId))].sort()
// A charger: it earns from the first hour on.
const device = [...registry.devices()].find((d) => d.assetClass === 'charger') as {
  deviceId: string
  poolId: string
}

let anvil: DedicatedAnvil
let system: System
let harness: Harness
let dir: string
let browser: Browser | undefined
const processes: ServiceProcess[] = []

/** Where a slow setup is, on stderr (the whole pipeline starts here). */
const step = (what: string) => process.stderr.write(`[auditor-browser] ${new Date().toISOString()} ${what}\n`)

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 500))
  }
}

beforeAll(async () => {
  anvil = await startDedicatedAnvil('api-auditor-browser')
  system = await deploySystem(anvil.endpoint, { threshold: 2, challengeWindowSec: WINDOW_SEC })
  for (const poolId of pools)
    await exec(system, system.deployer.walletClient as never, {
      address: system.contracts.revenueOracle,
      abi: revenueOracleAbi,
      functionName: 'addPool',
      args: [poolIdHex(poolId), 0n],
    })
  dir = mkdtempSync(join(tmpdir(), `gridroot-${name}-`))
  writeContractsFile(
    join(dir, 'contracts.json'),
    contractsFileOf(system, [], { threshold: 2, challengeWindowSec: WINDOW_SEC }),
  )
  writeFileSync(
    join(dir, 'registry.json'),
    JSON.stringify(createFleet({ ...fleetSpec, seed: SEED }).registry()),
  )
  harness = await createHarness({
    endpoints,
    name,
    seed: SEED,
    fleet: fleetSpec,
    grid,
    durationMs: 1.5 * HOUR,
    scenario: {},
    aggregatorEnv: { GRIDROOT_AGG_GRACE: '10m', GRIDROOT_AGG_REORDER_WINDOW: '10m' },
  })
  const env = {
    ...endpointsToEnv(endpoints),
    [ENDPOINT_ENV.influxUrl]: harness.influx.url,
    [ENDPOINT_ENV.influxBucket]: harness.influx.bucket,
    [ENDPOINT_ENV.rpcUrl]: anvil.endpoint.rpcUrl,
    [ENDPOINT_ENV.chainId]: String(anvil.endpoint.chainId),
    GRIDROOT_KAFKA_TOPIC_PREFIX: `${name}.`,
    GRIDROOT_REGISTRY_FILE: join(dir, 'registry.json'),
    GRIDROOT_CONTRACTS_FILE: join(dir, 'contracts.json'),
    GRIDROOT_ARTIFACT_DIR: join(dir, 'artifacts'),
    GRIDROOT_EPOCH_GENESIS: new Date(grid.genesisMs).toISOString(),
    GRIDROOT_EPOCH_LENGTH: String(grid.epochLengthMs),
    GRIDROOT_INTERVAL: String(grid.intervalMs),
    GRIDROOT_AGG_GRACE: '10m',
    GRIDROOT_AGG_REORDER_WINDOW: '10m',
  }
  const start = async (script: string, portVariable: string, extra: Record<string, string>) => {
    const p = await startServiceProcess(script, { ...env, ...extra }, portVariable)
    processes.push(p)
    // Generous: these machines run at load 20 and more.
    await p.waitHealthy(180_000).catch((error) => {
      throw new Error(`${error}\n${p.output().slice(-3000)}`)
    })
    return p
  }
  step('starting ingest and the aggregator')
  await harness.startIngest()
  await harness.startAggregator()
  step('starting three oracle signers and the submitter')
  const sources = ['influx', 'replay', 'replay']
  for (const [i, index] of DEV_ACCOUNT_ROLES.oracleSigners.entries())
    await start('services/oracle/main.ts', 'GRIDROOT_ORACLE_METRICS_PORT', {
      GRIDROOT_ORACLE_ROLE: 'signer',
      GRIDROOT_ORACLE_POLL: '300ms',
      GRIDROOT_ORACLE_INSTANCE: `${name}-signer-${i + 1}`,
      GRIDROOT_ORACLE_SOURCE: sources[i] as string,
      GRIDROOT_ORACLE_SIGNER_KEY: keyOf(index),
    })
  await start('services/oracle/main.ts', 'GRIDROOT_ORACLE_METRICS_PORT', {
    GRIDROOT_ORACLE_ROLE: 'submitter',
    GRIDROOT_ORACLE_POLL: '300ms',
    GRIDROOT_ORACLE_INSTANCE: `${name}-submitter`,
    GRIDROOT_ORACLE_SUBMITTER_KEY: keyOf(DEV_ACCOUNT_ROLES.publisher),
  })
  step('publishing the fleet')
  await harness.publish()
  step('waiting for epoch 0 of every pool to be final')

  // Each pending root waits out its challenge window: move this chain's clock past it.
  const chain = createOracleChain({
    endpoint: anvil.endpoint,
    oracle: system.contracts.revenueOracle,
    fromBlock: 0n,
  })
  await until('epoch 0 of every pool to be final', 900_000, async () => {
    let done = true
    for (const poolId of pools) {
      if (((await chain.pool(poolId))?.nextEpoch ?? 0) > 0) continue
      done = false
      if ((await chain.epochRecord(poolId, 0)).status === 'pending') {
        await system.testClient.increaseTime({ seconds: WINDOW_SEC + 1 })
        await system.testClient.mine({ blocks: 1 })
      }
    }
    if (!done && Date.now() % 20_000 < 600)
      step(
        `pools: ${JSON.stringify(await Promise.all(pools.map(async (p) => (await chain.epochRecord(p, 0)).status)))}`,
      )
    return done
  }).catch((error) => {
    throw new Error(`${error}\n${processes.map((p) => p.output().slice(-1500)).join('\n---\n')}`)
  })
  step('starting the API')
  await start('services/api/main.ts', 'GRIDROOT_API_PORT', { GRIDROOT_API_INSTANCE: `${name}-api` })
}, 1_200_000)

afterAll(async () => {
  await browser?.close()
  for (const p of processes.reverse()) await p.kill('SIGTERM')
  await harness?.close()
  await anvil?.stop()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('auditor dashboard (real Chromium, real pipeline and oracle)', () => {
  it('an auditor picks a pool, a device and an epoch and verifies its proof against the chain', async () => {
    const api = processes[processes.length - 1] as ServiceProcess
    const base = `http://127.0.0.1:${api.metricsPort}`
    const truth = harness.truthByDeviceEpoch()
    const expected = [...truth.values()].find((t) => t.deviceId === device.deviceId && t.epoch === 0)
    expect(expected?.revenueUnits, 'the charger earned in epoch 0').toBeGreaterThan(0n)

    browser = await launchChromium()
    const page = await browser.newPage({ viewport: { width: 1400, height: 1400 } })
    const failures: string[] = []
    page.on('pageerror', (error) => failures.push(String(error)))
    page.on('requestfailed', (request) => failures.push(`${request.url()} ${request.failure()?.errorText}`))
    // From the operator page's nav, as a person would arrive.
    await page.goto(`${base}/auditor.html`)
    await page.waitForFunction("document.getElementById('pool')?.options.length > 0", undefined, {
      timeout: 30_000,
    })
    await page.selectOption('#pool', device.poolId)
    await page.waitForFunction("Number(document.getElementById('epoch')?.dataset.finals) > 0", undefined, {
      timeout: 30_000,
    })
    await page.fill('#device', device.deviceId)
    await page.selectOption('#epoch', '0')
    await page.click('#verify')
    await page.waitForFunction(
      'window.__gridrootAuditor.audit || window.__gridrootAuditor.error',
      undefined,
      {
        timeout: 60_000,
      },
    )
    const shown = (await page.evaluate(`(() => {
      const s = window.__gridrootAuditor
      const text = (id) => document.getElementById(id)?.textContent ?? ''
      return { error: s.error, verified: s.audit?.verified, verdict: text('verdict'), revenue: text('tile-revenue'),
        leafRevenue: s.audit?.leaf?.revenueUnits, treeHash: s.audit?.chain.treeHash, root: s.audit?.chain.root,
        checks: [...document.querySelectorAll('#checks li')].map((li) => li.dataset.check + ':' + li.className),
        proofNodes: document.querySelectorAll('#proof li').length, readingsRows: document.querySelectorAll('#readings tbody tr').length,
        chartPoints: Number(document.getElementById('chart-readings')?.dataset.points), hash: location.hash,
        treeLink: document.querySelector('a[data-artifact="tree"]')?.getAttribute('href') }
    })()`)) as Record<string, unknown>
    expect(shown.error, JSON.stringify(shown)).toBeUndefined()
    expect(shown.verified).toBe(true)
    expect(shown.verdict).toContain('Verified')
    expect(shown.checks).toEqual(VERIFY_CHECKS.map((c) => `${c}:ok`))
    // The leaf pays the simulator's ground truth to the unit; the page shows it in HKD.
    expect(shown.leafRevenue).toBe(String(expected?.revenueUnits))
    const units = expected?.revenueUnits as bigint
    expect(shown.revenue).toBe(
      `HKD ${(units / 1_000_000n).toLocaleString('en')}.${(units % 1_000_000n).toString().padStart(6, '0')}`,
    )
    expect(shown.readingsRows).toBe(expected?.readings)
    expect(shown.chartPoints).toBe(expected?.readings)
    // The root is RevenueOracle's, and the linked tree is the file the chain's treeHash names.
    const chain = createOracleChain({
      endpoint: anvil.endpoint,
      oracle: system.contracts.revenueOracle,
      fromBlock: 0n,
    })
    const finalized = await chain.finalized(device.poolId, 0)
    expect(shown.root).toBe(finalized?.root)
    expect(shown.treeHash).toBe(finalized?.treeHash)
    await page.screenshot({ path: screenshotPath('dashboard-auditor.png'), fullPage: true })
    const tree = await page.request.get(`${base}${shown.treeLink}`)
    expect(tree.status()).toBe(200)
    expect(contentHash(await tree.body())).toBe(finalized?.treeHash)

    // The choice is in the URL: a shared link opens the same audit.
    const again = await browser.newPage()
    await again.goto(`${base}/auditor.html${shown.hash}`)
    await again.waitForFunction('window.__gridrootAuditor.audit?.verified === true', undefined, {
      timeout: 60_000,
    })
    // An epoch not proposed yet: the page says why, with the API's code and hint.
    await again.goto(`${base}/auditor.html#pool=${device.poolId}&device=${device.deviceId}&epoch=99`)
    await again.waitForFunction("window.__gridrootAuditor.error?.code === 'UNKNOWN_EPOCH'", undefined, {
      timeout: 60_000,
    })
    expect(await again.isVisible('#problem')).toBe(true)
    expect(failures).toEqual([])
  })
})
