/**
 * The DLQ routes answer from the reader's memory: when the reader no longer reads Kafka they
 * answer 503 UPSTREAM_UNAVAILABLE naming the reader's problem and how old its data is, and
 * /healthz fails its kafka-dlq check with the code (issue 12 F8: both said ok, with old data).
 * A reader that reads says as of when its data is. The real Kafka freeze is
 * test/api/dlq-kafka-frozen.test.ts.
 */
import { describe, expect, it } from 'vitest'
import { dlqReaderCheck } from './domain/dlq-reader-health.ts'
import type { DlqReader } from './ports.ts'
import { STUB_KEY, stubApp } from './testing/stub-app.ts'

const stalled = {
  ok: false,
  code: 'CONSUMER_NO_FETCH',
  reason: 'no fetch answered for 31000 ms',
  sinceMs: 1_000,
  asOfMs: 1_000,
  staleForMs: 31_000,
} as const

function reader(health: ReturnType<DlqReader['health']>): DlqReader {
  return {
    partitions: () => [{ partition: 0, oldestOffset: '0', nextOffset: '1', retained: 1 }],
    page: () => ({ records: [], nextOffset: '1' }),
    pageAcross: () => ({ records: [], positions: new Map([[0, 1n]]) }),
    countsByReason: () => ({ total: 1, byReason: { BAD_SIGNATURE: 1 } }),
    health: () => health,
  }
}

describe('DLQ routes and the reader health', () => {
  it('answer 503 with the reader problem and staleness while it does not read, and /healthz fails', async () => {
    const dlq = reader(stalled)
    const app = await stubApp({
      dlq,
      probes: [{ name: 'kafka-dlq', check: async () => dlqReaderCheck(dlq.health()) }],
    })
    try {
      for (const url of [
        '/api/v1/operator/dlq',
        '/api/v1/operator/dlq/counts',
        '/api/v1/operator/dlq?partition=0',
      ]) {
        const res = await app.inject({ url, headers: { 'x-api-key': STUB_KEY.key } })
        expect(res.statusCode, res.body).toBe(503)
        const { error } = res.json()
        expect(error.code).toBe('UPSTREAM_UNAVAILABLE')
        expect(error.message).toMatch(/DLQ reader is not reading Kafka: no fetch answered/)
        expect(error.details).toEqual({
          upstream: 'Kafka',
          reader: 'CONSUMER_NO_FETCH',
          sinceMs: 1_000,
          asOfMs: 1_000,
          staleForMs: 31_000,
          retryAfterS: 5,
        })
        expect(error.hint).toMatch(/kafka-dlq/)
        expect(res.headers['retry-after']).toBe('5')
      }
      const health = await app.inject({ url: '/healthz' })
      expect(health.statusCode).toBe(503)
      expect(health.json().checks).toEqual([
        {
          name: 'kafka-dlq',
          ok: false,
          code: 'CONSUMER_NO_FETCH',
          detail: 'no fetch answered for 31000 ms; the DLQ data this API holds is 31 s old',
        },
      ])
    } finally {
      await app.close()
    }
  })

  it('say as of when their data is while the reader reads', async () => {
    const app = await stubApp({ dlq: reader({ ok: true, caughtUp: false, asOfMs: 5_000 }) })
    try {
      const counts = await app.inject({
        url: '/api/v1/operator/dlq/counts',
        headers: { 'x-api-key': STUB_KEY.key },
      })
      expect(counts.statusCode, counts.body).toBe(200)
      expect(counts.json()).toMatchObject({ asOfMs: 5_000, caughtUp: false, total: 1 })
      const page = await app.inject({ url: '/api/v1/operator/dlq', headers: { 'x-api-key': STUB_KEY.key } })
      expect(page.json()).toMatchObject({ asOfMs: 5_000, caughtUp: false, nextCursor: '0:1' })
    } finally {
      await app.close()
    }
  })
})
