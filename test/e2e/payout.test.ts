/**
 * End to end, from simulated devices to a claimed payout (issue 11, Tests): a small fleet of each
 * class publishes signed telemetry over Mosquitto → ingest → Kafka → aggregator → InfluxDB and
 * epochs.v1 → three oracle signers (one on InfluxDB, two replaying telemetry.v1; threshold two)
 * → submitter → RevenueOracle → the distributor service → RevenueDistributor, and every holder
 * claims through the claim CLI.
 *
 * The contracts come from `npm run deploy` and `npm run pools -- apply` (what npm start runs) on
 * an anvil of this test's own: the test stamps chain time from the simulation clock (speedup 1,
 * docs/architecture.md "Epoch → chain window"), so each holder action lands in the epoch it is
 * scheduled in, and it passes the oracle's challenge windows.
 *
 * While the fleet publishes, holders transfer tokens inside epochs 0, 1 and 2, and dev:8 is
 * unverified inside epoch 1 (so it is excluded from epochs 1 and 2, and cannot claim until it is
 * verified again after epoch 2's window). What each holder is paid is worked out here from the
 * tokens' Transfer logs and block timestamps plus the simulator's ground-truth revenue
 * (./support/expected-payouts.ts), and must match to the unit.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  type Address,
  createPublicClient,
  createTestClient,
  createWalletClient,
  type Hex,
  http,
  type PublicClient,
} from 'viem'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { hkdStablecoinAbi, identityRegistryAbi, revenueShareTokenAbi } from '../../contracts/abi/index.ts'
import { send } from '../../contracts/deploy/deploy-contract.ts'
import { DEV_ACCOUNT_ROLES, devAccount } from '../../contracts/deploy/dev-accounts.ts'
import { deployAndApplyPools } from '../../contracts/deploy/local-setup.ts'
import { parseRegistry } from '../../core/identity/registry.ts'
import { deviceLeafLayout, parseTreeDump } from '../../core/merkle/index.ts'
import { createFileArtifactStore } from '../../runtime/artifact-store.ts'
import { createHolderClaimsReader } from '../../runtime/chain/holder-claims.ts'
import { createPoolChain, type PoolChain } from '../../runtime/chain/pool-chain.ts'
import { chainFor } from '../../runtime/clients/chain.ts'
import { type ContractsFile, loadContractsFile, poolContracts } from '../../runtime/contracts-file.ts'
import { ENDPOINT_ENV } from '../../runtime/endpoints.ts'
import { createOracleChain } from '../../services/oracle/adapters/chain.ts'
import { createFleet } from '../../simulators/fleet/fleet.ts'
import { type DedicatedAnvil, startDedicatedAnvil } from '../contracts/support/dedicated-anvil.ts'
import { runCli } from '../support/cli-process.ts'
import { createHarness, type Harness } from '../support/pipeline-harness.ts'
import { type ServiceProcess, startServiceProcess } from '../support/service-process.ts'
import {
  epochShares,
  type IdentityChange,
  readTransfers,
  timeWeights,
  verifiedAt,
} from './support/expected-payouts.ts'

const endpoints = inject('endpoints')
// 09:00 in Hong Kong: the PV plants produce from the first epoch on.
const START = Date.parse('2026-06-01T09:00:00+08:00')
const MINUTE = 60_000
const HOUR = 60 * MINUTE
const grid = { genesisMs: START, epochLengthMs: HOUR, intervalMs: 5 * MINUTE }
// A few devices of each class; with these ids each of telemetry.v1's six partitions carries
// at least one (pv-000005 is the one on partition 0), so closes never wait on an empty one.
const fleetSpec = { chargers: 3, pv: 5, swap: 3, startMs: START, sampleMs: 5 * MINUTE }
const SEED = 'payout-e2e'
const name = `pay${Date.now().toString(36)}`
/** Epochs 0..2 are distributed; the fleet publishes a fourth so that epoch 2 closes. */
const EPOCHS = [0, 1, 2] as const
const CHALLENGE_WINDOW_S = 60
const TOKEN = 10n ** 18n
const keyOf = (index: number): Hex =>
  `0x${Buffer.from(devAccount(index).getHdKey().privateKey as Uint8Array).toString('hex')}`
