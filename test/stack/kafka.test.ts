import { randomUUID } from 'node:crypto'
import { ConfigResourceTypes, type Consumer, logLevel, Partitioners } from 'kafkajs'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { ALL_TOPICS, type TopicSpec } from '../../core/kafka/topics.ts'
import { createKafka, ensureTopics } from '../../runtime/clients/kafka.ts'

const endpoints = inject('endpoints')
const kafka = createKafka(endpoints.kafka, 'test-stack-kafka')
const consumers: Consumer[] = []

afterAll(async () => {
  await Promise.all(consumers.map((consumer) => consumer.disconnect()))
})

describe('kafka (real broker through runtime/clients/kafka)', () => {
  it('has the contract topics of core/kafka/topics.ts with their partition counts', async () => {
    const admin = kafka.admin()
    await admin.connect()
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: ALL_TOPICS.map((topic) => topic.name) })
      for (const spec of ALL_TOPICS) {
        expect(topics.find((topic) => topic.name === spec.name)?.partitions).toHaveLength(spec.partitions)
      }
    } finally {
      await admin.disconnect()
    }
  })

  it('ensureTopics creates a topic once and then reports it as existing', async () => {
    const topic: TopicSpec = {
      name: `test.stack.ensure.${randomUUID()}`,
      partitions: 2,
      retentionMs: 3_600_000,
    }
    const first = await ensureTopics(endpoints.kafka, [topic])
    const second = await ensureTopics(endpoints.kafka.brokers, [topic])
    expect(first).toEqual({ created: [topic.name], existing: [] })
    expect(second).toEqual({ created: [], existing: [topic.name] })
    const admin = kafka.admin()
    await admin.connect()
    try {
      const described = await admin.describeConfigs({
        resources: [{ type: ConfigResourceTypes.TOPIC, name: topic.name }],
        includeSynonyms: false,
      })
      const entries = new Map(described.resources[0]?.configEntries.map((e) => [e.configName, e.configValue]))
      expect(entries.get('message.timestamp.type')).toBe('CreateTime')
      expect(entries.get('retention.ms')).toBe('3600000')
    } finally {
      await admin.disconnect()
    }
  })

  it('delivers produced messages to a consumer group on a fresh topic, keyed order kept per key', async () => {
    const topic: TopicSpec = {
      name: `test.stack.roundtrip.${randomUUID()}`,
      partitions: 3,
      retentionMs: 3_600_000,
    }
    await ensureTopics(endpoints.kafka, [topic])
    const sent = Array.from({ length: 30 }, (_, i) => ({ key: `device-${i % 3}`, value: `reading-${i}` }))

    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
    await producer.connect()
    await producer.send({ topic: topic.name, acks: -1, messages: sent })
    await producer.disconnect()

    const consumer = createKafka(endpoints.kafka, 'test-stack-kafka-consumer', {
      logLevel: logLevel.NOTHING,
    }).consumer({
      groupId: `test-stack-${randomUUID()}`,
    })
    consumers.push(consumer)
    await consumer.connect()
    await consumer.subscribe({ topic: topic.name, fromBeginning: true })
    const received: { key: string; value: string; partition: number }[] = []
    const all = new Promise<void>((resolveAll) => {
      void consumer.run({
        eachMessage: async ({ message, partition }) => {
          received.push({ key: String(message.key), value: String(message.value), partition })
          if (received.length === sent.length) resolveAll()
        },
      })
    })
    await all

    expect(received.map((m) => m.value).sort()).toEqual(sent.map((m) => m.value).sort())
    for (const key of ['device-0', 'device-1', 'device-2']) {
      const ofKey = received.filter((m) => m.key === key)
      expect(new Set(ofKey.map((m) => m.partition)).size).toBe(1)
      expect(ofKey.map((m) => m.value)).toEqual(sent.filter((m) => m.key === key).map((m) => m.value))
    }
  })
})
