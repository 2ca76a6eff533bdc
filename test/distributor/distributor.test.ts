/**
 * The distributor on a real chain (an anvil of this test's own, since it sets block timestamps
 * and passes challenge windows): finalized oracle epochs in, cumulative roots out, holders paid
 * their time-weighted share to the unit, with a transfer inside an epoch, a holder unverified
 * midway, an underfunded treasury, SIGKILLs between building and posting and after posting, and
 * a lost artifact store.
 *
 * Shares are chosen so the expected amounts are worked out by hand below, not by the code under
 * test: window 100 s, holders' share 80 %.
 *   epoch 0, revenue 1 000 000 → 800 000: A holds 300 until +50 then 100; B 100 then 300:
 *            weights 20 000 : 20 000 → A 400 000, B 400 000.
 *   epoch 1, revenue 2 000 000 → 1 600 000: A 100, B 300, C 400 minted at the window start, C
 *            unverified at +50 (so excluded for the whole epoch: its 800 000 is withheld):
 *            A 200 000, B 600 000.
 *   epoch 2, revenue 0: published all the same, nothing funded.
 * Each epoch is genuine: two PV plants' signed readings replayed through the aggregator's rules
 * into the device tree and readings archive the signers publish (./support/genuine-epochs.ts),
 * with a tariff of one price per epoch (1, 2, 0, 1… HKD per kWh for 1 kWh a epoch), so the
 * distributor's archive audit recomputes every leaf. A second pool's epoch 1 is forged by two
 * compromised signers (attack F1): a self-consistent tree paying 5,000 HKD (1 real), with an archive of
 * readings to match signed by keys that are not the devices'; it is refused ARCHIVE_AUDIT_FAILED
 * while the first pool goes on. Epoch 3's publication is mined and then reorged away (anvil
 * evm_snapshot/evm_revert, attack F8): the distributor stops waiting for its receipt, finds the
 * epoch unpublished and sends it again, once. Epoch 5's tree and archive are published late (the
 * distributor waits with an alert); epoch 6 commits 10× its leaves, as a broken signer threshold
 * would (attack10a F1), and stops the pool's publishing.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Address, type Hex, stringToHex } from 'viem'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import {
  hkdStablecoinAbi,
  identityRegistryAbi,
  revenueDistributorAbi,
  revenueOracleAbi,
  revenueShareTokenAbi,
} from '../../contracts/abi/index.ts'
import { deployPoolDistributor, deployPoolToken } from '../../contracts/deploy/deploy-pool-contracts.ts'
import type { DeviceRecord } from '../../core/identity/registry.ts'
import { createFileArtifactStore } from '../../runtime/artifact-store.ts'
import { createHolderClaimsReader } from '../../runtime/chain/holder-claims.ts'
import { createPoolChain } from '../../runtime/chain/pool-chain.ts'
import { endpointsToEnv } from '../../runtime/endpoints.ts'
import { verifyRulesFromEnv } from '../../services/oracle/config.ts'
import type { PoolEpochBuild } from '../../services/oracle/domain/pool-epoch.ts'
import { type DedicatedAnvil, startDedicatedAnvil } from '../contracts/support/dedicated-anvil.ts'
import { commitRegistry } from '../contracts/support/device-epoch.ts'
import { addPool, finalizeEpoch } from '../contracts/support/oracle.ts'
import { contractsFileOf, deploySystem, exec, type System } from '../contracts/support/system.ts'
import { type ServiceProcess, startServiceProcess } from '../support/service-process.ts'
import {
  genuineFleet,
  proposalOfBuild,
  pvDevices,
  storeBuild,
  writeTariffBook,
} from './support/genuine-epochs.ts'

const POOL = 'dist-test'
const POOL_HEX = stringToHex(POOL, { size: 32 })
/** The pool whose epoch 1 compromised signers forge. */
const FORGED_POOL = 'dist-forged'
const FORGED_POOL_HEX = stringToHex(FORGED_POOL, { size: 32 })
/** The pool whose epoch 3 compromised signers forge from readings its epochs 0-2 paid (attack10 F2). */
const REBOOK_POOL = 'dist-rebook'
const REBOOK_POOL_HEX = stringToHex(REBOOK_POOL, { size: 32 })
const WINDOW_S = 100
/** Device time of epoch 0 (by day: PV earns nothing at night); chain time starts at t0. */
const DEVICE_GENESIS_MS = Date.parse('2026-06-01T10:00:00+08:00')
const grid = { genesisMs: DEVICE_GENESIS_MS, epochLengthMs: WINDOW_S * 1000, intervalMs: 10_000 }
/** Feed-in price per epoch (base units per kWh): 1 kWh an epoch earns 1, 2, 0, 1, 1, 1, 1 HKD. */
const PRICES = [1_000_000n, 2_000_000n, 0n, 1_000_000n, 1_000_000n, 1_000_000n, 1_000_000n]
/** dt-000001 earns 3/4 of the pool's revenue (75 Wh an interval), dt-000002 the rest. */
const DEVICES = pvDevices(POOL, 'dt', 2)
const FORGED_POOL_DEVICES = pvDevices(FORGED_POOL, 'df', 2)
const REBOOK_POOL_DEVICES = pvDevices(REBOOK_POOL, 'dr', 2)
const whPerInterval = new Map([
  ['dr-000001', 75],
  ['dr-000002', 25],
  ['dt-000001', 75],
  ['dt-000002', 25],
  ['df-000001', 75],
  ['df-000002', 25],
])