const SUBMITTER = 10
const RELAYER = 12
const dev = (index: number) => devAccount(index).address.toLowerCase() as Hex

const POOLS = [
  {
    poolId: 'longshine-ev',
    assetClass: 'charger',
    holdersBps: 7000,
    investors: { 7: 600n, 8: 300n, 9: 100n },
  },
  { poolId: 'gcl-pv', assetClass: 'pv', holdersBps: 6000, investors: { 7: 500n, 8: 500n } },
  {
    poolId: 'xunying-swap',
    assetClass: 'swap',
    holdersBps: 8000,
    investors: { 8: 250n, 9: 600n, 11: 150n },
  },
] as const
type PoolId = (typeof POOLS)[number]['poolId']
const HOLDERS = [7, 8, 9, 11] as const
const UNVERIFIED = 8

/** Holder actions, at device times on the 5-minute tick grid (the tick after which each runs). */
type Action =
  | {
      readonly atMs: number
      readonly kind: 'transfer'
      pool: PoolId
      from: number
      to: number
      tokens: bigint
    }
  | { readonly atMs: number; readonly kind: 'unverify'; account: number }
const ACTIONS: readonly Action[] = [
  { atMs: 20 * MINUTE, kind: 'transfer', pool: 'longshine-ev', from: 7, to: 8, tokens: 200n },
  { atMs: HOUR + 15 * MINUTE, kind: 'transfer', pool: 'gcl-pv', from: 8, to: 9, tokens: 250n },
  { atMs: HOUR + 40 * MINUTE, kind: 'transfer', pool: 'longshine-ev', from: 8, to: 11, tokens: 100n },
  { atMs: HOUR + 50 * MINUTE, kind: 'unverify', account: UNVERIFIED },
  { atMs: 2 * HOUR + 10 * MINUTE, kind: 'transfer', pool: 'xunying-swap', from: 9, to: 7, tokens: 300n },
  { atMs: 2 * HOUR + 30 * MINUTE, kind: 'transfer', pool: 'longshine-ev', from: 11, to: 9, tokens: 50n },
]

let anvil: DedicatedAnvil
let harness: Harness
let dir: string
let contracts: ContractsFile
let publicClient: PublicClient
let testClient: ReturnType<typeof createTestClient>
let chainGenesisS: number
let serviceEnv: Record<string, string>
let treasuryFundedAtStart: bigint
const processes: ServiceProcess[] = []
const identityChanges: IdentityChange[] = []
/** Block timestamp of each action, for the check that it landed in its epoch's window. */
const actionTimestamps: number[] = []
const registry = parseRegistry(createFleet({ ...fleetSpec, seed: SEED }).registry())

/** The chain clock of the distributor: device genesis at `chainGenesisS`, speedup 1. */
const chainS = (deviceMs: number) => chainGenesisS + Math.ceil((deviceMs - START) / 1000)
const windowOf = (epoch: number) => ({
  startS: chainS(START + epoch * HOUR),
  endS: chainS(START + (epoch + 1) * HOUR),
})
const wallet = (index: number) =>
  createWalletClient({
    chain: chainFor(anvil.endpoint),
    transport: http(anvil.endpoint.rpcUrl),
    account: devAccount(index),
    pollingInterval: 50,
  })
const clients = (index: number) => ({ walletClient: wallet(index), publicClient })
const blockTimestampOf = async (hash: Hex) => {
  const receipt = await publicClient.getTransactionReceipt({ hash })
  return Number((await publicClient.getBlock({ blockNumber: receipt.blockNumber })).timestamp)
}
const poolChainOf = (poolId: string): PoolChain =>
  createPoolChain({
    publicClient,
    pool: poolContracts(contracts, poolId),
    oracle: contracts.contracts.revenueOracle,
    identityRegistry: contracts.contracts.identityRegistry,
    identityFromBlock: 0n,
  })
