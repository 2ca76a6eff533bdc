/** The oracle's configuration, from the environment, validated once (see .env.example). */
import { hostname } from 'node:os'
import { dirname, join } from 'node:path'
import { z } from 'zod'
import type { TimeGrid } from '../../core/epochs/grid.ts'
import type { TopicSet } from '../../core/kafka/topics.ts'
import { type ArtifactStoreConfig, artifactStoreConfig } from '../../runtime/artifact-store.ts'
import {
  type Env,
  endpointsFromEnv,
  envDurationMs,
  gridFromEnv,
  parseConfig,
  topicsFromEnv,
} from '../../runtime/config.ts'
import type { Endpoints } from '../../runtime/endpoints.ts'
import { loadTariffBook } from '../../runtime/tariffs-file.ts'
import { aggregatorConfigFromEnv } from '../aggregator/config.ts'
import type { LeafRules } from './domain/leaf-recompute.ts'
import type { ReplaySettings } from './domain/replay.ts'
import { type AcknowledgedRoot, parseAcknowledgedRoots } from './domain/unsigned-final.ts'

const privateKey = z
  .string()
  .regex(/^0x[0-9a-fA-F]{64}$/, 'must be a 32-byte private key, 0x-prefixed hex')
  .transform((v) => v as `0x${string}`)

const OracleEnvSchema = z.object({
  GRIDROOT_ORACLE_ROLE: z.enum(['signer', 'submitter', 'guardian']),
  GRIDROOT_ORACLE_INSTANCE: z
    .string()
    .min(1)
    .default(`oracle-${hostname().slice(0, 20)}`),
  /** signer: where the per-device totals come from. */
  GRIDROOT_ORACLE_SOURCE: z.enum(['influx', 'replay']).default('influx'),
  GRIDROOT_ORACLE_SIGNER_KEY: privateKey.optional(),
  GRIDROOT_ORACLE_SUBMITTER_KEY: privateKey.optional(),
  /** guardian: the key of a GUARDIAN_ROLE account of RevenueOracle (it sends `reject`). */
  GRIDROOT_ORACLE_GUARDIAN_KEY: privateKey.optional(),
  /** guardian: its checkpoint file (default: `guardian/<instance>.checkpoint.json` beside the artifact folder). */
  GRIDROOT_ORACLE_GUARDIAN_CHECKPOINT: z.string().min(1).optional(),
  GRIDROOT_ORACLE_POLL: envDurationMs.default(1_000),
  /** How long a signer waits for its source to have an announced epoch before refusing. */
  GRIDROOT_ORACLE_SOURCE_TIMEOUT: envDurationMs.default(120_000),
  /** signer: how often a signature the chain still waits on is published again. */
  GRIDROOT_ORACLE_RESIGN_INTERVAL: envDurationMs.default(30_000),
  /** submitter: epochs beyond the chain's next one its signature book keeps. */
  GRIDROOT_ORACLE_EPOCHS_AHEAD: z.coerce.number().int().min(1).max(10_000).default(64),
  /** submitter: a pool waiting longer than this on signatures while later epochs are signed is unhealthy. */
  GRIDROOT_ORACLE_SIGNATURES_STALL: envDurationMs.default(300_000),
  /** submitter: final unsigned roots an operator looked at, `pool/epoch/root,…` (domain/unsigned-final.ts). */
  GRIDROOT_ORACLE_ACKNOWLEDGED_ROOTS: z
    .string()
    .default('')
    .transform((v, ctx) => {
      const parsed = parseAcknowledgedRoots(v)
      if (parsed.ok) return parsed.roots
      ctx.addIssue({ code: 'custom', message: `"${parsed.entry}" is not pool/epoch/0x<32-byte root>` })
      return z.NEVER
    }),
  /** Blocks past its first sight as final before what was signed for an epoch is forgotten (domain/final-retention.ts). */
  GRIDROOT_ORACLE_FINAL_DEPTH: z.coerce.number().int().min(0).max(1_000_000).default(64),
  /**
   * A Kafka reader out of its group, crashed, or with no fetch answered (or records unread and
   * no batch handled) this long makes /healthz fail (core/kafka/consumer-watch.ts).
   */
  GRIDROOT_ORACLE_CONSUMER_STALL: envDurationMs.default(30_000),
  /** That state lasting this long exits the process with 75 (EX_TEMPFAIL) for a supervisor to restart it. */
  GRIDROOT_ORACLE_CONSUMER_EXIT: envDurationMs.default(180_000),
  GRIDROOT_ORACLE_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9466),
  GRIDROOT_ORACLE_METRICS_HOST: z.string().default('127.0.0.1'),
  GRIDROOT_REGISTRY_FILE: z.string().min(1, 'the device registry file is required'),
  GRIDROOT_TARIFFS_FILE: z.string().optional(),
  GRIDROOT_CONTRACTS_FILE: z.string().min(1, 'the deployed contracts file is required'),
})

