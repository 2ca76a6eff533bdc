/**
 * Ingest's configuration: endpoints plus its own settings, from the environment, validated once.
 * Every variable is listed in .env.example.
 */
import { hostname } from 'node:os'
import { z } from 'zod'
import type { TopicSet } from '../../core/kafka/topics.ts'
import {
  type Env,
  endpointsFromEnv,
  envBoolean,
  mqttTopicPrefixFromEnv,
  parseConfig,
  topicsFromEnv,
} from '../../runtime/config.ts'
import type { Endpoints } from '../../runtime/endpoints.ts'

/**
 * mqtt.js handles one message per connection at a time (the PUBACK waits for Kafka), so
 * connections are ingest's concurrency: with verification on worker threads, a message spends
 * tens of milliseconds queued for a worker and for Kafka, and throughput is connections divided
 * by that. 1024 measured ~13% above 512 and ~25% above 256 per-message (bench/README.md). They
 * also bound what is in flight: at most this many messages (of at most
 * GRIDROOT_INGEST_MAX_MESSAGE_BYTES each) wait in ingest's memory.
 */
export const DEFAULT_MQTT_CONNECTIONS = 1024

const IngestEnvSchema = z.object({
  /** With it, the registry file must match the on-chain roots at start (runtime/registry-onchain.ts). */
  GRIDROOT_CONTRACTS_FILE: z.string().min(1).optional(),
  GRIDROOT_REGISTRY_FILE: z
    .string()
    .min(1, 'the device registry file is required (npm run simulate -- --registry-out FILE --registry-only)'),
  GRIDROOT_INGEST_INSTANCE: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,40}$/)
    .default(`ingest-${hostname().slice(0, 20)}`),
  GRIDROOT_INGEST_SHARED_GROUP: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,40}$/)
    .default('gridroot-ingest'),
  GRIDROOT_INGEST_MQTT_CONNECTIONS: z.coerce
    .number()
    .int()
    .min(1)
    .max(4096)
    .default(DEFAULT_MQTT_CONNECTIONS),
  GRIDROOT_INGEST_SESSION_EXPIRY_SEC: z.coerce.number().int().min(0).default(86_400),
  GRIDROOT_INGEST_VERIFY_WORKERS: z.coerce.number().int().min(0).max(64).optional(),
  GRIDROOT_INGEST_MAX_MESSAGE_BYTES: z.coerce
    .number()
    .int()
    .min(256)
    .default(256 * 1024),
  /** Longest original kept in a DLQ record (default: GRIDROOT_INGEST_MAX_MESSAGE_BYTES). */
  GRIDROOT_INGEST_DLQ_MAX_VALUE_BYTES: z.coerce.number().int().min(0).optional(),
  GRIDROOT_INGEST_MAX_READINGS_PER_MESSAGE: z.coerce.number().int().min(1).default(1000),
  GRIDROOT_INGEST_ACCEPT_V1: envBoolean.default(true),
  GRIDROOT_INGEST_KAFKA_MAX_BATCH: z.coerce.number().int().min(1).default(2000),
  GRIDROOT_INGEST_KAFKA_SIZE_MARGIN_BYTES: z.coerce
    .number()
    .int()
    .min(0)
    .default(16 * 1024),
  GRIDROOT_INGEST_KAFKA_RETRY_MAX_DELAY_MS: z.coerce.number().int().min(10).default(5_000),
  GRIDROOT_INGEST_MQTT_KEEPALIVE_SEC: z.coerce.number().int().min(1).max(65535).default(60),
  GRIDROOT_INGEST_HEALTH_GRACE_MS: z.coerce.number().int().min(0).default(10_000),
  GRIDROOT_INGEST_HEALTH_STUCK_MS: z.coerce.number().int().min(1).default(30_000),
  // A verify worker that has not answered the hand-off it works on for this long is terminated
  // and replaced; a message alone in the hand-offs of this many lost workers is dead-lettered
  // (ADMISSION_WORKER_LOST). 10 s: a hand-off of 1,000 messages takes well under a second.
  GRIDROOT_INGEST_ADMISSION_TIMEOUT_MS: z.coerce.number().int().min(1).default(10_000),
  GRIDROOT_INGEST_ADMISSION_MAX_LOSSES: z.coerce.number().int().min(1).default(2),
  GRIDROOT_INGEST_KAFKA_PROBE_INTERVAL_MS: z.coerce.number().int().min(100).default(5_000),
  GRIDROOT_INGEST_KAFKA_LINGER_MS: z.coerce.number().int().min(0).max(1000).default(0),
  GRIDROOT_INGEST_DRAIN_TIMEOUT_MS: z.coerce.number().int().min(0).default(10_000),
  GRIDROOT_INGEST_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
  GRIDROOT_INGEST_METRICS_HOST: z.string().default('127.0.0.1'),
})

