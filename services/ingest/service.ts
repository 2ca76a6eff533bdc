/**
 * Wires ingest: MQTT source → pipeline (admit, verify on workers) → Kafka sink, plus metrics.
 * `main.ts` only reads configuration and handles signals; tests and benchmarks start the service
 * through this factory.
 */

// First (a side-effect import stays in place): kafkajs must find the faster checksum and the
// unzeroed encoder in its module cache when it loads.
import './adapters/kafka-crc32c.ts'
import './adapters/kafka-encoder.ts'
import { availableParallelism } from 'node:os'
import { ConfigError } from '../../core/errors/base.ts'
import { ED25519_VERIFIER, ED25519_VERIFIER_FALLBACK_REASON } from '../../core/identity/keys.ts'
import { TELEMETRY_TOPIC_FILTER } from '../../core/telemetry/topic.ts'
import { createKafka, ensureTopics, topicMaxMessageBytes } from '../../runtime/clients/kafka.ts'
import { startProbeServer } from '../../runtime/http-probe-server.ts'
import type { Logger } from '../../runtime/log.ts'
import { loadRegistryFile } from '../../runtime/registry-file.ts'
import { checkAndWatchRegistry } from '../../runtime/registry-onchain.ts'
import { retry } from '../../runtime/retry.ts'
import { createAdmitPool } from './adapters/admit-pool.ts'
import { admitWorkerUrl } from './adapters/admit-worker-bundle.ts'
import { KAFKAJS_CRC32C_REPLACED } from './adapters/kafka-crc32c.ts'
import { KAFKAJS_ENCODER_SEGMENTED, KAFKAJS_ENCODER_UNZEROED } from './adapters/kafka-encoder.ts'
import { startKafkaProbe } from './adapters/kafka-probe.ts'
import { BATCH_OVERHEAD_BYTES, type KafkaSinkError, startKafkaSink } from './adapters/kafka-sink.ts'
import { startMqttSource } from './adapters/mqtt-source.ts'
import type { IngestConfig } from './config.ts'
import { legacyClientIdPrefix, sessionClientIdPrefix } from './domain/session-ids.ts'
import { ingestHealth } from './health.ts'
import { createIngestMetrics, type IngestMetrics } from './metrics.ts'
import { createPipeline } from './pipeline.ts'

export interface IngestService {
  readonly metrics: IngestMetrics
  readonly metricsPort: number
  /** Drains in-flight messages (each acknowledged to the broker after Kafka), then disconnects. */
  stop(): Promise<void>
}

export interface IngestServiceOptions {
  /** The Kafka sink stopped for good (the error says what to fix); main.ts exits. */
  readonly onFatal?: (error: KafkaSinkError) => void
  /** The admission worker's entry module (tests: a worker that fails on purpose). */
  readonly admitWorkerUrl?: URL
  /**
   * `npm run ingest -- --retire`: open no connection, drain and end every session of this
   * instance and group (their messages reach Kafka), then the caller stops the service.
   */
  readonly retire?: boolean
}

/** Room a record needs beyond its value: key (device id), headers, framing. DLQ headers carry up to 500-character detail and topic. */
const TELEMETRY_RECORD_EXTRA_BYTES = 1024
const DLQ_RECORD_EXTRA_BYTES = 8 * 1024

