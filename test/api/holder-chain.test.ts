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
import { type Address, decodeErrorResult, encodeFunctionData, type Hex, stringToHex } from 'viem'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { hkdStablecoinAbi, identityRegistryAbi, revenueDistributorAbi } from '../../contracts/abi/index.ts'
import { deployPoolDistributor } from '../../contracts/deploy/deploy-pool-contracts.ts'
import { buildHolderTree, serializeTree } from '../../core/merkle/index.ts'
import { createFileArtifactStore } from '../../runtime/artifact-store.ts'
import { createPoolChain } from '../../runtime/chain/pool-chain.ts'
import type { ContractsFile } from '../../runtime/contracts-file.ts'
import { createDevWallet } from '../../services/api/adapters/dev-wallet.ts'
import { createHolderReader } from '../../services/api/adapters/holder-reader.ts'
import { createOracleReader } from '../../services/api/adapters/oracle-reader.ts'
import { type DedicatedAnvil, startDedicatedAnvil } from '../contracts/support/dedicated-anvil.ts'
import { addPool, finalizeEpoch, proposal } from '../contracts/support/oracle.ts'
import {
  contractsFileOf,
  deploySystem,
  exec,
  FIXED_EPOCH_CLOCK,
  type System,
} from '../contracts/support/system.ts'
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
let withDevWallet: FixtureApp
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
    clock: FIXED_EPOCH_CLOCK,
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
  contracts = contractsFileOf(system, [
    {
      poolId: POOL,
      poolIdBytes32: POOL_HEX,
      token: distributor.address,
      distributor: distributor.address,
      paymentToken: stable,
      treasury: system.treasury.account.address,
      firstEpoch: 0,
      deployedAtBlock: '0',
    },
  ])
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
  withDevWallet = await fixtureApp(endpoints, fixture, {
    dlq: api.dlq,
    holders: createHolderReader({ publicClient: system.publicClient, contracts, store }),
    devWallet: createDevWallet(anvil.endpoint),
  })
}, 180_000)

