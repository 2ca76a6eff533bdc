/**
 * Whether the API's DLQ reader (adapters/dlq-tail.ts) still reads `telemetry.dlq`, and how old
 * what it holds is. Pure.
 *
 * The DLQ routes answer from memory, so a reader that stopped reading (Kafka frozen, its
 * consumer crashed, left its group or hung in a rejoin: kafkajs #1630) served the same counts
 * and pages forever while /healthz said ok (issue 12 F8). The consumer's own state comes from
 * the consumer watch (core/kafka/consumer-watch.ts: out of the group or crashed at once, no
 * fetch answered or records left unconsumed for the stall bound); past the watch's exit bound
 * the reader does not exit the process (the API serves far more than the DLQ) but replaces its
 * consumer, which reads the topic again from its beginning into the same store (the store
 * takes each (partition, offset) once). While the consumer is being replaced the reader says so.
 *
 * `asOfMs` is when Kafka last answered the reader's fetch: what the reader holds is the topic
 * as of then. An unhealthy reader's data is `staleForMs` old; the DLQ routes then answer 503
 * rather than old counts without a word.
 */
import type { ConsumerProblemCode, ConsumerVerdict } from '../../../core/kafka/consumer-watch.ts'

export type DlqReaderProblemCode = ConsumerProblemCode | 'DLQ_READER_RESTARTING'

export interface DlqReaderObservation {
  /** The current consumer's verdict; undefined while no consumer runs (being replaced). */
  readonly consumer: ConsumerVerdict | undefined
  /** Since when the consumer is being replaced (past the exit bound), with the last failure. */
  readonly replacing: { readonly sinceMs: number; readonly lastError: string | undefined } | undefined
  /** When the reader started (wall ms). */
  readonly startedMs: number
  /** When Kafka last answered a fetch of the reader (any of its consumers). */
  readonly lastFetchMs: number | undefined
  /** The reader reached the end offsets the topic had when it started. */
  readonly caughtUp: boolean
  /** The consumer watch's stall bound: how long a start may take to join. */
  readonly stallMs: number
}

export type DlqReaderHealth =
  | {
      readonly ok: true
      readonly caughtUp: boolean
      readonly asOfMs: number | undefined
    }
  | {
      readonly ok: false
      readonly code: DlqReaderProblemCode
      readonly reason: string
      /** When the problem began. */
      readonly sinceMs: number
      readonly asOfMs: number | undefined
      /** How old the data the reader holds is (since Kafka last answered it, or since start). */
      readonly staleForMs: number
    }

export function dlqReaderHealth(o: DlqReaderObservation, nowMs: number): DlqReaderHealth {
  const staleForMs = Math.max(0, nowMs - (o.lastFetchMs ?? o.startedMs))
  // A consumer that is being replaced is the problem whatever its successor says so far: the
  // successor joins and re-reads before it is any use.
  if (o.replacing !== undefined && (o.consumer === undefined || o.consumer.state !== 'healthy'))
    return {
      ok: false,
      code: 'DLQ_READER_RESTARTING',
      reason: `the DLQ reader's consumer stalled past its restart bound and is being replaced${o.replacing.lastError === undefined ? '' : ` (last attempt: ${o.replacing.lastError})`}`,
      sinceMs: o.replacing.sinceMs,
      asOfMs: o.lastFetchMs,
      staleForMs,
    }
  const consumer = o.consumer
  if (consumer === undefined || consumer.state === 'healthy')
    return { ok: true, caughtUp: o.caughtUp, asOfMs: o.lastFetchMs }
  // Starting: the first join of a fresh group takes a moment; the reader holds nothing yet and
  // says so (caughtUp false) rather than failing, until the stall bound says otherwise.
  if (
    o.lastFetchMs === undefined &&
    o.replacing === undefined &&
    consumer.code === 'CONSUMER_NOT_IN_GROUP' &&
    nowMs - o.startedMs < o.stallMs
  )
    return { ok: true, caughtUp: false, asOfMs: undefined }
  return {
    ok: false,
    code: consumer.code,
    reason: consumer.reason,
    sinceMs: consumer.sinceMs,
    asOfMs: o.lastFetchMs,
    staleForMs,
  }
}

/** The /healthz check of the reader (`kafka-dlq`): ok, or failing with its code and reason. */
export function dlqReaderCheck(health: DlqReaderHealth): {
  readonly ok: boolean
  readonly code?: string
  readonly detail?: string
} {
  if (health.ok) return health.caughtUp ? { ok: true } : { ok: true, detail: 'catching up with the topic' }
  return {
    ok: false,
    code: health.code,
    detail: `${health.reason}; the DLQ data this API holds is ${Math.round(health.staleForMs / 1000)} s old`,
  }
}
