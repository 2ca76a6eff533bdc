/**
 * The DLQ as the API browses it: a consumer that reads `telemetry.dlq` from its beginning and
 * keeps the newest records' metadata (reason, detail, topic, size, a short preview) in memory
 * (domain/dlq-store.ts, keyed by partition and offset), with counts by reason over everything it
 * read. Pages are then lookups, with no Kafka round trip per request. It commits nothing: every
 * API instance reads the whole topic itself.
 *
 * Its consumer is watched (runtime/kafka-consumer-watch.ts): a reader that stopped reading says
 * so (`health()`, domain/dlq-reader-health.ts) instead of serving old data as current, and one
 * stalled past the restart bound is replaced by a new consumer (issue 12 F8).
 * The header names are the DLQ contract of docs/architecture.md ("Kafka").
 */
import type { Consumer, EachMessagePayload, IHeaders } from 'kafkajs'
import { type ConsumerProblem, unconsumedRecords } from '../../../core/kafka/consumer-watch.ts'
import { createKafka } from '../../../runtime/clients/kafka.ts'
import type { Endpoints } from '../../../runtime/endpoints.ts'
import { type ConsumerWatch, watchConsumer } from '../../../runtime/kafka-consumer-watch.ts'
import type { Logger } from '../../../runtime/log.ts'
import { dlqReaderCheck, dlqReaderHealth } from '../domain/dlq-reader-health.ts'
import { createDlqStore } from '../domain/dlq-store.ts'
import type { DlqReader, HealthProbe } from '../ports.ts'

const DLQ_HEADER = {
  reason: 'gridroot-reason',
  detail: 'gridroot-detail',
  mqttTopic: 'gridroot-mqtt-topic',
  receivedAtMs: 'gridroot-received-at-ms',
} as const

const PREVIEW_BYTES = 256

export interface DlqTail extends DlqReader {
  readonly probe: HealthProbe
  /**
   * Resolves when the reader has fetched from Kafka and reached the end offsets the topic had
   * when it started.
   */
  caughtUp(): Promise<void>
  stop(): Promise<void>
}

/** The consumer watch's bounds (core/kafka/consumer-watch.ts) as the DLQ reader uses them. */
export interface DlqWatchLimits {
  /** A problem this long makes the reader unhealthy (/healthz, DLQ routes 503). */
  readonly stallMs: number
  /** A problem this long replaces the consumer (a new group reading from the beginning). */
  readonly restartMs: number
}

export const DEFAULT_DLQ_WATCH: DlqWatchLimits = { stallMs: 30_000, restartMs: 180_000 }

/** Between attempts to start a replacement consumer that failed (Kafka still down). */
const REPLACE_RETRY_MS = 5_000

const header = (headers: IHeaders | undefined, name: string): string => {
  const value = headers?.[name]
  if (value === undefined) return ''
  const first = Array.isArray(value) ? value[0] : value
  return first === undefined ? '' : Buffer.isBuffer(first) ? first.toString('utf8') : String(first)
}

