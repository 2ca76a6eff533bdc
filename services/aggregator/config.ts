/** The aggregator's configuration, from the environment, validated once (see .env.example). */
import { hostname } from 'node:os'
import { z } from 'zod'
import type { AnomalyRules } from '../../core/energy/meter-account.ts'
import { DEFAULT_ANOMALY_RULES } from '../../core/energy/meter-account.ts'
import { DEFAULT_SEQUENCE_RULES, type SequenceRules } from '../../core/energy/sequence.ts'
import type { TimeGrid } from '../../core/epochs/grid.ts'
import type { TopicSet } from '../../core/kafka/topics.ts'
import {
  type Env,
  endpointsFromEnv,
  envBoolean,
  envDurationMs,
  gridFromEnv,
  parseConfig,
  topicsFromEnv,
} from '../../runtime/config.ts'
import type { Endpoints } from '../../runtime/endpoints.ts'
import type { ClockSettings } from './domain/device-acceptance.ts'

const AggregatorEnvSchema = z.object({
  GRIDROOT_REGISTRY_FILE: z.string().min(1, 'the device registry file is required'),
  GRIDROOT_TARIFFS_FILE: z.string().optional(),
  GRIDROOT_AGG_GROUP: z.string().min(1).default('gridroot-aggregator'),
  GRIDROOT_AGG_INSTANCE: z
    .string()
    .min(1)
    .default(`aggregator-${hostname().slice(0, 20)}`),
  GRIDROOT_AGG_GRACE: envDurationMs.default(3_600_000),
  GRIDROOT_AGG_REORDER_WINDOW: envDurationMs.default(1_800_000),
  GRIDROOT_AGG_MAX_PENDING_WALL: envDurationMs.default(30_000),
  GRIDROOT_AGG_CLOSE_CHECK: envDurationMs.default(1_000),
  GRIDROOT_AGG_MAX_CLOCK_SKEW: envDurationMs.default(0),
  GRIDROOT_AGG_CLOCK_STEP_TOLERANCE: envDurationMs.default(DEFAULT_ANOMALY_RULES.clockStepToleranceMs),
  GRIDROOT_AGG_MAX_CLOCK_AHEAD: envDurationMs.default(DEFAULT_ANOMALY_RULES.maxClockAheadMs),
  GRIDROOT_AGG_DEVICE_TIME_SPEED: z.coerce.number().positive().default(1),
  GRIDROOT_AGG_MAX_SEQ_JUMP: z.coerce.number().int().min(1).default(DEFAULT_SEQUENCE_RULES.maxSeqJump),
  GRIDROOT_AGG_SEQ_JUMP_CONFIRMATIONS: z.coerce
    .number()
    .int()
    .min(2)
    .default(DEFAULT_SEQUENCE_RULES.seqJumpConfirmations),
  GRIDROOT_AGG_DEDUP_WINDOW: z.coerce
    .number()
    .int()
    .min(0)
    .max(4096)
    .default(DEFAULT_SEQUENCE_RULES.recentWindow),
  GRIDROOT_AGG_SESSION_TIMEOUT: envDurationMs.default(10_000),
  GRIDROOT_AGG_INFLUX_CHUNK: z.coerce.number().int().min(100).default(2_500),
  GRIDROOT_AGG_INFLUX_WRITE_CONCURRENCY: z.coerce.number().int().min(1).max(16).default(3),
  GRIDROOT_AGG_INFLUX_GZIP: envBoolean.optional(),
  GRIDROOT_AGG_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9465),
  GRIDROOT_AGG_METRICS_HOST: z.string().default('127.0.0.1'),
})

export interface AggregatorConfig {
  readonly endpoints: Endpoints
  readonly topics: TopicSet
  readonly grid: TimeGrid
  readonly registryFile: string
  /** Absent: the demo tariff book in core/revenue/tariffs.ts. */
  readonly tariffsFile: string | undefined
  readonly consumerGroup: string
  readonly instanceId: string
  /** Device time after an epoch's end during which its data still counts as on time. */
  readonly graceMs: number
  /** Device time a reading ahead of a seq gap waits for the gap to fill. */
  readonly reorderWindowMs: number
  /** Wall time a reading ahead of a gap waits at most (when its partition goes quiet). */
  readonly maxPendingWallMs: number
  readonly closeCheckMs: number
  readonly anomalyRules: AnomalyRules
  /** Per-device (boot, seq) acceptance: jump bound, duplicate window (core/energy/sequence.ts). */
  readonly sequenceRules: SequenceRules
  /** Device clock bound from the Kafka receive time (domain/device-acceptance.ts). */
  readonly clock: ClockSettings
  /** Kafka group session timeout: how soon a crashed instance's partitions move to others. */
  readonly sessionTimeoutMs: number
  readonly influxChunkLines: number
  /** Chunks of one write sent at once. */
  readonly influxWriteConcurrency: number
  /** Compress writes; by default only when InfluxDB is not on this machine. */
  readonly influxGzip: boolean
  readonly metricsPort: number
  readonly metricsHost: string
}

export function aggregatorConfigFromEnv(env: Env): AggregatorConfig {
  const c = parseConfig(AggregatorEnvSchema, env, 'aggregator')
  return {
    endpoints: endpointsFromEnv(env),
    topics: topicsFromEnv(env),
    grid: gridFromEnv(env),
    registryFile: c.GRIDROOT_REGISTRY_FILE,
    tariffsFile: c.GRIDROOT_TARIFFS_FILE,
    consumerGroup: c.GRIDROOT_AGG_GROUP,
    instanceId: c.GRIDROOT_AGG_INSTANCE,
    graceMs: c.GRIDROOT_AGG_GRACE,
    reorderWindowMs: c.GRIDROOT_AGG_REORDER_WINDOW,
    maxPendingWallMs: c.GRIDROOT_AGG_MAX_PENDING_WALL,
    closeCheckMs: c.GRIDROOT_AGG_CLOSE_CHECK,
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
    influxChunkLines: c.GRIDROOT_AGG_INFLUX_CHUNK,
    influxWriteConcurrency: c.GRIDROOT_AGG_INFLUX_WRITE_CONCURRENCY,
    influxGzip:
      c.GRIDROOT_AGG_INFLUX_GZIP ??
      !/^https?:\/\/(127\.0\.0\.1|localhost|\[::1\])[:/]/.test(env.GRIDROOT_INFLUX_URL ?? 'http://127.0.0.1'),
    metricsPort: c.GRIDROOT_AGG_METRICS_PORT,
    metricsHost: c.GRIDROOT_AGG_METRICS_HOST,
  }
}