export async function startIngestService(
  config: IngestConfig,
  logger: Logger,
  serviceOptions: IngestServiceOptions = {},
): Promise<IngestService> {
  const registry = await loadRegistryFile(config.registryFile)
  logger.info(
    { devices: registry.size, byClass: registry.countByClass(), file: config.registryFile },
    'registry loaded',
  )
  const registryWatch = await checkAndWatchRegistry({
    contractsFile: config.contractsFile,
    chain: config.endpoints.chain,
    registry: () => registry,
    registryFile: config.registryFile,
    logger,
  })
  await ensureTopics(config.endpoints.kafka, config.topics.all)

  const metrics = createIngestMetrics()
  const kafka = createKafka(config.endpoints.kafka, config.instanceId)
  const admin = kafka.admin({ retry: { retries: 0 } })
  await retry(() => admin.connect(), { operation: 'kafka admin connect', maxAttempts: 10 })
  const { telemetry, dlq } = config.topics
  const maxMessageBytes = await retry(() => topicMaxMessageBytes(admin, [telemetry.name, dlq.name]), {
    operation: 'kafka describe topic configs',
    maxAttempts: 10,
  })
  const maxBatchBytes = new Map(
    [...maxMessageBytes].map(([topic, bytes]) => [topic, bytes - config.kafkaSizeMarginBytes]),
  )
  checkFits(
    telemetry.name,
    config.maxMessageBytes + TELEMETRY_RECORD_EXTRA_BYTES,
    'GRIDROOT_INGEST_MAX_MESSAGE_BYTES',
    config.maxMessageBytes,
  )
  checkFits(
    dlq.name,
    config.dlqMaxValueBytes + DLQ_RECORD_EXTRA_BYTES,
    'GRIDROOT_INGEST_DLQ_MAX_VALUE_BYTES',
    config.dlqMaxValueBytes,
  )
  function checkFits(topic: string, recordBytes: number, variable: string, value: number) {
    const budget = maxBatchBytes.get(topic) ?? 0
    if (BATCH_OVERHEAD_BYTES + recordBytes <= budget) return
    throw new ConfigError(`${variable}=${value} does not fit Kafka topic ${topic}`, {
      metaMessages: [
        `The topic takes batches of up to ${maxMessageBytes.get(topic)} bytes (max.message.bytes); ingest keeps GRIDROOT_INGEST_KAFKA_SIZE_MARGIN_BYTES=${config.kafkaSizeMarginBytes} free and needs ${recordBytes} bytes for the largest record.`,
        `Lower ${variable}, or raise the topic's max.message.bytes (kafka-configs.sh --alter --entity-type topics --entity-name ${topic} --add-config max.message.bytes=...).`,
      ],
    })
  }

  const sink = await startKafkaSink(
    () =>
      kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        // kafkajs gives up quickly and runtime/retry.ts retries the same batch (same sequence
        // numbers, so the broker drops what it already has): the retries show in logs, metrics
        // and /healthz instead of inside kafkajs.
        retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1_000 },
      }),
    logger,
    {
      maxBatchRecords: config.kafkaMaxBatchRecords,
      maxBatchBytes,
      retryMaxDelayMs: config.kafkaRetryMaxDelayMs,
      lingerMs: config.kafkaLingerMs,
      lingerMinRecords: 64,
      partitionCount: async (topic) => {
        const { topics } = await admin.fetchTopicMetadata({ topics: [topic] })
        return topics[0]?.partitions.length ?? 1
      },
    },
    {
      onBatch: (records) => metrics.produceBatch.observe(records),
      onError: (_, kind) => metrics.produceErrors.inc({ kind }),
      onProducerReset: () => metrics.producerResets.inc(),
      onFatal: (error) => serviceOptions.onFatal?.(error),
    },
  )
  const kafkaProbe = startKafkaProbe(
    admin,
    { topics: [telemetry.name, dlq.name], intervalMs: config.kafkaProbeIntervalMs },
    logger,
  )
  const verifyWorkers = config.verifyWorkers ?? availableParallelism()
  // Precompiled (adapters/admit-worker-bundle.ts): a worker loading through tsx took seconds.
  const workerUrl = serviceOptions.admitWorkerUrl ?? (verifyWorkers > 0 ? await admitWorkerUrl() : undefined)
  const admission = createAdmitPool({
    workers: verifyWorkers,
    // Plain records: each worker indexes its own copy.
    registry: [...registry.devices()].map(({ publicKeyRaw: _, ...record }) => record),
    limits: {
      maxMessageBytes: config.maxMessageBytes,
      maxReadingsPerMessage: config.maxReadingsPerMessage,
      acceptV1: config.acceptV1,
    },
    stuckMs: config.healthStuckMs,
    timeoutMs: config.admissionTimeoutMs,
    maxLosses: config.admissionMaxLosses,
    ...(workerUrl ? { workerUrl } : {}),
  })
  const handle = createPipeline({
    instanceId: config.instanceId,
    topics: config.topics,
    send: (record) => sink.send(record),
    admit: (topic, payload) => admission.admit(topic, payload),
    dlqMaxValueBytes: config.dlqMaxValueBytes,
    metrics,
    logger,
  })
  const idPrefix = sessionClientIdPrefix(config.instanceId, config.sharedGroup, config.mqttTopicPrefix)
  // Retiring: no connection of its own; every session of this instance and group is stale.
  const connections = serviceOptions.retire ? 0 : config.mqttConnections
  const source = await startMqttSource(
    config.endpoints.mqtt,
    {
      connections,
      sharedGroup: config.sharedGroup,
      topicPrefix: config.mqttTopicPrefix,
      topicFilter: TELEMETRY_TOPIC_FILTER,
      clientIdPrefix: idPrefix,
      staleSessions: [
        { prefix: idPrefix, from: connections },
        { prefix: legacyClientIdPrefix(config.instanceId), from: 0 },
      ],
      sessionExpirySec: config.sessionExpirySec,
      keepaliveSec: config.mqttKeepaliveSec,
    },
    handle,
    logger,
    {
      onConnectionsChanged: (up) => metrics.mqttConnectionsUp.set(up),
      onReconnect: () => metrics.mqttReconnects.inc(),
      onRedeliveryJoined: () => metrics.mqttRedeliveriesJoined.inc(),
      onStaleSessionDrained: ({ messages }) => {
        metrics.staleSessionsDrained.inc()
        metrics.staleSessionMessages.inc(messages)
      },
    },
  )
  const health = () => {
    const nowMs = Date.now()
    const h = ingestHealth({
      nowMs,
      graceMs: config.healthGraceMs,
      stuckMs: config.healthStuckMs,
      mqtt: {
        connections: source.connections,
        connected: source.connected,
        downTooLong: source.downLongerThan(config.healthGraceMs, nowMs),
        takenOver: source.takenOverWithin(config.healthGraceMs, nowMs),
        flapping: source.flappingWithin(config.healthGraceMs, nowMs),
      },
      kafka: {
        probeFailingSinceMs: kafkaProbe.failingSinceMs,
        produceFailingSinceMs: sink.failingSinceMs,
        oldestPendingAgeMs: sink.oldestPendingAgeMs(nowMs),
        pending: sink.pending,
        stopped: sink.fatal?.message,
      },
      inFlight: source.inFlight,
      admission: admission.health(nowMs),
      chain: registryWatch?.problems() ?? [],
    })
    metrics.admissionWorkersRunning.set(h.admission.running)
    metrics.admissionWorkerCrashes.set(h.admission.crashes)
    metrics.healthy.set(h.ok ? 1 : 0)
    metrics.oldestPendingAge.set(h.kafka.oldestPendingAgeMs / 1000)
    metrics.kafkaReachable.set(
      kafkaProbe.failingSinceMs === undefined && sink.failingSinceMs === undefined ? 1 : 0,
    )
    return h
  }
  // Gauges follow health even when nobody asks /healthz.
  const gaugeTimer = setInterval(health, 1_000).unref()
  health()
  const probe = await startProbeServer({
    host: config.metricsHost,
    port: config.metricsPort,
    registry: metrics.registry,
    health,
  })
  if (ED25519_VERIFIER_FALLBACK_REASON !== undefined && process.env.GRIDROOT_ED25519_VERIFIER !== 'node') {
    logger.warn(
      { reason: ED25519_VERIFIER_FALLBACK_REASON },
      'verifying signatures with node:crypto, ~2x slower than libsodium: reinstall dependencies (npm install) so that sodium-native loads',
    )
  }
  logger.info(
    {
      mqtt: config.endpoints.mqtt.url,
      kafka: config.endpoints.kafka.brokers,
      verifyWorkers,
      signatureVerifier: ED25519_VERIFIER,
      kafkaCrc32c: KAFKAJS_CRC32C_REPLACED ? 'slicing-by-8' : 'kafkajs',
      kafkaEncoder: KAFKAJS_ENCODER_UNZEROED
        ? `allocUnsafe${KAFKAJS_ENCODER_SEGMENTED ? ', segmented' : ''}`
        : 'kafkajs',
      admitWorker: workerUrl?.pathname ?? 'default',
      metricsPort: probe.port,
    },
    'ingest started',
  )

  return {
    metrics,
    metricsPort: probe.port,
    async stop() {
      logger.info({ inFlight: source.inFlight }, 'ingest draining')
      await source.drain(config.drainTimeoutMs)
      await sink.close(5_000)
      clearInterval(gaugeTimer)
      registryWatch?.stop()
      kafkaProbe.stop()
      await admin.disconnect().catch(() => undefined)
      await admission.close()
      await probe.close()
      logger.info('ingest stopped')
    },
  }
}
