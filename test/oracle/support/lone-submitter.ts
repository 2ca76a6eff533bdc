/**
 * A real oracle submitter process with no signers beside it: against an anvil of the test's own
 * (tests that move its time, freeze or reset it) and the shared stack's Kafka, for a registry of
 * one charger in one pool. Shared by the submitter tests (health, foreign roots, chain reset).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Hex } from 'viem'
import { DEV_ACCOUNT_ROLES, devAccount } from '../../../contracts/deploy/dev-accounts.ts'
import { writeContractsFile } from '../../../runtime/contracts-file.ts'
import { ENDPOINT_ENV, type Endpoints, endpointsToEnv } from '../../../runtime/endpoints.ts'
import { createFleet } from '../../../simulators/fleet/fleet.ts'
import type { DedicatedAnvil } from '../../contracts/support/dedicated-anvil.ts'
import { contractsFileOf, type System } from '../../contracts/support/system.ts'
import { type ServiceProcess, startServiceProcess } from '../../support/service-process.ts'

export const devKey = (index: number): Hex =>
  `0x${Buffer.from(devAccount(index).getHdKey().privateKey as Uint8Array).toString('hex')}`

/** The registry of a one-charger fleet (its pool and device come from the seed). */
export function oneChargerRegistry(seed: string, startMs: number) {
  const registry = createFleet({ seed, chargers: 1, pv: 0, swap: 0, startMs, sampleMs: 300_000 }).registry()
  const first = registry.devices[0]
  if (!first) throw new Error('the one-charger fleet has no device')
  return { registry, pool: first.poolId, device: first.deviceId }
}

export interface LoneSubmitter {
  readonly process: ServiceProcess
  /** Holds contracts.json, registry.json and the artifact store. */
  readonly dir: string
  /** Stops the process and removes `dir` (the anvil is the caller's). */
  close(): Promise<void>
}

export async function startLoneSubmitter(options: {
  readonly name: string
  readonly startMs: number
  readonly endpoints: Endpoints
  readonly anvil: DedicatedAnvil
  readonly system: System
  readonly registry: ReturnType<typeof oneChargerRegistry>['registry']
  /** The oracle settings written to the contracts file (the system's deployment defaults when unset). */
  readonly oracle?: { readonly threshold: number; readonly challengeWindowSec: number }
  /** More settings of the submitter. */
  readonly env?: Readonly<Record<string, string>>
  /** Wait for /healthz 200 before returning (default); false for a submitter that starts 503. */
  readonly waitHealthy?: boolean
}): Promise<LoneSubmitter> {
  const { name, anvil } = options
  const dir = mkdtempSync(join(tmpdir(), `gridroot-${name}-`))
  writeContractsFile(join(dir, 'contracts.json'), contractsFileOf(options.system, [], options.oracle))
  writeFileSync(join(dir, 'registry.json'), JSON.stringify(options.registry))
  const process = await startServiceProcess(
    'services/oracle/main.ts',
    {
      ...endpointsToEnv(options.endpoints),
      [ENDPOINT_ENV.rpcUrl]: anvil.endpoint.rpcUrl,
      [ENDPOINT_ENV.chainId]: String(anvil.endpoint.chainId),
      GRIDROOT_KAFKA_TOPIC_PREFIX: `${name}.`,
      GRIDROOT_REGISTRY_FILE: join(dir, 'registry.json'),
      GRIDROOT_CONTRACTS_FILE: join(dir, 'contracts.json'),
      GRIDROOT_ARTIFACT_DIR: join(dir, 'artifacts'),
      GRIDROOT_EPOCH_GENESIS: new Date(options.startMs).toISOString(),
      GRIDROOT_ORACLE_POLL: '300ms',
      GRIDROOT_ORACLE_ROLE: 'submitter',
      GRIDROOT_ORACLE_INSTANCE: `${name}-submitter`,
      GRIDROOT_ORACLE_SUBMITTER_KEY: devKey(DEV_ACCOUNT_ROLES.publisher),
      ...options.env,
    },
    'GRIDROOT_ORACLE_METRICS_PORT',
  )
  if (options.waitHealthy !== false) await process.waitHealthy()
  return {
    process,
    dir,
    async close() {
      await process.kill('SIGTERM')
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
