/**
 * The interfaces ingest's flow needs from the outside (a record sink, a message source), so that
 * `pipeline.ts` and the domain never import an adapter. The Kafka sink and the MQTT source in
 * `adapters/` implement them.
 */

/** One Kafka record as the pipeline hands it over. */
export interface SinkRecord {
  readonly topic: string
  readonly key: string
  readonly value: Buffer
  /** Kafka record timestamp, ms since the Unix epoch as a decimal string (kafkajs's form). */
  readonly timestamp: string
  readonly headers: Readonly<Record<string, string>>
  /**
   * The record to keep instead when Kafka will never take this one (too large for the topic, or
   * refused as invalid). Without it, such a refusal stops the sink (a dead letter that cannot be
   * written is a configuration problem, not a bad record).
   */
  readonly deadLetter?: (refusal: SinkRefusal) => SinkRecord
}

/**
 * Why the sink dead-lettered a record instead of producing it. Stable codes, like the rejection
 * reasons of core/telemetry/reasons.ts: written into the DLQ record and counted in metrics.
 */
export const SINK_REFUSAL_REASONS = {
  KAFKA_RECORD_TOO_LARGE: "the record is larger than the topic's max.message.bytes (less a safety margin)",
  KAFKA_RECORD_INVALID: 'Kafka refused the record as invalid (INVALID_RECORD, INVALID_TIMESTAMP)',
} as const satisfies Record<string, string>

export type SinkRefusalReason = keyof typeof SINK_REFUSAL_REASONS
export const SINK_REFUSAL_REASON_CODES = Object.keys(SINK_REFUSAL_REASONS) as SinkRefusalReason[]

export interface SinkRefusal {
  readonly reason: SinkRefusalReason
  readonly detail: string
}

/**
 * Why admission itself failed on a message (not the message's content: core/telemetry/reasons.ts
 * has those). Stable codes, written into the DLQ record and counted in metrics. Both mean that
 * the message's bytes expose a bug: the DLQ keeps them (cut, with their digest) for whoever fixes
 * it, and the message is acknowledged so that it cannot stop ingest.
 */
export const ADMISSION_FAILURE_REASONS = {
  ADMISSION_WORKER_LOST:
    'an admission worker crashed, or hung past GRIDROOT_INGEST_ADMISSION_TIMEOUT_MS and was terminated, on this message alone GRIDROOT_INGEST_ADMISSION_MAX_LOSSES times',
  ADMISSION_ERROR: 'admission threw on this message (the error is in the detail)',
} as const satisfies Record<string, string>

export type AdmissionFailureReason = keyof typeof ADMISSION_FAILURE_REASONS
export const ADMISSION_FAILURE_REASON_CODES = Object.keys(
  ADMISSION_FAILURE_REASONS,
) as AdmissionFailureReason[]

export interface AdmissionFailure {
  readonly ok: false
  readonly reason: AdmissionFailureReason
  readonly detail: string
}

/** Where a record ended up once the sink resolved it. */
export type SinkOutcome =
  | { readonly delivered: 'kafka' }
  | { readonly delivered: 'dead-letter'; readonly refusal: SinkRefusal }

export interface RecordSink {
  /**
   * Resolves once Kafka has acknowledged the record (acks=all), or its dead letter; rejects only
   * when the sink stops (closed, or a failure no record can fix).
   */
  send(record: SinkRecord): Promise<SinkOutcome>
  /** Records accepted but not yet acknowledged. */
  readonly pending: number
  /** Age of the oldest record not yet acknowledged, ms (0 when none is pending). */
  oldestPendingAgeMs(nowMs: number): number
}

export type MessageHandler = (topic: string, payload: Buffer, receivedAtMs: number) => Promise<void>

export interface MessageSource {
  /** Messages handed to the handler and not yet acknowledged to the broker. */
  readonly inFlight: number
  readonly connections: number
  /** Connections that have been down longer than `graceMs` (0 while all are up or reconnecting quickly). */
  downLongerThan(graceMs: number, nowMs: number): number
  /**
   * Connections whose session the broker handed to another client with the same client id
   * within the last `windowMs` (MQTT 5 DISCONNECT 0x8E): two processes share one instance name.
   */
  takenOverWithin(windowMs: number, nowMs: number): number
  /** Connections dropped 3 times within `windowMs` although they reconnect at once. */
  flappingWithin(windowMs: number, nowMs: number): number
  /** Stops taking new messages, waits for in-flight ones to be acknowledged, disconnects. */
  drain(timeoutMs: number): Promise<void>
}

/** What /healthz needs to know of the admission workers (services/ingest/health.ts). */
export interface AdmitPoolHealth {
  readonly workers: number
  /** Workers running now (a crashed one is replaced; until its replacement is up it is not). */
  readonly running: number
  /**
   * Workers loading for the first time since start (not ready yet, never lost): starting, not
   * down. A replacement after a crash is not counted here: that slot is down until it is ready.
   */
  readonly starting: number
  /** Workers that have crashed (or exited) since start. */
  readonly crashes: number
  /** The last crash's message, if any. */
  readonly lastCrash: string | undefined
  /** Age of the oldest hand-off a worker has not answered, ms (0 when none is out). */
  readonly oldestHandOffAgeMs: number
}
