/**
 * Holder routes and the "distributed" epoch state on a real anvil of this test's own (the
 * oracle's challenge window is passed by moving chain time): a RevenueDistributor publishes a
 * cumulative holder tree for a finalized oracle epoch, one holder claims, and the API shows each
 * holder's claimable amount with a proof the contract accepts, what was claimed and the payout.
 * Expected amounts are chosen here, not computed by the code under test: A 500 000, B 300 000.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Address, type Hex, stringToHex } from 'viem'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { hkdStablecoinAbi, identityRegistryAbi } from '../../contracts/abi/index.ts'
import { deployPoolDistributor } from '../../contracts/deploy/deploy-pool-contracts.ts'
import { buildHolderTree, serializeTree } from '../../core/merkle/index.ts'
import { createFileArtifactStore } from '../../runtime/artifact-store.ts'
import { createPoolChain } from '../../runtime/chain/pool-chain.ts'
import type { ContractsFile } from '../../runtime/contracts-file.ts'
import { createHolderReader } from '../../services/api/adapters/holder-reader.ts'
import { createOracleReader } from '../../services/api/adapters/oracle-reader.ts'
import { type DedicatedAnvil, startDedicatedAnvil } from '../contracts/support/dedicated-anvil.ts'
import { addPool, finalizeEpoch, proposal } from '../contracts/support/oracle.ts'
import { deploySystem, exec, type System } from '../contracts/support/system.ts'
import { type FixtureApp, fixtureApp } from './app-harness.ts'
import { dropFixture, type Fixture, writeFixture } from './fixture.ts'

// A pool the fixture has closed epochs for, so the epochs route shows its chain state.
const POOL = 'gcl-pv'
const POOL_HEX = stringToHex(POOL, { size: 32 })
const endpoints = inject('endpoints')
const name = `apiholder_${process.pid}_${Date.now().toString(36)}`

let anvil: DedicatedAnvil
let system: System
let fixture: Fixture
let api: FixtureApp
let noTrees: FixtureApp
let dir: string
let contracts: ContractsFile
let a: Address
let b: Address
let claimTx: Hex

beforeAll(async () => {
  anvil = await startDedicatedAnvil('api-holder')
  system = await deploySystem(anvil.endpoint, { challengeWindowSec: 60 })
  a = system.investors[0]!.account.address
  b = system.investors[1]!.account.address
  const stable = system.contracts.hkdStablecoin
  await addPool(system, POOL_HEX, 0n)
  const distributor = await deployPoolDistributor(system.deployer, system.compiled, {
    poolIdBytes32: POOL_HEX,
    oracle: system.contracts.revenueOracle,
    identityRegistry: system.contracts.identityRegistry,
    paymentToken: stable,
    firstEpoch: 0n,
    terms: { treasury: system.treasury.account.address, holdersBps: 8_000, splitMode: 'time-weighted' },
    publisher: system.publisher.account.address,
    pauser: system.deployer.walletClient.account.address,
  })
  // Claims are paid to verified holders only.
  await exec(system, system.deployer.walletClient, {
    address: system.contracts.identityRegistry,
    abi: identityRegistryAbi,
    functionName: 'verify',
    args: [[a, b]],
  })
  await exec(system, system.deployer.walletClient, {
    address: stable,
    abi: hkdStablecoinAbi,
    functionName: 'mint',
    args: [system.treasury.account.address, 10_000_000n],
  })
  await exec(system, system.treasury, {
    address: stable,
    abi: hkdStablecoinAbi,
    functionName: 'approve',
    args: [distributor.address, 10_000_000n],
  })
  await finalizeEpoch(
    system,
    proposal({ poolId: POOL_HEX, epoch: 0n, revenueUnits: 1_000_000n, leafCount: 1 }),
  )

  dir = mkdtempSync(join(tmpdir(), 'gridroot-api-holder-'))
  const store = createFileArtifactStore({ dir: join(dir, 'artifacts') })
  const tree = buildHolderTree([
    { poolId: POOL, account: a, cumulativeAmount: 500_000n },
    { poolId: POOL, account: b, cumulativeAmount: 300_000n },
  ])
  const treeHash = await store.put(serializeTree(tree))
  contracts = {
    version: 1,
    chainId: system.chain.id,
    deployer: system.deployer.walletClient.account.address,
    deployedAtBlock: '0',
    compilerInputHash: system.compiled.inputHash,
    contracts: {
      deviceRegistry: system.contracts.deviceRegistry,
      revenueOracle: system.contracts.revenueOracle,
      identityRegistry: system.contracts.identityRegistry,
      hkdStablecoin: stable,
    },
    oracle: {
      signers: system.signers.map((s) => s.account.address),
      threshold: 2,
      challengeWindowSec: 60,
      guardian: system.guardian.account.address,
    },
    pools: {
      [POOL]: {
        poolId: POOL,
        poolIdBytes32: POOL_HEX,
        token: distributor.address,
        distributor: distributor.address,
        paymentToken: stable,
        treasury: system.treasury.account.address,
        firstEpoch: 0,
        deployedAtBlock: '0',
      },
    },
  }
  const chainOf = (wallet: System['publisher']) =>
    createPoolChain({
      publicClient: system.publicClient,
      walletClient: wallet,
      pool: contracts.pools[POOL]!,
      oracle: system.contracts.revenueOracle,
      identityRegistry: system.contracts.identityRegistry,
      identityFromBlock: 0n,
    })
  await chainOf(system.publisher).publish(0, tree.root, 800_000n, treeHash)
  claimTx = (
    await chainOf(system.investors[0]!).claim(a, 500_000n, tree.proof(tree.rankOf(a.toLowerCase())!))
  ).hash

  fixture = await writeFixture(endpoints, name)
  const chain = createOracleReader({
    publicClient: system.publicClient,
    revenueOracle: system.contracts.revenueOracle,
    poolIds: new Map([[POOL, POOL_HEX]]),
  })
  api = await fixtureApp(endpoints, fixture, {
    chain,
    holders: createHolderReader({ publicClient: system.publicClient, contracts, store }),
  })
  // Same chain, an artifact store without the published tree.
  noTrees = await fixtureApp(endpoints, fixture, {
    dlq: api.dlq,
    holders: createHolderReader({
      publicClient: system.publicClient,
      contracts,
      store: createFileArtifactStore({ dir: join(dir, 'empty') }),
    }),
  })
}, 180_000)

afterAll(async () => {
  await noTrees?.close()
  await api?.close()
  if (fixture) await dropFixture(fixture)
  await anvil?.stop()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

const get = (url: string, app = api) => app.app.inject({ method: 'GET', url })

describe('holder routes on a real RevenueDistributor', () => {
  it('lists the pools with a distributor', async () => {
    const res = await get('/api/v1/holder/pools')
    expect(res.statusCode, res.body).toBe(200)
    expect(res.json()).toEqual({ pools: [POOL] })
  })

  it('shows a claimed holder: nothing left, claimed 500 000, one payout with its transaction', async () => {
    const res = await get(`/api/v1/holder/${a}`)
    expect(res.statusCode, res.body).toBe(200)
    const [pool] = res.json().pools
    expect(pool).toMatchObject({
      poolId: POOL,
      epoch: 0,
      cumulativeAmount: '500000',
      claimedUnits: '500000',
      claimableUnits: '0',
      inTree: true,
    })
    expect(pool.payouts).toHaveLength(1)
    expect(pool.payouts[0]).toMatchObject({ paidUnits: '500000', transactionHash: claimTx })
  })

  it("gives an unclaimed holder a proof the contract pays 300 000 on (address case doesn't matter)", async () => {
    const res = await get(`/api/v1/holder/${b.toUpperCase().replace('0X', '0x')}/pools/${POOL}`)
    expect(res.statusCode, res.body).toBe(200)
    const pool = res.json()
    expect(pool).toMatchObject({ claimableUnits: '300000', claimedUnits: '0', inTree: true, payouts: [] })
    expect(pool.proof.length).toBeGreaterThan(0)
    const chain = createPoolChain({
      publicClient: system.publicClient,
      walletClient: system.investors[1]!,
      pool: contracts.pools[POOL]!,
      oracle: system.contracts.revenueOracle,
      identityRegistry: system.contracts.identityRegistry,
      identityFromBlock: 0n,
    })
    const paid = await chain.claim(b, BigInt(pool.cumulativeAmount), pool.proof)
    expect(paid.paidUnits).toBe(300_000n)
    const after = (await get(`/api/v1/holder/${b}/pools/${POOL}`)).json()
    expect(after).toMatchObject({ claimableUnits: '0', claimedUnits: '300000' })
    expect(after.payouts).toHaveLength(1)
  })

  it('answers an address outside the tree with zeros and no proof', async () => {
    const res = await get(`/api/v1/holder/0x${'ab'.repeat(20)}`)
    expect(res.statusCode, res.body).toBe(200)
    expect(res.json().pools[0]).toMatchObject({ claimableUnits: '0', inTree: false, proof: [], payouts: [] })
  })

  it.each([
    '/api/v1/holder/0x1234',
    `/api/v1/holder/0x${'zz'.repeat(20)}`,
    `/api/v1/holder/${'ab'.repeat(21)}`,
    `/api/v1/holder/0x${'ab'.repeat(20)}%00`,
    `/api/v1/holder/0x${'ab'.repeat(20)}/pools/..%2F..%2Fetc`,
    `/api/v1/holder/0x${'ab'.repeat(20)}/pools/GCL_PV`,
  ])('refuses the hostile path %s with INVALID_PARAMETER', async (url) => {
    const res = await get(url)
    expect(res.statusCode, res.body).toBe(400)
    expect(res.json().error.code).toBe('INVALID_PARAMETER')
  })

  it('answers a well-formed pool without a distributor with UNKNOWN_HOLDER_POOL', async () => {
    const res = await get(`/api/v1/holder/${a}/pools/longshine-ev`)
    expect(res.statusCode, res.body).toBe(404)
    expect(res.json().error.code).toBe('UNKNOWN_HOLDER_POOL')
  })

  it('says ARTIFACT_UNAVAILABLE when the published tree is not in the artifact store', async () => {
    const res = await get(`/api/v1/holder/${a}`, noTrees)
    expect(res.statusCode, res.body).toBe(503)
    expect(res.json().error).toMatchObject({ code: 'ARTIFACT_UNAVAILABLE' })
    expect(res.json().error.hint).toContain('GRIDROOT_ARTIFACT_DIR')
  })
})

describe('epochs route: distributed', () => {
  it('shows an epoch the distributor published a root for as distributed, the next as none', async () => {
    const res = await api.app.inject({
      method: 'GET',
      url: '/api/v1/operator/epochs',
      headers: { 'x-api-key': 'ops-key-0123456789abcdef0123' },
    })
    expect(res.statusCode, res.body).toBe(200)
    const pool = (epoch: number) =>
      res
        .json()
        .epochs.find((e: { epoch: number }) => e.epoch === epoch)
        ?.pools.find((p: { poolId: string }) => p.poolId === POOL)
    expect(pool(0)?.onChain).toMatchObject({ status: 'distributed', revenueUnits: '1000000' })
    expect(pool(1)?.onChain).toMatchObject({ status: 'none' })
  })
})
