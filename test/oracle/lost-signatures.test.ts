/**
 * A submitter that starts after the signers ran further ahead of the chain than its book keeps
 * (GRIDROOT_ORACLE_EPOCHS_AHEAD=1 here, 64 by default) refuses most signatures as
 * EPOCH_TOO_FAR, and the signers never sign those epochs again on their own. Before the
 * signers re-published what the chain waits on (services/oracle/domain/resign.ts), the pool
 * waited on epoch 2 for good. Real stack: fleet → ingest → aggregator → three signer processes
 * → oracle.signatures.v1 → submitter → RevenueOracle on an anvil of the test's own.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Hex } from 'viem'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { revenueOracleAbi } from '../../contracts/abi/index.ts'
import { DEV_ACCOUNT_ROLES, devAccount } from '../../contracts/deploy/dev-accounts.ts'
import { parseRegistry } from '../../core/identity/registry.ts'
import { writeContractsFile } from '../../runtime/contracts-file.ts'
import { ENDPOINT_ENV, endpointsToEnv } from '../../runtime/endpoints.ts'
import { createOracleChain } from '../../services/oracle/adapters/chain.ts'
import { createFleet } from '../../simulators/fleet/fleet.ts'
import { startDedicatedAnvil } from '../contracts/support/dedicated-anvil.ts'
import { commitRegistryRoots } from '../contracts/support/device-epoch.ts'
import { contractsFileOf, deploySystem, exec, poolIdHex, type System } from '../contracts/support/system.ts'
import { createHarness, type Harness } from '../support/pipeline-harness.ts'
import { type ServiceProcess, startServiceProcess } from '../support/service-process.ts'

const endpoints = inject('endpoints')
const START = Date.parse('2026-06-01T00:00:00+08:00')
const HOUR = 3_600_000
const grid = { genesisMs: START, epochLengthMs: HOUR, intervalMs: 300_000 }
const fleetSpec = { chargers: 2, pv: 2, swap: 2, startMs: START, sampleMs: 300_000 }
const SEED = 'oracle-lost-signatures'
const name = `ol${Date.now().toString(36)}`
const LAST_EPOCH = 3
const EPOCHS_AHEAD = 1
const WINDOW_SEC = 3_600
const keyOf = (index: number): Hex =>
  `0x${Buffer.from(devAccount(index).getHdKey().privateKey as Uint8Array).toString('hex')}`

let anvil: Awaited<ReturnType<typeof startDedicatedAnvil>>
let system: System
let harness: Harness
let dir: string
let oracleEnv: Record<string, string>
const processes: ServiceProcess[] = []
const signers: ServiceProcess[] = []
let submitter: ServiceProcess
const registry = parseRegistry(createFleet({ ...fleetSpec, seed: SEED }).registry())
const pools = [...new Set([...registry.devices()].map((d) => d.poolId))].sort()
/** Per pool, the epochs in the order they were finalized (seen by polling the chain). */
const finalizedOrder = new Map<string, number[]>(pools.map((p) => [p, []]))

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
const chain = () =>
  createOracleChain({ endpoint: anvil.endpoint, oracle: system.contracts.revenueOracle, fromBlock: 0n })
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

