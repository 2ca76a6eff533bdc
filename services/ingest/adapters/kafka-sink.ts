/**
 * Produces records to Kafka with an idempotent producer (acks=all) and tells each caller when its
 * own record is acknowledged. One produce request is in flight at a time (what kafkajs's
 * idempotent producer needs to keep sequence numbers in order); everything that arrives meanwhile
 * goes into the next request, so batches grow with load and latency stays one round trip.
 *
 * What fails is handled by what it is (`produceFailureKind`), through runtime/retry.ts:
 * - transient (broker down, leader moved, timeout): the same batch is retried with backoff until
 *   it goes through; callers wait, and so do their MQTT PUBACKs (ingest's backpressure);
 * - a record Kafka will never take (too large, invalid): the broker refused one partition's part
 *   of the request and wrote the others. The batch is sent again one partition at a time, each
 *   part exactly as it was in the request, with the same producer: the broker recognises the parts
 *   it wrote by their sequence numbers and does not write them twice; the refused part is split in
 *   halves until the record is alone, and that record is dead-lettered through its `deadLetter`.
 *   The records around it are produced as usual, so a poison record never blocks the ones behind
 *   it, and none is written twice;
 * - producer state (out-of-order sequence, unknown producer id): a fresh producer, then again;
 * - anything else (authorization, a topic that cannot exist): the sink stops, every caller's
 *   promise rejects (no PUBACK, the broker keeps the messages) and `onFatal` says what to fix.
 *
 * Batches are sized by bytes as well as records: the records of one topic in one request stay
 * under that topic's `max.message.bytes` less a margin (a partition's batch is a subset of them,
 * so it fits too), and a record that alone exceeds it is dead-lettered before it is sent.
 */
import { type Message, Partitioners, type Producer } from 'kafkajs'
import { getOrCreate } from '../../../core/collections.ts'
import { GridrootError } from '../../../core/errors/base.ts'
import { kafkaErrorType } from '../../../runtime/clients/kafka.ts'
import type { Logger } from '../../../runtime/log.ts'
import { classifyError, RetriesExhaustedError, retry } from '../../../runtime/retry.ts'
import type { RecordSink, SinkOutcome, SinkRecord, SinkRefusal } from '../ports.ts'

/** v2 record batch header (61 bytes) plus the log overhead in front of it (12). */
export const BATCH_OVERHEAD_BYTES = 73
/** Worst case of a record's varints (length, timestamp and offset deltas, key, value, header count). */
const RECORD_OVERHEAD_BYTES = 40
const HEADER_OVERHEAD_BYTES = 10
/** After this many fresh producers in a row for one batch, producer-state errors are fatal. */
const MAX_PRODUCER_RESETS_PER_BATCH = 3

/** What a record costs in a v2 record batch, bytes (an upper bound). */
export function estimateRecordBytes(record: SinkRecord): number {
  let bytes = RECORD_OVERHEAD_BYTES + record.value.length + Buffer.byteLength(record.key)
  for (const key in record.headers) {
    bytes += HEADER_OVERHEAD_BYTES + Buffer.byteLength(key) + Buffer.byteLength(record.headers[key] ?? '')
  }
  return bytes
}

/** Kafka's answers about one record (or a batch as a whole) that no retry will change. */
const RECORD_REFUSALS: ReadonlyMap<string, SinkRefusal['reason']> = new Map([
  ['MESSAGE_TOO_LARGE', 'KAFKA_RECORD_TOO_LARGE'],
  ['RECORD_LIST_TOO_LARGE', 'KAFKA_RECORD_TOO_LARGE'],
  ['INVALID_RECORD', 'KAFKA_RECORD_INVALID'],
  ['INVALID_TIMESTAMP', 'KAFKA_RECORD_INVALID'],
])
/** The broker and this producer disagree about sequence numbers: a fresh producer id fixes it. */
const PRODUCER_STATE_ERRORS = new Set([
  'OUT_OF_ORDER_SEQUENCE_NUMBER',
  'UNKNOWN_PRODUCER_ID',
  'INVALID_PRODUCER_EPOCH',
  'INVALID_PRODUCER_ID_MAPPING',
])

export type ProduceFailureKind = 'transient' | 'record' | 'producer-state' | 'fatal'

export function produceFailureKind(error: unknown): ProduceFailureKind {
  const type = kafkaErrorType(error)
  if (type !== undefined && RECORD_REFUSALS.has(type)) return 'record'
  if (type !== undefined && PRODUCER_STATE_ERRORS.has(type)) return 'producer-state'
  return classifyError(error) === 'retry' ? 'transient' : 'fatal'
}