export interface OracleConfig {
  readonly role: 'signer' | 'submitter' | 'guardian'
  readonly instanceId: string
  readonly source: 'influx' | 'replay'
  /** signer only */
  readonly signerKey: `0x${string}` | undefined
  /** submitter only */
  readonly submitterKey: `0x${string}` | undefined
  /** guardian only */
  readonly guardianKey: `0x${string}` | undefined
  /** guardian: where it keeps its checkpoint (services/oracle/domain/guardian-checkpoint.ts). */
  readonly guardianCheckpointFile: string
  readonly pollMs: number
  readonly sourceTimeoutMs: number
  /** signer: re-publish interval of a signature the chain still waits on (domain/resign.ts). */
  readonly resignIntervalMs: number
  /** submitter: the signature book's window beyond the chain's next epoch. */
  readonly epochsAhead: number
  /** submitter: how long a pool may wait on signatures others moved past before /healthz is 503. */
  readonly signaturesStallMs: number
  /** submitter: final unsigned roots acknowledged (no longer /healthz 503). */
  readonly acknowledgedRoots: readonly AcknowledgedRoot[]
  /** Blocks a final epoch must be deep before its signatures are forgotten (a reorg may undo it). */
  readonly finalDepthBlocks: number
  /** The Kafka readers' stall (/healthz 503) and exit (code 75) bounds. */
  readonly consumer: { readonly stallMs: number; readonly exitMs: number }
  readonly metricsPort: number
  readonly metricsHost: string
  readonly endpoints: Endpoints
  readonly topics: TopicSet
  /** GRIDROOT_KAFKA_TOPIC_PREFIX, for the oracle's own topics. */
  readonly topicPrefix: string
  readonly grid: TimeGrid
  readonly registryFile: string
  readonly tariffsFile: string | undefined
  readonly contractsFile: string
  readonly artifacts: ArtifactStoreConfig
  /**
   * The aggregator's rules, read by the aggregator's own configuration parser from the same
   * GRIDROOT_AGG_* settings, so the replay cannot drift from what the aggregator runs.
   */
  readonly replay: ReplaySettings
}

