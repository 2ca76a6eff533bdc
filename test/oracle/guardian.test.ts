/**
 * The oracle guardian on the real stack (issue 10): fleet → Mosquitto → ingest → Kafka →
 * aggregator → InfluxDB and epochs.v1 → three signer processes → oracle.signatures.v1 →
 * submitter → RevenueOracle on an anvil of the test's own, with a guardian process beside them.
 *
 * The attack it stops: two compromised signer keys propose a forged, self-consistent tree (its
 * own tree and archive in the artifact store, hashes and sums matching them) and, once the
 * challenge window has passed, anyone finalizes it. Here the test is that attacker: after the
 * signers signed epoch 0 and before the submitter runs, it proposes a forgery for pool A with
 * signer keys 1 and 2, and tries to finalize it as soon as chain time allows. The guardian must
 * reject it within the window (real time, 180 s: nothing moves the chain clock until the
 * forgeries are settled); its artifacts are in the store and its archive does not back its tree,
 * so the fast path rejects it (ARCHIVE_AUDIT_FAILED) without the replay. For pools B and C the
 * guardian is SIGKILLed first, the forgeries are proposed while it is down, and the guardian
 * started again (from its checkpoint) must still reject them: C's (artifacts published) by the fast
 * path at once, before its replay of telemetry.v1 has caught up (attack10 F3: a restarted guardian
 * took 43 s to replay npm start's topic while the window was 20 s), B's (artifacts never
 * published, so only the replay can tell) ROOT_MISMATCH once the replay has caught up.
 * Then the submitter runs: it proposes the signers' attempt 1 for A, B and C,
 * the guardian accepts each (the test passes a window only once the guardian said so), and every
 * pool epoch goes final with the signers' root. Without a guardian the attacker's finalize
 * succeeds and the first test fails.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Hex } from 'viem'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { revenueOracleAbi } from '../../contracts/abi/index.ts'
import { ROLE } from '../../contracts/deploy/deploy-core.ts'
import { DEV_ACCOUNT_ROLES, devAccount } from '../../contracts/deploy/dev-accounts.ts'
import type { EpochRootProposal } from '../../core/chain/epoch-root-typed-data.ts'
import { parseRegistry } from '../../core/identity/registry.ts'
import { buildDeviceTree, type DeviceLeaf, serializeTree } from '../../core/merkle/index.ts'
import { createFileArtifactStore } from '../../runtime/artifact-store.ts'
import { writeContractsFile } from '../../runtime/contracts-file.ts'
import { ENDPOINT_ENV, endpointsToEnv } from '../../runtime/endpoints.ts'
import { createOracleChain } from '../../services/oracle/adapters/chain.ts'
import { encodeArchive } from '../../services/oracle/domain/archive.ts'
import { reasonFromCode } from '../../services/oracle/domain/guardian-verdict.ts'
import { contentHash } from '../../services/oracle/domain/pool-epoch.ts'
import { createFleet } from '../../simulators/fleet/fleet.ts'
import { startDedicatedAnvil } from '../contracts/support/dedicated-anvil.ts'
import { commitRegistryRoots } from '../contracts/support/device-epoch.ts'
import { signProposal } from '../contracts/support/oracle.ts'
import { contractsFileOf, deploySystem, exec, poolIdHex, type System } from '../contracts/support/system.ts'
import { createHarness, type Harness } from '../support/pipeline-harness.ts'
import { type ServiceProcess, startServiceProcess } from '../support/service-process.ts'

const endpoints = inject('endpoints')
const START = Date.parse('2026-06-01T08:00:00+08:00')
const HOUR = 3_600_000
const grid = { genesisMs: START, epochLengthMs: HOUR, intervalMs: 300_000 }
const fleetSpec = { chargers: 2, pv: 2, swap: 2, startMs: START, sampleMs: 300_000 }
const SEED = 'oracle-guardian'
const name = `og${Date.now().toString(36)}`
const LAST_EPOCH = 1
/** Real seconds: the guardian (restarted once, replaying telemetry.v1 again) acts within them. */
const WINDOW_SEC = 180
const ATTACKER = 12
const keyOf = (index: number): Hex =>
  `0x${Buffer.from(devAccount(index).getHdKey().privateKey as Uint8Array).toString('hex')}`
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