/** The sink stopped: Kafka refused something no record can fix, or it was closed. */
export class KafkaSinkError extends GridrootError<'KAFKA_SINK_CLOSED' | 'KAFKA_PRODUCE_REFUSED'> {
  override readonly name = 'KafkaSinkError'
}

export interface KafkaSinkOptions {
  readonly maxBatchRecords: number
  /** Per topic, the most record bytes one request may carry (max.message.bytes less a margin). */
  readonly maxBatchBytes: ReadonlyMap<string, number>
  readonly retryInitialDelayMs?: number
  readonly retryMaxDelayMs: number
  /** Wait this long before a request that would leave smaller than `lingerMinRecords`. */
  readonly lingerMs?: number
  readonly lingerMinRecords?: number
  /**
   * The number of partitions of a topic, to tell which partition kafkajs's default partitioner
   * put each record in (the producer must use that partitioner) when a refused request is sent
   * again one partition at a time.
   */
  readonly partitionCount: (topic: string) => Promise<number>
}

export interface KafkaSinkEvents {
  onBatch?(records: number, latencyMs: number): void
  onError?(error: unknown, kind: ProduceFailureKind): void
  onProducerReset?(why: string): void
  onDeadLetter?(refusal: SinkRefusal, record: SinkRecord): void
  /** The sink has stopped for good; the error says what to fix. */
  onFatal?(error: KafkaSinkError): void
}

export interface KafkaSink extends RecordSink {
  /** When produce requests started failing (transiently), ms; undefined while they succeed. */
  readonly failingSinceMs: number | undefined
  /** Set once the sink has stopped for good. */
  readonly fatal: KafkaSinkError | undefined
  /** Waits up to `timeoutMs` for pending records, then stops; later sends are rejected. */
  close(timeoutMs?: number): Promise<void>
}

interface Pending {
  readonly record: SinkRecord
  readonly bytes: number
  readonly enqueuedMs: number
  readonly resolve: (outcome: SinkOutcome) => void
  readonly reject: (error: unknown) => void
}

/**
 * @example
 *   const sink = await startKafkaSink(() => kafka.producer({ idempotent: true, maxInFlightRequests: 1 }),
 *     logger, { maxBatchRecords: 2000, maxBatchBytes, retryMaxDelayMs: 5_000 })
 */
