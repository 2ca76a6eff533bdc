/**
 * DLQ browsing on a DLQ topic of three partitions on the real Kafka (issue 12 F1): offsets count
 * per partition, so every offset below exists three times. The API's DLQ reader (the real
 * adapters/dlq-tail.ts) must show all of them, each named by (partition, offset), page across
 * partitions with a cursor that carries every partition's position, and show records that
 * arrive later in a partition the cursor had passed.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { createKafka, ensureTopics } from '../../runtime/clients/kafka.ts'
import { createLogger } from '../../runtime/log.ts'
import { type DlqTail, startDlqTail } from '../../services/api/adapters/dlq-tail.ts'
import { STUB_KEY, stubApp } from '../../services/api/testing/stub-app.ts'

const endpoints = inject('endpoints')
const name = `apidlqparts_${process.pid}_${Date.now().toString(36)}`
const topic = `${name}.telemetry.dlq`
const PARTITIONS = 3
const PER_PARTITION = 4

let tail: DlqTail
let app: Awaited<ReturnType<typeof stubApp>>
const producer = createKafka(endpoints.kafka, `${name}-producer`).producer()

/** Record `offset` of `partition`, received at a time that interleaves the partitions. */
const message = (partition: number, offset: number) => ({
  partition,
  key: `dev-${partition}-${offset}`,
  value: Buffer.from(`{"p":${partition},"o":${offset}}`),
  headers: {
    'gridroot-reason': offset % 2 === 0 ? 'BAD_SIGNATURE' : 'MALFORMED_JSON',
    'gridroot-detail': `partition ${partition} record ${offset}`,
    'gridroot-mqtt-topic': `gridroot/v1/pv/dev-${partition}/telemetry`,
    'gridroot-received-at-ms': String(1_780_000_000_000 + offset * 10 + partition),
  },
})

beforeAll(async () => {
  await ensureTopics(endpoints.kafka, [{ name: topic, partitions: PARTITIONS, retentionMs: -1 }])
  await producer.connect()
  for (let partition = 0; partition < PARTITIONS; partition++)
    await producer.send({
      topic,
      messages: Array.from({ length: PER_PARTITION }, (_, offset) => message(partition, offset)),
    })
  tail = await startDlqTail({
    kafka: endpoints.kafka,
    topic,
    instanceId: `${name}-api`,
    retainRecords: 1_000,
    logger: createLogger('api-test', 'warn'),
  })
  await tail.caughtUp()
  app = await stubApp({ dlq: tail })
}, 120_000)

afterAll(async () => {
  await app?.close()
  await tail?.stop()
  await producer.disconnect()
})

const get = async (url: string) => {
  const res = await app.inject({ url, headers: { 'x-api-key': STUB_KEY.key } })
  expect(res.statusCode, `${url}: ${res.body}`).toBe(200)
  return res.json()
}
type Row = { partition: number; offset: string; detail: string }
const ids = (records: readonly Row[]) => records.map((r) => `${r.partition}:${r.offset}`)

describe('DLQ of several partitions', () => {
  it('holds every (partition, offset) and pages all of them across partitions once each', async () => {
    const counts = await get('/api/v1/operator/dlq/counts')
    expect(counts.total).toBe(PARTITIONS * PER_PARTITION)
    expect(counts.partitions).toEqual(
      [0, 1, 2].map((partition) => ({
        partition,
        oldestOffset: '0',
        nextOffset: String(PER_PARTITION),
        retained: PER_PARTITION,
      })),
    )
    const seen: string[] = []
    let url = '/api/v1/operator/dlq?limit=5'
    for (let i = 0; i < 10; i++) {
      const page = await get(url)
      if (page.records.length === 0) break
      for (const r of page.records as Row[])
        expect(r.detail).toBe(`partition ${r.partition} record ${r.offset}`)
      seen.push(...ids(page.records))
      url = `/api/v1/operator/dlq?limit=5&cursor=${page.nextCursor}`
    }
    // Oldest received first: the partitions interleave at each offset.
    const expected: string[] = []
    for (let offset = 0; offset < PER_PARTITION; offset++)
      for (let partition = 0; partition < PARTITIONS; partition++) expected.push(`${partition}:${offset}`)
    expect(seen).toEqual(expected)
  })

  it('pages one partition by offset, its records naming it', async () => {
    const page = await get('/api/v1/operator/dlq?partition=1&limit=3')
    expect(ids(page.records)).toEqual(['1:0', '1:1', '1:2'])
    expect(page).toMatchObject({ partition: 1, nextOffset: '3' })
    const rest = await get(`/api/v1/operator/dlq?partition=1&fromOffset=${page.nextOffset}`)
    expect(ids(rest.records)).toEqual(['1:3'])
  })

  it('shows records that arrive later in a partition the cursor had passed, with the reason filter too', async () => {
    const all = await get('/api/v1/operator/dlq?limit=100')
    expect(all.nextCursor).toBe('0:4,1:4,2:4')
    await producer.send({ topic, messages: [message(2, PER_PARTITION), message(0, PER_PARTITION)] })
    const deadline = Date.now() + 20_000
    let next = await get(`/api/v1/operator/dlq?cursor=${all.nextCursor}`)
    while (next.records.length < 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200))
      next = await get(`/api/v1/operator/dlq?cursor=${all.nextCursor}`)
    }
    expect(ids(next.records)).toEqual(['0:4', '2:4'])
    expect(next.nextCursor).toBe('0:5,1:4,2:5')
    const bad = await get('/api/v1/operator/dlq?reason=BAD_SIGNATURE&limit=100')
    expect(ids(bad.records).filter((id) => id.endsWith(':4'))).toEqual(['0:4', '2:4'])
    expect(bad.records).toHaveLength(PARTITIONS * 2 + 2)
  })
})
