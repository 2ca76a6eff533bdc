/**
 * Reads a topic from its beginning on every start, in partition order, without committing
 * offsets: the oracle's state (the replay, the signature book, the announcements seen) is
 * rebuilt from Kafka itself, so a restart can neither skip nor lose anything. The group id only
 * names the reader; with nothing committed it always starts at the earliest offset.
 *
 * A reader that crashed, left its group or stopped fetching says so (`consumer()`, for /healthz),
 * and after the exit bound the process exits with 75 for its supervisor to restart it: with
 * nothing committed, a restart reads everything again (issue 8).
 */
import type { Consumer, Kafka, KafkaMessage } from 'kafkajs'
import {
  type ConsumerVerdict,
  type ConsumerWatchLimits,
  unconsumedRecords,
} from '../../../core/kafka/consumer-watch.ts'
import { exitForRestart, watchConsumer } from '../../../runtime/kafka-consumer-watch.ts'
import type { Logger } from '../../../runtime/log.ts'

export interface TopicRecord {
  readonly partition: number
  readonly offset: string
  readonly timestampMs: number
  readonly key: string | undefined
  readonly value: Buffer
}

export interface TopicReader {
  /** Offset after the last record handled, per partition. */
  positions(): ReadonlyMap<number, bigint>
  /** The partition ends (high watermarks) right now. */
  ends(): Promise<Map<number, bigint>>
  /** The consumer watch's verdict (core/kafka/consumer-watch.ts); absent for a reader without a consumer. */
  consumer?(): ConsumerVerdict & { readonly topic: string }
  stop(): Promise<void>
}

export async function startTopicReader(
  kafka: Kafka,
  options: {
    readonly topic: string
    readonly groupId: string
    readonly logger: Logger
    readonly limits: ConsumerWatchLimits
    /** Handles records of one partition in offset order; must not throw for a bad record. */
    readonly onRecords: (records: readonly TopicRecord[]) => void | Promise<void>
  },
): Promise<TopicReader> {
  const positions = new Map<number, bigint>()
  const admin = kafka.admin()
  await admin.connect()
  const consumer: Consumer = kafka.consumer({
    groupId: options.groupId,
    sessionTimeout: 10_000,
    heartbeatInterval: 2_000,
    maxWaitTimeInMs: 200,
    // epochs.v1 is written in transactions: only committed announcements count.
    readUncommitted: false,
  })
  const watch = watchConsumer(consumer, {
    ...options.limits,
    lag: async (consumed) => {
      const offsets = await admin.fetchTopicOffsets(options.topic)
      const ends = offsets.map((o) => ({ partition: o.partition, low: BigInt(o.low), high: BigInt(o.high) }))
      return unconsumedRecords(
        ends,
        ends.map((e) => e.partition),
        consumed,
        positions,
      )
    },
    // The handlers wait on the chain (the submitter's book sync), whose health /healthz reports.
    handlerWaitsOnDependency: () => true,
    onExit: (problem) => exitForRestart(options.logger, `${options.topic} reader`, problem),
  })
  await consumer.connect()
  await consumer.subscribe({ topic: options.topic, fromBeginning: true })
  await consumer.run({
    autoCommit: false,
    partitionsConsumedConcurrently: 1,
    eachBatch: async ({ batch, heartbeat, isRunning }) => {
      const records: TopicRecord[] = []
      // A rebalance restarts a reader that commits nothing at the earliest offset: skip what
      // was handled already, so every record is handled exactly once per process.
      const from = positions.get(batch.partition) ?? 0n
      for (const m of batch.messages as KafkaMessage[]) {
        if (BigInt(m.offset) < from) continue
        const timestampMs = Number(m.timestamp)
        records.push({
          partition: batch.partition,
          offset: m.offset,
          timestampMs: Number.isFinite(timestampMs) ? timestampMs : -1,
          key: m.key?.toString(),
          value: m.value ?? Buffer.alloc(0),
        })
      }
      if (!isRunning() || records.length === 0) return
      await options.onRecords(records)
      const last = records[records.length - 1] as TopicRecord
      positions.set(batch.partition, BigInt(last.offset) + 1n)
      await heartbeat()
    },
  })
  options.logger.info({ topic: options.topic, groupId: options.groupId }, 'reading topic from the beginning')
  return {
    positions: () => positions,
    async ends() {
      const offsets = await admin.fetchTopicOffsets(options.topic)
      return new Map(offsets.map((o) => [o.partition, BigInt(o.high)]))
    },
    consumer: () => ({ topic: options.topic, ...watch.verdict() }),
    async stop() {
      watch.stop()
      await consumer.disconnect().catch(() => undefined)
      await admin.disconnect().catch(() => undefined)
    },
  }
}
