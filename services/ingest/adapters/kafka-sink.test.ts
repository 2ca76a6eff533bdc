import type { Producer } from 'kafkajs'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { createKafkaSink, SinkClosedError } from './kafka-sink.ts'

const logger = pino({ level: 'silent' })
const record = (key: string) => ({ topic: 't', key, value: Buffer.from(key), timestamp: '0', headers: {} })

/** A stand-in for kafkajs's producer: this tests the sink's batching and retry logic only. */
function fakeProducer(failuresBeforeSuccess: number) {
  const batches: string[][] = []
  let failures = failuresBeforeSuccess
  let inFlight = 0
  let maxInFlight = 0
  const producer = {
    async sendBatch({ topicMessages }: { topicMessages: { messages: { key: string }[] }[] }) {
      inFlight += 1
      maxInFlight = Math.max(maxInFlight, inFlight)
      await new Promise((r) => setTimeout(r, 5))
      inFlight -= 1
      if (failures > 0) {
        failures -= 1
        throw new Error('broker unavailable')
      }
      batches.push(topicMessages.flatMap((t) => t.messages.map((m) => m.key)))
      return []
    },
  }
  return { producer: producer as unknown as Producer, batches, maxInFlight: () => maxInFlight }
}

describe('createKafkaSink', () => {
  it('acknowledges each record only after its batch was produced, one request at a time', async () => {
    const fake = fakeProducer(0)
    const sink = createKafkaSink(fake.producer, logger, { maxBatchRecords: 100, retryMaxDelayMs: 10 })
    await Promise.all(['a', 'b', 'c', 'd'].map((k) => sink.send(record(k))))
    expect(fake.batches.flat().sort()).toEqual(['a', 'b', 'c', 'd'])
    expect(fake.maxInFlight()).toBe(1)
    // The first record goes alone; what queued meanwhile goes together.
    expect(fake.batches).toEqual([['a'], ['b', 'c', 'd']])
  })

  it('keeps callers waiting while Kafka fails, and delivers once it is back', async () => {
    const fake = fakeProducer(3)
    const errors: number[] = []
    const sink = createKafkaSink(
      fake.producer,
      logger,
      { maxBatchRecords: 10, retryMaxDelayMs: 20 },
      { onError: (_, attempt) => errors.push(attempt) },
    )
    let acknowledged = false
    const sent = sink.send(record('x')).then(() => {
      acknowledged = true
    })
    await new Promise((r) => setTimeout(r, 30))
    expect(acknowledged).toBe(false)
    expect(sink.pending).toBe(1)
    await sent
    expect(errors).toEqual([1, 2, 3])
    expect(fake.batches).toEqual([['x']])
  })

  it('lingers to let a small request fill up when asked to', async () => {
    const fake = fakeProducer(0)
    const sink = createKafkaSink(fake.producer, logger, {
      maxBatchRecords: 100,
      retryMaxDelayMs: 10,
      lingerMs: 20,
      lingerMinRecords: 3,
    })
    const first = sink.send(record('a'))
    await new Promise((r) => setTimeout(r, 5))
    await Promise.all([first, sink.send(record('b'))])
    // Without the linger 'a' would have gone alone (see the first test).
    expect(fake.batches).toEqual([['a', 'b']])
  })

  it('refuses records after close, once pending ones are out', async () => {
    const fake = fakeProducer(0)
    const sink = createKafkaSink(fake.producer, logger, { maxBatchRecords: 10, retryMaxDelayMs: 10 })
    const pending = sink.send(record('y'))
    await sink.close()
    await pending
    await expect(sink.send(record('z'))).rejects.toBeInstanceOf(SinkClosedError)
  })
})