let anvil: Awaited<ReturnType<typeof startDedicatedAnvil>>
let system: System
let harness: Harness
let dir: string
let oracleEnv: Record<string, string>
const processes: ServiceProcess[] = []
const signers: ServiceProcess[] = []
let guardian: ServiceProcess
let submitter: ServiceProcess | undefined
const registry = parseRegistry(createFleet({ ...fleetSpec, seed: SEED }).registry())
const pools = [...new Set([...registry.devices()].map((d) => d.poolId))].sort()
const [POOL_A, POOL_B, POOL_C] = pools as [string, string, string]
/** What the attacker proposed, per pool. */
const forged = new Map<string, EpochRootProposal>()
let attacker: { stop: () => void; done: Promise<string[]> } | undefined

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
const startGuardian = () =>
  startOracle('guardian', {
    GRIDROOT_ORACLE_INSTANCE: `${name}-guardian`,
    GRIDROOT_ORACLE_GUARDIAN_KEY: keyOf(DEV_ACCOUNT_ROLES.guardian),
    GRIDROOT_ORACLE_GUARDIAN_CHECKPOINT: join(dir, 'guardian-checkpoint.json'),
  })
const chain = () =>
  createOracleChain({ endpoint: anvil.endpoint, oracle: system.contracts.revenueOracle, fromBlock: 0n })
const health = async (p: ServiceProcess) => {
  const res = await fetch(`http://127.0.0.1:${p.metricsPort}/healthz`)
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}
async function until<T>(what: string, read: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const started = Date.now()
  while (Date.now() - started < timeoutMs) {
    const value = await read().catch(() => undefined)
    if (value !== undefined) return value
    await sleep(300)
  }
  throw new Error(`timed out waiting for ${what}\n${guardian?.output().slice(-6000)}`)
}
const rejections = async () =>
  (
    await system.publicClient.getContractEvents({
      address: system.contracts.revenueOracle,
      abi: revenueOracleAbi,
      eventName: 'EpochRejected',
      fromBlock: 0n,
    })
  ).map(
    (l) =>
      l as unknown as {
        blockNumber: bigint
        args: { poolId: Hex; epoch: bigint; attempt: number; root: Hex; guardian: Hex; reason: Hex }
      },
  )

/**
 * A forged pool epoch 0, self-consistent: every registered device of the pool gets a leaf paying
 * `revenueUnits`; the tree and an (empty) archive go into the store when `publish`.
 */
async function forge(poolId: string, revenueUnits: bigint, publish: boolean): Promise<EpochRootProposal> {
  const leaves: DeviceLeaf[] = [...registry.devices()]
    .filter((d) => d.poolId === poolId)
    .map((d, i) => ({
      poolId,
      epoch: 0,
      deviceId: d.deviceId,
      energyWh: 50_000n + BigInt(i),
      revenueUnits,
      readings: 12,
      readingsDigest: `0x${String(i + 1)
        .repeat(64)
        .slice(0, 64)}` as Hex,
    }))
  const tree = buildDeviceTree(leaves)
  const treeBytes = serializeTree(tree)
  const archiveBytes = encodeArchive(poolId, 0, [], [])
  if (publish) {
    const store = createFileArtifactStore({ dir: join(dir, 'artifacts') })
    await store.put(treeBytes)
    await store.put(archiveBytes)
  }
  return {
    poolId: poolIdHex(poolId),
    epoch: 0n,
    root: tree.root,
    revenueUnits: leaves.reduce((s, l) => s + l.revenueUnits, 0n),
    energyWh: leaves.reduce((s, l) => s + BigInt(l.energyWh), 0n),
    leafCount: leaves.length,
    treeHash: contentHash(treeBytes),
    archiveHash: contentHash(archiveBytes),
  }
}

/** Signer keys 1 and 2 sign the forgery; an outsider proposes it. */
async function proposeForged(p: EpochRootProposal) {
  const signatures = await signProposal(system, system.signers.slice(0, 2), p)
  await exec(system, system.wallet(ATTACKER), {
    address: system.contracts.revenueOracle,
    abi: revenueOracleAbi,
    functionName: 'propose',
    args: [p, signatures],
  })
}

/**
 * The attacker's second half: for every forged pool still pending, `finalize` as soon as the
 * chain's time is past its window. Returns the pools it finalized.
 */
function startAttacker(): { stop: () => void; done: Promise<string[]> } {
  let running = true
  const finalized: string[] = []
  const done = (async () => {
    while (running) {
      for (const poolId of forged.keys()) {
        const record = await chain().epochRecord(poolId, 0)
        if (record.status !== 'pending' || record.attempt !== 0) continue
        const now = (await system.publicClient.getBlock()).timestamp
        if (BigInt(Math.floor(Date.now() / 1000)) < record.finalizesAtSec && now < record.finalizesAtSec)
          continue
        try {
          // A quiet anvil mines no blocks: one at the wall clock, so the call sees the window passed
          // (on a live chain any transaction would do this).
          await system.testClient.mine({ blocks: 1 })
          await exec(system, system.wallet(ATTACKER), {
            address: system.contracts.revenueOracle,
            abi: revenueOracleAbi,
            functionName: 'finalize',
            args: [poolIdHex(poolId), 0n],
          })
          finalized.push(poolId)
        } catch {
          // Not yet past the window by block time, or rejected meanwhile.
        }
      }
      await sleep(500)
    }
    return finalized
  })()
  return {
    stop: () => {
      running = false
    },
    done,
  }
}

