/**
 * The holder view in real Chromium against the running system on a real chain (an anvil of this
 * test's own: it passes the oracle's challenge window): the distributor service publishes the
 * cumulative root of a finalized epoch, the API runs as its own process with the dev wallet on,
 * and holders connect, see what they can claim, claim, and see the payout and their balance
 * change; the on-chain balance and `claimed` agree. Refusals are shown with their codes: paused,
 * not verified, nothing to claim, wrong chain (an injected EIP-1193 wallet on another chain). An
 * injected wallet on the right chain claims too. Screenshots: .run/screenshots/holder-*.png.
 *
 * Shares are chosen so the expected amounts are worked out here, not by the code under test:
 * revenue 1 000 000 000, holders' share 80 % = 800 000 000; A holds 300, B 100, C 100 pool
 * tokens for the whole epoch → A 480 000 000, B 160 000 000, C 160 000 000. B is unverified
 * after the root is published (its claim must be refused).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { type Address, stringToHex } from 'viem'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import {
  hkdStablecoinAbi,
  identityRegistryAbi,
  revenueDistributorAbi,
  revenueShareTokenAbi,
} from '../../contracts/abi/index.ts'
import { deployPoolDistributor, deployPoolToken } from '../../contracts/deploy/deploy-pool-contracts.ts'
import { epochClockToChain } from '../../core/entitlement/index.ts'
import { endpointsToEnv } from '../../runtime/endpoints.ts'
import { verifyRulesFromEnv } from '../../services/oracle/config.ts'
import { createFleet } from '../../simulators/fleet/fleet.ts'
import { type DedicatedAnvil, startDedicatedAnvil } from '../contracts/support/dedicated-anvil.ts'
import { commitRegistry } from '../contracts/support/device-epoch.ts'
import { addPool, finalizeEpoch } from '../contracts/support/oracle.ts'
import {
  contractsFileOf,
  deploySystem,
  exec,
  FIXED_EPOCH_CLOCK,
  type System,
} from '../contracts/support/system.ts'
import {
  genuineFleet,
  proposalOfBuild,
  pvDevices,
  storeBuild,
  writeTariffBook,
} from '../distributor/support/genuine-epochs.ts'
import { type ServiceProcess, startServiceProcess } from '../support/service-process.ts'
import { launchChromium, screenshotPath } from './browser.ts'

const POOL = 'holder-ui'
const POOL_HEX = stringToHex(POOL, { size: 32 })
const WINDOW_S = 100
/** Device time of epoch 0, by day (PV earns nothing at night); chain time starts at t0. */
const DEVICE_GENESIS_MS = Date.parse('2026-06-01T10:00:00+08:00')
const grid = { genesisMs: DEVICE_GENESIS_MS, epochLengthMs: WINDOW_S * 1000, intervalMs: 10_000 }
/** One PV plant feeding in 100 Wh an interval: 1 kWh in epoch 0, at 1 000 000 000 base units a kWh. */
const DEVICES = pvDevices(POOL, 'hv', 1)
const PRICE_PER_KWH = 1_000_000_000n
const name = `holderui_${process.pid}_${Date.now().toString(36)}`
const A_UNITS = 480_000_000n
const B_UNITS = 160_000_000n
const C_UNITS = 160_000_000n

let anvil: DedicatedAnvil
let otherChain: DedicatedAnvil
let system: System
let dir: string
let distributor: Address
let stable: Address
let api: ServiceProcess
let apiEnv: Record<string, string>
let base: string
let browser: Browser
const running: ServiceProcess[] = []
let a: Address
let b: Address
let c: Address

const balance = (account: Address) =>
  system.publicClient.readContract({
    address: stable,
    abi: hkdStablecoinAbi,
    functionName: 'balanceOf',
    args: [account],
  })
const claimedOnChain = (account: Address) =>
  system.publicClient.readContract({
    address: distributor,
    abi: revenueDistributorAbi,
    functionName: 'claimed',
    args: [account],
  })

