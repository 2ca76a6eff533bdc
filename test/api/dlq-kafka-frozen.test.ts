/**
 * The API's DLQ reader with Kafka frozen (issue 12 F8: after a Kafka SIGSTOP /healthz kept saying
 * ok for the DLQ and the DLQ routes kept serving the counts of before, without a word). The API
 * runs as its own process (services/api/main.ts) on a Kafka of this test's own (the shared
 * stack's is never frozen) with short bounds: within the stall bound /healthz is 503 naming the
 * reader's problem (kafka-dlq, a CONSUMER_* code) and the DLQ routes answer 503
 * UPSTREAM_UNAVAILABLE with how old their data is; past the restart bound the reader says it
 * is replacing its consumer (DLQ_READER_RESTARTING); after SIGCONT it reads again, the records
 * written meanwhile included, each (partition, offset) once.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { createKafka, ensureTopics } from '../../runtime/clients/kafka.ts'
import { endpointsToEnv } from '../../runtime/endpoints.ts'
import { retry } from '../../runtime/retry.ts'
import { createFleet } from '../../simulators/fleet/fleet.ts'
import { type DedicatedKafka, startDedicatedKafka } from '../support/dedicated-kafka.ts'
import { type ServiceProcess, startServiceProcess } from '../support/service-process.ts'

const endpoints = inject('endpoints')
const name = `apidlqfrozen${process.pid}${Date.now().toString(36)}`
const STALL_MS = 3_000
const RESTART_MS = 15_000
const KEY = 'ops-key-0123456789abcdef0123'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

let kafka: DedicatedKafka
let api: ServiceProcess | undefined
let dir: string
const topic = `${name}.telemetry.dlq`

const record = (partition: number, i: number) => ({
  partition,
  key: `dev-${partition}-${i}`,
  value: Buffer.from(`{"broken":${i}`),
  headers: {
    'gridroot-reason': i % 2 === 0 ? 'BAD_SIGNATURE' : 'MALFORMED_JSON',
    'gridroot-detail': `record ${partition}/${i}`,
    'gridroot-received-at-ms': String(1_780_000_000_000 + i * 10 + partition),
  },
})

async function produce(messages: ReturnType<typeof record>[]): Promise<void> {
  const producer = createKafka(kafka.endpoint, `${name}-producer`).producer()
  await producer.connect()
  try {
    // A topic just created may not have its partition leaders yet.
    await retry(() => producer.send({ topic, messages }), {
      operation: 'produce DLQ records',
      maxAttempts: 20,
      classify: () => 'retry',
    })
  } finally {
    await producer.disconnect()
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), `gridroot-${name}-`))
  kafka = await startDedicatedKafka(join(dir, 'kafka'))
  // Two partitions: offsets 0..2 exist in both.
  await ensureTopics(kafka.endpoint, [{ name: topic, partitions: 2, retentionMs: -1 }])
  await produce([0, 1, 2].flatMap((i) => [record(0, i), record(1, i)]))
  const registryFile = join(dir, 'registry.json')
  const fleet = createFleet({
    seed: name,
    chargers: 1,
    pv: 1,
    swap: 1,
    startMs: Date.now(),
    sampleMs: 300_000,
  })
  writeFileSync(registryFile, JSON.stringify(fleet.registry()))
  api = await startServiceProcess(
    'services/api/main.ts',
    {
      ...endpointsToEnv({ ...endpoints, kafka: kafka.endpoint }),
      GRIDROOT_REGISTRY_FILE: registryFile,
      GRIDROOT_KAFKA_TOPIC_PREFIX: `${name}.`,
      GRIDROOT_API_INSTANCE: `${name}-api`,
      GRIDROOT_API_KEYS: `ops:${KEY}`,
      GRIDROOT_API_DLQ_STALL: String(STALL_MS),
      GRIDROOT_API_DLQ_RESTART: String(RESTART_MS),
    },
    'GRIDROOT_API_PORT',
  )
  await api.waitHealthy()
}, 300_000)

afterAll(async () => {
  await api?.kill('SIGTERM')
  await kafka?.stop()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

interface Check {
  readonly name: string
  readonly ok: boolean
  readonly code?: string
  readonly detail?: string
}
/** What the assertions read of the API's answers (counts, pages, /healthz, errors). */
interface Answer {
  readonly total: number
  readonly caughtUp: boolean
  readonly asOfMs: number
  readonly byReason: Record<string, number>
  readonly partitions: readonly { readonly nextOffset: string }[]
  readonly records: readonly { readonly partition: number; readonly offset: string }[]
  readonly checks: readonly Check[]
  readonly error: { readonly code: string; readonly details: { readonly staleForMs: number } }
}

