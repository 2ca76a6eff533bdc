/**
 * The DLQ as the API browses it: a consumer that reads `telemetry.dlq` from its beginning and
 * keeps the newest records' metadata (reason, detail, topic, size, a short preview) in memory
 * (domain/dlq-store.ts, keyed by partition and offset), with counts by reason over everything it
 * read. Pages are then lookups, with no Kafka round trip per request. It commits nothing: every
 * API instance reads the whole topic itself.
 * The header names are the DLQ contract of docs/architecture.md ("Kafka").
 */
import type { Consumer, IHeaders } from 'kafkajs'
import { createKafka } from '../../../runtime/clients/kafka.ts'
import type { Endpoints } from '../../../runtime/endpoints.ts'
import type { Logger } from '../../../runtime/log.ts'
import { createDlqStore } from '../domain/dlq-store.ts'
import type { DlqReader, DlqRecord, HealthProbe } from '../ports.ts'

const DLQ_HEADER = {
  reason: 'gridroot-reason',
  detail: 'gridroot-detail',
  mqttTopic: 'gridroot-mqtt-topic',
  receivedAtMs: 'gridroot-received-at-ms',
} as const

const PREVIEW_BYTES = 256

export interface DlqTail extends DlqReader {
  readonly probe: HealthProbe
  /** Resolves when the reader has reached the end offsets the topic had when it started. */
  caughtUp(): Promise<void>
  stop(): Promise<void>
}

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
}): Promise<DlqTail> {
  const kafka = createKafka(options.kafka, `${options.instanceId}-dlq`)
  const store = createDlqStore({ retainRecords: options.retainRecords })
  let state: 'starting' | 'running' | 'crashed' = 'starting'
  let crashDetail = ''

  const admin = kafka.admin()
  await admin.connect()
  let endOffsets: { partition: number; high: bigint }[]
  try {
    endOffsets = (await admin.fetchTopicOffsets(options.topic)).map((p) => ({
      partition: p.partition,
      high: BigInt(p.high),
    }))
  } finally {
    await admin.disconnect()
  }
  for (const p of endOffsets) store.track(p.partition)
  let markCaughtUp: () => void = () => undefined
  const caughtUpPromise = new Promise<void>((resolve) => {
    markCaughtUp = resolve
  })
  const checkCaughtUp = () => {
    if (endOffsets.every((p) => (store.nextOffset(p.partition) ?? 0n) >= p.high)) markCaughtUp()
  }
  checkCaughtUp()

  // A group of its own per process: nothing is committed, every instance reads everything.
  const consumer: Consumer = kafka.consumer({
    groupId: `${options.instanceId}-dlq-${process.pid}-${Date.now().toString(36)}`,
    maxWaitTimeInMs: 500,
  })
  consumer.on(consumer.events.CRASH, (event) => {
    state = 'crashed'
    crashDetail = String(event.payload.error?.message ?? event.payload.error)
    options.logger.error({ err: event.payload.error, restart: event.payload.restart }, 'DLQ reader crashed')
  })
  consumer.on(consumer.events.FETCH_START, () => {
    if (state !== 'running') state = 'running'
  })
  await consumer.connect()
  await consumer.subscribe({ topics: [options.topic], fromBeginning: true })
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      const value = message.value ?? Buffer.alloc(0)
      // Ingest's receive time; a record without a readable one (written by hand) has Kafka's.
      const receivedAtMs = Number(header(message.headers, DLQ_HEADER.receivedAtMs) || Number.NaN)
      const record: DlqRecord = {
        partition,
        offset: message.offset,
        key: message.key?.toString('utf8') ?? '',
        reason: header(message.headers, DLQ_HEADER.reason) || 'UNKNOWN',
        detail: header(message.headers, DLQ_HEADER.detail),
        mqttTopic: header(message.headers, DLQ_HEADER.mqttTopic),
        receivedAtMs: Number.isFinite(receivedAtMs) ? receivedAtMs : Number(message.timestamp),
        sizeBytes: value.length,
        preview: value.subarray(0, PREVIEW_BYTES).toString('utf8'),
      }
      store.add(record)
      checkCaughtUp()
    },
  })

  return {
    partitions: () => store.partitions(),
    page: (partition, fromOffset, limit, reason) => store.page(partition, fromOffset, limit, reason),
    pageAcross: (positions, limit, reason) => store.pageAcross(positions, limit, reason),
    countsByReason: () => store.countsByReason(),
    probe: {
      name: 'kafka-dlq',
      check: async () =>
        state === 'crashed' ? { ok: false, detail: `DLQ reader crashed: ${crashDetail}` } : { ok: true },
    },
    caughtUp: () => caughtUpPromise,
    stop: () => consumer.disconnect(),
  }
}
