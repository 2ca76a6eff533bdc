/**
 * The distributor's configuration, declared once: the zod schema's output is the typed config.
 * Only main.ts and the claim CLI call `distributorConfigFromEnv`.
 */
import { z } from 'zod'
import type { TimeGrid } from '../../core/epochs/grid.ts'
import { type ArtifactStoreConfig, artifactStoreConfig } from '../../runtime/artifact-store.ts'
import {
  type Env,
  endpointsFromEnv,
  envDurationMs,
  envInt,
  gridFromEnv,
  parseConfig,
} from '../../runtime/config.ts'
import type { Endpoints } from '../../runtime/endpoints.ts'
import { verifySettingsFromEnv } from '../oracle/config.ts'
import type { ReplaySettings } from '../oracle/domain/replay.ts'

const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x-prefixed address')
const list = (item: z.ZodString) =>
  z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== ''),
    )
    .pipe(z.array(item))

export const FAILPOINTS = ['after-build', 'after-post'] as const
export type Failpoint = (typeof FAILPOINTS)[number]

const Schema = z.object({
  GRIDROOT_CONTRACTS_FILE: z
    .string()
    .min(1, 'the deployed contracts file is required (npm run deploy writes it)'),
  /**
   * The device registry: an epoch is funded only when every leaf of its device tree is a device
   * registered in the pool. Checked against the on-chain registry roots at start.
   */
  GRIDROOT_REGISTRY_FILE: z
    .string()
    .min(1, 'the device registry file is required (the oracle signs leaves of its devices)'),
  /** The publisher's key; on the local anvil, dev account 5 when unset. */
  GRIDROOT_DISTRIBUTOR_KEY: z
    .string()
    .regex(/^0x[0-9a-fA-F]{64}$/, 'must be a 0x-prefixed 32-byte private key')
    .optional(),
  /** Pools to distribute for (pool ids); all pools of the contracts file when empty. */
  GRIDROOT_DISTRIBUTOR_POOLS: list(z.string().regex(/^[a-z0-9-]{1,31}$/, 'must be a pool id')),
  /** Accounts that never hold a share besides the treasury and the distributor itself. */
  GRIDROOT_DISTRIBUTOR_EXCLUDE: list(address),
  GRIDROOT_DISTRIBUTOR_POLL: envDurationMs.default(2_000),
  /**
   * How long a sent publication waits for its receipt before the chain state decides again (a
   * transaction dropped by a reorg never gets one).
   */
  GRIDROOT_DISTRIBUTOR_RECEIPT_TIMEOUT: envDurationMs.default(60_000),
  /**
   * How long a final epoch may wait for its device tree or readings archive in the artifact
   * store before /healthz is 503 ARTIFACT_MISSING (it keeps looking at every poll).
   */
  GRIDROOT_DISTRIBUTOR_ARTIFACT_WAIT: envDurationMs.default(300_000),
  GRIDROOT_DISTRIBUTOR_LOG_RANGE_BLOCKS: envInt(1, 10_000_000).default(50_000),
  GRIDROOT_DISTRIBUTOR_METRICS_PORT: envInt(0, 65_535).default(9467),
  GRIDROOT_DISTRIBUTOR_METRICS_HOST: z.string().default('127.0.0.1'),
  /** Test only: stop (and wait to be killed) right after this step of the first publication. */
  GRIDROOT_DISTRIBUTOR_FAILPOINT: z.enum(FAILPOINTS).optional(),
})

export interface DistributorConfig {
  readonly endpoints: Endpoints
  readonly contractsFile: string
  readonly registryFile: string
  readonly publisherKey: `0x${string}` | undefined
  readonly pools: readonly string[]
  readonly excludedAccounts: readonly string[]
  readonly pollMs: number
  readonly receiptTimeoutMs: number
  readonly artifactWaitMs: number
  readonly logRangeBlocks: bigint
  readonly metricsPort: number
  readonly metricsHost: string
  /** The epoch grid; each pool's chain clock is read from its RevenueDistributor (epochClock). */
  readonly grid: TimeGrid
  readonly artifacts: ArtifactStoreConfig
  /**
   * What the archive audit recomputes leaves under: the aggregator's rules from its own parser
   * over the same GRIDROOT_AGG_* settings, and the tariff book file (GRIDROOT_TARIFFS_FILE; the
   * demo book when unset), as the aggregator, the signers and `verify` load them.
   */
  readonly audit: { readonly settings: ReplaySettings; readonly tariffsFile: string | undefined }
  readonly failpoint: Failpoint | undefined
}

export function distributorConfigFromEnv(env: Env): DistributorConfig {
  const c = parseConfig(Schema, env, 'distributor')
  const grid = gridFromEnv(env)
  return {
    endpoints: endpointsFromEnv(env),
    contractsFile: c.GRIDROOT_CONTRACTS_FILE,
    registryFile: c.GRIDROOT_REGISTRY_FILE,
    publisherKey: c.GRIDROOT_DISTRIBUTOR_KEY as `0x${string}` | undefined,
    pools: c.GRIDROOT_DISTRIBUTOR_POOLS,
    excludedAccounts: c.GRIDROOT_DISTRIBUTOR_EXCLUDE.map((a) => a.toLowerCase()),
    pollMs: c.GRIDROOT_DISTRIBUTOR_POLL,
    receiptTimeoutMs: c.GRIDROOT_DISTRIBUTOR_RECEIPT_TIMEOUT,
    artifactWaitMs: c.GRIDROOT_DISTRIBUTOR_ARTIFACT_WAIT,
    logRangeBlocks: BigInt(c.GRIDROOT_DISTRIBUTOR_LOG_RANGE_BLOCKS),
    metricsPort: c.GRIDROOT_DISTRIBUTOR_METRICS_PORT,
    metricsHost: c.GRIDROOT_DISTRIBUTOR_METRICS_HOST,
    grid,
    artifacts: artifactStoreConfig(env),
    audit: verifySettingsFromEnv(env),
    failpoint: c.GRIDROOT_DISTRIBUTOR_FAILPOINT,
  }
}

/**
 * What a holder's claim (npm run claim) needs: the chain, the contracts file and the artifact
 * store. Not the publisher's settings: a holder has no registry file and must not need one.
 */
export interface ClaimConfig {
  readonly endpoints: Endpoints
  readonly contractsFile: string
  readonly artifacts: ArtifactStoreConfig
}

const ClaimSchema = Schema.pick({ GRIDROOT_CONTRACTS_FILE: true })

export function claimConfigFromEnv(env: Env): ClaimConfig {
  const c = parseConfig(ClaimSchema, env, 'claim')
  return {
    endpoints: endpointsFromEnv(env),
    contractsFile: c.GRIDROOT_CONTRACTS_FILE,
    artifacts: artifactStoreConfig(env),
  }
}
