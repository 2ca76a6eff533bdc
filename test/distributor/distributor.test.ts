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
 * Each epoch is backed by a real device tree in the artifact store: the distributor funds an
 * epoch only when its committed tree is there and backs the committed figures. Epoch 3's tree is
 * published late (the distributor waits with an alert); epoch 4 commits 10× its leaves, as a
 * broken signer threshold would (attack10a F1), and stops the pool's publishing.
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
import {
  commitRegistry,
  deviceEpochProposal,
  deviceLeaf,
  testDevices,
} from '../contracts/support/device-epoch.ts'
import { addPool, finalizeEpoch } from '../contracts/support/oracle.ts'
import { contractsFileOf, deploySystem, exec, type System } from '../contracts/support/system.ts'
import { type ServiceProcess, startServiceProcess } from '../support/service-process.ts'

const POOL = 'dist-test'
const POOL_HEX = stringToHex(POOL, { size: 32 })
const WINDOW_S = 100
/** The devices' leaves of an epoch: dt-000001 earns 3/4 of the revenue, dt-000002 the rest. */
const leavesOf = (epoch: bigint, revenueUnits: bigint) => [
  deviceLeaf(POOL, epoch, 'dt-000001', (revenueUnits * 3n) / 4n),
  deviceLeaf(POOL, epoch, 'dt-000002', revenueUnits - (revenueUnits * 3n) / 4n),
]

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
    dir = mkdtempSync(join(tmpdir(), 'gridroot-distributor-'))
    contractsFile = join(dir, 'contracts.json')
    artifactDir = join(dir, 'artifacts')
    registryFile = join(dir, 'registry.json')
    await commitRegistry(system, registryFile, testDevices(POOL, 'dt', 2), POOL)
    // The oracle finalizes the three epochs after they end, each with its device tree stored.
    await at(t0 + 3 * WINDOW_S + 10)
    for (const [epoch, revenueUnits] of [
      [0n, 1_000_000n],
      [1n, 2_000_000n],
      [2n, 0n],
    ] as const) {
      await finalizeEpoch(
        system,
        await deviceEpochProposal({
          poolIdHex: POOL_HEX,
          epoch,
          leaves: leavesOf(epoch, revenueUnits),
          artifactDir,
        }),
      )
    }

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
      GRIDROOT_REGISTRY_FILE: registryFile,
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
    // The distributor's stored trees are lost: the next one rebuilds epoch 0's from chain data.
    // (The oracle's device trees are restored from its own copy: same leaves, same bytes.)
    rmSync(artifactDir, { recursive: true, force: true })
    for (const [epoch, revenueUnits] of [
      [0n, 1_000_000n],
      [1n, 2_000_000n],
      [2n, 0n],
    ] as const)
      await deviceEpochProposal({
        poolIdHex: POOL_HEX,
        epoch,
        leaves: leavesOf(epoch, revenueUnits),
        artifactDir,
      })
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

  it('waits for a final epoch whose device tree is not in the store, and stops the pool at a tree that does not back its commitment', async () => {
    for (const s of running.splice(0)) await s.kill('SIGKILL')
    await send(system.treasury, stable, hkdStablecoinAbi, 'approve', [distributor, 10_000_000n])
    const health = async (service: ServiceProcess) =>
      (await fetch(`http://127.0.0.1:${service.metricsPort}/healthz`).then(
        (r) => r.json(),
        () => ({}),
      )) as { ok?: boolean; pools?: Record<string, { alert?: string; halted?: string; waiting?: string }> }

    // Epoch 3 is final with honest figures, but its tree was never published.
    const epoch3 = leavesOf(3n, 1_000_000n)
    const proposed3 = await deviceEpochProposal({
      poolIdHex: POOL_HEX,
      epoch: 3n,
      leaves: epoch3,
      artifactDir,
      store: false,
    })
    await finalizeEpoch(system, proposed3)
    const service = await startDistributor()
    await waitFor(
      'the missing-tree alert',
      async () => (await health(service)).pools?.[POOL]?.alert?.includes(proposed3.treeHash) === true,
      service,
    )
    const alert = (await health(service)).pools![POOL]!.alert!
    expect(alert).toContain('epoch 3 of pool dist-test')
    expect(alert).toContain('not in the artifact store')
    expect(await service.metric('gridroot_distributor_epoch_tree_missing', { pool: POOL })).toBe(1)
    await new Promise((r) => setTimeout(r, 1_000))
    expect((await state()).nextEpoch).toBe(3n)
    expect(service.output()).toContain(proposed3.treeHash)

    // Published late: it is funded at the next poll.
    await deviceEpochProposal({ poolIdHex: POOL_HEX, epoch: 3n, leaves: epoch3, artifactDir })
    await waitFor('epoch 3', async () => (await state()).nextEpoch === 4n, service)
    expect(await service.metric('gridroot_distributor_epoch_tree_missing', { pool: POOL })).toBe(0)
    const fundedBefore = (await state()).totalFunded

    // Epoch 4: the genuine tree is stored, but the signed figures are 10× its leaves (+1).
    const forged = await deviceEpochProposal({
      poolIdHex: POOL_HEX,
      epoch: 4n,
      leaves: leavesOf(4n, 100_000n),
      artifactDir,
      forge: { revenueUnits: 1_000_001n, energyWh: 20_001n },
    })
    await finalizeEpoch(system, forged)
    await waitFor(
      'the pool halted',
      async () => (await health(service)).pools?.[POOL]?.halted !== undefined,
      service,
    )
    const halted = (await health(service)).pools![POOL]!.halted!
    expect(halted).toContain('DISTRIBUTOR_COMMITMENT_MISMATCH')
    expect(halted).toContain('TOTALS_MISMATCH')
    expect(halted).toContain('revenueUnits 100000 and energyWh 2000')
    expect(halted).toContain('committed revenueUnits 1000001 and energyWh 20001')
    expect((await health(service)).ok).toBe(false)
    expect(await service.metric('gridroot_distributor_commitment_refused', { pool: POOL })).toBe(1)
    expect(service.output()).toMatch(/"level":"?(fatal|60)"?/)
    await new Promise((r) => setTimeout(r, 1_000))
    const after = await state()
    expect(after.nextEpoch).toBe(4n)
    expect(after.totalFunded).toBe(fundedBefore)
    expect(await publishedEpochs()).toEqual([0, 1, 2, 3])
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
