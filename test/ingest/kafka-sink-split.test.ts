/**
 * A produce request that carries a record the broker refuses, on a real Kafka: the broker refuses
 * that record's partition and writes the request's other partitions. Isolating the record must
 * not write those a second time (issue 8): the records are counted in Kafka itself, by offsets.
 */
import type { Admin } from 'kafkajs'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { topicSet } from '../../core/kafka/topics.ts'
import { createKafka, ensureTopics, topicMaxMessageBytes } from '../../runtime/clients/kafka.ts'
import { startKafkaSink } from '../../services/ingest/adapters/kafka-sink.ts'
import type { SinkRecord } from '../../services/ingest/ports.ts'

const endpoints = inject('endpoints')
const runId = `split${Date.now().toString(36)}`
const topics = topicSet(`${runId}.`)
const logger = pino({ level: 'silent' })
/** The broker's limit for the test's telemetry topic; the sink is told a larger one. */
const BROKER_LIMIT_BYTES = 8_000

const recordOf = (key: string, valueBytes: number): SinkRecord => ({
  topic: topics.telemetry.name,
  key,
  value: Buffer.alloc(valueBytes, 'v'),
  timestamp: String(Date.now()),
  headers: { test: runId },
  deadLetter: (refusal) => ({
    topic: topics.dlq.name,
    key,
    value: Buffer.alloc(0),
    timestamp: String(Date.now()),
    headers: { reason: refusal.reason },
  }),
})

async function recordsIn(admin: Admin, topic: string): Promise<number[]> {
  const offsets = await admin.fetchTopicOffsets(topic)
  return offsets.sort((a, b) => a.partition - b.partition).map((p) => Number(p.high) - Number(p.low))
}

describe('kafka sink isolating a refused record (real Kafka)', () => {
  let admin: Admin
  beforeAll(async () => {
    admin = createKafka(endpoints.kafka, `${runId}-admin`).admin()
    await admin.connect()
    await ensureTopics(endpoints.kafka, [topics.telemetry, topics.dlq])
    await admin.alterConfigs({
      validateOnly: false,
      resources: [
        {
          type: 2,
          name: topics.telemetry.name,
          configEntries: [{ name: 'max.message.bytes', value: String(BROKER_LIMIT_BYTES) }],
        },
      ],
    })
    const limit = async () =>
      (await topicMaxMessageBytes(admin, [topics.telemetry.name])).get(topics.telemetry.name)
    for (let i = 0; i < 50 && (await limit()) !== BROKER_LIMIT_BYTES; i++)
      await new Promise((r) => setTimeout(r, 200))
    expect(await limit()).toBe(BROKER_LIMIT_BYTES)
  })
  afterAll(async () => {
    await admin.deleteTopics({ topics: [topics.telemetry.name, topics.dlq.name] }).catch(() => undefined)
    await admin.disconnect()
  })

  it('writes every other record of the refused request exactly once, the refused one to the DLQ', async () => {
    const kafka = createKafka(endpoints.kafka, `${runId}-sink`)
    const resets: string[] = []
    const sink = await startKafkaSink(
      () => kafka.producer({ idempotent: true, maxInFlightRequests: 1, retry: { retries: 2 } }),
      logger,
      {
        maxBatchRecords: 2_000,
        // As if the limit had been lowered after ingest read it: the sink sends the big record.
        maxBatchBytes: new Map([
          [topics.telemetry.name, 1_000_000],
          [topics.dlq.name, 1_000_000],
        ]),
        retryInitialDelayMs: 50,
        retryMaxDelayMs: 1_000,
        partitionCount: async (topic) =>
          (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0]?.partitions.length ?? 1,
      },
      { onProducerReset: (why) => resets.push(why) },
    )
    try {
      // The first record goes alone; the rest queue behind it and go in one request that spans
      // every partition, with the big one in the middle.
      const first = sink.send(recordOf('first', 100))
      const small = Array.from({ length: 60 }, (_, i) => recordOf(`dev-${String(i).padStart(3, '0')}`, 100))
      const big = recordOf('big', 20_000)
      const outcomes = await Promise.all([
        first,
        ...small.slice(0, 30).map((r) => sink.send(r)),
        sink.send(big),
        ...small.slice(30).map((r) => sink.send(r)),
      ])
      expect(outcomes.filter((o) => o.delivered === 'kafka').length).toBe(61)
      expect(outcomes.filter((o) => o.delivered === 'dead-letter')).toMatchObject([
        { refusal: { reason: 'KAFKA_RECORD_TOO_LARGE' } },
      ])
    } finally {
      await sink.close(5_000)
    }
    const perPartition = await recordsIn(admin, topics.telemetry.name)
    // The refused request carried records for several partitions besides the big one's.
    expect(perPartition.filter((n) => n > 0).length).toBe(topics.telemetry.partitions)
    expect(perPartition.reduce((a, b) => a + b, 0)).toBe(61)
    expect(await recordsIn(admin, topics.dlq.name)).toEqual([1])
    expect(resets).toEqual([])
  })
})
