import { describe, expect, it } from 'vitest'
import { type DlqReaderObservation, dlqReaderCheck, dlqReaderHealth } from './dlq-reader-health.ts'

const T0 = 1_000_000
const observed = (o: Partial<DlqReaderObservation> = {}): DlqReaderObservation => ({
  consumer: { state: 'healthy' },
  replacing: undefined,
  startedMs: T0,
  lastFetchMs: T0 + 5_000,
  caughtUp: true,
  stallMs: 30_000,
  ...o,
})
const noFetch = {
  state: 'stalled',
  code: 'CONSUMER_NO_FETCH',
  reason: 'no fetch answered for 31000 ms',
  sinceMs: T0 + 5_000,
  forMs: 31_000,
} as const

describe('dlqReaderHealth', () => {
  it('a reader whose consumer is healthy is ok, with its data as of the last fetch', () => {
    expect(dlqReaderHealth(observed(), T0 + 6_000)).toEqual({ ok: true, caughtUp: true, asOfMs: T0 + 5_000 })
    expect(dlqReaderCheck(dlqReaderHealth(observed(), T0 + 6_000))).toEqual({ ok: true })
    expect(dlqReaderCheck(dlqReaderHealth(observed({ caughtUp: false }), T0 + 6_000))).toEqual({
      ok: true,
      detail: 'catching up with the topic',
    })
  })

  it('a stalled consumer (Kafka frozen) is a problem with its code and how old the data is', () => {
    const health = dlqReaderHealth(observed({ consumer: noFetch }), T0 + 36_000)
    expect(health).toEqual({
      ok: false,
      code: 'CONSUMER_NO_FETCH',
      reason: 'no fetch answered for 31000 ms',
      sinceMs: T0 + 5_000,
      asOfMs: T0 + 5_000,
      staleForMs: 31_000,
    })
    expect(dlqReaderCheck(health)).toEqual({
      ok: false,
      code: 'CONSUMER_NO_FETCH',
      detail: 'no fetch answered for 31000 ms; the DLQ data this API holds is 31 s old',
    })
  })

  it('a crashed consumer, or one out of its group after it had read, fails at once', () => {
    const crashed = {
      state: 'stalled',
      code: 'CONSUMER_CRASHED',
      reason: 'consumer crashed (kafkajs restarts it): Connection timeout',
      sinceMs: T0 + 9_000,
      forMs: 0,
    } as const
    expect(dlqReaderHealth(observed({ consumer: crashed }), T0 + 9_000)).toMatchObject({
      ok: false,
      code: 'CONSUMER_CRASHED',
      staleForMs: 4_000,
    })
    const rejoining = { ...crashed, code: 'CONSUMER_NOT_IN_GROUP', reason: 'joining' } as const
    expect(dlqReaderHealth(observed({ consumer: rejoining }), T0 + 9_000)).toMatchObject({
      ok: false,
      code: 'CONSUMER_NOT_IN_GROUP',
    })
  })

  it('the first join is a start, not a failure, until the stall bound', () => {
    const joining = {
      state: 'stalled',
      code: 'CONSUMER_NOT_IN_GROUP',
      reason: 'not a member of the consumer group (joining)',
      sinceMs: T0,
      forMs: 0,
    } as const
    const starting = observed({ consumer: joining, lastFetchMs: undefined, caughtUp: false })
    expect(dlqReaderHealth(starting, T0 + 29_999)).toEqual({ ok: true, caughtUp: false, asOfMs: undefined })
    expect(dlqReaderHealth(starting, T0 + 30_000)).toMatchObject({
      ok: false,
      code: 'CONSUMER_NOT_IN_GROUP',
      asOfMs: undefined,
      staleForMs: 30_000,
    })
  })

  it('a consumer being replaced says so until its successor is healthy', () => {
    const replacing = { sinceMs: T0 + 185_000, lastError: 'Connection timeout' }
    expect(dlqReaderHealth(observed({ consumer: undefined, replacing }), T0 + 190_000)).toEqual({
      ok: false,
      code: 'DLQ_READER_RESTARTING',
      reason:
        "the DLQ reader's consumer stalled past its restart bound and is being replaced (last attempt: Connection timeout)",
      sinceMs: T0 + 185_000,
      asOfMs: T0 + 5_000,
      staleForMs: 185_000,
    })
    const successorJoining = { ...noFetch, code: 'CONSUMER_NOT_IN_GROUP' } as const
    expect(dlqReaderHealth(observed({ consumer: successorJoining, replacing }), T0 + 190_000)).toMatchObject({
      ok: false,
      code: 'DLQ_READER_RESTARTING',
    })
    expect(dlqReaderHealth(observed({ replacing }), T0 + 190_000)).toMatchObject({ ok: true })
  })
})
