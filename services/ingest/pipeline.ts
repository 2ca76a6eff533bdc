/**
 * Ingest's handling of one MQTT message: admit (decode, topic, registry, class, signature; on
 * worker threads), then produce to `telemetry.v1`, or to `telemetry.dlq` with the reason and the
 * original bytes. The returned promise settles only after Kafka has acknowledged, which is when
 * the MQTT source may PUBACK. It never throws on bad input: input problems become DLQ records.
 */
import type { TopicSet } from '../../core/kafka/topics.ts'
import type { Decoded, Rejection } from '../../core/telemetry/reasons.ts'
import { parseTelemetryTopic } from '../../core/telemetry/topic.ts'
import type { Logger } from '../../runtime/log.ts'
import type { SinkRecord } from './adapters/kafka-sink.ts'
import type { Verified } from './domain/admit.ts'
import type { IngestMetrics } from './metrics.ts'

/**
 * Kafka record headers (docs/architecture.md). telemetry.v1 records carry only the instance:
 * their receive time is the record's own timestamp, which costs nothing extra to encode.
 */
export const HEADER = {
  receivedAtMs: 'gridroot-received-at-ms',
  mqttTopic: 'gridroot-mqtt-topic',
  ingestInstance: 'gridroot-ingest',
  reason: 'gridroot-reason',
  detail: 'gridroot-detail',
} as const

export interface PipelinePorts {
  readonly instanceId: string
  readonly topics: TopicSet
  readonly send: (record: SinkRecord) => Promise<void>
  /** Decode, checks and signature (services/ingest/domain/admit.ts), wherever they run. */
  readonly admit: (topic: string, payload: Uint8Array) => Promise<Decoded<Verified>>
  readonly metrics: IngestMetrics
  readonly logger: Logger
}

export type HandleMessage = (topic: string, payload: Buffer, receivedAtMs: number) => Promise<void>

const LOG_FIRST_REJECTIONS = 20
const LOG_EVERY_NTH_REJECTION = 1000

export function createPipeline(ports: PipelinePorts): HandleMessage {
  const { metrics, logger, instanceId } = ports
  const rejectionsSeen = new Map<string, number>()

  const toDlq = async (topic: string, payload: Buffer, receivedAtMs: number, rejection: Rejection) => {
    const key = parseTelemetryTopic(topic)?.deviceId ?? 'unknown'
    await ports.send({
      topic: ports.topics.dlq.name,
      key,
      value: payload,
      timestamp: String(receivedAtMs),
      headers: {
        [HEADER.reason]: rejection.reason,
        [HEADER.detail]: rejection.detail.slice(0, 500),
        [HEADER.mqttTopic]: topic.slice(0, 500),
        [HEADER.receivedAtMs]: String(receivedAtMs),
        [HEADER.ingestInstance]: instanceId,
      },
    })
    metrics.rejected.inc({ reason: rejection.reason })
    const seen = (rejectionsSeen.get(rejection.reason) ?? 0) + 1
    rejectionsSeen.set(rejection.reason, seen)
    if (seen <= LOG_FIRST_REJECTIONS || seen % LOG_EVERY_NTH_REJECTION === 0) {
      logger.warn(
        { reason: rejection.reason, detail: rejection.detail, deviceId: key, topic, seen },
        'message rejected to DLQ',
      )
    }
  }

  return async (topic, payload, receivedAtMs) => {
    metrics.received.inc()
    metrics.inFlight.inc()
    try {
      const admitted = await ports.admit(topic, payload)
      if (!admitted.ok) return await toDlq(topic, payload, receivedAtMs, admitted)
      await ports.send({
        topic: ports.topics.telemetry.name,
        key: admitted.value.deviceId,
        value: payload,
        timestamp: String(receivedAtMs),
        headers: { [HEADER.ingestInstance]: instanceId },
      })
      metrics.accepted.inc()
      metrics.acceptedReadings.inc(admitted.value.readings)
    } finally {
      metrics.inFlight.dec()
    }
  }
}