export async function startKafkaSink(
  createProducer: () => Producer,
  logger: Logger,
  options: KafkaSinkOptions,
  events: KafkaSinkEvents = {},
): Promise<KafkaSink> {
  const stopping = new AbortController()
  const retryTiming = {
    initialDelayMs: options.retryInitialDelayMs ?? 100,
    maxDelayMs: options.retryMaxDelayMs,
    signal: stopping.signal,
  }
  const smallestBudget = Math.min(...options.maxBatchBytes.values())
  const budgetOf = (topic: string) => options.maxBatchBytes.get(topic) ?? smallestBudget

  let producer = createProducer()
  await producer.connect()

  let queue: Pending[] = []
  let current: readonly Pending[] = []
  let sending = false
  let closed = false
  let fatal: KafkaSinkError | undefined
  let failingSinceMs: number | undefined
  let idle: (() => void) | undefined

  const group = (batch: readonly Pending[]) => {
    const byTopic = new Map<string, Message[]>()
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

  /** The longest prefix of the queue within the record and per-topic byte limits (at least one). */
  const takeBatch = (): Pending[] => {
    const used = new Map<string, number>()
    let n = 0
    for (; n < queue.length && n < options.maxBatchRecords; n++) {
      const p = queue[n] as Pending
      const topicBytes = (used.get(p.record.topic) ?? BATCH_OVERHEAD_BYTES) + p.bytes
      if (n > 0 && topicBytes > budgetOf(p.record.topic)) break
      used.set(p.record.topic, topicBytes)
    }
    const batch = queue.slice(0, n)
    queue = queue.slice(n)
    return batch
  }

  const stop = (error: KafkaSinkError) => {
    if (fatal) return
    fatal = error
    logger.fatal({ code: error.code, hints: error.metaMessages, err: error.cause }, error.shortMessage)
    for (const p of [...current, ...queue]) p.reject(error)
    queue = []
    events.onFatal?.(error)
  }

  const produce = (batch: readonly Pending[]) =>
    retry(
      async () => {
        const startedMs = performance.now()
        await producer.sendBatch({ topicMessages: group(batch), acks: -1 })
        events.onBatch?.(batch.length, performance.now() - startedMs)
      },
      {
        operation: 'kafka produce',
        ...retryTiming,
        classify: (error) => (produceFailureKind(error) === 'transient' ? 'retry' : 'permanent'),
        onRetry: ({ error, attempt, delayMs }) => {
          failingSinceMs ??= Date.now()
          events.onError?.(error, 'transient')
          logger.warn(
            { err: error, attempt, records: batch.length, retryInMs: delayMs },
            'kafka produce failed; retrying',
          )
        },
      },
    )

  /**
   * A new producer id: after a refused request, partitions that the broker did write in it are
   * ahead of the sequence numbers kafkajs rolled back, and a differently split retry would be
   * refused as out of order. A fresh id starts every partition's sequence again (the records
   * written before count once more downstream: at least once).
   */
  const partitioner = Partitioners.DefaultPartitioner()
  /**
   * The batch's records by the (topic, partition) kafkajs gives them (its default partitioner,
   * keyed by the record key), each part in the batch's order: what went into each partition's
   * record batch of the request.
   */
  const byPartition = async (batch: readonly Pending[]): Promise<Pending[][]> => {
    const counts = new Map<string, number>()
    for (const { record } of batch) {
      if (counts.has(record.topic)) continue
      const count = await retry(() => options.partitionCount(record.topic), {
        operation: 'kafka partition count',
        ...retryTiming,
      })
      counts.set(record.topic, count)
    }
    const parts = new Map<string, Pending[]>()
    for (const p of batch) {
      const { topic, key, value } = p.record
      const partitionMetadata = Array.from({ length: counts.get(topic) ?? 1 }, (_, partitionId) => ({
        partitionId,
        leader: 0,
        replicas: [],
        isr: [],
        partitionErrorCode: 0,
      }))
      const partition = partitioner({ topic, partitionMetadata, message: { key, value } })
      getOrCreate(parts, `${topic}\u0000${partition}`, () => []).push(p)
    }
    return [...parts.values()]
  }

  const resetProducer = async (why: string) => {
    events.onProducerReset?.(why)
    logger.warn({ why }, 'kafka producer reset')
    await producer.disconnect().catch(() => undefined)
    producer = await retry(
      async () => {
        const fresh = createProducer()
        try {
          await fresh.connect()
          return fresh
        } catch (error) {
          await fresh.disconnect().catch(() => undefined)
          throw error
        }
      },
      { operation: 'kafka producer connect', ...retryTiming },
    )
  }

  const refusalOf = (error: unknown, record: SinkRecord): SinkRefusal => ({
    reason: RECORD_REFUSALS.get(kafkaErrorType(error) ?? '') ?? 'KAFKA_RECORD_INVALID',
    detail: `Kafka refused the record for ${record.topic} (${estimateRecordBytes(record)} bytes): ${
      error instanceof Error ? error.message : String(error)
    }`.slice(0, 500),
  })

  const refusedError = (error: unknown, what: string) =>
    new KafkaSinkError('KAFKA_PRODUCE_REFUSED', `Kafka refused ${what}; ingest stops`, {
      cause: error,
      metaMessages: [
        `Kafka said: ${error instanceof Error ? error.message : String(error)}`,
        'Check that the topics exist and that this client may write to them (ACLs), then restart ingest; the MQTT broker keeps every unacknowledged message.',
      ],
    })

  /**
   * `p`'s dead letter, as a pending record that resolves `p` once it is acknowledged; when its
   * own dead letter is needed already (too large as well), that one. Undefined (and the sink
   * stopped) when there is none.
   */
  const letterFor = (p: Pending, refusal: SinkRefusal): Pending | undefined => {
    const letter = p.record.deadLetter?.(refusal)
    if (!letter) {
      const error = refusedError(
        new Error(refusal.detail),
        `a record with no dead letter (${refusal.reason})`,
      )
      stop(error)
      p.reject(error)
      return undefined
    }
    events.onDeadLetter?.(refusal, p.record)
    logger.warn({ reason: refusal.reason, detail: refusal.detail, key: p.record.key }, 'record dead-lettered')
    const next: Pending = {
      record: letter,
      bytes: estimateRecordBytes(letter),
      enqueuedMs: p.enqueuedMs,
      resolve: () => p.resolve({ delivered: 'dead-letter', refusal }),
      reject: p.reject,
    }
    return fits(next) ? next : letterFor(next, tooLarge(next))
  }

  const fits = (p: Pending) => BATCH_OVERHEAD_BYTES + p.bytes <= budgetOf(p.record.topic)

  const tooLarge = (p: Pending): SinkRefusal => ({
    reason: 'KAFKA_RECORD_TOO_LARGE',
    detail: `record of ${p.bytes} bytes exceeds the ${budgetOf(p.record.topic)} bytes a request to ${p.record.topic} may carry (max.message.bytes less the margin)`,
  })

  const deliver = async (batch: readonly Pending[], resets: number): Promise<void> => {
    try {
      await produce(batch)
      failingSinceMs = undefined
      for (const p of batch) p.resolve({ delivered: 'kafka' })
      return
    } catch (error) {
      if (error instanceof RetriesExhaustedError) {
        // Only on close: the records stay unacknowledged, so MQTT redelivers them.
        for (const p of batch) p.reject(error)
        return
      }
      const kind = produceFailureKind(error)
      events.onError?.(error, kind)
      if (kind === 'producer-state' && resets < MAX_PRODUCER_RESETS_PER_BATCH) {
        await resetProducer(kafkaErrorType(error) ?? 'producer state')
        return deliver(batch, resets + 1)
      }
      if (kind === 'record') {
        // Same producer: kafkajs kept every partition's sequence where it was before the
        // request, the broker wrote the parts it did not refuse, and a part sent again exactly
        // as before is one it knows (a duplicate, acknowledged without a second copy). A fresh
        // producer would write those parts twice.
        const parts = batch.length > 1 ? await byPartition(batch) : [batch]
        if (parts.length > 1) {
          for (const part of parts) {
            if (fatal) return
            await deliver(part, 0)
          }
          return
        }
        // One partition's part, none of it written: its halves go in sequence.
        if (batch.length > 1) {
          const half = Math.ceil(batch.length / 2)
          await deliver(batch.slice(0, half), 0)
          if (!fatal) await deliver(batch.slice(half), 0)
          return
        }
        const only = batch[0] as Pending
        const letter = letterFor(only, refusalOf(error, only.record))
        if (letter) await deliver([letter], 0)
        return
      }
      stop(refusedError(error, `a produce request of ${batch.length} record(s)`))
    }
  }

  const pump = async (): Promise<void> => {
    if (sending) return
    sending = true
    try {
      while (queue.length > 0 && !fatal && !stopping.signal.aborted) {
        // A short linger lets a small batch fill up: fewer, larger requests cost the broker and
        // kafkajs less CPU per record, at the price of a few milliseconds of latency.
        if (options.lingerMs && queue.length < (options.lingerMinRecords ?? 1) && !closed) {
          await new Promise((r) => setTimeout(r, options.lingerMs))
        }
        // `current` is the whole batch until all of it is settled, however it gets split.
        current = takeBatch()
        await deliver(current, 0)
        current = []
      }
    } catch (error) {
      // resetProducer gave up (only when closing): what is pending stays unacknowledged.
      for (const p of [...current, ...queue]) p.reject(error)
      queue = []
      current = []
    } finally {
      sending = false
      if (queue.length === 0) idle?.()
    }
  }

  return {
    send(record) {
      if (fatal) return Promise.reject(fatal)
      if (closed) {
        return Promise.reject(
          new KafkaSinkError('KAFKA_SINK_CLOSED', 'the Kafka sink is closed; the record was not produced'),
        )
      }
      return new Promise<SinkOutcome>((resolve, reject) => {
        const p: Pending = {
          record,
          bytes: estimateRecordBytes(record),
          enqueuedMs: Date.now(),
          resolve,
          reject,
        }
        // Kafka would refuse it whole: its dead letter goes in its place, without asking.
        const queued = fits(p) ? p : letterFor(p, tooLarge(p))
        if (!queued) return
        queue.push(queued)
        void pump()
      })
    },
    get pending() {
      return queue.length + current.length
    },
    oldestPendingAgeMs(nowMs) {
      const oldest = current[0] ?? queue[0]
      return oldest === undefined ? 0 : Math.max(0, nowMs - oldest.enqueuedMs)
    },
    get failingSinceMs() {
      return failingSinceMs
    },
    get fatal() {
      return fatal
    },
    async close(timeoutMs = 30_000) {
      closed = true
      if (queue.length > 0 || sending) {
        await Promise.race([
          new Promise<void>((r) => (idle = r)),
          new Promise<void>((r) => setTimeout(r, timeoutMs).unref()),
        ])
      }
      stopping.abort()
      for (const p of queue) p.reject(new KafkaSinkError('KAFKA_SINK_CLOSED', 'the Kafka sink closed'))
      queue = []
      await producer.disconnect().catch(() => undefined)
    },
  }
}
