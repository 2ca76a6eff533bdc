/**
 * The auditor tests' chain and artifacts: a replayed fleet's pool epochs built as the oracle
 * builds them (buildPoolEpoch), their tree and readings archive published in a file artifact
 * store, and their proposals put into RevenueOracle on an anvil of the caller's own (challenge
 * windows are passed by moving its clock) in the state each plan asks for: final, pending, or
 * rejected by the guardian. Shared by the inject tests (auditor-chain.test.ts) and the browser
 * test (auditor-browser.test.ts), which runs the API as its own process on the same chain and
 * store (`contractsFile`, `registryFile`, `artifactDir`).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { revenueOracleAbi } from '../../contracts/abi/index.ts'
import { type DeviceRegistry, indexRegistry } from '../../core/identity/registry.ts'
import { createFileArtifactStore } from '../../runtime/artifact-store.ts'
import { writeContractsFile } from '../../runtime/contracts-file.ts'
import { createOracleChain, toContractProposal } from '../../services/oracle/adapters/chain.ts'
import { runFleet } from '../../services/oracle/domain/fleet-replay.fixture.ts'
import { buildPoolEpoch, isProblem, type PoolEpochBuild } from '../../services/oracle/domain/pool-epoch.ts'
import { type DedicatedAnvil, startDedicatedAnvil } from '../contracts/support/dedicated-anvil.ts'
import { addPool, finalizeEpoch, propose, signProposal } from '../contracts/support/oracle.ts'
import { contractsFileOf, deploySystem, exec, poolIdHex, type System } from '../contracts/support/system.ts'

/** The replay's grid (fleet-replay.fixture.ts): what the API process must be configured with. */
export { grid as AUDIT_GRID } from '../../services/oracle/domain/fleet-replay.fixture.ts'

export const AUDIT_CHALLENGE_WINDOW_SEC = 60

/** The replayed fleet (9 devices, 4 hours, three pools): deterministic, so built once per test file. */
const fleet = runFleet({})
export const auditRegistry: DeviceRegistry = indexRegistry([...fleet.registry.values()])
/** A pool's device ids, in registry order. */
export const auditDevicesOf = (poolId: string): string[] =>
  [...auditRegistry.devices()].filter((d) => d.poolId === poolId).map((d) => d.deviceId)

/** One pool epoch to put on-chain. */
export interface AuditEpochPlan {
  readonly poolId: string
  readonly epoch: number
  readonly state: 'final' | 'pending' | 'rejected'
  /** A device whose leaf the tree leaves out. */
  readonly leaveOut?: string
  /**
   * Publish the tree and archive in the store (default: for final epochs only). False on a final
   * epoch leaves the chain naming bytes nobody has. (Pools without earning devices build the same
   * empty tree each epoch, so storing a later epoch's would also store an earlier one's.)
   */
  readonly stored?: boolean
}

export interface AuditChain {
  readonly anvil: DedicatedAnvil
  readonly system: System
  readonly registry: DeviceRegistry
  /** The replay (aggregator rules) the epochs were built from. */
  readonly replay: typeof fleet.replay
  /** The simulator's ground truth per device epoch (its own ledger, not the replay). */
  readonly truth: typeof fleet.truth
  readonly store: ReturnType<typeof createFileArtifactStore>
  /** Builds by `${poolId}/${epoch}`. */
  readonly built: ReadonlyMap<string, PoolEpochBuild>
  readonly chain: ReturnType<typeof createOracleChain>
  /** Files for an API process on this chain and store. */
  readonly contractsFile: string
  readonly registryFile: string
  readonly artifactDir: string
  stop(): Promise<void>
}

export async function startAuditChain(name: string, plans: readonly AuditEpochPlan[]): Promise<AuditChain> {
  const { replay, truth, registry: records } = fleet
  const anvil = await startDedicatedAnvil(name)
  const dir = mkdtempSync(join(tmpdir(), `gridroot-${name}-`))
  try {
    const system = await deploySystem(anvil.endpoint, { challengeWindowSec: AUDIT_CHALLENGE_WINDOW_SEC })
    const artifactDir = join(dir, 'artifacts')
    const store = createFileArtifactStore({ dir: artifactDir })
    const built = new Map<string, PoolEpochBuild>()
    for (const poolId of [...new Set(plans.map((p) => p.poolId))])
      await addPool(system, poolIdHex(poolId), 0n)
    // In plan order: RevenueOracle takes a pool's epochs one after the other.
    for (const plan of plans) {
      const totals = replay.epochResults(plan.epoch).filter((t) => t.deviceId !== plan.leaveOut)
      const b = buildPoolEpoch(
        plan.poolId,
        plan.epoch,
        0,
        totals,
        (d) => replay.paidReadings(plan.epoch, d),
        replay,
      )
      if (isProblem(b)) throw new Error(b.detail)
      built.set(`${plan.poolId}/${plan.epoch}`, b)
      if (plan.stored ?? plan.state === 'final') {
        await store.put(b.treeBytes)
        await store.put(b.archiveBytes)
      }
      const proposal = toContractProposal(b.proposal)
      if (plan.state === 'final') {
        await finalizeEpoch(system, proposal)
        continue
      }
      await propose(system, proposal, await signProposal(system, system.signers.slice(0, 2), proposal))
      if (plan.state === 'rejected')
        await exec(system, system.guardian as never, {
          address: system.contracts.revenueOracle,
          abi: revenueOracleAbi,
          functionName: 'reject',
          args: [
            poolIdHex(plan.poolId),
            BigInt(plan.epoch),
            `0x${Buffer.from('AUDIT_TEST').toString('hex').padEnd(64, '0')}`,
          ],
        })
    }
    const contractsFile = join(dir, 'contracts.json')
    writeContractsFile(
      contractsFile,
      contractsFileOf(system, [], { threshold: 2, challengeWindowSec: AUDIT_CHALLENGE_WINDOW_SEC }),
    )
    const registryFile = join(dir, 'registry.json')
    writeFileSync(registryFile, JSON.stringify({ version: 1, devices: [...records.values()] }))
    return {
      anvil,
      system,
      registry: auditRegistry,
      replay,
      truth,
      store,
      built,
      chain: createOracleChain({
        endpoint: anvil.endpoint,
        oracle: system.contracts.revenueOracle,
        fromBlock: 0n,
      }),
      contractsFile,
      registryFile,
      artifactDir,
      async stop() {
        await anvil.stop()
        rmSync(dir, { recursive: true, force: true })
      },
    }
  } catch (error) {
    await anvil.stop()
    rmSync(dir, { recursive: true, force: true })
    throw error
  }
}
