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
import { createFileArtifactStore } from '../../runtime/artifact-store.ts'
import { createHolderClaimsReader } from '../../runtime/chain/holder-claims.ts'
import { createPoolChain } from '../../runtime/chain/pool-chain.ts'
import { endpointsToEnv } from '../../runtime/endpoints.ts'
import { type DedicatedAnvil, startDedicatedAnvil } from '../contracts/support/dedicated-anvil.ts'
import { addPool, finalizeEpoch, proposal } from '../contracts/support/oracle.ts'
import { contractsFileOf, deploySystem, exec, type System } from '../contracts/support/system.ts'
import { type ServiceProcess, startServiceProcess } from '../support/service-process.ts'

const POOL = 'dist-test'
const POOL_HEX = stringToHex(POOL, { size: 32 })
const WINDOW_S = 100

describe('distributor on a real chain', () => {
  let anvil: DedicatedAnvil
  let system: System
  let dir: string
  let contractsFile: string
  let artifactDir: string
  let token: Address
  let distributor: Address
  let stable: Address
  let t0: number
  let env: Record<string, string>
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
  const state = () =>
    system.publicClient.readContract({
      address: distributor,
      abi: revenueDistributorAbi,
      functionName: 'state',
    })
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
  const publishedEpochs = async () =>
    (
      await system.publicClient.getContractEvents({
        address: distributor,
        abi: revenueDistributorAbi,
        eventName: 'RootPublished',
        fromBlock: 0n,
      })
    ).map((l) => Number(l.args.epoch))

  beforeAll(async () => {
    anvil = await startDedicatedAnvil('distributor')
    system = await deploySystem(anvil.endpoint, { challengeWindowSec: 60 })
    const [a, b, c] = system.investors
    const deployer = system.deployer.walletClient
    const identity = system.contracts.identityRegistry
    stable = system.contracts.hkdStablecoin
    await addPool(system, POOL_HEX, 0n)
    const tokenDeployed = await deployPoolToken(system.deployer, system.compiled, {
      poolIdBytes32: POOL_HEX,
      name: 'Test pool share',
      symbol: 'TPS',
      identityRegistry: identity,
      issuer: deployer.account.address,
    })
    token = tokenDeployed.address
    const latest = await system.publicClient.getBlock()
    t0 = Number(latest.timestamp) + 100
    const distributorDeployed = await deployPoolDistributor(system.deployer, system.compiled, {
      poolIdBytes32: POOL_HEX,
      oracle: system.contracts.revenueOracle,
      identityRegistry: identity,
      paymentToken: stable,
      firstEpoch: 0n,
      terms: { treasury: system.treasury.account.address, holdersBps: 8_000, splitMode: 'time-weighted' },
      // Epochs of WINDOW_S from t0, on a chain whose time the test moves itself (speed-up 1).
      clock: { deviceGenesisMs: t0 * 1000, epochLengthMs: WINDOW_S * 1000, chainGenesisS: t0, speedup: 1 },
      publisher: system.publisher.account.address,
      pauser: deployer.account.address,
    })
    distributor = distributorDeployed.address

    await send(deployer, identity, identityRegistryAbi, 'verify', [
      [a!.account.address, b!.account.address, c!.account.address],
    ])
    await send(deployer, token, revenueShareTokenAbi, 'mint', [a!.account.address, 300n])
    await send(deployer, token, revenueShareTokenAbi, 'mint', [b!.account.address, 100n])
    // The treasury allows epoch 0's 800 000 only: epoch 1 must wait for an operator's approval.
    await send(deployer, stable, hkdStablecoinAbi, 'mint', [system.treasury.account.address, 10_000_000n])
    await send(system.treasury, stable, hkdStablecoinAbi, 'approve', [distributor, 800_000n])
    await at(t0 + 50)
    await send(a!, token, revenueShareTokenAbi, 'transfer', [b!.account.address, 200n])
    await at(t0 + WINDOW_S)
    await send(deployer, token, revenueShareTokenAbi, 'mint', [c!.account.address, 400n])
    await at(t0 + WINDOW_S + 50)
    await send(deployer, identity, identityRegistryAbi, 'unverify', [[c!.account.address]])
    // The oracle finalizes the three epochs after they end.
    await at(t0 + 3 * WINDOW_S + 10)
    for (const [epoch, revenueUnits] of [
      [0n, 1_000_000n],
      [1n, 2_000_000n],
      [2n, 0n],
    ] as const) {
      await finalizeEpoch(system, proposal({ poolId: POOL_HEX, epoch, revenueUnits, leafCount: 1 }))
    }

    dir = mkdtempSync(join(tmpdir(), 'gridroot-distributor-'))
    contractsFile = join(dir, 'contracts.json')
    artifactDir = join(dir, 'artifacts')
    const file = contractsFileOf(system, [
      {
        poolId: POOL,
        poolIdBytes32: POOL_HEX,
        token,
        distributor,
        paymentToken: stable,
        treasury: system.treasury.account.address,
        firstEpoch: 0,
        deployedAtBlock: String(tokenDeployed.blockNumber),
      },
    ])
    writeFileSync(contractsFile, JSON.stringify(file))
    env = {
      ...endpointsToEnv({ ...inject('endpoints'), chain: anvil.endpoint }),
      GRIDROOT_CONTRACTS_FILE: contractsFile,
      GRIDROOT_ARTIFACT_DIR: artifactDir,
      GRIDROOT_EPOCH_GENESIS: new Date(t0 * 1000).toISOString(),
      GRIDROOT_EPOCH_LENGTH: `${WINDOW_S}s`,
      GRIDROOT_INTERVAL: '10s',
      GRIDROOT_DISTRIBUTOR_POLL: '200',
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
    // The stored trees are lost: the next distributor rebuilds epoch 0's from chain data.
    rmSync(artifactDir, { recursive: true, force: true })
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

  const balance = (account: Address) =>
    system.publicClient.readContract({
      address: stable,
      abi: hkdStablecoinAbi,
      functionName: 'balanceOf',
      args: [account],
    })
})