afterAll(async () => {
  await withDevWallet?.close()
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

  it('shows an unverified holder what it is owed but nothing claimable, with the reason', async () => {
    const setVerified = (functionName: 'verify' | 'unverify') =>
      exec(system, system.deployer.walletClient, {
        address: system.contracts.identityRegistry,
        abi: identityRegistryAbi,
        functionName,
        args: [[b]],
      })
    await setVerified('unverify')
    try {
      const res = await get(`/api/v1/holder/${b}/pools/${POOL}`)
      expect(res.statusCode, res.body).toBe(200)
      expect(res.json()).toMatchObject({
        owedUnits: '300000',
        claimableUnits: '0',
        blockedBy: 'NOT_VERIFIED',
        verified: false,
        inTree: true,
      })
    } finally {
      await setVerified('verify')
    }
    const again = (await get(`/api/v1/holder/${b}/pools/${POOL}`)).json()
    expect(again).toMatchObject({
      owedUnits: '300000',
      claimableUnits: '300000',
      blockedBy: null,
      verified: true,
    })
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

describe('holder chain route and the wallet glue', () => {
  it("names the chain and each pool's distributor and payment token; no dev wallet by default", async () => {
    const res = await get('/api/v1/holder/chain')
    expect(res.statusCode, res.body).toBe(200)
    expect(res.json()).toEqual({
      chainId: 31337,
      devWallet: false,
      pools: [
        {
          poolId: POOL,
          distributor: contracts.pools[POOL]!.distributor,
          paymentToken: contracts.pools[POOL]!.paymentToken,
          paymentSymbol: 'tHKD',
          paymentDecimals: 6,
        },
      ],
    })
    expect((await get('/api/v1/holder/chain', withDevWallet)).json().devWallet).toBe(true)
  })

  it('serves viem and the contracts/abi ABIs as one browser module, with an ETag', async () => {
    const res = await get('/assets/wallet.js')
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toContain('text/javascript')
    // The claim function and the distributor's custom errors travel with the ABI.
    for (const name of ['"claim"', '"NotVerified"', '"EnforcedPause"', '"balanceOf"'])
      expect(res.body).toContain(name)
    const again = await api.app.inject({
      method: 'GET',
      url: '/assets/wallet.js',
      headers: { 'if-none-match': String(res.headers.etag) },
    })
    expect(again.statusCode).toBe(304)
  })

  it.each([
    ['GET', '/api/v1/dev-wallet/accounts'],
    ['GET', '/dev-wallet/provider.js'],
    ['POST', '/api/v1/dev-wallet/rpc'],
  ] as const)('has no %s %s without GRIDROOT_API_DEV_WALLET (NOT_FOUND)', async (method, url) => {
    const res = await api.app.inject({
      method,
      url,
      ...(method === 'POST' ? { payload: { jsonrpc: '2.0', id: 1, method: 'eth_chainId' } } : {}),
    })
    expect(res.statusCode, res.body).toBe(404)
    expect(res.json().error.code).toBe('NOT_FOUND')
  })
})

describe('dev wallet routes (GRIDROOT_API_DEV_WALLET=anvil) on the real anvil', () => {
  const rpc = (payload: Record<string, unknown>) =>
    withDevWallet.app.inject({ method: 'POST', url: '/api/v1/dev-wallet/rpc', payload })

  it("lists anvil's ten funded dev accounts with their local-stack roles, and serves the provider", async () => {
    const res = await get('/api/v1/dev-wallet/accounts', withDevWallet)
    expect(res.statusCode, res.body).toBe(200)
    const { chainId, accounts } = res.json()
    expect(chainId).toBe(31337)
    expect(accounts).toHaveLength(10)
    expect(accounts[0]).toMatchObject({ index: 0, role: 'deployer' })
    expect(accounts[7]).toEqual({ index: 7, address: a, role: 'investor' })
    const provider = await get('/dev-wallet/provider.js', withDevWallet)
    expect(provider.statusCode).toBe(200)
    expect(provider.body).toContain('export async function createDevWallet')
  })

  it('passes reads to the node: eth_chainId, and eth_call of claimed(A) = 500 000', async () => {
    expect((await rpc({ jsonrpc: '2.0', id: 1, method: 'eth_chainId' })).json()).toEqual({
      jsonrpc: '2.0',
      id: 1,
      result: '0x7a69',
    })
    const data = encodeFunctionData({ abi: revenueDistributorAbi, functionName: 'claimed', args: [a] })
    const res = await rpc({
      jsonrpc: '2.0',
      id: 'c',
      method: 'eth_call',
      params: [{ to: contracts.pools[POOL]!.distributor, data }, 'latest'],
    })
    expect(res.statusCode, res.body).toBe(200)
    expect(BigInt(res.json().result)).toBe(500_000n)
  })

  it("returns a revert as the node's error with its data: NotVerified for an unverified account", async () => {
    const outsider = `0x${'ab'.repeat(20)}` as Address
    const data = encodeFunctionData({
      abi: revenueDistributorAbi,
      functionName: 'claim',
      args: [outsider, 1n, []],
    })
    const res = await rpc({
      jsonrpc: '2.0',
      id: 2,
      method: 'eth_call',
      params: [{ to: contracts.pools[POOL]!.distributor, data }, 'latest'],
    })
    expect(res.statusCode, res.body).toBe(200)
    const { error } = res.json()
    expect(decodeErrorResult({ abi: revenueDistributorAbi, data: error.data }).errorName).toBe('NotVerified')
  })

  it("signs eth_sendTransaction to a distributor with the dev account's key (a replayed claim pays 0)", async () => {
    const [poolBefore] = (await get(`/api/v1/holder/${a}`, withDevWallet)).json().pools
    const data = encodeFunctionData({
      abi: revenueDistributorAbi,
      functionName: 'claim',
      args: [a, BigInt(poolBefore.cumulativeAmount), poolBefore.proof],
    })
    const res = await rpc({
      jsonrpc: '2.0',
      id: 3,
      method: 'eth_sendTransaction',
      params: [{ from: a, to: contracts.pools[POOL]!.distributor, data }],
    })
    expect(res.statusCode, res.body).toBe(200)
    const receipt = await system.publicClient.waitForTransactionReceipt({ hash: res.json().result })
    expect(receipt.status).toBe('success')
    expect(receipt.from.toLowerCase()).toBe(a.toLowerCase())
    const [poolAfter] = (await get(`/api/v1/holder/${a}`, withDevWallet)).json().pools
    expect(poolAfter.payouts).toHaveLength(1)
  })

  it.each([
    [
      'an account that is not a dev account',
      {
        method: 'eth_sendTransaction',
        params: [{ from: `0x${'cd'.repeat(20)}`, to: `0x${'ef'.repeat(20)}`, data: '0x' }],
      },
      'DEV_WALLET_UNKNOWN_ACCOUNT',
    ],
    [
      'a signing method',
      { method: 'eth_sign', params: [`0x${'00'.repeat(20)}`, '0x00'] },
      'DEV_WALLET_METHOD_REFUSED',
    ],
    [
      "anvil's cheat codes",
      { method: 'anvil_setBalance', params: [`0x${'00'.repeat(20)}`, '0x1'] },
      'DEV_WALLET_METHOD_REFUSED',
    ],
    ['a method name of the wrong shape', { method: '../eth_call' }, 'INVALID_PARAMETER'],
    ['too many params', { method: 'eth_call', params: [1, 2, 3, 4, 5] }, 'INVALID_PARAMETER'],
    ['an unknown field', { method: 'eth_chainId', extra: true }, 'INVALID_PARAMETER'],
  ])('refuses %s', async (_what, body, code) => {
    const res = await rpc({ jsonrpc: '2.0', id: 9, ...body })
    expect(res.statusCode, res.body).toBe(400)
    expect(res.json().error.code).toBe(code)
  })

  it('refuses a dev account sending anywhere but a distributor, and data that is not hex', async () => {
    const refused = await rpc({
      jsonrpc: '2.0',
      id: 10,
      method: 'eth_sendTransaction',
      params: [{ from: a, to: system.contracts.hkdStablecoin, data: '0x' }],
    })
    expect(refused.statusCode, refused.body).toBe(400)
    expect(refused.json().error.code).toBe('DEV_WALLET_TARGET_REFUSED')
    const badData = await rpc({
      jsonrpc: '2.0',
      id: 11,
      method: 'eth_sendTransaction',
      params: [{ from: a, to: contracts.pools[POOL]!.distributor, data: 'claim()' }],
    })
    expect(badData.statusCode, badData.body).toBe(400)
    expect(badData.json().error.code).toBe('INVALID_PARAMETER')
  })

  it('signs nothing but claim on a distributor: pause and grantRole as the deployer are refused', async () => {
    const distributor = contracts.pools[POOL]!.distributor as Address
    const deployer = system.deployer.walletClient.account.address
    for (const data of [
      encodeFunctionData({ abi: revenueDistributorAbi, functionName: 'pause' }),
      encodeFunctionData({
        abi: revenueDistributorAbi,
        functionName: 'grantRole',
        args: [`0x${'00'.repeat(32)}`, a],
      }),
    ]) {
      const refused = await rpc({
        jsonrpc: '2.0',
        id: 12,
        method: 'eth_sendTransaction',
        params: [{ from: deployer, to: distributor, data }],
      })
      expect(refused.statusCode, refused.body).toBe(400)
      expect(refused.json().error.code).toBe('DEV_WALLET_TARGET_REFUSED')
    }
    const state = await system.publicClient.readContract({
      address: distributor,
      abi: revenueDistributorAbi,
      functionName: 'state',
    })
    expect(state.paused).toBe(false)
  })
})