const stablecoinBalance = (account: string) =>
  publicClient.readContract({
    address: contracts.contracts.hkdStablecoin as Address,
    abi: hkdStablecoinAbi,
    functionName: 'balanceOf',
    args: [account as Address],
  })
const setVerified = async (account: number, verified: boolean) => {
  const hash = await send(clients(DEV_ACCOUNT_ROLES.deployer), {
    address: contracts.contracts.identityRegistry,
    abi: identityRegistryAbi,
    functionName: verified ? 'verify' : 'unverify',
    args: [[devAccount(account).address]],
  })
  const timestampS = await blockTimestampOf(hash)
  identityChanges.push({ account: dev(account), verified, timestampS })
  return timestampS
}
const logs = () => processes.map((p) => p.output().slice(-3000)).join('\n---\n')
const waitFor = async (what: string, check: () => Promise<boolean>, timeoutMs = 300_000) => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    const dead = processes.find((p) => p.child.exitCode !== null)
    if (dead) throw new Error(`a service exited while waiting for ${what}:\n${dead.output()}`)
    await new Promise((r) => setTimeout(r, 500))
  }
  throw new Error(`timed out waiting for ${what}\n${logs()}`)
}

/** Stamps the next block at device time `deviceMs` (the chain never runs ahead of the fleet). */
const atDeviceTime = async (deviceMs: number) => {
  const target = chainS(deviceMs)
  const latest = Number((await publicClient.getBlock()).timestamp)
  if (latest >= target) throw new Error(`chain time ${latest} is already past device time's ${target}`)
  await testClient.setNextBlockTimestamp({ timestamp: BigInt(target) })
}

const runAction = async (action: Action) => {
  await atDeviceTime(START + action.atMs)
  if (action.kind === 'unverify') {
    actionTimestamps.push(await setVerified(action.account, false))
    return
  }
  const hash = await send(clients(action.from), {
    address: poolContracts(contracts, action.pool).token as Address,
    abi: revenueShareTokenAbi,
    functionName: 'transfer',
    args: [devAccount(action.to).address, action.tokens * TOKEN],
  })
  actionTimestamps.push(await blockTimestampOf(hash))
}

const startService = async (entry: string, env: Record<string, string>, portVariable: string) => {
  const service = await startServiceProcess(entry, { ...serviceEnv, ...env }, portVariable)
  processes.push(service)
  // Five of these start at once on a loaded machine: a generous deadline.
  await service.waitHealthy(240_000)
  return service
}

