/**
 * The DLQ as the API browses it: a consumer that reads `telemetry.dlq` from its beginning and
 * keeps the newest records' metadata (reason, detail, topic, size, a short preview) in memory,
 * with counts by reason over everything it read. Pages are then offset lookups, with no Kafka
 * round trip per request. It commits nothing: every API instance reads the whole topic itself.
 * The header names are the DLQ contract of docs/architecture.md ("Kafka").
 */
import type { Consumer, IHeaders } from 'kafkajs'
import { createKafka } from '../../../runtime/clients/kafka.ts'
import type { Endpoints } from '../../../runtime/endpoints.ts'
import type { Logger } from '../../../runtime/log.ts'
import type { DlqPage, DlqPartitionState, DlqReader, DlqRecord, HealthProbe } from '../ports.ts'

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

/** Index of the first record with offset >= target (records ascend by offset). */
function lowerBound(records: readonly DlqRecord[], target: bigint): number {
  let lo = 0
  let hi = records.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (BigInt((records[mid] as DlqRecord).offset) < target) lo = mid + 1
    else hi = mid
  }
  return lo
}

export async function startDlqTail(options: {
  readonly kafka: Endpoints['kafka']
  readonly topic: string
  readonly instanceId: string
  readonly retainRecords: number
  readonly logger: Logger
}): Promise<DlqTail> {
  const kafka = createKafka(options.kafka, `${options.instanceId}-dlq`)
  const byPartition = new Map<number, { records: DlqRecord[]; nextOffset: bigint }>()
  const byReason: Record<string, number> = {}
  let total = 0
  let retained = 0
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
  for (const p of endOffsets) byPartition.set(p.partition, { records: [], nextOffset: 0n })
  let markCaughtUp: () => void = () => undefined
  const caughtUpPromise = new Promise<void>((resolve) => {
    markCaughtUp = resolve
  })
  const checkCaughtUp = () => {
    if (endOffsets.every((p) => (byPartition.get(p.partition)?.nextOffset ?? 0n) >= p.high)) markCaughtUp()
  }
  checkCaughtUp()

  const evictOldest = () => {
    // Evict from the partition whose oldest record is the oldest in time.
    let victim: DlqRecord[] | undefined
    for (const p of byPartition.values()) {
      const first = p.records[0]
      if (first === undefined) continue
      if (victim === undefined || first.receivedAtMs < (victim[0] as DlqRecord).receivedAtMs)
        victim = p.records
    }
    if (victim !== undefined) {
      victim.shift()
      retained--
    }
  }

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
      const p = byPartition.get(partition) ?? { records: [], nextOffset: 0n }
      byPartition.set(partition, p)
      const value = message.value ?? Buffer.alloc(0)
      const reason = header(message.headers, DLQ_HEADER.reason) || 'UNKNOWN'
      const record: DlqRecord = {
        partition,
        offset: message.offset,
        key: message.key?.toString('utf8') ?? '',
        reason,
        detail: header(message.headers, DLQ_HEADER.detail),
        mqttTopic: header(message.headers, DLQ_HEADER.mqttTopic),
        receivedAtMs: Number(header(message.headers, DLQ_HEADER.receivedAtMs) || message.timestamp),
        sizeBytes: value.length,
        preview: value.subarray(0, PREVIEW_BYTES).toString('utf8'),
      }
      p.records.push(record)
      p.nextOffset = BigInt(message.offset) + 1n
      byReason[reason] = (byReason[reason] ?? 0) + 1
      total++
      retained++
      if (retained > options.retainRecords) evictOldest()
      checkCaughtUp()
    },
  })

  return {
    partitions(): DlqPartitionState[] {
      return [...byPartition]
        .sort(([a], [b]) => a - b)
        .map(([partition, p]) => ({
          partition,
          oldestOffset: p.records[0]?.offset ?? p.nextOffset.toString(),
          nextOffset: p.nextOffset.toString(),
          retained: p.records.length,
        }))
    },
    page(partition, fromOffset, limit, reason): DlqPage {
      const p = byPartition.get(partition)
      if (p === undefined) return { records: [], nextOffset: '0' }
      const records: DlqRecord[] = []
      let i = lowerBound(p.records, fromOffset)
      for (; i < p.records.length && records.length < limit; i++) {
        const record = p.records[i] as DlqRecord
        if (reason === undefined || record.reason === reason) records.push(record)
      }
      // Never past the partition's end, even for a cursor beyond it (attack12d F8).
      const next = i < p.records.length ? (p.records[i] as DlqRecord).offset : p.nextOffset.toString()
      return { records, nextOffset: next }
    },
    countsByReason: () => ({ total, byReason: { ...byReason } }),
    probe: {
      name: 'kafka-dlq',
      check: async () =>
        state === 'crashed' ? { ok: false, detail: `DLQ reader crashed: ${crashDetail}` } : { ok: true },
    },
    caughtUp: () => caughtUpPromise,
    stop: () => consumer.disconnect(),
  }
}