async function until(what: string, check: () => Promise<boolean>, service?: ServiceProcess): Promise<void> {
  const deadline = Date.now() + 120_000
  while (!(await check())) {
    if (service !== undefined && service.child.exitCode !== null)
      throw new Error(`${what}: the service exited\n${service.output()}`)
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${service?.output() ?? ''}`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

beforeAll(async () => {
  anvil = await startDedicatedAnvil('holder-ui')
  system = await deploySystem(anvil.endpoint, { challengeWindowSec: 60 })
  const deployer = system.deployer.walletClient
  const identity = system.contracts.identityRegistry
  stable = system.contracts.hkdStablecoin
  ;[a, b, c] = system.investors.slice(0, 3).map((w) => w.account.address) as [Address, Address, Address]
  await addPool(system, POOL_HEX, 0n)
  const token = await deployPoolToken(system.deployer, system.compiled, {
    poolIdBytes32: POOL_HEX,
    name: 'Holder view pool share',
    symbol: 'HVP',
    identityRegistry: identity,
    issuer: deployer.account.address,
  })
  distributor = (
    await deployPoolDistributor(system.deployer, system.compiled, {
      poolIdBytes32: POOL_HEX,
      oracle: system.contracts.revenueOracle,
      identityRegistry: identity,
      paymentToken: stable,
      firstEpoch: 0n,
      terms: { treasury: system.treasury.account.address, holdersBps: 8_000, splitMode: 'time-weighted' },
      // A chain genesis ahead keeps the clock adjustable: it is set to t0 below.
      clock: { ...FIXED_EPOCH_CLOCK, epochLengthMs: WINDOW_S * 1000, chainGenesisS: 4_000_000_000 },
      publisher: system.publisher.account.address,
      pauser: deployer.account.address,
    })
  ).address
  const send = (address: Address, abi: readonly unknown[], functionName: string, args: readonly unknown[]) =>
    exec(system, deployer, { address, abi, functionName, args })
  await send(identity, identityRegistryAbi, 'verify', [[a, b, c]])
  await send(token.address, revenueShareTokenAbi, 'mint', [a, 300n])
  await send(token.address, revenueShareTokenAbi, 'mint', [b, 100n])
  await send(token.address, revenueShareTokenAbi, 'mint', [c, 100n])
  await send(stable, hkdStablecoinAbi, 'mint', [system.treasury.account.address, 10_000_000_000n])
  await exec(system, system.treasury, {
    address: stable,
    abi: hkdStablecoinAbi,
    functionName: 'approve',
    args: [distributor, 800_000_000n],
  })
  // The holdings above stand for the whole of epoch 0: it starts after them. Genesis sits on a
  // whole 10 s, as the tariff book's change times do (a genesis at :54 puts them off the grid).
  const t0 = Math.ceil((Number((await system.publicClient.getBlock()).timestamp) + 10) / 10) * 10
  await send(distributor, revenueDistributorAbi, 'setEpochClock', [
    epochClockToChain({
      deviceGenesisMs: DEVICE_GENESIS_MS,
      epochLengthMs: WINDOW_S * 1000,
      chainGenesisS: t0,
      speedup: 1,
    }),
  ])
  await system.testClient.setNextBlockTimestamp({ timestamp: BigInt(t0 + WINDOW_S + 10) })
  await system.testClient.mine({ blocks: 1 })
  dir = mkdtempSync(join(tmpdir(), 'gridroot-holder-ui-'))
  // The distributor funds an epoch only with its device tree and readings archive stored, its
  // devices registered, and every leaf recomputed from the archive: epoch 0 is genuine, built
  // from signed readings as the oracle's signers build it.
  const distributorRegistry = join(dir, 'distributor-registry.json')
  const tariffsFile = join(dir, 'tariffs.json')
  writeTariffBook(tariffsFile, grid, [PRICE_PER_KWH])
  await commitRegistry(system, distributorRegistry, DEVICES, POOL)
  const contractsFile = join(dir, 'contracts.json')
  const contracts = contractsFileOf(system, [
    {
      poolId: POOL,
      poolIdBytes32: POOL_HEX,
      token: token.address,
      distributor,
      paymentToken: stable,
      treasury: system.treasury.account.address,
      firstEpoch: 0,
      deployedAtBlock: String(token.blockNumber),
    },
  ])
  writeFileSync(contractsFile, JSON.stringify(contracts))
  const env = {
    ...endpointsToEnv({ ...inject('endpoints'), chain: anvil.endpoint }),
    GRIDROOT_CONTRACTS_FILE: contractsFile,
    GRIDROOT_ARTIFACT_DIR: join(dir, 'artifacts'),
    GRIDROOT_TARIFFS_FILE: tariffsFile,
    GRIDROOT_EPOCH_GENESIS: new Date(DEVICE_GENESIS_MS).toISOString(),
    GRIDROOT_EPOCH_LENGTH: `${WINDOW_S}s`,
    GRIDROOT_INTERVAL: '10s',
  }
  const epoch0 = genuineFleet({
    devices: DEVICES,
    whPerInterval: new Map([['hv-000001', 100]]),
    grid,
    rules: await verifyRulesFromEnv({ ...env, GRIDROOT_REGISTRY_FILE: distributorRegistry }),
    epochs: 1,
  }).build(POOL, 0)
  expect(epoch0.proposal.revenueUnits).toBe(1_000_000_000n)
  await storeBuild(join(dir, 'artifacts'), epoch0)
  await finalizeEpoch(system, proposalOfBuild(POOL_HEX, epoch0))
  // The distributor service publishes epoch 0's cumulative root, then stops.
  const distributorService = await startServiceProcess(
    'services/distributor/main.ts',
    { ...env, GRIDROOT_DISTRIBUTOR_POLL: '200', GRIDROOT_REGISTRY_FILE: distributorRegistry },
    'GRIDROOT_DISTRIBUTOR_METRICS_PORT',
  )
  running.push(distributorService)
  await until(
    'the root of epoch 0',
    async () =>
      (
        await system.publicClient.readContract({
          address: distributor,
          abi: revenueDistributorAbi,
          functionName: 'state',
        })
      ).nextEpoch === 1n,
    distributorService,
  )
  await distributorService.kill('SIGTERM')
  // B is in the published tree but no longer verified: the distributor must refuse its claim.
  await send(identity, identityRegistryAbi, 'unverify', [[b]])

  const registryFile = join(dir, 'registry.json')
  writeFileSync(
    registryFile,
    JSON.stringify(
      createFleet({
        chargers: 1,
        pv: 1,
        swap: 1,
        startMs: t0 * 1000,
        sampleMs: 300_000,
        seed: name,
      }).registry(),
    ),
  )
  apiEnv = {
    ...env,
    GRIDROOT_REGISTRY_FILE: registryFile,
    GRIDROOT_KAFKA_TOPIC_PREFIX: `${name}.`,
    GRIDROOT_AGG_GROUP: `${name}-aggregator`,
    GRIDROOT_API_INSTANCE: `${name}-api`,
    GRIDROOT_API_DEV_WALLET: 'anvil',
  }
  api = await startServiceProcess('services/api/main.ts', apiEnv, 'GRIDROOT_API_PORT')
  running.push(api)
  await api.waitHealthy()
  base = `http://127.0.0.1:${api.metricsPort}`
  browser = await launchChromium()
}, 300_000)

