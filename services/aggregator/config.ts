/**
 * The aggregator's configuration: one zod schema over the environment whose output IS the typed
 * config, so each setting is declared once, here (with its default and its meaning), and listed
 * in .env.example. Only main.ts calls `aggregatorConfigFromEnv`, with process.env.
 */
import { hostname } from 'node:os'
import { z } from 'zod'
import { DEFAULT_ANOMALY_RULES } from '../../core/energy/meter-account.ts'
import { DEFAULT_SEQUENCE_RULES } from '../../core/energy/sequence.ts'
import {
  type Env,
  endpointsFromEnv,
  envBoolean,
  envDurationMs,
  envInt,
  gridFromEnv,
  isLoopbackUrl,
  parseConfig,
  topicsFromEnv,
} from '../../runtime/config.ts'

const AggregatorEnvSchema = z
  .object({
    GRIDROOT_REGISTRY_FILE: z.string().min(1, 'the device registry file is required'),
    /** With it, the registry file must match the on-chain roots at start (runtime/registry-onchain.ts). */
    GRIDROOT_CONTRACTS_FILE: z.string().min(1).optional(),
    /** Absent: the demo tariff book in core/revenue/tariffs.ts. */
    GRIDROOT_TARIFFS_FILE: z.string().optional(),
    GRIDROOT_AGG_GROUP: z.string().min(1).default('gridroot-aggregator'),
    GRIDROOT_AGG_INSTANCE: z
      .string()
      .min(1)
      .default(`aggregator-${hostname().slice(0, 20)}`),
    /** Device time after an epoch's end during which its data still counts as on time. */
    GRIDROOT_AGG_GRACE: envDurationMs.default(3_600_000),
    /** Device time a reading ahead of a seq gap waits for the gap to fill. */
    GRIDROOT_AGG_REORDER_WINDOW: envDurationMs.default(1_800_000),
    /** Wall time a reading ahead of a gap waits at most (when its partition goes quiet). */
    GRIDROOT_AGG_MAX_PENDING_WALL: envDurationMs.default(30_000),
    /** How often the epoch closer looks at the watermarks (and quiet partitions are swept). */
    GRIDROOT_AGG_CLOSE_CHECK: envDurationMs.default(1_000),
    /**
     * Whether this group's partition-0 owner closes and announces epochs. A rebuild group run
     * beside the live one sets it false until it replaces it: closers of two groups fence each
     * other on the one transactional id, so the announcements would come from either in turn.
     */
    GRIDROOT_AGG_CLOSE_EPOCHS: envBoolean.default(true),
    GRIDROOT_AGG_MAX_CLOCK_SKEW: envDurationMs.default(0),
    GRIDROOT_AGG_CLOCK_STEP_TOLERANCE: envDurationMs.default(DEFAULT_ANOMALY_RULES.clockStepToleranceMs),
    GRIDROOT_AGG_MAX_CLOCK_AHEAD: envDurationMs.default(DEFAULT_ANOMALY_RULES.maxClockAheadMs),
    GRIDROOT_AGG_DEVICE_TIME_SPEED: z.coerce.number().positive().default(1),
    GRIDROOT_AGG_MAX_SEQ_JUMP: z.coerce.number().int().min(1).default(DEFAULT_SEQUENCE_RULES.maxSeqJump),
    GRIDROOT_AGG_SEQ_JUMP_CONFIRMATIONS: envInt(2, Number.MAX_SAFE_INTEGER).default(
      DEFAULT_SEQUENCE_RULES.seqJumpConfirmations,
    ),
    GRIDROOT_AGG_DEDUP_WINDOW: envInt(0, 4096).default(DEFAULT_SEQUENCE_RULES.recentWindow),
    /** Kafka group session timeout: how soon a crashed instance's partitions move to others. */
    GRIDROOT_AGG_SESSION_TIMEOUT: envDurationMs.default(10_000),
    /** Partitions applied at once: one partition's batch is applied while another's is written. */
    GRIDROOT_AGG_PARTITIONS_CONCURRENTLY: envInt(1, 64).default(3),
    GRIDROOT_AGG_INFLUX_CHUNK: envInt(100, 1_000_000).default(2_500),
    /** Chunks of one write sent at once. */
    GRIDROOT_AGG_INFLUX_WRITE_CONCURRENCY: envInt(1, 16).default(3),
    /** Compress writes; by default only when InfluxDB is not on this machine. */
    GRIDROOT_AGG_INFLUX_GZIP: envBoolean.optional(),
    /** How often the registry file is checked for changes (new devices, pool moves). */
    GRIDROOT_AGG_REGISTRY_RELOAD: envDurationMs.default(10_000),
    /** Wall time a record of a device missing from the registry waits before it is dead-lettered. */
    GRIDROOT_AGG_UNKNOWN_DEVICE_WAIT: envDurationMs.default(600_000),
    /**
     * Wall time a partition brings no record (with nothing left to read, or never any record)
     * before its owner appends a watermark marker with the highest watermark of the group's: a
     * partition whose devices all went quiet, or that has none, must not hold every epoch close.
     */
    GRIDROOT_AGG_IDLE_PARTITION: envDurationMs.default(30_000),
    /** A write job running longer than this makes /healthz fail (InfluxDB down or stuck). */
    GRIDROOT_AGG_STALL: envDurationMs.default(60_000),
    /**
     * An InfluxDB request (a write, the state load) unanswered this long makes /healthz fail: a
     * frozen server answers nothing, not even an error, until the client's 30 s timeout.
     */
    GRIDROOT_AGG_INFLUX_STUCK: envDurationMs.default(10_000),
    /**
     * The Kafka consumer out of the group, crashed, or with no fetch answered (or records
     * unconsumed and no batch processed) this long makes /healthz fail (core/kafka/consumer-watch.ts).
     */
    GRIDROOT_AGG_CONSUMER_STALL: envDurationMs.default(30_000),
    /** That state lasting this long exits the process with 75 (EX_TEMPFAIL) for a supervisor to restart it. */
    GRIDROOT_AGG_CONSUMER_EXIT: envDurationMs.default(180_000),
    GRIDROOT_AGG_METRICS_PORT: envInt(0, 65_535).default(9465),
    GRIDROOT_AGG_METRICS_HOST: z.string().default('127.0.0.1'),
    GRIDROOT_INFLUX_URL: z.string().optional(),
  })
  .transform((c) => ({
    registryFile: c.GRIDROOT_REGISTRY_FILE,
    contractsFile: c.GRIDROOT_CONTRACTS_FILE,
    tariffsFile: c.GRIDROOT_TARIFFS_FILE,
    consumerGroup: c.GRIDROOT_AGG_GROUP,
    instanceId: c.GRIDROOT_AGG_INSTANCE,
    graceMs: c.GRIDROOT_AGG_GRACE,
    reorderWindowMs: c.GRIDROOT_AGG_REORDER_WINDOW,
    maxPendingWallMs: c.GRIDROOT_AGG_MAX_PENDING_WALL,
    closeCheckMs: c.GRIDROOT_AGG_CLOSE_CHECK,
    closeEpochs: c.GRIDROOT_AGG_CLOSE_EPOCHS,
    anomalyRules: {
      ...DEFAULT_ANOMALY_RULES,
      maxClockSkewMs: c.GRIDROOT_AGG_MAX_CLOCK_SKEW,
      clockStepToleranceMs: c.GRIDROOT_AGG_CLOCK_STEP_TOLERANCE,
      maxClockAheadMs: c.GRIDROOT_AGG_MAX_CLOCK_AHEAD,
    },
    sequenceRules: {
      ...DEFAULT_SEQUENCE_RULES,
      maxSeqJump: c.GRIDROOT_AGG_MAX_SEQ_JUMP,
      seqJumpConfirmations: c.GRIDROOT_AGG_SEQ_JUMP_CONFIRMATIONS,
      recentWindow: c.GRIDROOT_AGG_DEDUP_WINDOW,
    },
    clock: { deviceTimeSpeed: c.GRIDROOT_AGG_DEVICE_TIME_SPEED },
    sessionTimeoutMs: c.GRIDROOT_AGG_SESSION_TIMEOUT,
    partitionsConcurrently: c.GRIDROOT_AGG_PARTITIONS_CONCURRENTLY,
    influxChunkLines: c.GRIDROOT_AGG_INFLUX_CHUNK,
    influxWriteConcurrency: c.GRIDROOT_AGG_INFLUX_WRITE_CONCURRENCY,
    influxGzip: c.GRIDROOT_AGG_INFLUX_GZIP ?? !isLoopbackUrl(c.GRIDROOT_INFLUX_URL ?? 'http://127.0.0.1'),
    registryReloadMs: c.GRIDROOT_AGG_REGISTRY_RELOAD,
    unknownDeviceWaitMs: c.GRIDROOT_AGG_UNKNOWN_DEVICE_WAIT,
    idlePartitionMs: c.GRIDROOT_AGG_IDLE_PARTITION,
    stallMs: c.GRIDROOT_AGG_STALL,
    influxStuckMs: c.GRIDROOT_AGG_INFLUX_STUCK,
    consumerStallMs: c.GRIDROOT_AGG_CONSUMER_STALL,
    consumerExitMs: c.GRIDROOT_AGG_CONSUMER_EXIT,
    metricsPort: c.GRIDROOT_AGG_METRICS_PORT,
    metricsHost: c.GRIDROOT_AGG_METRICS_HOST,
  }))

export type AggregatorConfig = z.output<typeof AggregatorEnvSchema> & {
  readonly endpoints: ReturnType<typeof endpointsFromEnv>
  readonly topics: ReturnType<typeof topicsFromEnv>
  readonly grid: ReturnType<typeof gridFromEnv>
}

export function aggregatorConfigFromEnv(env: Env): AggregatorConfig {
  return {
    ...parseConfig(AggregatorEnvSchema, env, 'aggregator'),
    endpoints: endpointsFromEnv(env),
    topics: topicsFromEnv(env),
    grid: gridFromEnv(env),
  }
}
