import {
  KafkaJSConnectionError,
  KafkaJSNonRetriableError,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSProtocolError,
  type Producer,
} from 'kafkajs'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import type { SinkRecord, SinkRefusal } from '../ports.ts'
import { estimateRecordBytes, KafkaSinkError, type KafkaSinkEvents, startKafkaSink } from './kafka-sink.ts'

const logger = pino({ level: 'silent' })

const deadLetter = (key: string) => (refusal: SinkRefusal) => ({
  topic: 'dlq',
  key,
  value: Buffer.from(`dead:${key}`),
  timestamp: '0',
  headers: { reason: refusal.reason },
})
const record = (key: string, valueBytes = 1): SinkRecord => ({
  topic: 't',
  key,
  value: Buffer.alloc(valueBytes, key),
  timestamp: '0',
  headers: {},
  deadLetter: deadLetter(key),
})

/** The errors kafkajs 2.2.4 throws from sendBatch (src/retry/index.js wraps what it gave up on). */
const brokerDown = () =>
  new KafkaJSNumberOfRetriesExceeded(new KafkaJSConnectionError('connect ECONNREFUSED 127.0.0.1:1'), {
    retryCount: 2,
    retryTime: 100,
  })
const protocolError = (type: string, retriable = false) => {
  const e = new KafkaJSProtocolError({ type, code: 0, retriable, message: type } as never)
  return retriable ? e : Object.assign(new KafkaJSNonRetriableError(e), { cause: e })
}

interface FakeKafka {
  /** Every produce request, as the keys it carried per topic ("t:a"). */
  readonly requests: string[][]
  /** Requests that went through. */
  readonly written: string[][]
  producers: number
  maxInFlight: number
}

/**
 * A stand-in for kafkajs's producer, to test the sink's own logic (batching, retry, isolation):
 * `fail` decides per request whether (and how) it fails.
 */
function fakeKafka(fail: (keys: string[], attempt: number) => Error | undefined = () => undefined) {
  const state: FakeKafka = { requests: [], written: [], producers: 0, maxInFlight: 0 }
  let inFlight = 0
  const create = () => {
    state.producers += 1
    return {
      async connect() {},
      async disconnect() {},
      async sendBatch({
        topicMessages,
      }: {
        topicMessages: { topic: string; messages: { key: string }[] }[]
      }) {
        inFlight += 1
        state.maxInFlight = Math.max(state.maxInFlight, inFlight)
        await new Promise((r) => setTimeout(r, 2))
        inFlight -= 1
        const keys = topicMessages.flatMap((t) => t.messages.map((m) => `${t.topic}:${m.key}`))
        state.requests.push(keys)
        const error = fail(keys, state.requests.length)
        if (error) throw error
        state.written.push(keys)
        return []
      },
    } as unknown as Producer
  }
  return { state, create }
}

const budgets = (bytes = 1_000_000) =>
  new Map([
    ['t', bytes],
    ['dlq', 1_000_000],
  ])

const start = (
  create: () => Producer,
  events: KafkaSinkEvents = {},
  options: Partial<Parameters<typeof startKafkaSink>[2]> = {},
) =>
  startKafkaSink(
    create,
    logger,
    {
      maxBatchRecords: 100,
      maxBatchBytes: budgets(),
      retryInitialDelayMs: 1,
      retryMaxDelayMs: 10,
      partitionCount: async () => 6,
      ...options,
    },
    events,
  )