beforeAll(async () => {
  anvil = await startDedicatedAnvil('payout-e2e')
  const transport = http(anvil.endpoint.rpcUrl, { timeout: 60_000 })
  const chain = chainFor(anvil.endpoint)
  publicClient = createPublicClient({ chain, transport, pollingInterval: 50 }) as PublicClient
  testClient = createTestClient({ chain, transport, mode: 'anvil' })
  for (const index of [SUBMITTER, 11, RELAYER])
    await testClient.setBalance({ address: devAccount(index).address, value: 10n ** 24n })

  dir = mkdtempSync(join(tmpdir(), `gridroot-${name}-`))
  const contractsFile = join(dir, 'contracts.json')
  const registryFile = join(dir, 'registry.json')
  const poolsFile = join(dir, 'pools.json')
  writeFileSync(registryFile, JSON.stringify(createFleet({ ...fleetSpec, seed: SEED }).registry()))
  writeFileSync(
    poolsFile,
    JSON.stringify({
      version: 1,
      pools: POOLS.map((p) => ({
        poolId: p.poolId,
        name: p.poolId,
        assetClass: p.assetClass,
        firstEpoch: 0,
        token: { name: `${p.poolId} share`, symbol: p.poolId.slice(0, 4).toUpperCase() },
        terms: {
          holdersBps: p.holdersBps,
          splitMode: 'time-weighted',
          paymentToken: 'local-hkd',
          treasury: `dev:${DEV_ACCOUNT_ROLES.treasury}`,
        },
        treasuryFundingUnits: '100000000000000',
        investors: Object.entries(p.investors).map(([index, tokens]) => ({
          account: `dev:${index}`,
          tokens: String(tokens),
        })),
      })),
    }),
  )
  const chainEnv = {
    [ENDPOINT_ENV.rpcUrl]: anvil.endpoint.rpcUrl,
    [ENDPOINT_ENV.chainId]: String(anvil.endpoint.chainId),
    GRIDROOT_CONTRACTS_FILE: contractsFile,
    GRIDROOT_REGISTRY_FILE: registryFile,
  }
  // The pools' epoch clock (on-chain in each distributor, set at creation): device genesis a
  // while after the set-up's blocks, so the minted balances open every window; speedup 1.
  chainGenesisS = Number((await publicClient.getBlock()).timestamp) + 1800
  await deployAndApplyPools(
    {
      ...process.env,
      ...chainEnv,
      GRIDROOT_ORACLE_CHALLENGE_WINDOW: `${CHALLENGE_WINDOW_S}s`,
      GRIDROOT_EPOCH_GENESIS: new Date(grid.genesisMs).toISOString(),
      GRIDROOT_EPOCH_LENGTH: String(grid.epochLengthMs),
      GRIDROOT_INTERVAL: String(grid.intervalMs),
      GRIDROOT_CHAIN_CLOCK_GENESIS_S: String(chainGenesisS),
      GRIDROOT_CHAIN_CLOCK_SPEEDUP: '1',
    },
    poolsFile,
  )
  contracts = loadContractsFile(contractsFile)
  treasuryFundedAtStart = await stablecoinBalance(devAccount(DEV_ACCOUNT_ROLES.treasury).address)

  harness = await createHarness({
    endpoints,
    name,
    seed: SEED,
    fleet: fleetSpec,
    grid,
    durationMs: 4 * HOUR,
    scenario: { faults: { duplicate: 0.02, replay: 0.01 } },
    aggregatorEnv: { GRIDROOT_AGG_GRACE: '10m', GRIDROOT_AGG_REORDER_WINDOW: '10m' },
  })
  serviceEnv = {
    ...harness.env,
    ...chainEnv,
    GRIDROOT_ARTIFACT_DIR: join(dir, 'artifacts'),
    GRIDROOT_AGG_GRACE: '10m',
    GRIDROOT_AGG_REORDER_WINDOW: '10m',
    GRIDROOT_ORACLE_POLL: '300ms',
    GRIDROOT_DISTRIBUTOR_POLL: '300ms',
  }

  // Started side by side: each process spends most of its start-up loading and joining groups.
  await Promise.all([harness.startIngest(), harness.startAggregator()])
  await Promise.all([
    ...['influx', 'replay', 'replay'].map((source, i) =>
      startService(
        'services/oracle/main.ts',
        {
          GRIDROOT_ORACLE_ROLE: 'signer',
          GRIDROOT_ORACLE_INSTANCE: `${name}-signer-${i + 1}`,
          GRIDROOT_ORACLE_SOURCE: source,
          GRIDROOT_ORACLE_SIGNER_KEY: keyOf(DEV_ACCOUNT_ROLES.oracleSigners[i] as number),
        },
        'GRIDROOT_ORACLE_METRICS_PORT',
      ),
    ),
    startService(
      'services/oracle/main.ts',
      {
        GRIDROOT_ORACLE_ROLE: 'submitter',
        GRIDROOT_ORACLE_INSTANCE: `${name}-submitter`,
        GRIDROOT_ORACLE_SUBMITTER_KEY: keyOf(SUBMITTER),
      },
      'GRIDROOT_ORACLE_METRICS_PORT',
    ),
    startService('services/distributor/main.ts', {}, 'GRIDROOT_DISTRIBUTOR_METRICS_PORT'),
  ])

  // The fleet publishes; after each tick, the holder actions due at that device time.
  const pending = [...ACTIONS]
  await harness.publish({
    onTick: async (index) => {
      const tickMs = START + (index + 1) * fleetSpec.sampleMs
      while (pending.length > 0 && START + (pending[0] as Action).atMs <= tickMs)
        await runAction(pending.shift() as Action)
    },
  })
  expect(pending).toEqual([])

  // Chain time past epoch 2's window; then each pending oracle root waits out its window.
  await atDeviceTime(START + EPOCHS.length * HOUR + MINUTE)
  await testClient.mine({ blocks: 1 })
  const oracle = createOracleChain({
    endpoint: anvil.endpoint,
    oracle: contracts.contracts.revenueOracle,
    fromBlock: 0n,
  })
  const last = EPOCHS[EPOCHS.length - 1] as number
  await waitFor(`distributor roots for epochs 0..${last} of every pool`, async () => {
    let done = true
    for (const { poolId } of POOLS) {
      if ((await poolChainOf(poolId).state()).nextEpoch > last) continue
      done = false
      const pool = await oracle.pool(poolId)
      if (
        pool &&
        pool.nextEpoch <= last &&
        (await oracle.epochRecord(poolId, pool.nextEpoch)).status === 'pending'
      ) {
        await testClient.increaseTime({ seconds: CHALLENGE_WINDOW_S + 1 })
        await testClient.mine({ blocks: 1 })
      }
    }
    return done
  })
}, 900_000)