export async function startDlqTail(options: {
  readonly kafka: Endpoints['kafka']
  readonly topic: string
  readonly instanceId: string
  readonly retainRecords: number
  readonly logger: Logger
  readonly watch?: DlqWatchLimits
}): Promise<DlqTail> {
  const limits = options.watch ?? DEFAULT_DLQ_WATCH
  const kafka = createKafka(options.kafka, `${options.instanceId}-dlq`)
  const store = createDlqStore({ retainRecords: options.retainRecords })
  const startedMs = Date.now()
  let lastFetchMs: number | undefined
  let replacing: { sinceMs: number; lastError: string | undefined } | undefined
  let current: { consumer: Consumer; watch: ConsumerWatch; generation: number } | undefined
  let generation = 0
  let stopped = false
  let retryTimer: ReturnType<typeof setTimeout> | undefined

  // Kept connected: the consumer watch measures the lag (records past what the store holds).
  const admin = kafka.admin()
  await admin.connect()
  const endOffsets = (await admin.fetchTopicOffsets(options.topic)).map((p) => ({
    partition: p.partition,
    high: BigInt(p.high),
  }))
  for (const p of endOffsets) store.track(p.partition)
  let caughtUp = false
  let markCaughtUp: () => void = () => undefined
  const caughtUpPromise = new Promise<void>((resolve) => {
    markCaughtUp = resolve
  })
  const checkCaughtUp = () => {
    if (caughtUp || lastFetchMs === undefined) return
    if (endOffsets.every((p) => (store.nextOffset(p.partition) ?? 0n) >= p.high)) {
      caughtUp = true
      markCaughtUp()
    }
  }

  const eachMessage = async ({ partition, message }: EachMessagePayload) => {
    const value = message.value ?? Buffer.alloc(0)
    // Ingest's receive time; a record without a readable one (written by hand) has Kafka's.
    const receivedAtMs = Number(header(message.headers, DLQ_HEADER.receivedAtMs) || Number.NaN)
    // A replacement consumer reads the topic again from its beginning: the store takes each
    // (partition, offset) once.
    store.add({
      partition,
      offset: message.offset,
      key: message.key?.toString('utf8') ?? '',
      reason: header(message.headers, DLQ_HEADER.reason) || 'UNKNOWN',
      detail: header(message.headers, DLQ_HEADER.detail),
      mqttTopic: header(message.headers, DLQ_HEADER.mqttTopic),
      receivedAtMs: Number.isFinite(receivedAtMs) ? receivedAtMs : Number(message.timestamp),
      sizeBytes: value.length,
      preview: value.subarray(0, PREVIEW_BYTES).toString('utf8'),
    })
    checkCaughtUp()
  }

  const lag = async () => {
    const ends = (await admin.fetchTopicOffsets(options.topic)).map((o) => ({
      partition: o.partition,
      low: BigInt(o.low),
      high: BigInt(o.high),
    }))
    const held = new Map<number, bigint>()
    for (const e of ends) {
      const next = store.nextOffset(e.partition)
      if (next !== undefined) held.set(e.partition, next)
    }
    return unconsumedRecords(
      ends,
      ends.map((e) => e.partition),
      held,
    )
  }

  /** Starts a consumer of a group of its own (nothing is committed: it reads everything). */
  const startConsumer = async (gen: number) => {
    const consumer: Consumer = kafka.consumer({
      groupId: `${options.instanceId}-dlq-${process.pid}-${Date.now().toString(36)}-${gen}`,
      maxWaitTimeInMs: 500,
    })
    const watch = watchConsumer(consumer, {
      stallMs: limits.stallMs,
      exitMs: limits.restartMs,
      lag,
      onExit: (problem) => replace(gen, problem),
    })
    current = { consumer, watch, generation: gen }
    // A consumer replaced while it was still starting must not go on reading.
    const superseded = async () => {
      if (current?.generation === gen) return false
      watch.stop()
      await consumer.disconnect().catch(() => undefined)
      return true
    }
    consumer.on(consumer.events.FETCH, () => {
      if (current?.generation !== gen) return
      lastFetchMs = Date.now()
      if (replacing !== undefined) {
        options.logger.info(
          { replacingForMs: lastFetchMs - replacing.sinceMs },
          'DLQ reader: the replacement consumer reads again',
        )
        replacing = undefined
      }
      checkCaughtUp()
    })
    consumer.on(consumer.events.CRASH, (event) => {
      if (current?.generation !== gen) return
      options.logger.error({ err: event.payload.error, restart: event.payload.restart }, 'DLQ reader crashed')
    })
    await consumer.connect()
    if (await superseded()) return
    await consumer.subscribe({ topics: [options.topic], fromBeginning: true })
    if (await superseded()) return
    await consumer.run({ autoCommit: false, eachMessage })
  }

  /**
   * The consumer's problem lasted the restart bound: it is dropped (its disconnect may wait on
   * a frozen broker, so it is never awaited) and a new one started, retried until Kafka answers.
   * The process stays up: every other route of the API is fine without the DLQ.
   */
  const replace = (gen: number, problem: ConsumerProblem) => {
    if (stopped || current?.generation !== gen) return
    options.logger.warn(
      { code: problem.code, reason: problem.reason, forMs: problem.forMs, restartMs: limits.restartMs },
      'DLQ reader consumer stalled past its restart bound: replacing it',
    )
    replacing ??= { sinceMs: Date.now(), lastError: undefined }
    drop()
    attempt()
  }
  const drop = () => {
    const old = current
    current = undefined
    if (old === undefined) return
    old.watch.stop()
    void old.consumer.disconnect().catch(() => undefined)
  }
  const attempt = () => {
    if (stopped) return
    const gen = ++generation
    startConsumer(gen).catch((error: unknown) => {
      if (stopped || current?.generation !== gen) return
      const message = error instanceof Error ? error.message : String(error)
      if (replacing !== undefined) replacing.lastError = message
      options.logger.warn({ err: error }, 'DLQ reader: the replacement consumer did not start; retrying')
      drop()
      retryTimer = setTimeout(attempt, REPLACE_RETRY_MS)
      retryTimer.unref()
    })
  }

  try {
    await startConsumer(generation)
  } catch (error) {
    drop()
    await admin.disconnect().catch(() => undefined)
    throw error
  }

  const health = (nowMs = Date.now()) =>
    dlqReaderHealth(
      {
        consumer: current?.watch.verdict(nowMs),
        replacing,
        startedMs,
        lastFetchMs,
        caughtUp,
        stallMs: limits.stallMs,
      },
      nowMs,
    )

  return {
    partitions: () => store.partitions(),
    page: (partition, fromOffset, limit, reason) => store.page(partition, fromOffset, limit, reason),
    pageAcross: (positions, limit, reason) => store.pageAcross(positions, limit, reason),
    countsByReason: () => store.countsByReason(),
    health,
    probe: { name: 'kafka-dlq', check: async () => dlqReaderCheck(health()) },
    caughtUp: () => caughtUpPromise,
    async stop() {
      stopped = true
      if (retryTimer !== undefined) clearTimeout(retryTimer)
      const last = current
      current = undefined
      last?.watch.stop()
      await last?.consumer.disconnect().catch(() => undefined)
      await admin.disconnect().catch(() => undefined)
    },
  }
}
