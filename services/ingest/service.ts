/**
 * Wires ingest: MQTT source → pipeline (admit, verify on workers) → Kafka sink, plus metrics.
 * `main.ts` only reads configuration and handles signals; tests and benchmarks start the service
 * through this factory.
 */

import { availableParallelism } from 'node:os'
import { ED25519_VERIFIER, ED25519_VERIFIER_FALLBACK_REASON } from '../../core/identity/keys.ts'
import { TELEMETRY_TOPIC_FILTER } from '../../core/telemetry/topic.ts'
import { createKafka, ensureTopics } from '../../runtime/clients/kafka.ts'
import { startProbeServer } from '../../runtime/http-probe-server.ts'
import type { Logger } from '../../runtime/log.ts'
import { loadRegistryFile } from '../../runtime/registry-file.ts'
import { createAdmitPool } from './adapters/admit-pool.ts'
import { createKafkaSink } from './adapters/kafka-sink.ts'
import { startMqttSource } from './adapters/mqtt-source.ts'
import type { IngestConfig } from './config.ts'
import { createIngestMetrics, type IngestMetrics } from './metrics.ts'
import { createPipeline } from './pipeline.ts'

export interface IngestService {
  readonly metrics: IngestMetrics
  readonly metricsPort: number
  /** Drains in-flight messages (each acknowledged to the broker after Kafka), then disconnects. */
  stop(): Promise<void>
}

export async function startIngestService(config: IngestConfig, logger: Logger): Promise<IngestService> {
  const registry = await loadRegistryFile(config.registryFile)
  logger.info(
    { devices: registry.size, byClass: registry.countByClass(), file: config.registryFile },
    'registry loaded',
  )
  await ensureTopics(config.endpoints.kafka, config.topics.all)

  const metrics = createIngestMetrics()
  const kafka = createKafka(config.endpoints.kafka, config.instanceId)
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false })
  await producer.connect()
  const sink = createKafkaSink(
    producer,
    logger,
    {
      maxBatchRecords: config.kafkaMaxBatchRecords,
      retryMaxDelayMs: 5_000,
      lingerMs: config.kafkaLingerMs,
      lingerMinRecords: 64,
    },
    {
      onBatch: (records) => metrics.produceBatch.observe(records),
      onError: () => metrics.produceErrors.inc(),
    },
  )
  const verifyWorkers = config.verifyWorkers ?? availableParallelism()
  const admission = createAdmitPool({
    workers: verifyWorkers,
    // Plain records: each worker indexes its own copy.
    registry: [...registry.devices()].map(({ publicKeyRaw: _, ...record }) => record),
    limits: {
      maxMessageBytes: config.maxMessageBytes,
      maxReadingsPerMessage: config.maxReadingsPerMessage,
      acceptV1: config.acceptV1,
    },
  })
  const handle = createPipeline({
    instanceId: config.instanceId,
    topics: config.topics,
    send: (record) => sink.send(record),
    admit: (topic, payload) => admission.admit(topic, payload),
    metrics,
    logger,
  })
  const source = await startMqttSource(
    config.endpoints.mqtt,
    {
      connections: config.mqttConnections,
      sharedGroup: config.sharedGroup,
      topicFilter: TELEMETRY_TOPIC_FILTER,
      clientIdPrefix: config.instanceId,
      sessionExpirySec: config.sessionExpirySec,
    },
    handle,
    logger,
  )
  const probe = await startProbeServer({
    host: config.metricsHost,
    port: config.metricsPort,
    registry: metrics.registry,
    health: () => ({ ok: true, inFlight: source.inFlight, kafkaPending: sink.pending }),
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
      await sink.close()
      await producer.disconnect()
      await admission.close()
      await probe.close()
      logger.info('ingest stopped')
    },
  }
}