async function get(path: string): Promise<{ status: number; body: Answer }> {
  const res = await fetch(`http://127.0.0.1:${api?.metricsPort}${path}`, {
    headers: { 'x-api-key': KEY },
    signal: AbortSignal.timeout(5_000),
  })
  return { status: res.status, body: (await res.json()) as Answer }
}
const dlqCheck = (body: Answer) => body.checks.find((c) => c.name === 'kafka-dlq')

async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    const got = await probe().catch(() => undefined)
    if (got !== undefined) return got
    await sleep(250)
  }
  throw new Error(`${what} within ${ms} ms:\n${api?.output().slice(-4_000)}`)
}

describe('DLQ reader with its Kafka frozen', () => {
  it('reports the stall (healthz 503, DLQ routes 503 with staleness), replaces its consumer, and reads again after', async () => {
    const before = await until('the reader caught up', 30_000, async () => {
      const counts = await get('/api/v1/operator/dlq/counts')
      return counts.status === 200 && counts.body.caughtUp === true && counts.body.total === 6
        ? counts
        : undefined
    })
    expect(Date.now() - before.body.asOfMs).toBeLessThan(5_000)

    const frozenAtMs = Date.now()
    kafka.freeze()
    const health = await until('/healthz 503 naming the DLQ reader', STALL_MS + 5_000, async () => {
      const h = await get('/healthz')
      return h.status === 503 && dlqCheck(h.body)?.ok === false ? h : undefined
    })
    expect(Date.now() - frozenAtMs).toBeLessThan(STALL_MS + 4_000)
    expect(dlqCheck(health.body)).toMatchObject({
      ok: false,
      code: expect.stringMatching(/^CONSUMER_/),
      detail: expect.stringMatching(/the DLQ data this API holds is \d+ s old/),
    })
    // InfluxDB is fine: only the DLQ reader fails.
    expect(health.body.checks.find((c: { name: string }) => c.name === 'influxdb')).toMatchObject({
      ok: true,
    })
    for (const path of [
      '/api/v1/operator/dlq/counts',
      '/api/v1/operator/dlq',
      '/api/v1/operator/dlq?partition=1',
    ]) {
      const res = await get(path)
      expect(res.status, path).toBe(503)
      expect(res.body.error.code).toBe('UPSTREAM_UNAVAILABLE')
      expect(res.body.error.details).toMatchObject({
        upstream: 'Kafka',
        reader: expect.stringMatching(/^CONSUMER_/),
        asOfMs: expect.any(Number),
      })
      expect(res.body.error.details.staleForMs).toBeGreaterThanOrEqual(STALL_MS - 1_000)
    }

    // Past the restart bound the reader replaces its consumer (the process stays up).
    const restarting = await until('DLQ_READER_RESTARTING', RESTART_MS + 15_000, async () => {
      const h = await get('/healthz')
      return dlqCheck(h.body)?.code === 'DLQ_READER_RESTARTING' ? h : undefined
    })
    expect(Date.now() - frozenAtMs).toBeGreaterThanOrEqual(RESTART_MS - 1_000)
    expect(dlqCheck(restarting.body)?.detail).toMatch(/being replaced/)
    expect(api?.output()).toContain('DLQ reader consumer stalled past its restart bound: replacing it')
    expect(api?.child.exitCode).toBeNull()

    kafka.thaw()
    await produce([record(0, 3), record(1, 3)])
    const after = await until('the reader reading again', 90_000, async () => {
      const counts = await get('/api/v1/operator/dlq/counts')
      return counts.status === 200 && counts.body.total === 8 ? counts : undefined
    })
    expect(after.body.byReason).toEqual({ BAD_SIGNATURE: 4, MALFORMED_JSON: 4 })
    expect(after.body.partitions.map((p) => p.nextOffset)).toEqual(['4', '4'])
    expect(Date.now() - after.body.asOfMs).toBeLessThan(5_000)
    const page = await get('/api/v1/operator/dlq?limit=100')
    expect(page.status).toBe(200)
    const ids = page.body.records.map(
      (r: { partition: number; offset: string }) => `${r.partition}:${r.offset}`,
    )
    expect(ids).toHaveLength(8)
    expect(new Set(ids).size).toBe(8)
    const healthy = await get('/healthz')
    expect(healthy.status, JSON.stringify(healthy.body)).toBe(200)
  }, 300_000)
})
