/**
 * A fleet smaller than telemetry.v1's partition count: partitions that never receive a record
 * must not hold the epoch close forever. Real Mosquitto, Kafka, ingest, aggregator, InfluxDB.
 *
 * The idle rule moves such a partition's watermark through a marker record appended to the
 * partition (core/telemetry/watermark-marker.ts), so a fresh consumer group rebuilding from the
 * whole topic, which never sees the partition idle, books every record exactly as before.
 */
import { afterAll, expect, inject, it } from 'vitest'
import { decodeWatermarkMarker, WATERMARK_MARKER_KEY } from '../../core/telemetry/watermark-marker.ts'
import { createKafka } from '../../runtime/clients/kafka.ts'
import { closedEpochTotals, epochTotalsNow, type Totals } from '../support/influx-queries.ts'
import { startKafkaCollector } from '../support/kafka-collector.ts'
import { createHarness, type Harness, printable } from '../support/pipeline-harness.ts'

const START = Date.parse('2026-06-01T00:00:00+08:00')
const HOUR = 3_600_000
const grid = { genesisMs: START, epochLengthMs: HOUR, intervalMs: 300_000 }
const cleanups: (() => Promise<void>)[] = []
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
async function until(what: string, timeoutMs: number, done: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(500)
  }
}

async function rawEpochTotals(h: Harness, through: number): Promise<Map<string, Totals>> {
  const raw = new Map<string, Totals>()
  for (let e = 0; e <= through; e++)
    for (const [d, t] of await epochTotalsNow(h.influx, grid, e)) raw.set(`${d}/${e}`, t)
  return raw
}

it('closes epochs although most partitions never get a record, and a rebuild books the same', async () => {
  const endpoints = inject('endpoints')
  const h = await createHarness({
    endpoints,
    name: `empty${Date.now().toString(36)}`,
    seed: 'empty-partitions',
    fleet: { chargers: 1, pv: 0, swap: 1, startMs: START, sampleMs: 300_000 },
    grid,
    durationMs: 4 * HOUR,
    scenario: {},
    aggregatorEnv: { GRIDROOT_AGG_GRACE: '10m', GRIDROOT_AGG_IDLE_PARTITION: '2s' },
  })
  cleanups.push(() => h.close())
  const epochs = await h.watchEpochs()
  await h.startIngest()
  const first = await h.startAggregator()
  await h.publish()
  let closed = await closedEpochTotals(h.influx)
  await until('epoch 2 to close', 90_000, async () => {
    closed = await closedEpochTotals(h.influx)
    return closed.closedThrough >= 2
  })
  const truth = new Map([...h.truthByDeviceEpoch()].filter(([k]) => Number(k.split('/')[1]) <= 2))
  const recorded = new Map([...closed.totals].filter(([k]) => Number(k.split('/')[1]) <= 2))
  expect(printable(recorded)).toEqual(printable(truth))

  // Each empty partition got its watermark from a marker in the partition itself.
  const collector = await startKafkaCollector(endpoints.kafka, [h.topics.telemetry.name], () => true)
  cleanups.push(() => collector.stop())
  const markerPartitions = async () => {
    const admin = createKafka(endpoints.kafka, 'test-empty-partitions').admin()
    await admin.connect()
    try {
      return await admin.fetchTopicOffsets(h.topics.telemetry.name)
    } finally {
      await admin.disconnect()
    }
  }
  const ends = await markerPartitions()
  await collector.waitFor(
    (records) => records.length >= ends.reduce((n, e) => n + Number(e.high), 0),
    30_000,
    'every record of the telemetry topic',
  )
  const markers = collector.records.filter((r) => r.key === WATERMARK_MARKER_KEY)
  expect(markers.length).toBeGreaterThan(0)
  for (const m of markers) expect(decodeWatermarkMarker(m.value).watermarkMs).toBeGreaterThan(START)
  const telemetryRecords = collector.records.length - markers.length
  expect(telemetryRecords).toBeGreaterThan(0)
  // At most 2 partitions carry devices; the other partitions hold markers only.
  expect(ends.filter((e) => Number(e.high) > 0).length).toBeGreaterThan(2)

  // One announcement per epoch.
  await epochs.waitForEpoch(closed.closedThrough, 30_000)
  expect(epochs.duplicates()).toEqual([])

  // A fresh group reads the whole topic at once (no partition is ever idle for it) and must
  // reach the same raw epoch totals and re-announce nothing.
  const through = closed.closedThrough
  const before = await rawEpochTotals(h, through)
  await first.kill('SIGTERM')
  const group = `${h.topics.telemetry.name}-rebuild`
  const rebuild = await h.startAggregator({ GRIDROOT_AGG_GROUP: group, GRIDROOT_AGG_IDLE_PARTITION: '1h' })
  const admin = createKafka(endpoints.kafka, 'test-empty-rebuild').admin()
  await admin.connect()
  cleanups.push(() => admin.disconnect())
  await until('the fresh group to read the whole topic', 120_000, async () => {
    const [now, committed] = await Promise.all([
      admin.fetchTopicOffsets(h.topics.telemetry.name),
      admin.fetchOffsets({ groupId: group, topics: [h.topics.telemetry.name] }),
    ])
    const at = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]))
    return now.every((e) => BigInt(e.high) === 0n || (at.get(e.partition) ?? -1n) >= BigInt(e.high))
  })
  await sleep(3_000)
  expect(await rebuild.metric('gridroot_aggregator_records_total')).toBeGreaterThan(0)
  expect(printable(await rawEpochTotals(h, through))).toEqual(printable(before))
  expect(epochs.duplicates()).toEqual([])
}, 300_000)
