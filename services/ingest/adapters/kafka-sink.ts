/**
 * Produces records to Kafka with an idempotent producer (acks=all) and tells each caller when its
 * own record is acknowledged. One produce request is in flight at a time (what kafkajs's
 * idempotent producer needs to keep sequence numbers in order); everything that arrives meanwhile
 * is sent together in the next request, so batches grow with load and latency stays one round
 * trip. A failed request is retried with capped backoff until it succeeds or the sink closes:
 * callers wait (and MQTT PUBACKs wait with them), which is ingest's backpressure.
 */
import type { IHeaders, Producer } from 'kafkajs'
import { getOrCreate } from '../../../core/collections.ts'
import type { Logger } from '../../../runtime/log.ts'

export interface SinkRecord {
  readonly topic: string
  readonly key: string
  readonly value: Buffer
  /** Kafka record timestamp, ms since the Unix epoch as a decimal string (kafkajs's form). */
  readonly timestamp: string
  readonly headers: IHeaders
}

export interface KafkaSinkEvents {
  onBatch?(records: number, latencyMs: number): void
  onError?(error: unknown, attempt: number): void
}

export interface KafkaSink {
  /** Resolves once Kafka has acknowledged the record (acks=all). */
  send(record: SinkRecord): Promise<void>
  /** Records accepted but not yet acknowledged. */
  readonly pending: number
  /** Waits for pending records, then stops. Records sent after close are rejected. */
  close(): Promise<void>
}

export class SinkClosedError extends Error {
  override readonly name = 'SinkClosedError'
  constructor() {
    super('the Kafka sink is closed; the record was not produced')
  }
}

interface Pending {
  readonly record: SinkRecord
  readonly resolve: () => void
  readonly reject: (error: unknown) => void
}

export function createKafkaSink(
  producer: Producer,
  logger: Logger,
  options: {
    readonly maxBatchRecords: number
    readonly retryMaxDelayMs: number
    /** Wait this long before a request that would leave smaller than `lingerMinRecords`. */
    readonly lingerMs?: number
    readonly lingerMinRecords?: number
  },
  events: KafkaSinkEvents = {},
): KafkaSink {
  let queue: Pending[] = []
  let inFlight = 0
  let sending = false
  let closed = false
  let closing: (() => void) | undefined

  const group = (batch: readonly Pending[]) => {
    const byTopic = new Map<string, { key: string; value: Buffer; timestamp: string; headers: IHeaders }[]>()
    for (const { record } of batch) {
      getOrCreate(byTopic, record.topic, () => []).push({
        key: record.key,
        value: record.value,
        timestamp: record.timestamp,
        headers: record.headers,
      })
    }
    return [...byTopic].map(([topic, messages]) => ({ topic, messages }))
  }

  const pump = async (): Promise<void> => {
    if (sending) return
    sending = true
    try {
      while (queue.length > 0) {
        // A short linger lets a small batch fill up: fewer, larger requests cost the broker and
        // kafkajs less CPU per record, at the price of a few milliseconds of latency.
        if (options.lingerMs && queue.length < (options.lingerMinRecords ?? 1) && !closed) {
          await new Promise((r) => setTimeout(r, options.lingerMs))
        }
        const batch = queue.slice(0, options.maxBatchRecords)
        queue = queue.slice(batch.length)
        inFlight = batch.length
        for (let attempt = 1; ; attempt++) {
          const startedMs = performance.now()
          try {
            await producer.sendBatch({ topicMessages: group(batch), acks: -1 })
            events.onBatch?.(batch.length, performance.now() - startedMs)
            for (const p of batch) p.resolve()
            break
          } catch (error) {
            events.onError?.(error, attempt)
            if (closed && attempt >= 3) {
              for (const p of batch) p.reject(error)
              break
            }
            const delayMs = Math.min(options.retryMaxDelayMs, 100 * 2 ** Math.min(attempt, 10))
            logger.warn(
              { err: error, attempt, records: batch.length, retryInMs: delayMs },
              'kafka produce failed; retrying',
            )
            await new Promise((r) => setTimeout(r, delayMs))
          }
        }
        inFlight = 0
      }
    } finally {
      sending = false
      if (queue.length === 0 && closing) closing()
    }
  }

  return {
    send(record) {
      if (closed) return Promise.reject(new SinkClosedError())
      return new Promise<void>((resolve, reject) => {
        queue.push({ record, resolve, reject })
        void pump()
      })
    },
    get pending() {
      return queue.length + inFlight
    },
    async close() {
      closed = true
      if (queue.length > 0 || sending) await new Promise<void>((r) => (closing = r))
    },
  }
}