beforeAll(async () => {
  anvil = await startDedicatedAnvil('oracle-lost')
  system = await deploySystem(anvil.endpoint, { threshold: 2, challengeWindowSec: WINDOW_SEC })
  for (const poolId of pools)
    await exec(system, system.deployer.walletClient as never, {
      address: system.contracts.revenueOracle,
      abi: revenueOracleAbi,
      functionName: 'addPool',
      args: [poolIdHex(poolId), 0n],
    })
  // The signers and the guardian refuse a registry the chain does not commit.
  await commitRegistryRoots(system, registry.devices())
  dir = mkdtempSync(join(tmpdir(), `gridroot-${name}-`))
  const contractsFile = contractsFileOf(system, [], { threshold: 2, challengeWindowSec: WINDOW_SEC })
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
    durationMs: (LAST_EPOCH + 2) * HOUR,
    scenario: { faults: {} },
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
    GRIDROOT_ORACLE_RESIGN_INTERVAL: '1s',
    GRIDROOT_ORACLE_EPOCHS_AHEAD: String(EPOCHS_AHEAD),
  }

  await harness.startIngest()
  await harness.startAggregator()
  const signerSources = ['influx', 'replay', 'replay']
  for (const [i, index] of DEV_ACCOUNT_ROLES.oracleSigners.entries())
    signers.push(
      await startOracle('signer', {
        GRIDROOT_ORACLE_INSTANCE: `${name}-signer-${i + 1}`,
        GRIDROOT_ORACLE_SOURCE: signerSources[i] as string,
        GRIDROOT_ORACLE_SIGNER_KEY: keyOf(index),
      }),
    )
  await harness.publish()

  // The signers sign epochs 0..LAST_EPOCH of every pool before any submitter runs.
  const signedAll = async () => {
    for (const s of signers)
      for (const pool of pools)
        if (!((await s.metric('gridroot_oracle_signatures_total', { pool })) >= LAST_EPOCH + 1)) return false
    return true
  }
  for (let deadline = Date.now() + 240_000; Date.now() < deadline && !(await signedAll()); ) await sleep(500)

  submitter = await startOracle('submitter', {
    GRIDROOT_ORACLE_INSTANCE: `${name}-submitter`,
    GRIDROOT_ORACLE_SUBMITTER_KEY: keyOf(DEV_ACCOUNT_ROLES.publisher),
  })

  // Drive chain time past each challenge window; note the order epochs become final in.
  const c = chain()
  for (let deadline = Date.now() + 240_000; Date.now() < deadline; ) {
    let done = true
    for (const poolId of pools) {
      const pool = await c.pool(poolId)
      const order = finalizedOrder.get(poolId) as number[]
      for (let e = (order.at(-1) ?? -1) + 1; pool && e < pool.nextEpoch; e++) order.push(e)
      if (!pool || pool.nextEpoch > LAST_EPOCH) continue
      done = false
      if ((await c.epochRecord(poolId, pool.nextEpoch)).status !== 'pending') continue
      await system.testClient.increaseTime({ seconds: WINDOW_SEC + 1 })
      await system.testClient.mine({ blocks: 1 })
    }
    if (done) break
    await sleep(300)
  }
}, 600_000)

afterAll(async () => {
  for (const p of processes) await p.kill('SIGTERM')
  await harness?.close()
  await anvil?.stop()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('oracle with a submitter far behind the signers', () => {
  it('signed every epoch before the submitter started, which refused those beyond its window', async () => {
    for (const s of signers)
      for (const pool of pools)
        expect(await s.metric('gridroot_oracle_signatures_total', { pool })).toBeGreaterThanOrEqual(
          LAST_EPOCH + 1,
        )
    expect(submitter.output()).toContain('EPOCH_TOO_FAR')
  })

  it('still finalizes every epoch of every pool, in order', async () => {
    const c = chain()
    const logs = processes.map((p) => p.output()).join('\n')
    for (const poolId of pools) {
      expect((await c.pool(poolId))?.nextEpoch, `${poolId}\n${logs.slice(-4000)}`).toBeGreaterThan(LAST_EPOCH)
      expect(finalizedOrder.get(poolId)?.slice(0, LAST_EPOCH + 1)).toEqual([0, 1, 2, 3])
      for (let epoch = 0; epoch <= LAST_EPOCH; epoch++)
        expect((await c.epochRecord(poolId, epoch)).status, `${poolId}/${epoch}`).toBe('final')
    }
    expect(await submitter.metric('gridroot_oracle_signatures_missing', { pool: pools[0] as string })).toBe(0)
    let republished = 0
    for (const s of signers)
      for (const pool of pools)
        republished += (await s.metric('gridroot_oracle_signatures_republished_total', { pool })) || 0
    expect(republished).toBeGreaterThan(0)
  })
})
