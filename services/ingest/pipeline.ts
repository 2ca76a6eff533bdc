/**
 * Ingest's handling of one MQTT message: admit (decode, topic, registry, class, signature; on
 * worker threads), then produce to `telemetry.v1`, or to `telemetry.dlq` with the reason and the
 * original bytes (cut to a bound, with the digest and size of the whole). The returned promise
 * settles only after Kafka has acknowledged, which is when the MQTT source may PUBACK. It never
 * throws on bad input: input problems become DLQ records, and so does a record Kafka refuses.
 */
import { createHash } from 'node:crypto'
import type { TopicSet } from '../../core/kafka/topics.ts'
import type { Rejection } from '../../core/telemetry/reasons.ts'
import { parseTelemetryTopic } from '../../core/telemetry/topic.ts'
import type { Logger } from '../../runtime/log.ts'
import type { Admitted } from './domain/admit.ts'
import type { IngestMetrics } from './metrics.ts'
import type { AdmissionFailure, SinkOutcome, SinkRecord, SinkRefusal } from './ports.ts'

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
  /** Only on a DLQ record whose value was cut: the size and sha256 (hex) of the whole original. */
  originalBytes: 'gridroot-original-bytes',
  originalSha256: 'gridroot-original-sha256',
} as const

/** Longest detail and MQTT topic kept in DLQ headers (UTF-16 units; an MQTT topic may be 64 KiB). */
const HEADER_TEXT_MAX = 500

export interface PipelinePorts {
  readonly instanceId: string
  readonly topics: TopicSet
  readonly send: (record: SinkRecord) => Promise<SinkOutcome>
  /** Decode, checks and signature (services/ingest/domain/admit.ts), wherever they run. */
  readonly admit: (topic: string, payload: Uint8Array) => Promise<Admitted>
  /** Longest original value a DLQ record keeps; longer ones are cut (see `deadLetterRecord`). */
  readonly dlqMaxValueBytes: number
  readonly metrics: IngestMetrics
  readonly logger: Logger
}

export type HandleMessage = (topic: string, payload: Buffer, receivedAtMs: number) => Promise<void>

export interface DeadLetterInput {
  readonly dlqTopic: string
  readonly instanceId: string
  readonly mqttTopic: string
  readonly payload: Buffer
  readonly receivedAtMs: number
  readonly reason: string
  readonly detail: string
  readonly maxValueBytes: number
}

/**
 * The DLQ record for a rejected message. Its value is the original bytes, cut to
 * `maxValueBytes` when longer (a 2 MB publish must not become a record Kafka refuses); a cut
 * record says so with the whole original's size and sha256, so the original can be recognised.
 * When Kafka refuses even that, its own dead letter keeps the headers and no value.
 */
export function deadLetterRecord(input: DeadLetterInput): SinkRecord {
  const { payload } = input
  const cut = payload.length > input.maxValueBytes
  const headers: Record<string, string> = {
    [HEADER.reason]: input.reason,
    [HEADER.detail]: input.detail.slice(0, HEADER_TEXT_MAX),
    [HEADER.mqttTopic]: input.mqttTopic.slice(0, HEADER_TEXT_MAX),
    [HEADER.receivedAtMs]: String(input.receivedAtMs),
    [HEADER.ingestInstance]: input.instanceId,
  }
  if (cut) addOriginal(headers, payload)
  const record: SinkRecord = {
    topic: input.dlqTopic,
    key: parseTelemetryTopic(input.mqttTopic)?.deviceId ?? 'unknown',
    value: cut ? payload.subarray(0, input.maxValueBytes) : payload,
    timestamp: String(input.receivedAtMs),
    headers,
  }
  return {
    ...record,
    deadLetter: (refusal) => {
      const stub = { ...headers, [HEADER.detail]: `${input.detail} | ${refusal.reason}: ${refusal.detail}` }
      if (!cut) addOriginal(stub, payload)
      stub[HEADER.detail] = (stub[HEADER.detail] as string).slice(0, HEADER_TEXT_MAX)
      return { ...record, value: Buffer.alloc(0), headers: stub }
    },
  }
}

function addOriginal(headers: Record<string, string>, payload: Buffer): void {
  headers[HEADER.originalBytes] = String(payload.length)
  headers[HEADER.originalSha256] = createHash('sha256').update(payload).digest('hex')
}

const LOG_FIRST_REJECTIONS = 20
const LOG_EVERY_NTH_REJECTION = 1000

export function createPipeline(ports: PipelinePorts): HandleMessage {
  const { metrics, logger, instanceId } = ports
  const rejectionsSeen = new Map<string, number>()

  const counted = (reason: string, detail: string, topic: string) => {
    metrics.rejected.inc({ reason })
    const seen = (rejectionsSeen.get(reason) ?? 0) + 1
    rejectionsSeen.set(reason, seen)
    if (seen <= LOG_FIRST_REJECTIONS || seen % LOG_EVERY_NTH_REJECTION === 0) {
      const deviceId = parseTelemetryTopic(topic)?.deviceId ?? 'unknown'
      logger.warn(
        { reason, detail, deviceId, topic: topic.slice(0, HEADER_TEXT_MAX), seen },
        'message rejected to DLQ',
      )
    }
  }

  const letter = (
    topic: string,
    payload: Buffer,
    receivedAtMs: number,
    why: Rejection | SinkRefusal | AdmissionFailure,
  ) => {
    const record = deadLetterRecord({
      dlqTopic: ports.topics.dlq.name,
      instanceId,
      mqttTopic: topic,
      payload,
      receivedAtMs,
      reason: why.reason,
      detail: why.detail,
      maxValueBytes: ports.dlqMaxValueBytes,
    })
    if (record.value.length < payload.length) metrics.dlqTruncated.inc()
    return record
  }

  return async (topic, payload, receivedAtMs) => {
    metrics.received.inc()
    metrics.inFlight.inc()
    try {
      const admitted = await ports.admit(topic, payload)
      if (!admitted.ok) {
        await ports.send(letter(topic, payload, receivedAtMs, admitted))
        counted(admitted.reason, admitted.detail, topic)
        return
      }
      const outcome = await ports.send({
        topic: ports.topics.telemetry.name,
        key: admitted.value.deviceId,
        value: payload,
        timestamp: String(receivedAtMs),
        headers: { [HEADER.ingestInstance]: instanceId },
        deadLetter: (refusal) => letter(topic, payload, receivedAtMs, refusal),
      })
      if (outcome.delivered === 'dead-letter') {
        counted(outcome.refusal.reason, outcome.refusal.detail, topic)
        return
      }
      metrics.accepted.inc()
      metrics.acceptedReadings.inc(admitted.value.readings)
    } finally {
      metrics.inFlight.dec()
    }
  }
}