beforeAll(async () => {
  anvil = await startDedicatedAnvil('oracle-guardian')
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
  writeContractsFile(
    join(dir, 'contracts.json'),
    contractsFileOf(system, [], { threshold: 2, challengeWindowSec: WINDOW_SEC }),
  )
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
    scenario: { faults: { duplicate: 0.02, replay: 0.01 } },
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
  await harness.startIngest()
  await harness.startAggregator()
  const sources = ['influx', 'replay', 'replay']
  for (const [i, index] of DEV_ACCOUNT_ROLES.oracleSigners.entries())
    signers.push(
      await startOracle('signer', {
        GRIDROOT_ORACLE_INSTANCE: `${name}-signer-${i + 1}`,
        GRIDROOT_ORACLE_SOURCE: sources[i] as string,
        GRIDROOT_ORACLE_SIGNER_KEY: keyOf(index),
      }),
    )
  guardian = await startGuardian()
  await harness.publish()
  // Every signer signed epoch 0 of every pool before the attacker proposes: it keeps that
  // signature and signs it again for attempt 1 once the forgery is rejected.
  await until(
    'the signers to sign epoch 0 of every pool',
    async () => {
      for (const s of signers)
        for (const pool of pools)
          if (!((await s.metric('gridroot_oracle_signatures_total', { pool })) >= 1)) return undefined
      return true
    },
    240_000,
  )
}, 400_000)

