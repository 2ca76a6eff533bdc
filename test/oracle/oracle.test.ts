/**
 * The oracle end to end on the real stack: simulated fleet → Mosquitto → ingest → Kafka →
 * aggregator → InfluxDB and epochs.v1 → three signer processes (one reading InfluxDB, two
 * replaying telemetry.v1) → oracle.signatures.v1 → submitter → RevenueOracle on an anvil of the
 * test's own (the test moves its clock past challenge windows).
 *
 * Before the oracle starts, pool A's epoch 0 gets a bogus root proposed with two signer keys and
 * rejected by the guardian, and oracle.signatures.v1 gets a wrong root for pool B's epoch 0
 * signed by a registered signer and by an outsider. The submitter is SIGKILLed the first time a
 * root is pending and started again.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Hex } from 'viem'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { revenueOracleAbi } from '../../contracts/abi/index.ts'
import { DEV_ACCOUNT_ROLES, devAccount } from '../../contracts/deploy/dev-accounts.ts'
import { epochRootTypedData, packSignatures } from '../../core/chain/epoch-root-typed-data.ts'
import { parseRegistry } from '../../core/identity/registry.ts'
import { deviceLeafLayout, parseTreeDump } from '../../core/merkle/index.ts'
import { createFileArtifactStore } from '../../runtime/artifact-store.ts'
import { createKafka } from '../../runtime/clients/kafka.ts'
import { type ContractsFile, writeContractsFile } from '../../runtime/contracts-file.ts'
import { ENDPOINT_ENV, endpointsToEnv } from '../../runtime/endpoints.ts'
import { createOracleChain, toContractProposal } from '../../services/oracle/adapters/chain.ts'
import { signaturesTopic } from '../../services/oracle/adapters/kafka-signatures.ts'
import { verifyRulesFromEnv } from '../../services/oracle/config.ts'
import type { Proposal } from '../../services/oracle/domain/proposal.ts'
import { encodeSignerMessage } from '../../services/oracle/domain/signer-message.ts'
import { VERIFY_CHECKS } from '../../services/oracle/domain/verify.ts'
import { verifyDevice } from '../../services/oracle/verify.ts'
import { createFleet } from '../../simulators/fleet/fleet.ts'
import { startDedicatedAnvil } from '../contracts/support/dedicated-anvil.ts'
import { commitRegistryRoots } from '../contracts/support/device-epoch.ts'
import { deploySystem, exec, poolIdHex, type System } from '../contracts/support/system.ts'
import { createHarness, type Harness } from '../support/pipeline-harness.ts'
import { type ServiceProcess, startServiceProcess } from '../support/service-process.ts'

const endpoints = inject('endpoints')
const START = Date.parse('2026-06-01T00:00:00+08:00')
const HOUR = 3_600_000
const grid = { genesisMs: START, epochLengthMs: HOUR, intervalMs: 300_000 }
const fleetSpec = { chargers: 8, pv: 6, swap: 6, startMs: START, sampleMs: 300_000 }
const SEED = 'oracle-e2e'
const name = `o${Date.now().toString(36)}`
const LAST_EPOCH = 2
const WINDOW_SEC = 3_600
const keyOf = (index: number): Hex =>
  `0x${Buffer.from(devAccount(index).getHdKey().privateKey as Uint8Array).toString('hex')}`

let anvil: Awaited<ReturnType<typeof startDedicatedAnvil>>
let system: System
let harness: Harness
let dir: string
let contractsFile: ContractsFile
let oracleEnv: Record<string, string>
const processes: ServiceProcess[] = []
let submitter: ServiceProcess
let killedWhilePending: { poolId: string; epoch: number } | undefined
const registry = parseRegistry(createFleet({ ...fleetSpec, seed: SEED }).registry())
const pools = [...new Set([...registry.devices()].map((d) => d.poolId))].sort()
const [POOL_A, POOL_B] = pools as [string, string]

const startOracle = async (role: string, extra: Record<string, string>) => {
  const p = await startServiceProcess(
    'services/oracle/main.ts',
    { ...oracleEnv, GRIDROOT_ORACLE_ROLE: role, ...extra },
    'GRIDROOT_ORACLE_METRICS_PORT',
  )
  processes.push(p)
  await p.waitHealthy()
  return p
}
const startSubmitter = () =>
  startOracle('submitter', {
    GRIDROOT_ORACLE_INSTANCE: `${name}-submitter`,
    GRIDROOT_ORACLE_SUBMITTER_KEY: keyOf(DEV_ACCOUNT_ROLES.publisher),
  })

const chain = () =>
  createOracleChain({ endpoint: anvil.endpoint, oracle: system.contracts.revenueOracle, fromBlock: 0n })

beforeAll(async () => {
  anvil = await startDedicatedAnvil('oracle')
  system = await deploySystem(anvil.endpoint, { threshold: 2, challengeWindowSec: WINDOW_SEC })
  const deployer = system.deployer.walletClient as never
  for (const poolId of pools)
    await exec(system, deployer, {
      address: system.contracts.revenueOracle,
      abi: revenueOracleAbi,
      functionName: 'addPool',
      args: [poolIdHex(poolId), 0n],
    })
  // The signers and the guardian refuse a registry the chain does not commit.
  await commitRegistryRoots(system, registry.devices())
  dir = mkdtempSync(join(tmpdir(), `gridroot-${name}-`))
  contractsFile = {
    version: 1,
    chainId: anvil.endpoint.chainId,
    deployer: system.deployer.walletClient.account.address,
    deployedAtBlock: '0',
    compilerInputHash: system.compiled.inputHash,
    contracts: {
      deviceRegistry: system.contracts.deviceRegistry,
      revenueOracle: system.contracts.revenueOracle,
      identityRegistry: system.contracts.identityRegistry,
    },
    oracle: {
      signers: system.signers.map((s) => s.account.address),
      threshold: 2,
      challengeWindowSec: WINDOW_SEC,
      guardian: system.guardian.account.address,
    },
    pools: {},
  }
  writeContractsFile(join(dir, 'contracts.json'), contractsFile)
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
    durationMs: 4 * HOUR,
    scenario: { faults: { duplicate: 0.02, replay: 0.01, malformed: 0.005, badSignature: 0.005 } },
    aggregatorEnv: { GRIDROOT_AGG_GRACE: '10m', GRIDROOT_AGG_REORDER_WINDOW: '10m' },
  })
  oracleEnv = {
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
    GRIDROOT_ORACLE_POLL: '300ms',
  }

  // Pool A, epoch 0: a bogus root proposed with two signer keys, then rejected by the guardian.
  const bogus: Proposal = {
    poolId: POOL_A,
    epoch: 0,
    attempt: 0,
    root: `0x${'ab'.repeat(32)}`,
    revenueUnits: 1n,
    energyWh: 1n,
    leafCount: 1,
    treeHash: `0x${'cd'.repeat(32)}`,
    archiveHash: `0x${'ef'.repeat(32)}`,
  }
  const typed = (p: Proposal) =>
    epochRootTypedData({
      chainId: anvil.endpoint.chainId,
      oracle: system.contracts.revenueOracle,
      proposal: toContractProposal(p),
      attempt: p.attempt,
    })
  const signed = await Promise.all(
    system.signers.slice(0, 2).map(async (w) => ({
      signer: w.account.address,
      signature: await w.signTypedData({ ...typed(bogus), account: w.account }),
    })),
  )
  await exec(system, deployer, {
    address: system.contracts.revenueOracle,
    abi: revenueOracleAbi,
    functionName: 'propose',
    args: [toContractProposal(bogus), packSignatures(signed)],
  })
  await exec(system, system.guardian as never, {
    address: system.contracts.revenueOracle,
    abi: revenueOracleAbi,
    functionName: 'reject',
    args: [poolIdHex(POOL_A), 0n, `0x${Buffer.from('ROOT_MISMATCH').toString('hex').padEnd(64, '0')}`],
  })

  // Pool B, epoch 0: a wrong root signed by a registered signer and by an outsider.
  const wrong: Proposal = { ...bogus, poolId: POOL_B }
  const kafka = createKafka(endpoints.kafka, `${name}-test`)
  const producer = kafka.producer()
  await producer.connect()
  const topic = signaturesTopic(`${name}.`)
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic: topic.name, numPartitions: 1 }] })
  await admin.disconnect()
  for (const index of [DEV_ACCOUNT_ROLES.oracleSigners[2], 12] as const) {
    const account = devAccount(index)
    await producer.send({
      topic: topic.name,
      messages: [
        {
          key: `${POOL_B}/0`,
          value: encodeSignerMessage({
            kind: 'signature',
            instance: 'test',
            source: 'test',
            proposal: wrong,
            signer: account.address.toLowerCase() as Hex,
            signature: await account.signTypedData(typed(wrong)),
          }),
        },
      ],
    })
  }
  await producer.disconnect()

  await harness.startIngest()
  await harness.startAggregator()
  const signerSources = ['influx', 'replay', 'replay']
  for (const [i, index] of DEV_ACCOUNT_ROLES.oracleSigners.entries())
    await startOracle('signer', {
      GRIDROOT_ORACLE_INSTANCE: `${name}-signer-${i + 1}`,
      GRIDROOT_ORACLE_SOURCE: signerSources[i] as string,
      GRIDROOT_ORACLE_SIGNER_KEY: keyOf(index),
    })
  submitter = await startSubmitter()
  await harness.publish()

  // Drive chain time: each pending root waits out its window; the first one also sees the
  // submitter SIGKILLed and restarted while it is pending.
  const c = chain()
  const deadline = Date.now() + 240_000
  while (Date.now() < deadline) {
    let done = true
    for (const poolId of pools) {
      const pool = await c.pool(poolId)
      if (!pool || pool.nextEpoch > LAST_EPOCH) continue
      done = false
      const record = await c.epochRecord(poolId, pool.nextEpoch)
      if (record.status !== 'pending') continue
      if (!killedWhilePending) {
        killedWhilePending = { poolId, epoch: pool.nextEpoch }
        await submitter.kill('SIGKILL')
        submitter = await startSubmitter()
      }
      await system.testClient.increaseTime({ seconds: WINDOW_SEC + 1 })
      await system.testClient.mine({ blocks: 1 })
    }
    if (done) break
    await new Promise((r) => setTimeout(r, 500))
  }
}, 400_000)

afterAll(async () => {
  for (const p of processes) await p.kill('SIGTERM')
  await harness?.close()
  await anvil?.stop()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('oracle end to end', () => {
  it('finalizes every pool epoch once, with a leaf per device equal to the ground truth to the unit', async () => {
    const c = chain()
    const store = createFileArtifactStore({ dir: join(dir, 'artifacts') })
    const truth = harness.truthByDeviceEpoch()
    const logs = processes.map((p) => p.output()).join('\n')
    for (const poolId of pools) {
      expect(
        (await c.pool(poolId))?.nextEpoch,
        `${poolId} finalized through ${LAST_EPOCH}\n${logs.slice(-4000)}`,
      ).toBeGreaterThan(LAST_EPOCH)
      for (let epoch = 0; epoch <= LAST_EPOCH; epoch++) {
        const finalized = await c.finalized(poolId, epoch)
        expect(finalized).toBeDefined()
        const tree = parseTreeDump(
          deviceLeafLayout,
          (await store.get(finalized?.treeHash as Hex)) as Uint8Array,
        )
        expect(tree.root).toBe(finalized?.root)
        const leaves = new Map(tree.leaves.map((l) => [l.deviceId, l]))
        const expected = [...truth.values()].filter((t) => t.poolId === poolId && t.epoch === epoch)
        expect(expected.length).toBeGreaterThan(0)
        for (const t of expected) {
          const leaf = leaves.get(t.deviceId)
          expect(
            { energyWh: leaf?.energyWh, revenueUnits: leaf?.revenueUnits, readings: leaf?.readings },
            `${poolId}/${epoch}/${t.deviceId}`,
          ).toEqual({ energyWh: BigInt(t.energyWh), revenueUnits: t.revenueUnits, readings: t.readings })
        }
        expect(tree.leafCount).toBe(expected.length)
      }
    }
    // Each attempt of each pool epoch was proposed once, the SIGKILLed submitter's included.
    const proposed = await system.publicClient.getContractEvents({
      address: system.contracts.revenueOracle,
      abi: revenueOracleAbi,
      eventName: 'EpochProposed',
      fromBlock: 0n,
    })
    const keys = proposed.map((l) => {
      const args = l.args as { poolId: Hex; epoch: bigint; attempt: number }
      return `${args.poolId}/${args.epoch}/${args.attempt}`
    })
    expect(keys.length).toBe(new Set(keys).size)
    expect(killedWhilePending).toBeDefined()
  })

  it('proposes a corrected root after the guardian rejected one, and ignores a wrong root and an outsider', async () => {
    const c = chain()
    const a0 = await c.epochRecord(POOL_A, 0)
    expect(a0).toMatchObject({ status: 'final', attempt: 1 })
    expect(a0.root).not.toBe(`0x${'ab'.repeat(32)}`)
    expect(await c.rejectedRoots(POOL_A, 0)).toEqual([`0x${'ab'.repeat(32)}`])
    const b0 = await c.epochRecord(POOL_B, 0)
    expect(b0).toMatchObject({ status: 'final', attempt: 0 })
    expect(b0.root).not.toBe(`0x${'ab'.repeat(32)}`)
    expect(await submitter.metric('gridroot_oracle_disagreements_total')).toBeGreaterThanOrEqual(1)
    expect(submitter.output()).toContain('signers disagree')
  })

  it('verify passes for every device of every finalized epoch, and fails on a tampered tree or archive', async () => {
    const c = chain()
    const store = createFileArtifactStore({ dir: join(dir, 'artifacts') })
    const deps = { chain: c, store, registry, rules: await verifyRulesFromEnv(oracleEnv) }
    let checked = 0
    for (const t of harness.truthByDeviceEpoch().values()) {
      if (t.epoch > LAST_EPOCH) continue
      const outcome = await verifyDevice(deps, { poolId: t.poolId, deviceId: t.deviceId, epoch: t.epoch })
      expect(
        outcome.ok,
        `${t.poolId}/${t.deviceId}/${t.epoch}: ${JSON.stringify(outcome, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`,
      ).toBe(true)
      // Every check ran, the on-chain proof and the recomputation included, and the leaf the
      // rules give from the archive is the ground truth.
      if (outcome.status !== 'checked') throw new Error(outcome.status)
      expect(outcome.checks.map((c) => c.check)).toEqual([...VERIFY_CHECKS])
      expect(outcome.leafRecomputed).toMatchObject({
        energyWh: BigInt(t.energyWh),
        revenueUnits: t.revenueUnits,
        readings: t.readings,
      })
      checked++
    }
    expect(checked).toBeGreaterThan(pools.length * 3)

    const some = [...harness.truthByDeviceEpoch().values()].find((t) => t.epoch === 1) as {
      poolId: string
      deviceId: string
    }
    const finalized = await c.finalized(some.poolId, 1)
    for (const hash of [finalized?.treeHash, finalized?.archiveHash] as Hex[]) {
      const path = store.pathOf(hash)
      const original = readFileSync(path)
      const tampered = Buffer.from(original)
      tampered[tampered.length - 3] = tampered[tampered.length - 3] === 0x30 ? 0x31 : 0x30
      writeFileSync(path, tampered)
      const outcome = await verifyDevice(deps, { poolId: some.poolId, deviceId: some.deviceId, epoch: 1 })
      expect(outcome).toMatchObject({ ok: false, status: 'artifact-corrupt' })
      writeFileSync(path, original)
    }
    expect(readdirSync(join(dir, 'artifacts')).length).toBeGreaterThan(0)
  })
})