afterAll(async () => {
  for (const p of processes) await p.kill('SIGTERM')
  await harness?.close()
  await anvil?.stop()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

/** Per pool: what each holder is owed over epochs 0..2, and what each epoch funds. */
async function expectedPayouts() {
  const truth = [...harness.truthByDeviceEpoch().values()]
  const out = new Map<
    PoolId,
    { cumulative: Map<string, bigint>; fundedPerEpoch: bigint[]; withheld: bigint; revenue: bigint[] }
  >()
  for (const pool of POOLS) {
    const transfers = await readTransfers(
      publicClient,
      poolContracts(contracts, pool.poolId).token as Address,
    )
    const cumulative = new Map<string, bigint>()
    const fundedPerEpoch: bigint[] = []
    const revenue: bigint[] = []
    let withheld = 0n
    for (const epoch of EPOCHS) {
      const revenueUnits = truth
        .filter((t) => t.poolId === pool.poolId && t.epoch === epoch)
        .reduce((sum, t) => sum + (t.revenueUnits ?? 0n), 0n)
      const window = windowOf(epoch)
      const shares = epochShares(
        (revenueUnits * BigInt(pool.holdersBps)) / 10_000n,
        timeWeights(transfers, window),
        (account) => !verifiedAt(identityChanges, account, window.endS),
      )
      for (const [account, amount] of shares.paid)
        cumulative.set(account, (cumulative.get(account) ?? 0n) + amount)
      fundedPerEpoch.push([...shares.paid.values()].reduce((s, a) => s + a, 0n))
      withheld += [...shares.withheld.values()].reduce((s, a) => s + a, 0n)
      revenue.push(revenueUnits)
    }
    out.set(pool.poolId, { cumulative, fundedPerEpoch, withheld, revenue })
  }
  return out
}

const claimEnv = () => ({
  [ENDPOINT_ENV.rpcUrl]: anvil.endpoint.rpcUrl,
  [ENDPOINT_ENV.chainId]: String(anvil.endpoint.chainId),
  GRIDROOT_CONTRACTS_FILE: serviceEnv.GRIDROOT_CONTRACTS_FILE as string,
  GRIDROOT_ARTIFACT_DIR: serviceEnv.GRIDROOT_ARTIFACT_DIR as string,
})

describe('payouts end to end', () => {
  it('finalizes every pool epoch with a leaf per device equal to the ground truth to the unit', async () => {
    const oracle = createOracleChain({
      endpoint: anvil.endpoint,
      oracle: contracts.contracts.revenueOracle,
      fromBlock: 0n,
    })
    const store = createFileArtifactStore({ dir: join(dir, 'artifacts') })
    const truth = [...harness.truthByDeviceEpoch().values()]
    for (const { poolId } of POOLS) {
      for (const epoch of EPOCHS) {
        const finalized = await oracle.finalized(poolId, epoch)
        expect(finalized, `${poolId}/${epoch} finalized`).toBeDefined()
        const tree = parseTreeDump(
          deviceLeafLayout,
          (await store.get(finalized?.treeHash as Hex)) as Uint8Array,
        )
        expect(tree.root).toBe(finalized?.root)
        const expected = truth.filter((t) => t.poolId === poolId && t.epoch === epoch)
        expect(expected.length, `${poolId}/${epoch} has devices`).toBeGreaterThan(0)
        const leaves = new Map(tree.leaves.map((l) => [l.deviceId, l]))
        for (const t of expected)
          expect(
            {
              energyWh: leaves.get(t.deviceId)?.energyWh,
              revenueUnits: leaves.get(t.deviceId)?.revenueUnits,
              readings: leaves.get(t.deviceId)?.readings,
            },
            `${poolId}/${epoch}/${t.deviceId}`,
          ).toEqual({ energyWh: BigInt(t.energyWh), revenueUnits: t.revenueUnits, readings: t.readings })
        expect(tree.leafCount).toBe(expected.length)
        const revenue = expected.reduce((sum, t) => sum + (t.revenueUnits ?? 0n), 0n)
        expect((await poolChainOf(poolId).oracleEpoch(epoch)).revenueUnits).toBe(revenue)
      }
    }
    expect([...registry.devices()].length).toBe(11)
  })

  it('lands each holder action inside the epoch it was scheduled in', () => {
    expect(actionTimestamps.length).toBe(ACTIONS.length)
    ACTIONS.forEach((action, i) => {
      const window = windowOf(Math.floor(action.atMs / HOUR))
      const at = actionTimestamps[i] as number
      expect(
        at > window.startS && at < window.endS,
        `${JSON.stringify(action, (_k, v) => (typeof v === 'bigint' ? String(v) : v))} at ${at}`,
      ).toBe(true)
    })
  })

  it('publishes each epoch once, funded with exactly the expected time-weighted shares', async () => {
    const expected = await expectedPayouts()
    for (const { poolId } of POOLS) {
      const e = expected.get(poolId)!
      const roots = await poolChainOf(poolId).publishedRoots()
      expect(
        roots.map((r) => r.epoch),
        poolId,
      ).toEqual([...EPOCHS])
      expect(
        roots.map((r) => r.fundedUnits),
        poolId,
      ).toEqual(e.fundedPerEpoch)
      const reader = createHolderClaimsReader(
        poolChainOf(poolId),
        createFileArtifactStore({ dir: join(dir, 'artifacts') }),
      )
      for (const holder of HOLDERS) {
        const quote = await reader.read(dev(holder))
        expect(quote.cumulativeAmount, `${poolId} dev:${holder}`).toBe(e.cumulative.get(dev(holder)) ?? 0n)
      }
      // Revenue in the pool, so holders' shares are tested, not only zeros.
      expect(e.revenue.filter((r) => r > 0n).length, `${poolId} revenue ${e.revenue}`).toBeGreaterThanOrEqual(
        2,
      )
    }
    // dev:8's part of epochs 1 and 2 is withheld in each pool it held.
    expect([...expected.values()].every((e) => e.withheld > 0n)).toBe(true)
    const funded = [...expected.values()].flatMap((e) => e.fundedPerEpoch).reduce((s, a) => s + a, 0n)
    expect(await stablecoinBalance(devAccount(DEV_ACCOUNT_ROLES.treasury).address)).toBe(
      treasuryFundedAtStart - funded,
    )
  })

  it('pays every holder exactly its expected share (claim CLI and claim function); the unverified one only once verified again', async () => {
    const expected = await expectedPayouts()
    const env = claimEnv()
    const claimCli = (poolId: string, account: string, extra: Record<string, string> = {}) =>
      runCli('services/distributor/claim-cli.ts', ['--pool', poolId, '--account', account], {
        ...env,
        ...extra,
      })
    // Unverified since epoch 1: the CLI says why it cannot claim (before sending anything) and pays nothing.
    const refused = await claimCli('longshine-ev', `dev:${UNVERIFIED}`)
    expect(refused.code, refused.stdout + refused.stderr).toBe(1)
    expect(refused.stderr).toMatch(/^NOT_VERIFIED: .*verify it before it can claim/m)
    expect(await stablecoinBalance(dev(UNVERIFIED))).toBe(0n)
    // Verified again after epoch 2's window: what it earned in epoch 0 becomes claimable.
    const reverifiedAt = await setVerified(UNVERIFIED, true)
    expect(reverifiedAt).toBeGreaterThanOrEqual(windowOf(EPOCHS[EPOCHS.length - 1] as number).endS)

    const store = createFileArtifactStore({ dir: join(dir, 'artifacts') })
    for (const [p, { poolId }] of POOLS.entries()) {
      const e = expected.get(poolId)!
      let paid = 0n
      for (const holder of HOLDERS) {
        const owed = e.cumulative.get(dev(holder)) ?? 0n
        const before = await stablecoinBalance(dev(holder))
        // dev:9 is paid through a relayer's transaction; the others send their own.
        const sender = holder === 9 ? RELAYER : holder
        if (p === 0) {
          // The first pool through the claim CLI (a process, as a holder runs it).
          const run =
            holder === 9
              ? await claimCli(poolId, devAccount(holder).address, { GRIDROOT_CLAIM_KEY: keyOf(RELAYER) })
              : await claimCli(poolId, `dev:${holder}`)
          expect(run.code, `${poolId} dev:${holder}\n${run.stdout}${run.stderr}`).toBe(0)
        } else {
          // The others through the claim function the CLI and the API serve.
          const chain = createPoolChain({
            publicClient,
            walletClient: wallet(sender),
            pool: poolContracts(contracts, poolId),
            oracle: contracts.contracts.revenueOracle,
            identityRegistry: contracts.contracts.identityRegistry,
            identityFromBlock: 0n,
          })
          const quote = await createHolderClaimsReader(chain, store).read(dev(holder))
          expect(quote.claimableUnits, `${poolId} dev:${holder}`).toBe(owed)
          if (owed > 0n)
            expect((await chain.claim(dev(holder), quote.cumulativeAmount, quote.proof)).paidUnits).toBe(owed)
        }
        expect((await stablecoinBalance(dev(holder))) - before, `${poolId} dev:${holder}`).toBe(owed)
        paid += owed
      }
      const chain = poolChainOf(poolId)
      const claimed = (await chain.claims()).reduce((s, c) => s + c.paidUnits, 0n)
      const { totalFunded } = await chain.state()
      expect(claimed).toBe(paid)
      expect(totalFunded).toBe(e.fundedPerEpoch.reduce((s, a) => s + a, 0n))
      // What was paid out plus what the distributor still holds is what it was funded.
      expect(claimed + (await stablecoinBalance(chain.distributor))).toBe(totalFunded)
      expect(await stablecoinBalance(chain.distributor)).toBe(0n)
    }
    // A repeated claim pays nothing.
    const before = await stablecoinBalance(dev(7))
    const again = await claimCli('longshine-ev', 'dev:7')
    expect(again.code, again.stdout + again.stderr).toBe(0)
    expect(again.stdout).toContain('nothing to claim')
    expect(await stablecoinBalance(dev(7))).toBe(before)
  }, 600_000)
})
