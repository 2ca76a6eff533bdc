import {
  KafkaJSConnectionError,
  KafkaJSNonRetriableError,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSProtocolError,
} from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { ConfigError, RetryableError } from '../core/errors/base.ts'
import { classifyError, RetriesExhaustedError, retry } from './retry.ts'

const httpError = (statusCode: number) => Object.assign(new Error(`HTTP ${statusCode}`), { statusCode })

describe('classifyError', () => {
  it('retries transient failures and refuses permanent ones', () => {
    expect(classifyError(new RetryableError('X', 'x'))).toBe('retry')
    expect(classifyError(new ConfigError('bad'))).toBe('permanent')
    expect(classifyError(Object.assign(new Error('leader moved'), { retriable: true }))).toBe('retry')
    expect(classifyError(Object.assign(new Error('too large'), { retriable: false }))).toBe('permanent')
    expect(classifyError(httpError(503))).toBe('retry')
    expect(classifyError(httpError(429))).toBe('retry')
    expect(classifyError(httpError(400))).toBe('permanent')
    expect(classifyError(httpError(413))).toBe('permanent')
    expect(classifyError(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }))).toBe('retry')
    expect(classifyError(new Error('wrapped', { cause: httpError(422) }))).toBe('permanent')
  })
})

describe('classifyError on kafkajs errors', () => {
  // The shapes kafkajs 2.2.4 throws from producer.sendBatch (src/retry/index.js).
  const protocol = (type: string, retriable: boolean) =>
    new KafkaJSProtocolError({ type, code: 0, retriable, message: type } as never)

  it('judges "retries exceeded" by what kafkajs gave up on', () => {
    const down = new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9092')
    const exceeded = new KafkaJSNumberOfRetriesExceeded(down, { retryCount: 2, retryTime: 500 })
    // The wrapper says retriable: false about itself; a broker down is still transient.
    expect(exceeded.retriable).toBe(false)
    expect(classifyError(exceeded)).toBe('retry')
    // An outer kafkajs retrier wraps that again (seen from producer.sendBatch with the broker down).
    const rewrapped = new KafkaJSNonRetriableError(exceeded)
    Object.assign(rewrapped, { cause: down })
    expect(rewrapped.retriable).toBe(false)
    expect(classifyError(rewrapped)).toBe('retry')
    // A bug kafkajs refuses to retry stays permanent.
    expect(
      classifyError(
        Object.assign(new KafkaJSNonRetriableError(new TypeError('x')), { cause: new TypeError('x') }),
      ),
    ).toBe('permanent')
    const leaderMoved = protocol('NOT_LEADER_FOR_PARTITION', true)
    expect(
      classifyError(new KafkaJSNumberOfRetriesExceeded(leaderMoved, { retryCount: 2, retryTime: 500 })),
    ).toBe('retry')
  })

  it('refuses a record the broker will never take', () => {
    const tooLarge = protocol('MESSAGE_TOO_LARGE', false)
    expect(classifyError(tooLarge)).toBe('permanent')
    expect(classifyError(Object.assign(new KafkaJSNonRetriableError(tooLarge), { cause: tooLarge }))).toBe(
      'permanent',
    )
    expect(classifyError(protocol('TOPIC_AUTHORIZATION_FAILED', false))).toBe('permanent')
  })
})

describe('retry', () => {
  it('retries a transient error, then returns', async () => {
    const seen: number[] = []
    const value = await retry(
      async (attempt) => {
        if (attempt < 3) throw httpError(503)
        return 'ok'
      },
      { operation: 't', initialDelayMs: 1, onRetry: ({ attempt }) => seen.push(attempt) },
    )
    expect(value).toBe('ok')
    expect(seen).toEqual([1, 2])
  })

  it('throws a permanent error at once, as it is', async () => {
    let calls = 0
    const permanent = httpError(400)
    await expect(
      retry(
        async () => {
          calls++
          throw permanent
        },
        { operation: 't', initialDelayMs: 1 },
      ),
    ).rejects.toBe(permanent)
    expect(calls).toBe(1)
  })

  it('stops after maxAttempts and when aborted, keeping the last error', async () => {
    const failing = async () => {
      throw httpError(500)
    }
    const exhausted = await retry(failing, { operation: 't', initialDelayMs: 1, maxAttempts: 2 }).catch(
      (e) => e,
    )
    expect(exhausted).toBeInstanceOf(RetriesExhaustedError)
    expect(exhausted.attempts).toBe(2)
    expect(exhausted.cause.statusCode).toBe(500)
    const controller = new AbortController()
    setTimeout(() => controller.abort(), 20)
    const aborted = await retry(failing, {
      operation: 't',
      initialDelayMs: 5,
      signal: controller.signal,
    }).catch((e) => e)
    expect(aborted).toBeInstanceOf(RetriesExhaustedError)
  })
})