afterAll(async () => {
  await browser?.close()
  for (const s of running) await s.kill('SIGTERM')
  await otherChain?.stop()
  await anvil?.stop()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

// Page code as strings: this project's TypeScript has no DOM library.
const units = async (page: Page, cls: string) =>
  (await page.waitForSelector(`.pool[data-pool="${POOL}"] .${cls} [data-units]`)).getAttribute('data-units')
const poolMessage = (page: Page) => page.waitForSelector(`.pool[data-pool="${POOL}"] .message:not(.busy)`)
const messageCode = async (page: Page) => (await poolMessage(page)).getAttribute('data-code')

async function openHolderView(injected?: { rpcUrl: string }): Promise<{ page: Page; failures: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } })
  const page = await context.newPage()
  const failures: string[] = []
  page.on('pageerror', (error) => failures.push(String(error)))
  page.on('requestfailed', (request) => failures.push(`${request.url()} ${request.failure()?.errorText}`))
  if (injected !== undefined) {
    // An injected EIP-1193 wallet as an extension provides one: requests go to its node, whose
    // unlocked dev accounts sign (anvil), here through plain JSON-RPC over fetch.
    await page.addInitScript(`(() => {
      const rpcUrl = ${JSON.stringify(injected.rpcUrl)}
      let id = 0
      const call = async (method, params) => {
        const body = await (await fetch(rpcUrl, { method: 'POST', headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params }) })).json()
        if (body.error) throw Object.assign(new Error(body.error.message), body.error)
        return body.result
      }
      window.ethereum = {
        request: ({ method, params = [] }) =>
          method === 'eth_requestAccounts' ? call('eth_accounts', []).then((all) => [all[9]]) : call(method, params),
        on() {},
        removeListener() {},
      }
    })()`)
  }
  await page.goto(`${base}/holder.html`)
  await page.waitForSelector('#connect:not([disabled])')
  return { page, failures }
}