export interface IngestConfig {
  readonly endpoints: Endpoints
  readonly topics: TopicSet
  /** GRIDROOT_MQTT_TOPIC_PREFIX: ingest subscribes to `<prefix>gridroot/v1/+/+/telemetry`. */
  readonly mqttTopicPrefix: string
  readonly registryFile: string
  readonly contractsFile: string | undefined
  readonly instanceId: string
  readonly sharedGroup: string
  readonly mqttConnections: number
  readonly sessionExpirySec: number
  /** Threads that verify signatures; defaults to the number of cores. */
  readonly verifyWorkers: number | undefined
  readonly maxMessageBytes: number
  readonly dlqMaxValueBytes: number
  readonly maxReadingsPerMessage: number
  /** Telemetry v1 is still accepted (its migration window is open); false rejects it. */
  readonly acceptV1: boolean
  readonly kafkaMaxBatchRecords: number
  /**
   * Kept free below each topic's max.message.bytes when sizing produce requests: covers the
   * record batch's own framing beyond the per-record estimate, and a broker limit a little
   * lower than the one read at start.
   */
  readonly kafkaSizeMarginBytes: number
  readonly kafkaRetryMaxDelayMs: number
  /** MQTT keepalive; a held message does not let it expire (adapters/mqtt-source.ts). */
  readonly mqttKeepaliveSec: number
  /** /healthz turns 503 when a connection (MQTT or Kafka) has been down this long. */
  readonly healthGraceMs: number
  /** /healthz turns 503 when the oldest record not yet acknowledged by Kafka is this old. */
  readonly healthStuckMs: number
  readonly admissionTimeoutMs: number
  readonly admissionMaxLosses: number
  readonly kafkaProbeIntervalMs: number
  /** Wait up to this long for a small produce request to fill up (0: send at once). */
  readonly kafkaLingerMs: number
  readonly drainTimeoutMs: number
  readonly metricsPort: number
  readonly metricsHost: string
}

export function ingestConfigFromEnv(env: Env): IngestConfig {
  const c = parseConfig(IngestEnvSchema, env, 'ingest')
  return {
    endpoints: endpointsFromEnv(env),
    topics: topicsFromEnv(env),
    mqttTopicPrefix: mqttTopicPrefixFromEnv(env),
    registryFile: c.GRIDROOT_REGISTRY_FILE,
    contractsFile: c.GRIDROOT_CONTRACTS_FILE,
    instanceId: c.GRIDROOT_INGEST_INSTANCE,
    sharedGroup: c.GRIDROOT_INGEST_SHARED_GROUP,
    mqttConnections: c.GRIDROOT_INGEST_MQTT_CONNECTIONS,
    sessionExpirySec: c.GRIDROOT_INGEST_SESSION_EXPIRY_SEC,
    verifyWorkers: c.GRIDROOT_INGEST_VERIFY_WORKERS,
    maxMessageBytes: c.GRIDROOT_INGEST_MAX_MESSAGE_BYTES,
    dlqMaxValueBytes: c.GRIDROOT_INGEST_DLQ_MAX_VALUE_BYTES ?? c.GRIDROOT_INGEST_MAX_MESSAGE_BYTES,
    maxReadingsPerMessage: c.GRIDROOT_INGEST_MAX_READINGS_PER_MESSAGE,
    acceptV1: c.GRIDROOT_INGEST_ACCEPT_V1,
    kafkaSizeMarginBytes: c.GRIDROOT_INGEST_KAFKA_SIZE_MARGIN_BYTES,
    kafkaRetryMaxDelayMs: c.GRIDROOT_INGEST_KAFKA_RETRY_MAX_DELAY_MS,
    mqttKeepaliveSec: c.GRIDROOT_INGEST_MQTT_KEEPALIVE_SEC,
    healthGraceMs: c.GRIDROOT_INGEST_HEALTH_GRACE_MS,
    healthStuckMs: c.GRIDROOT_INGEST_HEALTH_STUCK_MS,
    admissionTimeoutMs: c.GRIDROOT_INGEST_ADMISSION_TIMEOUT_MS,
    admissionMaxLosses: c.GRIDROOT_INGEST_ADMISSION_MAX_LOSSES,
    kafkaProbeIntervalMs: c.GRIDROOT_INGEST_KAFKA_PROBE_INTERVAL_MS,
    kafkaMaxBatchRecords: c.GRIDROOT_INGEST_KAFKA_MAX_BATCH,
    kafkaLingerMs: c.GRIDROOT_INGEST_KAFKA_LINGER_MS,
    drainTimeoutMs: c.GRIDROOT_INGEST_DRAIN_TIMEOUT_MS,
    metricsPort: c.GRIDROOT_INGEST_METRICS_PORT,
    metricsHost: c.GRIDROOT_INGEST_METRICS_HOST,
  }
}