describe('startKafkaSink', () => {
  it('acknowledges each record only after its batch was produced, one request at a time', async () => {
    const kafka = fakeKafka()
    const sink = await start(kafka.create)
    const outcomes = await Promise.all(['a', 'b', 'c', 'd'].map((k) => sink.send(record(k))))
    expect(outcomes.every((o) => o.delivered === 'kafka')).toBe(true)
    expect(kafka.state.maxInFlight).toBe(1)
    // The first record goes alone; what queued meanwhile goes together.
    expect(kafka.state.written).toEqual([['t:a'], ['t:b', 't:c', 't:d']])
  })

  it('retries a transient failure through the retry helper, keeping callers waiting', async () => {
    const kafka = fakeKafka((_, attempt) => (attempt <= 3 ? brokerDown() : undefined))
    const kinds: string[] = []
    const sink = await start(kafka.create, { onError: (_, kind) => kinds.push(kind) })
    let acknowledged = false
    const sent = sink.send(record('x')).then(() => {
      acknowledged = true
    })
    await new Promise((r) => setTimeout(r, 5))
    expect(acknowledged).toBe(false)
    expect(sink.pending).toBe(1)
    expect(sink.failingSinceMs).toBeTypeOf('number')
    await sent
    expect(kinds).toEqual(['transient', 'transient', 'transient'])
    expect(kafka.state.written).toEqual([['t:x']])
    expect(sink.failingSinceMs).toBeUndefined()
    // The same producer all along: nothing but a transient failure happened.
    expect(kafka.state.producers).toBe(1)
  })

  it('isolates a record Kafka refuses, dead-letters it alone and delivers the others', async () => {
    // Kafka refuses every request that carries the poison record, whatever else is in it.
    const kafka = fakeKafka((keys) =>
      keys.includes('t:poison') ? protocolError('MESSAGE_TOO_LARGE') : undefined,
    )
    const sink = await start(kafka.create)
    const keys = ['a', 'b', 'c', 'poison', 'd', 'e', 'f', 'g']
    // The first request carries 'a' alone; the rest queue up behind it, poison among them.
    const outcomes = await Promise.all(keys.map((k) => sink.send(record(k))))
    const poison = outcomes[keys.indexOf('poison')]
    expect(poison).toMatchObject({ delivered: 'dead-letter', refusal: { reason: 'KAFKA_RECORD_TOO_LARGE' } })
    expect(outcomes.filter((o) => o.delivered === 'kafka').length).toBe(keys.length - 1)
    const written = kafka.state.written.flat()
    expect(written.filter((k) => k.startsWith('t:')).sort()).toEqual(
      keys.filter((k) => k !== 'poison').map((k) => `t:${k}`),
    )
    expect(written.filter((k) => k.startsWith('dlq:'))).toEqual(['dlq:poison'])
    // The same producer throughout: a fresh one would write the parts the broker kept twice
    // (test/ingest/kafka-sink-split.test.ts counts them in a real Kafka).
    expect(kafka.state.producers).toBe(1)
    // Records sent after the poison are not blocked by it.
    expect(await sink.send(record('later'))).toEqual({ delivered: 'kafka' })
  })

  it('sizes requests by bytes per topic and dead-letters a record too large for any request', async () => {
    const kafka = fakeKafka()
    const budget = 1_000
    const sink = await start(kafka.create, {}, { maxBatchBytes: budgets(budget) })
    const size = estimateRecordBytes(record('k', 300))
    const first = sink.send(record('first', 300))
    const rest = ['b', 'c', 'd', 'e', 'f'].map((k) => sink.send(record(k, 300)))
    const huge = sink.send(record('huge', 5_000))
    await Promise.all([first, ...rest])
    expect(await huge).toMatchObject({
      delivered: 'dead-letter',
      refusal: { reason: 'KAFKA_RECORD_TOO_LARGE' },
    })
    for (const request of kafka.state.written) {
      const forT = request.filter((k) => k.startsWith('t:')).length
      expect(73 + forT * size).toBeLessThanOrEqual(budget)
    }
    // 'huge' never reached Kafka itself: only its dead letter did.
    expect(kafka.state.requests.flat()).not.toContain('t:huge')
    expect(kafka.state.written.flat()).toContain('dlq:huge')
  })

  it('takes a fresh producer on a producer-state error and sends the batch again', async () => {
    const kafka = fakeKafka((_, attempt) =>
      attempt === 1 ? protocolError('OUT_OF_ORDER_SEQUENCE_NUMBER') : undefined,
    )
    const sink = await start(kafka.create)
    expect(await sink.send(record('a'))).toEqual({ delivered: 'kafka' })
    expect(kafka.state.producers).toBe(2)
  })

  it('stops on a failure no record can fix: callers are rejected and told what to fix', async () => {
    const kafka = fakeKafka(() => protocolError('TOPIC_AUTHORIZATION_FAILED'))
    const fatal: KafkaSinkError[] = []
    const sink = await start(kafka.create, { onFatal: (e) => fatal.push(e) })
    const results = await Promise.allSettled(['a', 'b', 'c'].map((k) => sink.send(record(k))))
    expect(results.every((r) => r.status === 'rejected')).toBe(true)
    expect(fatal.length).toBe(1)
    expect(fatal[0]?.code).toBe('KAFKA_PRODUCE_REFUSED')
    expect(sink.fatal).toBe(fatal[0])
    await expect(sink.send(record('d'))).rejects.toBeInstanceOf(KafkaSinkError)
  })

  it('stops when a refused record has no dead letter to keep instead', async () => {
    const kafka = fakeKafka(() => protocolError('MESSAGE_TOO_LARGE'))
    const sink = await start(kafka.create)
    const { deadLetter: _, ...bare } = record('a')
    await expect(sink.send(bare)).rejects.toBeInstanceOf(KafkaSinkError)
    expect(sink.fatal?.code).toBe('KAFKA_PRODUCE_REFUSED')
  })

  it('reports the age of the oldest unacknowledged record, and leaves records unacknowledged on close', async () => {
    const kafka = fakeKafka(() => brokerDown())
    const sink = await start(kafka.create)
    const sent = sink.send(record('a'))
    const t0 = Date.now()
    await new Promise((r) => setTimeout(r, 30))
    const now = Date.now()
    expect(sink.oldestPendingAgeMs(now)).toBeGreaterThanOrEqual(now - t0)
    await sink.close(10)
    await expect(sent).rejects.toThrow()
    await expect(sink.send(record('b'))).rejects.toBeInstanceOf(KafkaSinkError)
  })
})