async function connectAs(page: Page, source: string): Promise<void> {
  await page.selectOption('#source', source)
  await page.click('#connect')
  await page.waitForSelector(`.pool[data-pool="${POOL}"] .claimable [data-units]`)
}

describe('holder view (real Chromium, real chain, API and distributor processes)', () => {
  it('a holder connects a dev account, sees the claimable amount, claims, and sees the payout and the balance change', async () => {
    const { page, failures } = await openHolderView()
    const sources = (await page.$$eval('#source option', (options) =>
      options.map((o) => (o as unknown as { value: string }).value),
    )) as string[]
    expect(sources).toHaveLength(10)
    expect(sources).toContain(a)
    await connectAs(page, a)
    expect(await page.textContent('#account')).toBe(a)
    expect(await units(page, 'claimable')).toBe(A_UNITS.toString())
    expect(await units(page, 'claimed')).toBe('0')
    expect(await units(page, 'balance')).toBe('0')
    expect(await page.textContent(`.pool[data-pool="${POOL}"] .claimable`)).toBe('480.00 tHKD')
    await page.screenshot({ path: screenshotPath('holder-before-claim.png'), fullPage: true })

    // Paused: the claim is refused before anything is signed, with the reason.
    await exec(system, system.deployer.walletClient, {
      address: distributor,
      abi: revenueDistributorAbi,
      functionName: 'pause',
    })
    await page.click(`.pool[data-pool="${POOL}"] button.claim`)
    expect(await messageCode(page)).toBe('PAUSED')
    expect(await page.textContent(`.pool[data-pool="${POOL}"] .message`)).toContain('paused')
    expect(await balance(a)).toBe(0n)
    await exec(system, system.deployer.walletClient, {
      address: distributor,
      abi: revenueDistributorAbi,
      functionName: 'unpause',
    })

    await page.click(`.pool[data-pool="${POOL}"] button.claim`)
    expect(await messageCode(page)).toBe('PAID')
    expect(await page.textContent(`.pool[data-pool="${POOL}"] .message`)).toContain(
      'Paid 480.00 tHKD in block',
    )
    expect(await page.textContent(`.pool[data-pool="${POOL}"] .message`)).toContain(
      'Balance 0.00 → 480.00 tHKD',
    )
    expect(await units(page, 'claimable')).toBe('0')
    expect(await units(page, 'claimed')).toBe(A_UNITS.toString())
    expect(await units(page, 'balance')).toBe(A_UNITS.toString())
    const payouts = await page.$$(`.pool[data-pool="${POOL}"] .payouts tbody tr`)
    expect(payouts).toHaveLength(1)
    expect(await page.textContent(`.pool[data-pool="${POOL}"] .payouts tbody tr td:first-child`)).toBe(
      '480.00 tHKD',
    )
    // The chain agrees with the page.
    expect(await balance(a)).toBe(A_UNITS)
    expect(await claimedOnChain(a)).toBe(A_UNITS)
    await page.screenshot({ path: screenshotPath('holder-after-claim.png'), fullPage: true })

    // Again: nothing to claim, and nothing is sent.
    await page.click(`.pool[data-pool="${POOL}"] button.claim`)
    expect(await messageCode(page)).toBe('NOTHING_TO_CLAIM')
    expect(await balance(a)).toBe(A_UNITS)
    expect(failures).toEqual([])
    await page.context().close()
  })

  it("refuses an unverified holder's claim with NOT_VERIFIED and pays nothing", async () => {
    const { page, failures } = await openHolderView()
    await connectAs(page, b)
    // What it is owed is shown, and why it cannot claim it now: claimable is what a claim pays.
    expect(await units(page, 'blocked')).toBe(B_UNITS.toString())
    expect(await page.getAttribute(`.pool[data-pool="${POOL}"] .blocked [data-code]`, 'data-code')).toBe(
      'NOT_VERIFIED',
    )
    expect(await units(page, 'claimable')).toBe('0')
    await page.click(`.pool[data-pool="${POOL}"] button.claim`)
    expect(await messageCode(page)).toBe('NOT_VERIFIED')
    expect(await page.textContent(`.pool[data-pool="${POOL}"] .message`)).toContain('not verified')
    await page.screenshot({ path: screenshotPath('holder-not-verified.png'), fullPage: true })
    expect(await balance(b)).toBe(0n)
    expect(await claimedOnChain(b)).toBe(0n)
    expect(failures).toEqual([])
    await page.context().close()
  })

  it('says WRONG_CHAIN for an injected wallet on another chain, and claims through one on the right chain', async () => {
    otherChain = await startDedicatedAnvil('holder-ui-other')
    await fetch(otherChain.endpoint.rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'anvil_setChainId', params: [1337] }),
    })
    const wrong = await openHolderView({ rpcUrl: otherChain.endpoint.rpcUrl })
    await connectAs(wrong.page, 'injected')
    expect(await wrong.page.getAttribute('#wallet-message', 'data-code')).toBe('WRONG_CHAIN')
    expect(await units(wrong.page, 'claimable')).toBe(C_UNITS.toString())
    // Amounts still read in the payment token (its symbol and decimals come from the API's chain).
    expect(await wrong.page.textContent(`.pool[data-pool="${POOL}"] .claimable`)).toBe('160.00 tHKD')
    expect(await wrong.page.textContent(`.pool[data-pool="${POOL}"] .balance`)).toBe('–')
    await wrong.page.click(`.pool[data-pool="${POOL}"] button.claim`)
    expect(await messageCode(wrong.page)).toBe('WRONG_CHAIN')
    expect(await wrong.page.textContent(`.pool[data-pool="${POOL}"] .message`)).toContain(
      'Switch the wallet to chain 31337',
    )
    await wrong.page.screenshot({ path: screenshotPath('holder-wrong-chain.png'), fullPage: true })
    expect(await balance(c)).toBe(0n)
    expect(wrong.failures).toEqual([])
    await wrong.page.context().close()

    const right = await openHolderView({ rpcUrl: anvil.endpoint.rpcUrl })
    await connectAs(right.page, 'injected')
    expect(await right.page.textContent('#account')).toBe(c)
    await right.page.click(`.pool[data-pool="${POOL}"] button.claim`)
    expect(await messageCode(right.page)).toBe('PAID')
    expect(await units(right.page, 'balance')).toBe(C_UNITS.toString())
    expect(await balance(c)).toBe(C_UNITS)
    expect(await claimedOnChain(c)).toBe(C_UNITS)
    expect(right.failures).toEqual([])
    await right.page.context().close()
  })

  it('refuses to start with the dev wallet when the node is not an anvil chain (31337)', async () => {
    // otherChain answers eth_chainId 1337 while the settings and the contracts file say 31337.
    const refused = await startServiceProcess(
      'services/api/main.ts',
      { ...apiEnv, ...endpointsToEnv({ ...inject('endpoints'), chain: otherChain.endpoint }) },
      'GRIDROOT_API_PORT',
    )
    running.push(refused)
    const code = await new Promise<number | null>((resolve) => {
      if (refused.child.exitCode !== null) resolve(refused.child.exitCode)
      else refused.child.once('exit', (exitCode) => resolve(exitCode))
    })
    expect(code).not.toBe(0)
    expect(refused.output()).toContain('the dev wallet runs on a local anvil only')
    expect(refused.output()).toContain('the node answers chain id 1337')
  })
})