describe('distributor on a real chain', () => {
  let anvil: DedicatedAnvil
  let system: System
  let dir: string
  let contractsFile: string
  let artifactDir: string
  let registryFile: string
  let token: Address
  let distributor: Address
  let stable: Address
  let forgedPool: { token: Address; distributor: Address }
  let rebookPool: { token: Address; distributor: Address }
  let t0: number
  let env: Record<string, string>
  /** The pools' genuine epochs, as the honest signers build them. */
  let genuine: { build(poolId: string, epoch: number): PoolEpochBuild }
  const running: ServiceProcess[] = []

  const at = async (timestampS: number) =>
    system.testClient.setNextBlockTimestamp({ timestamp: BigInt(timestampS) })
  const send = (
    wallet: System['deployer']['walletClient'],
    address: Address,
    abi: readonly unknown[],
    functionName: string,
    args: readonly unknown[],
  ) => exec(system, wallet, { address, abi, functionName, args })
  const state = (address: Address = distributor) =>
    system.publicClient.readContract({
      address,
      abi: revenueDistributorAbi,
      functionName: 'state',
    })
  /** Moves chain time past epoch `epoch`'s window if it is not yet (own anvil). */
  const pastWindow = async (epoch: number) => {
    const end = t0 + (epoch + 1) * WINDOW_S
    if (Number((await system.publicClient.getBlock()).timestamp) >= end) return
    await at(end + 1)
    await system.testClient.mine({ blocks: 1 })
  }
  const health = async (service: ServiceProcess) =>
    (await fetch(`http://127.0.0.1:${service.metricsPort}/healthz`).then(
      async (r) => ({ status: r.status, ...((await r.json()) as object) }),
      () => ({}),
    )) as {
      status?: number
      ok?: boolean
      pools?: Record<string, { ok?: boolean; alert?: string; halted?: string; waiting?: string }>
      problems?: {
        code: string
        pool?: string
        epoch?: number
        hash?: string
        message: string
        hint: string
      }[]
    }
  const waitFor = async (what: string, check: () => Promise<boolean>, service?: ServiceProcess) => {
    const deadline = Date.now() + 90_000
    while (Date.now() < deadline) {
      if (await check()) return
      if (service && service.child.exitCode !== null)
        throw new Error(`distributor exited:\n${service.output()}`)
      await new Promise((r) => setTimeout(r, 200))
    }
    throw new Error(`timed out waiting for ${what}\n${service?.output() ?? ''}`)
  }
  const startDistributor = async (extra: Record<string, string> = {}) => {
    const service = await startServiceProcess(
      'services/distributor/main.ts',
      { ...env, ...extra },
      'GRIDROOT_DISTRIBUTOR_METRICS_PORT',
    )
    running.push(service)
    return service
  }
  const publishedEpochs = async (address: Address = distributor) =>
    (
      await system.publicClient.getContractEvents({
        address,
        abi: revenueDistributorAbi,
        eventName: 'RootPublished',
        fromBlock: 0n,
      })
    ).map((l) => Number(l.args.epoch))

  /** A pool's share token and distributor on the test's clock (deployer as issuer and pauser). */
  const deployPool = async (poolIdHex: Hex) => {
    const deployer = system.deployer.walletClient
    await addPool(system, poolIdHex, 0n)
    const tokenDeployed = await deployPoolToken(system.deployer, system.compiled, {
      poolIdBytes32: poolIdHex,
      name: 'Test pool share',
      symbol: 'TPS',
      identityRegistry: system.contracts.identityRegistry,
      issuer: deployer.account.address,
    })
    const distributorDeployed = await deployPoolDistributor(system.deployer, system.compiled, {
      poolIdBytes32: poolIdHex,
      oracle: system.contracts.revenueOracle,
      identityRegistry: system.contracts.identityRegistry,
      paymentToken: stable,
      firstEpoch: 0n,
      terms: { treasury: system.treasury.account.address, holdersBps: 8_000, splitMode: 'time-weighted' },
      // Epochs of WINDOW_S from t0 on a chain whose time the test moves itself (speed-up 1);
      // device time from DEVICE_GENESIS_MS.
      clock: {
        deviceGenesisMs: DEVICE_GENESIS_MS,
        epochLengthMs: WINDOW_S * 1000,
        chainGenesisS: t0,
        speedup: 1,
      },
      publisher: system.publisher.account.address,
      pauser: deployer.account.address,
    })
    return { token: tokenDeployed.address, distributor: distributorDeployed.address, tokenDeployed }
  }

  beforeAll(async () => {
    anvil = await startDedicatedAnvil('distributor')
    system = await deploySystem(anvil.endpoint, { challengeWindowSec: 60 })
    const [a, b, c] = system.investors
    const deployer = system.deployer.walletClient
    const identity = system.contracts.identityRegistry
    stable = system.contracts.hkdStablecoin
    const latest = await system.publicClient.getBlock()
    t0 = Number(latest.timestamp) + 100
    const main = await deployPool(POOL_HEX)
    token = main.token
    distributor = main.distributor
    const forged = await deployPool(FORGED_POOL_HEX)
    forgedPool = { token: forged.token, distributor: forged.distributor }
    const rebook = await deployPool(REBOOK_POOL_HEX)
    rebookPool = { token: rebook.token, distributor: rebook.distributor }

    await send(deployer, identity, identityRegistryAbi, 'verify', [
      [a!.account.address, b!.account.address, c!.account.address],
    ])
    await send(deployer, token, revenueShareTokenAbi, 'mint', [a!.account.address, 300n])
    await send(deployer, token, revenueShareTokenAbi, 'mint', [b!.account.address, 100n])
    await send(deployer, forgedPool.token, revenueShareTokenAbi, 'mint', [a!.account.address, 100n])
    await send(deployer, rebookPool.token, revenueShareTokenAbi, 'mint', [a!.account.address, 100n])
    // The treasury holds enough for the forgery (so the old distributor paid it), but allows
    // epoch 0's 800 000 only: epoch 1 must wait for an operator's approval.
    await send(deployer, stable, hkdStablecoinAbi, 'mint', [
      system.treasury.account.address,
      200_000_000_000n,
    ])
    await send(system.treasury, stable, hkdStablecoinAbi, 'approve', [distributor, 800_000n])
    await send(system.treasury, stable, hkdStablecoinAbi, 'approve', [
      forgedPool.distributor,
      200_000_000_000n,
    ])
    await send(system.treasury, stable, hkdStablecoinAbi, 'approve', [
      rebookPool.distributor,
      200_000_000_000n,
    ])
    await at(t0 + 50)
    await send(a!, token, revenueShareTokenAbi, 'transfer', [b!.account.address, 200n])
    await at(t0 + WINDOW_S)
    await send(deployer, token, revenueShareTokenAbi, 'mint', [c!.account.address, 400n])
    await at(t0 + WINDOW_S + 50)
    await send(deployer, identity, identityRegistryAbi, 'unverify', [[c!.account.address]])
    dir = mkdtempSync(join(tmpdir(), 'gridroot-distributor-'))
    contractsFile = join(dir, 'contracts.json')
    artifactDir = join(dir, 'artifacts')
    registryFile = join(dir, 'registry.json')
    const tariffsFile = join(dir, 'tariffs.json')
    writeTariffBook(tariffsFile, grid, PRICES)
    const devices: DeviceRecord[] = [...DEVICES, ...FORGED_POOL_DEVICES, ...REBOOK_POOL_DEVICES]
    await commitRegistry(system, registryFile, devices, POOL)
    await commitRegistry(system, registryFile, devices, FORGED_POOL)
    await commitRegistry(system, registryFile, devices, REBOOK_POOL)

    const file = contractsFileOf(
      system,
      [
        { poolId: POOL, poolIdBytes32: POOL_HEX, ...main },
        { poolId: FORGED_POOL, poolIdBytes32: FORGED_POOL_HEX, ...forged },
        { poolId: REBOOK_POOL, poolIdBytes32: REBOOK_POOL_HEX, ...rebook },
      ].map((p) => ({
        poolId: p.poolId,
        poolIdBytes32: p.poolIdBytes32,
        token: p.token,
        distributor: p.distributor,
        paymentToken: stable,
        treasury: system.treasury.account.address,
        firstEpoch: 0,
        deployedAtBlock: String(p.tokenDeployed.blockNumber),
      })),
    )
    writeFileSync(contractsFile, JSON.stringify(file))
    env = {
      ...endpointsToEnv({ ...inject('endpoints'), chain: anvil.endpoint }),
      GRIDROOT_CONTRACTS_FILE: contractsFile,
      GRIDROOT_ARTIFACT_DIR: artifactDir,
      GRIDROOT_REGISTRY_FILE: registryFile,
      GRIDROOT_TARIFFS_FILE: tariffsFile,
      GRIDROOT_EPOCH_GENESIS: new Date(DEVICE_GENESIS_MS).toISOString(),
      GRIDROOT_EPOCH_LENGTH: `${WINDOW_S}s`,
      GRIDROOT_INTERVAL: '10s',
      GRIDROOT_DISTRIBUTOR_POLL: '200',
      // Readings held back 20 s of device time past an epoch's end are late adjustments of the
      // epoch open then (the rebooking forgery needs them; on-time readings are booked the same).
      GRIDROOT_AGG_GRACE: '20s',
      // The forged pool joins in its own test.
      GRIDROOT_DISTRIBUTOR_POOLS: POOL,
    }
    // The signers' rules are the services' (the distributor audits under the same env).
    genuine = genuineFleet({
      devices,
      whPerInterval,
      grid,
      rules: await verifyRulesFromEnv(env),
      epochs: PRICES.length,
    })
    // The oracle finalizes the three epochs after they end, each with its tree and archive stored.
    await at(t0 + 3 * WINDOW_S + 10)
    for (const epoch of [0, 1, 2]) {
      const built = genuine.build(POOL, epoch)
      await storeBuild(artifactDir, built)
      await finalizeEpoch(system, proposalOfBuild(POOL_HEX, built))
    }
  })

  afterAll(async () => {
    for (const s of running) await s.kill('SIGKILL')
    await anvil?.stop()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('survives kills between building and posting and after posting, publishing each epoch once', async () => {
    const first = await startDistributor({ GRIDROOT_DISTRIBUTOR_FAILPOINT: 'after-build' })
    await waitFor(
      'the after-build failpoint',
      async () => first.output().includes('failpoint reached'),
      first,
    )
    await first.kill('SIGKILL')
    expect((await state()).nextEpoch).toBe(0n)

    const second = await startDistributor({ GRIDROOT_DISTRIBUTOR_FAILPOINT: 'after-post' })
    await waitFor(
      'the after-post failpoint',
      async () => second.output().includes('failpoint reached'),
      second,
    )
    await second.kill('SIGKILL')
    expect(await publishedEpochs()).toEqual([0])
  })

  it('alerts on an underfunded treasury without crashing, and goes on once it is approved', async () => {
    // The distributor's stored trees are lost: the next one rebuilds epoch 0's from chain data.
    // (The oracle's trees and archives are restored from its own copy: same readings, same bytes.)
    rmSync(artifactDir, { recursive: true, force: true })
    for (const epoch of [0, 1, 2]) await storeBuild(artifactDir, genuine.build(POOL, epoch))
    const service = await startDistributor()
    await waitFor(
      'the underfunded alert',
      async () => {
        const health = (await fetch(`http://127.0.0.1:${service.metricsPort}/healthz`).then(
          (r) => r.json(),
          () => ({}),
        )) as { pools?: Record<string, { alert?: string }> }
        return typeof health?.pools?.[POOL]?.alert === 'string'
      },
      service,
    )
    expect(await service.metric('gridroot_distributor_treasury_underfunded', { pool: POOL })).toBe(1)
    expect(service.child.exitCode).toBeNull()
    expect(service.output()).toContain('rebuilding it from chain data')
    await send(system.treasury, stable, hkdStablecoinAbi, 'approve', [distributor, 800_000n])
    await waitFor('epochs 1 and 2', async () => (await state()).nextEpoch === 3n, service)
    expect(await publishedEpochs()).toEqual([0, 1, 2])
    const s = await state()
    expect(s.totalFunded).toBe(1_600_000n)
  })

  it('pays each holder its time-weighted share to the unit; the unverified holder gets nothing', async () => {
    const [a, b, c] = system.investors
    const poolChain = createPoolChain({
      publicClient: system.publicClient,
      pool: {
        poolId: POOL,
        poolIdBytes32: POOL_HEX,
        token,
        distributor,
        paymentToken: stable,
        treasury: system.treasury.account.address,
        firstEpoch: 0,
        deployedAtBlock: '0',
      },
      oracle: system.contracts.revenueOracle,
      identityRegistry: system.contracts.identityRegistry,
      identityFromBlock: 0n,
    })
    const reader = createHolderClaimsReader(poolChain, createFileArtifactStore({ dir: artifactDir }))
    const expected = new Map([
      [a!.account.address, 600_000n],
      [b!.account.address, 1_000_000n],
    ])
    let paid = 0n
    for (const [account, amount] of expected) {
      const quote = await reader.read(account)
      expect(quote.epoch).toBe(2)
      expect(quote.cumulativeAmount).toBe(amount)
      // A relayer (the publisher's wallet) submits; the payout goes to the holder.
      const before = await balance(account)
      await exec(system, system.wallet(12), {
        address: distributor,
        abi: revenueDistributorAbi,
        functionName: 'claim',
        args: [account, quote.cumulativeAmount, quote.proof],
      })
      expect((await balance(account)) - before).toBe(amount)
      paid += amount
      const again = await reader.read(account)
      expect(again.claimableUnits).toBe(0n)
      expect(again.payouts.map((p) => p.paidUnits)).toEqual([amount])
    }
    const cQuote = await reader.read(c!.account.address)
    expect(cQuote.inTree).toBe(false)
    // Payouts plus what the distributor still holds equal what it was funded.
    expect(paid + (await balance(distributor))).toBe(1_600_000n)
    expect(await balance(distributor)).toBe(0n)
    const oracleFinal = await system.publicClient.readContract({
      address: system.contracts.revenueOracle,
      abi: revenueOracleAbi,
      functionName: 'isFinalized',
      args: [POOL_HEX as Hex, 2n],
    })
    expect(oracleFinal).toBe(true)
  })

  it('sends a publication again when a reorg dropped it, and publishes the epoch once (F8)', async () => {
    for (const s of running.splice(0)) await s.kill('SIGKILL')
    await pastWindow(3)
    const genuine3 = genuine.build(POOL, 3)
    await storeBuild(artifactDir, genuine3)
    await send(system.treasury, stable, hkdStablecoinAbi, 'approve', [distributor, 10_000_000n])
    await finalizeEpoch(system, proposalOfBuild(POOL_HEX, genuine3))
    const fundedBefore = (await state()).totalFunded
    const rpc = (method: string, params: unknown[] = []) =>
      system.testClient.request({ method, params } as never) as Promise<unknown>
    // The chain before the publication; blocks are mined only when the test says so.
    const snapshot = await rpc('evm_snapshot')
    await rpc('evm_setAutomine', [false])
    const service = await startDistributor({ GRIDROOT_DISTRIBUTOR_RECEIPT_TIMEOUT: '3s' })
    const publisher = system.publisher.account.address.toLowerCase()
    const pendingOfPublisher = async () => {
      const pool = (await rpc('txpool_content')) as { pending: Record<string, Record<string, { hash: Hex }>> }
      const mine = Object.entries(pool.pending).find(([from]) => from.toLowerCase() === publisher)?.[1]
      return mine === undefined ? [] : Object.values(mine).map((t) => t.hash)
    }
    await waitFor('the publication sent', async () => (await pendingOfPublisher()).length === 1, service)
    const [dropped] = await pendingOfPublisher()
    const waiting = (await health(service)).pools?.[POOL] as { activity?: string; chainProblem?: string }
    expect(waiting.activity).toContain(`for the receipt of ${dropped}`)
    expect(waiting.chainProblem).toBeUndefined()
    // Mined, then reorged away before the distributor read its receipt: it is gone.
    await rpc('evm_mine')
    await rpc('evm_revert', [snapshot])
    await rpc('evm_setAutomine', [true])
    expect(
      await system.publicClient.getTransaction({ hash: dropped! }).catch(() => undefined),
    ).toBeUndefined()

    await waitFor('epoch 3 published again', async () => (await state()).nextEpoch === 4n, service)
    expect(service.output()).toContain(
      'no receipt for the publication within the bound and the chain has not published the epoch: sending it again',
    )
    expect(service.output()).toContain(dropped)
    expect(await service.metric('gridroot_distributor_receipt_timeouts_total', { pool: POOL })).toBe(1)
    await new Promise((r) => setTimeout(r, 1_000))
    // Once: one RootPublished for epoch 3, funded once (C's part withheld: 400 000).
    expect(await publishedEpochs()).toEqual([0, 1, 2, 3])
    expect((await state()).totalFunded - fundedBefore).toBe(400_000n)
  })

  it('refuses a forged epoch whose archive does not back its self-consistent tree (F1), and the other pool goes on', async () => {
    for (const s of running.splice(0)) await s.kill('SIGKILL')
    // The forged pool's epoch 0 is genuine: it is paid.
    const genuine0 = genuine.build(FORGED_POOL, 0)
    await storeBuild(artifactDir, genuine0)
    await finalizeEpoch(system, proposalOfBuild(FORGED_POOL_HEX, genuine0))
    // Epoch 1: two compromised signers replay readings of their own making (90 MW for 100 s,
    // 2,500 kWh: 5,000 HKD at 2 HKD per kWh, against 1 HKD real) for the pool's real device ids,
    // signed with keys that are not the devices', and publish the tree and archive that replay
    // gives: every figure matches every other, the totals the leaves, the digests the readings.
    const forgery = genuineFleet({
      devices: FORGED_POOL_DEVICES.map((d) => ({ ...d, ratedPowerW: 100_000_000 })),
      whPerInterval: new Map([
        ['df-000001', 250_000],
        ['df-000002', 0],
      ]),
      grid,
      rules: await verifyRulesFromEnv(env),
      epochs: 2,
      signingSeed: 'attacker',
    }).build(FORGED_POOL, 1)
    expect(forgery.proposal.revenueUnits).toBe(5_000_000_000n)
    await storeBuild(artifactDir, forgery)
    await pastWindow(1)
    await finalizeEpoch(system, proposalOfBuild(FORGED_POOL_HEX, forgery))
    // The first pool's epoch 4 is genuine and final too.
    await pastWindow(4)
    const genuine4 = genuine.build(POOL, 4)
    await storeBuild(artifactDir, genuine4)
    await finalizeEpoch(system, proposalOfBuild(POOL_HEX, genuine4))

    const service = await startDistributor({ GRIDROOT_DISTRIBUTOR_POOLS: `${POOL},${FORGED_POOL}` })
    await waitFor(
      'the forged pool halted',
      async () => (await health(service)).pools?.[FORGED_POOL]?.halted !== undefined,
      service,
    )
    const h = await health(service)
    const halted = h.pools![FORGED_POOL]!.halted!
    expect(halted).toContain('ARCHIVE_AUDIT_FAILED')
    expect(halted).toContain('epoch 1 of pool dist-forged')
    expect(halted).toContain('device df-000001, signature (SIGNATURES)')
    expect(h.ok).toBe(false)
    expect(h.status).toBe(503)
    expect(await service.metric('gridroot_distributor_archive_audit_failed', { pool: FORGED_POOL })).toBe(1)
    expect(service.output()).toMatch(
      /"level":60.*"code":"ARCHIVE_AUDIT_FAILED".*"deviceId":"df-000001","field":"signature"/,
    )
    // The genuine epoch 0 was paid, the forgery never: nothing beyond epoch 0's 800 000.
    expect(await publishedEpochs(forgedPool.distributor)).toEqual([0])
    expect((await state(forgedPool.distributor)).totalFunded).toBe(800_000n)
    // The other pool goes on: its epoch 4, audited, is funded.
    await waitFor('the first pool publishes epoch 4', async () => (await state()).nextEpoch === 5n, service)
    expect(h.pools![POOL]!.halted).toBeUndefined()
    await new Promise((r) => setTimeout(r, 1_000))
    expect(await publishedEpochs(forgedPool.distributor)).toEqual([0])
  })

  it('refuses a forged epoch that pays again readings earlier epochs paid (attack10 F2), after a restart too', async () => {
    for (const s of running.splice(0)) await s.kill('SIGKILL')
    for (const epoch of [0, 1, 2]) {
      const built = genuine.build(REBOOK_POOL, epoch)
      await storeBuild(artifactDir, built)
      await finalizeEpoch(system, proposalOfBuild(REBOOK_POOL_HEX, built))
    }
    const first = await startDistributor({ GRIDROOT_DISTRIBUTOR_POOLS: REBOOK_POOL })
    await waitFor(
      'epochs 0-2 published',
      async () => (await state(rebookPool.distributor)).nextEpoch === 3n,
      first,
    )
    await first.kill('SIGKILL')
    // Epoch 3: two compromised signers replay the pool's genuine signed readings, dr-000001's
    // withheld until the middle of epoch 3, so its readings of epochs 0-2 (paid already) are
    // late adjustments of epoch 3: every leaf recomputes exactly from the archive, at 3.25 HKD
    // against the real 1 HKD.
    const forgery = genuineFleet({
      devices: REBOOK_POOL_DEVICES,
      whPerInterval,
      grid,
      rules: await verifyRulesFromEnv(env),
      epochs: 4,
      late: { deviceId: 'dr-000001', untilMs: DEVICE_GENESIS_MS + 3.5 * WINDOW_S * 1000 },
    }).build(REBOOK_POOL, 3)
    expect(forgery.proposal.revenueUnits).toBe(3_250_000n)
    await storeBuild(artifactDir, forgery)
    await pastWindow(3)
    await finalizeEpoch(system, proposalOfBuild(REBOOK_POOL_HEX, forgery))
    // A distributor started afresh knows what epochs 0-2 paid from their archives.
    const service = await startDistributor({ GRIDROOT_DISTRIBUTOR_POOLS: REBOOK_POOL })
    await waitFor(
      'the rebooked pool halted',
      async () => (await health(service)).pools?.[REBOOK_POOL]?.halted !== undefined,
      service,
    )
    const halted = (await health(service)).pools![REBOOK_POOL]!.halted!
    expect(halted).toContain('ARCHIVE_AUDIT_FAILED')
    expect(halted).toContain('epoch 3 of pool dist-rebook (attempt 0, root')
    expect(halted).toContain(
      "pays device dr-000001's reading boot 0 seq 1, which epoch 0 paid already (READING_PAID_TWICE)",
    )
    expect(service.output()).toMatch(
      /"level":60.*"code":"ARCHIVE_AUDIT_FAILED".*"check":"READING_PAID_TWICE"/,
    )
    expect(await publishedEpochs(rebookPool.distributor)).toEqual([0, 1, 2])
  })

  it('waits for a final epoch whose tree or archive is not in the store, and stops the pool at a tree that does not back its commitment', async () => {
    for (const s of running.splice(0)) await s.kill('SIGKILL')

    // Epoch 5 is final with honest figures, but neither its tree nor its archive was published.
    await pastWindow(5)
    const genuine5 = genuine.build(POOL, 5)
    await finalizeEpoch(system, proposalOfBuild(POOL_HEX, genuine5))
    const treeHash = genuine5.proposal.treeHash
    const archiveHash = genuine5.proposal.archiveHash
    // A wait the pool never leaves is an outage past GRIDROOT_DISTRIBUTOR_ARTIFACT_WAIT (attack F6).
    const service = await startDistributor({ GRIDROOT_DISTRIBUTOR_ARTIFACT_WAIT: '3s' })
    await waitFor(
      'the missing-tree alert',
      async () => (await health(service)).pools?.[POOL]?.alert?.includes(treeHash) === true,
      service,
    )
    const alert = (await health(service)).pools![POOL]!.alert!
    expect(alert).toContain('epoch 5 of pool dist-test')
    expect(alert).toContain('not in the artifact store')
    expect(await service.metric('gridroot_distributor_epoch_tree_missing', { pool: POOL })).toBe(1)
    await new Promise((r) => setTimeout(r, 1_000))
    expect((await state()).nextEpoch).toBe(5n)
    expect(service.output()).toContain(treeHash)
    await waitFor(
      'ARTIFACT_MISSING for the tree',
      async () => (await health(service)).problems?.some((p) => p.code === 'ARTIFACT_MISSING') === true,
      service,
    )
    const outage = await health(service)
    expect(outage.status).toBe(503)
    expect(outage.ok).toBe(false)
    expect(outage.pools![POOL]!.ok).toBe(false)
    expect(outage.problems).toEqual([
      expect.objectContaining({ code: 'ARTIFACT_MISSING', pool: POOL, epoch: 5, hash: treeHash }),
    ])
    expect(outage.problems![0]!.hint).toContain('GRIDROOT_ARTIFACT_DIR')
    expect(
      await service.metric('gridroot_distributor_artifact_missing_seconds', { pool: POOL }),
    ).toBeGreaterThanOrEqual(2.5)
    // Logged once, not at every poll.
    await new Promise((r) => setTimeout(r, 1_000))
    const logged = service
      .output()
      .split('\n')
      .filter((l) => l.includes('"code":"ARTIFACT_MISSING"'))
    expect(logged).toHaveLength(1)

    // The tree is published late: now the archive is what it waits for.
    await storeBuild(artifactDir, genuine5, 'tree')
    await waitFor(
      'the missing-archive alert',
      async () => (await health(service)).pools?.[POOL]?.alert?.includes(archiveHash) === true,
      service,
    )
    expect((await health(service)).pools![POOL]!.alert).toContain('readings archive')
    expect(await service.metric('gridroot_distributor_epoch_archive_missing', { pool: POOL })).toBe(1)
    expect(await service.metric('gridroot_distributor_epoch_tree_missing', { pool: POOL })).toBe(0)
    expect((await state()).nextEpoch).toBe(5n)

    // Another artifact: its own wait, from the pass that found it missing.
    await waitFor(
      'ARTIFACT_MISSING for the archive',
      async () => (await health(service)).problems?.[0]?.hash === archiveHash,
      service,
    )
    expect((await health(service)).status).toBe(503)

    // Published: it is audited and funded at the next poll, and /healthz is 200 again.
    await storeBuild(artifactDir, genuine5)
    await waitFor('epoch 5', async () => (await state()).nextEpoch === 6n, service)
    await waitFor('200 again', async () => (await health(service)).status === 200, service)
    expect((await health(service)).problems).toBeUndefined()
    expect(await service.metric('gridroot_distributor_artifact_missing_seconds', { pool: POOL })).toBe(0)
    // The gauge is cleared when the pass that published returns, just after the chain has it.
    await waitFor(
      'the missing-archive gauge cleared',
      async () => (await service.metric('gridroot_distributor_epoch_archive_missing', { pool: POOL })) === 0,
      service,
    )
    const fundedBefore = (await state()).totalFunded

    // Epoch 6: the genuine tree is stored, but the signed figures are 10× its leaves (+1).
    await pastWindow(6)
    const genuine6 = genuine.build(POOL, 6)
    await storeBuild(artifactDir, genuine6)
    await finalizeEpoch(
      system,
      proposalOfBuild(POOL_HEX, genuine6, { revenueUnits: 10_000_001n, energyWh: 10_001n }),
    )
    await waitFor(
      'the pool halted',
      async () => (await health(service)).pools?.[POOL]?.halted !== undefined,
      service,
    )
    const halted = (await health(service)).pools![POOL]!.halted!
    expect(halted).toContain('DISTRIBUTOR_COMMITMENT_MISMATCH')
    expect(halted).toContain('TOTALS_MISMATCH')
    expect(halted).toContain('revenueUnits 1000000 and energyWh 1000')
    expect(halted).toContain('committed revenueUnits 10000001 and energyWh 10001')
    expect((await health(service)).ok).toBe(false)
    expect(await service.metric('gridroot_distributor_commitment_refused', { pool: POOL })).toBe(1)
    expect(service.output()).toMatch(/"level":"?(fatal|60)"?/)
    await new Promise((r) => setTimeout(r, 1_000))
    const after = await state()
    expect(after.nextEpoch).toBe(6n)
    expect(after.totalFunded).toBe(fundedBefore)
    expect(await publishedEpochs()).toEqual([0, 1, 2, 3, 4, 5])
  })

  // Last: it empties the chain (attack10b F2). The running distributor then publishes nothing.
  it('is 503 with CHAIN_RESET and a fatal log once its chain is reset under it', async () => {
    const service = await startDistributor()
    const body = async () =>
      (await fetch(`http://127.0.0.1:${service.metricsPort}/healthz`).then(
        (r) => r.json(),
        () => ({}),
      )) as { ok?: boolean; problems?: { code: string; hint: string }[] }
    await waitFor('an answer', async () => (await body()).ok !== undefined, service)
    await system.testClient.request({ method: 'anvil_reset', params: [] } as never)
    await waitFor('CHAIN_RESET', async () => (await body()).problems?.[0]?.code === 'CHAIN_RESET', service)
    expect((await body()).ok).toBe(false)
    expect(service.output()).toMatch(
      /"level":60.*"code":"CHAIN_RESET".*the chain was reset under this service/,
    )
  })

  const balance = (account: Address) =>
    system.publicClient.readContract({
      address: stable,
      abi: hkdStablecoinAbi,
      functionName: 'balanceOf',
      args: [account],
    })
})