afterAll(async () => {
  attacker?.stop()
  for (const p of processes) await p.kill('SIGTERM')
  await harness?.close()
  await anvil?.stop()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('the oracle guardian', () => {
  it('rejects a forged, self-consistent root proposed with two signer keys within its window', {
    timeout: 300_000,
  }, async () => {
    // The deployment made the dev guardian account (dev-wallet.ts "guardian") a GUARDIAN_ROLE holder.
    expect(
      await system.publicClient.readContract({
        address: system.contracts.revenueOracle,
        abi: revenueOracleAbi,
        functionName: 'hasRole',
        args: [ROLE.guardian, devAccount(DEV_ACCOUNT_ROLES.guardian).address],
      }),
    ).toBe(true)
    expect((await health(guardian)).body).toMatchObject({ role: 'guardian', hasGuardianRole: true })

    const p = await forge(POOL_A, 10n ** 12n, true)
    forged.set(POOL_A, p)
    await proposeForged(p)
    attacker = startAttacker()
    const record = await until(
      'pool A epoch 0 to be rejected or finalized',
      async () => {
        const r = await chain().epochRecord(POOL_A, 0)
        return r.status === 'pending' ? undefined : r
      },
      (WINDOW_SEC + 60) * 1000,
    )
    expect(record, guardian.output().slice(-4000)).toMatchObject({ status: 'rejected', attempt: 1 })
    const [rejected] = await rejections()
    expect(rejected?.args).toMatchObject({
      poolId: poolIdHex(POOL_A),
      epoch: 0n,
      attempt: 0,
      root: p.root,
      guardian: devAccount(DEV_ACCOUNT_ROLES.guardian).address,
    })
    // The fast path: the empty archive recomputes none of the tree's leaves.
    expect(reasonFromCode(rejected?.args.reason as Hex)).toBe('ARCHIVE_AUDIT_FAILED')
    // Within the window: mined before the proposal could be finalized.
    const minedAt = (await system.publicClient.getBlock({ blockNumber: rejected?.blockNumber as bigint }))
      .timestamp
    const proposedAt = (await system.publicClient.getContractEvents({
      address: system.contracts.revenueOracle,
      abi: revenueOracleAbi,
      eventName: 'EpochProposed',
      fromBlock: 0n,
    })) as unknown as { args: { finalizesAt: bigint } }[]
    expect(minedAt).toBeLessThan(proposedAt[0]?.args.finalizesAt as bigint)
    expect(
      await guardian.metric('gridroot_oracle_guardian_rejections_total', {
        pool: POOL_A,
        reason: 'ARCHIVE_AUDIT_FAILED',
      }),
    ).toBe(1)
    expect(guardian.output()).toContain('(fast path); rejecting it')
    expect((await health(guardian)).status).toBe(200)
  })

  it('rejects forgeries proposed while it was down, once restarted from its checkpoint, within the window', {
    timeout: 400_000,
  }, async () => {
    // The first guardian has checkpointed; it is killed, the forgeries go in, and a new guardian
    // process must find them from the checkpoint.
    await until(
      'a guardian checkpoint',
      async () => existsSync(join(dir, 'guardian-checkpoint.json')) || undefined,
      30_000,
    )
    await guardian.kill('SIGKILL')
    const p = await forge(POOL_B, 7n * 10n ** 11n, false)
    forged.set(POOL_B, p)
    await proposeForged(p)
    const c = await forge(POOL_C, 3n * 10n ** 11n, true)
    forged.set(POOL_C, c)
    await proposeForged(c)
    guardian = await startGuardian()
    expect((await health(guardian)).body.scan).toMatchObject({ resumedFromCheckpoint: true })
    // C is rejected by the fast path, which needs no replay: the reason says so, and the old
    // guardian (replay only) rejected it ROOT_MISMATCH, minutes late on a long topic.
    await until(
      'pool C epoch 0 to be rejected or finalized',
      async () => ((await chain().epochRecord(POOL_C, 0)).status === 'pending' ? undefined : true),
      (WINDOW_SEC + 60) * 1000,
    )
    const rejectedC = (await rejections()).find((r) => r.args.poolId === poolIdHex(POOL_C))
    expect(reasonFromCode(rejectedC?.args.reason as Hex), guardian.output().slice(-4000)).toBe(
      'ARCHIVE_AUDIT_FAILED',
    )
    // /healthz names the replay's progress (not the chain) and answers while it runs.
    expect((await health(guardian)).body.replay).toHaveProperty('caughtUp')
    const record = await until(
      'pool B epoch 0 to be rejected or finalized',
      async () => {
        const r = await chain().epochRecord(POOL_B, 0)
        return r.status === 'pending' ? undefined : r
      },
      (WINDOW_SEC + 60) * 1000,
    )
    expect(record, guardian.output().slice(-4000)).toMatchObject({ status: 'rejected', attempt: 1 })
    const b = (await rejections()).find((r) => r.args.poolId === poolIdHex(POOL_B))
    expect(reasonFromCode(b?.args.reason as Hex)).toBe('ROOT_MISMATCH')
    expect(
      await guardian.metric('gridroot_oracle_guardian_rejections_total', {
        pool: POOL_B,
        reason: 'ROOT_MISMATCH',
      }),
    ).toBe(1)
    attacker?.stop()
    expect(await attacker?.done).toEqual([])
  })

  it('lets the signers’ attempt 1 and every genuine root go final, rejecting none of them', {
    timeout: 400_000,
  }, async () => {
    submitter = await startOracle('submitter', {
      GRIDROOT_ORACLE_INSTANCE: `${name}-submitter`,
      GRIDROOT_ORACLE_SUBMITTER_KEY: keyOf(DEV_ACCOUNT_ROLES.publisher),
    })
    const c = chain()
    const accepted = async (poolId: string, epoch: number, attempt: number) => {
      const decisions = (await health(guardian)).body.decisions as {
        poolId: string
        epoch: number
        attempt: number
        decision: string
      }[]
      return decisions.some(
        (d) => d.poolId === poolId && d.epoch === epoch && d.attempt === attempt && d.decision === 'accept',
      )
    }
    const deadline = Date.now() + 300_000
    while (Date.now() < deadline) {
      let done = true
      for (const poolId of pools) {
        const pool = await c.pool(poolId)
        if (!pool || pool.nextEpoch > LAST_EPOCH) continue
        done = false
        const record = await c.epochRecord(poolId, pool.nextEpoch)
        // The window is passed only once the guardian checked the pending root and let it be.
        if (record.status !== 'pending' || !(await accepted(poolId, pool.nextEpoch, record.attempt))) continue
        await system.testClient.increaseTime({ seconds: WINDOW_SEC + 1 })
        await system.testClient.mine({ blocks: 1 })
      }
      if (done) break
      await sleep(500)
    }
    const logs = [guardian, submitter].map((p) => p.output().slice(-3000)).join('\n')
    for (const poolId of pools) {
      expect(
        (await c.pool(poolId))?.nextEpoch,
        `${poolId} final through ${LAST_EPOCH}\n${logs}`,
      ).toBeGreaterThan(LAST_EPOCH)
      const first = await c.epochRecord(poolId, 0)
      expect(first).toMatchObject({ status: 'final', attempt: forged.has(poolId) ? 1 : 0 })
      expect(first.root).not.toBe(forged.get(poolId)?.root)
    }
    // Only the three forgeries were ever rejected; the guardian is healthy.
    expect(
      (await rejections())
        .map(
          (r) =>
            `${poolIdHex(POOL_A) === r.args.poolId ? 'A' : poolIdHex(POOL_B) === r.args.poolId ? 'B' : 'C'} ${reasonFromCode(r.args.reason)}`,
        )
        .sort(),
    ).toEqual(['A ARCHIVE_AUDIT_FAILED', 'B ROOT_MISMATCH', 'C ARCHIVE_AUDIT_FAILED'])
    const h = await health(guardian)
    expect(h.status, JSON.stringify(h.body)).toBe(200)
  })
})