export function oracleConfigFromEnv(env: Env): OracleConfig {
  const c = parseConfig(
    OracleEnvSchema.superRefine((v, ctx) => {
      if (v.GRIDROOT_ORACLE_ROLE === 'signer' && !v.GRIDROOT_ORACLE_SIGNER_KEY)
        ctx.addIssue({
          code: 'custom',
          path: ['GRIDROOT_ORACLE_SIGNER_KEY'],
          message: 'a signer needs its key',
        })
      if (v.GRIDROOT_ORACLE_ROLE === 'submitter' && !v.GRIDROOT_ORACLE_SUBMITTER_KEY)
        ctx.addIssue({
          code: 'custom',
          path: ['GRIDROOT_ORACLE_SUBMITTER_KEY'],
          message: 'the submitter needs a funded key to send transactions',
        })
      if (v.GRIDROOT_ORACLE_ROLE === 'guardian' && !v.GRIDROOT_ORACLE_GUARDIAN_KEY)
        ctx.addIssue({
          code: 'custom',
          path: ['GRIDROOT_ORACLE_GUARDIAN_KEY'],
          message: 'the guardian needs the funded key of a GUARDIAN_ROLE account to send reject',
        })
    }),
    env,
    'oracle',
  )
  const artifacts = artifactStoreConfig(env)
  return {
    role: c.GRIDROOT_ORACLE_ROLE,
    instanceId: c.GRIDROOT_ORACLE_INSTANCE,
    source: c.GRIDROOT_ORACLE_SOURCE,
    signerKey: c.GRIDROOT_ORACLE_SIGNER_KEY,
    submitterKey: c.GRIDROOT_ORACLE_SUBMITTER_KEY,
    guardianKey: c.GRIDROOT_ORACLE_GUARDIAN_KEY,
    guardianCheckpointFile:
      c.GRIDROOT_ORACLE_GUARDIAN_CHECKPOINT ??
      join(dirname(artifacts.dir), 'guardian', `${c.GRIDROOT_ORACLE_INSTANCE}.checkpoint.json`),
    pollMs: c.GRIDROOT_ORACLE_POLL,
    sourceTimeoutMs: c.GRIDROOT_ORACLE_SOURCE_TIMEOUT,
    resignIntervalMs: c.GRIDROOT_ORACLE_RESIGN_INTERVAL,
    epochsAhead: c.GRIDROOT_ORACLE_EPOCHS_AHEAD,
    signaturesStallMs: c.GRIDROOT_ORACLE_SIGNATURES_STALL,
    acknowledgedRoots: c.GRIDROOT_ORACLE_ACKNOWLEDGED_ROOTS,
    finalDepthBlocks: c.GRIDROOT_ORACLE_FINAL_DEPTH,
    consumer: { stallMs: c.GRIDROOT_ORACLE_CONSUMER_STALL, exitMs: c.GRIDROOT_ORACLE_CONSUMER_EXIT },
    metricsPort: c.GRIDROOT_ORACLE_METRICS_PORT,
    metricsHost: c.GRIDROOT_ORACLE_METRICS_HOST,
    endpoints: endpointsFromEnv(env),
    topics: topicsFromEnv(env),
    topicPrefix: env.GRIDROOT_KAFKA_TOPIC_PREFIX ?? '',
    grid: gridFromEnv(env),
    registryFile: c.GRIDROOT_REGISTRY_FILE,
    tariffsFile: c.GRIDROOT_TARIFFS_FILE,
    contractsFile: c.GRIDROOT_CONTRACTS_FILE,
    artifacts,
    replay: replaySettingsOf(aggregatorConfigFromEnv(env)),
  }
}

function replaySettingsOf(agg: ReturnType<typeof aggregatorConfigFromEnv>): ReplaySettings {
  return {
    grid: agg.grid,
    rules: agg.anomalyRules,
    graceMs: agg.graceMs,
    reorderWindowMs: agg.reorderWindowMs,
    sequence: agg.sequenceRules,
    clock: agg.clock,
  }
}

/**
 * What `verify` recomputes leaves under: the aggregator's rules parsed by its own parser from the
 * same GRIDROOT_AGG_* settings, and the tariff book of GRIDROOT_TARIFFS_FILE (the demo book when
 * unset), as the aggregator and the signers load them.
 */
export async function verifyRulesFromEnv(env: Env): Promise<LeafRules> {
  const agg = aggregatorConfigFromEnv(env)
  return { settings: replaySettingsOf(agg), tariffs: await loadTariffBook(agg.tariffsFile, agg.grid) }
}

/** The synchronous part of `verifyRulesFromEnv`, for a configuration parsed once (the API's). */
export function verifySettingsFromEnv(env: Env): {
  readonly settings: ReplaySettings
  readonly tariffsFile: string | undefined
} {
  const agg = aggregatorConfigFromEnv(env)
  return { settings: replaySettingsOf(agg), tariffsFile: agg.tariffsFile }
}
