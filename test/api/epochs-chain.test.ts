/**
 * Epochs with their state in RevenueOracle on a real anvil (contracts deployed by this test):
 * none, pending, rejected and final as the chain holds them, read through the epochs route.
 */
import type { Hex } from 'viem'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { revenueOracleAbi } from '../../contracts/abi/index.ts'
import { createOracleReader } from '../../services/api/adapters/oracle-reader.ts'
import { deploySystem, exec, poolIdHex, type System } from '../contracts/support/system.ts'
import { type FixtureApp, fixtureApp, OPS_KEY } from './app-harness.ts'
import { dropFixture, type Fixture, writeFixture } from './fixture.ts'

const endpoints = inject('endpoints')
const name = `apichain_${process.pid}_${Date.now().toString(36)}`
const CHALLENGE_SEC = 2
let fixture: Fixture
let api: FixtureApp
let system: System

const root = (n: number) => `0x${n.toString(16).padStart(64, '0')}` as Hex

async function propose(poolId: string, epoch: number, rootValue: Hex) {
  const p = {
    poolId: poolIdHex(poolId),
    epoch: BigInt(epoch),
    root: rootValue,
    revenueUnits: 1_000n,
    energyWh: 10n,
    leafCount: 3,
    treeHash: root(7),
    archiveHash: root(8),
  }
  const record = await system.publicClient.readContract({
    address: system.contracts.revenueOracle,
    abi: revenueOracleAbi,
    functionName: 'epochRecord',
    args: [p.poolId, p.epoch],
  })
  const digest = await system.publicClient.readContract({
    address: system.contracts.revenueOracle,
    abi: revenueOracleAbi,
    functionName: 'proposalDigest',
    args: [p, record.attempt],
  })
  const signer = system.signers[0]
  const signature = await signer?.account.sign?.({ hash: digest })
  if (signer === undefined || signature === undefined) throw new Error('no signer')
  await exec(system, system.deployer.walletClient, {
    address: system.contracts.revenueOracle,
    abi: revenueOracleAbi,
    functionName: 'propose',
    args: [p, signature],
  })
}

beforeAll(async () => {
  fixture = await writeFixture(endpoints, name)
  system = await deploySystem(endpoints.chain, { threshold: 1, challengeWindowSec: CHALLENGE_SEC })
  for (const poolId of ['gcl-pv', 'longshine-ev']) {
    await exec(system, system.deployer.walletClient, {
      address: system.contracts.revenueOracle,
      abi: revenueOracleAbi,
      functionName: 'addPool',
      args: [poolIdHex(poolId), 0n],
    })
  }
  // gcl-pv epoch 0: rejected once, proposed again and finalized; epoch 1 pending.
  await propose('gcl-pv', 0, root(1))
  await exec(system, system.guardian, {
    address: system.contracts.revenueOracle,
    abi: revenueOracleAbi,
    functionName: 'reject',
    args: [poolIdHex('gcl-pv'), 0n, root(9)],
  })
  await propose('gcl-pv', 0, root(2))
  // The challenge window runs on block time. The chain is shared, so it is waited out, not
  // warped: a plain block mined each second carries the wall clock forward.
  for (let attempt = 0; ; attempt++) {
    await new Promise((r) => setTimeout(r, 1000))
    await system.testClient.mine({ blocks: 1 })
    try {
      await exec(system, system.deployer.walletClient, {
        address: system.contracts.revenueOracle,
        abi: revenueOracleAbi,
        functionName: 'finalize',
        args: [poolIdHex('gcl-pv'), 0n],
      })
      break
    } catch (error) {
      if (attempt > 30 || !String(error).includes('ChallengeWindowOpen')) throw error
    }
  }
  await propose('gcl-pv', 1, root(3))
  // longshine-ev is registered with nothing proposed; xunying-swap is unknown to the reader.
  const chain = createOracleReader({
    publicClient: system.publicClient,
    revenueOracle: system.contracts.revenueOracle,
    poolIds: new Map([
      ['gcl-pv', poolIdHex('gcl-pv')],
      ['longshine-ev', poolIdHex('longshine-ev')],
    ]),
  })
  api = await fixtureApp(endpoints, fixture, { chain })
})

afterAll(async () => {
  await api?.close()
  if (fixture) await dropFixture(fixture)
})

describe('epochs with RevenueOracle state', () => {
  it('shows final, pending, none, and nothing for pools the chain does not know', async () => {
    const res = await api.app.inject({
      method: 'GET',
      url: '/api/v1/operator/epochs',
      headers: { 'x-api-key': OPS_KEY.key },
    })
    expect(res.statusCode, res.body).toBe(200)
    const body = res.json()
    const pool = (epoch: number, poolId: string) =>
      body.epochs
        .find((e: { epoch: number }) => e.epoch === epoch)
        .pools.find((p: { poolId: string }) => p.poolId === poolId)
    expect(pool(0, 'gcl-pv').onChain).toMatchObject({
      status: 'final',
      root: root(2),
      attempt: 1,
      leafCount: 3,
      revenueUnits: '1000',
    })
    expect(pool(1, 'gcl-pv').onChain).toMatchObject({ status: 'pending', root: root(3), attempt: 0 })
    expect(pool(1, 'gcl-pv').onChain.finalizesAtMs).toBeGreaterThan(0)
    expect(pool(0, 'longshine-ev').onChain).toMatchObject({ status: 'none', attempt: 0 })
    expect(pool(0, 'xunying-swap').onChain).toBeUndefined()
  })
})
