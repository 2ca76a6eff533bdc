/**
 * A fleet smaller than telemetry.v1's partition count: partitions that never receive a record
 * must not hold the epoch close forever. Real Mosquitto, Kafka, ingest, aggregator, InfluxDB.
 */
import { afterAll, expect, inject, it } from 'vitest'
import { closedEpochTotals } from '../support/influx-queries.ts'
import { createHarness, type Harness, printable } from '../support/pipeline-harness.ts'

const START = Date.parse('2026-06-01T00:00:00+08:00')
const HOUR = 3_600_000
let harness: Harness | undefined
afterAll(async () => harness?.close())

it('closes epochs although most partitions never get a record', async () => {
  harness = await createHarness({
    endpoints: inject('endpoints'),
    name: `empty${Date.now().toString(36)}`,
    seed: 'empty-partitions',
    fleet: { chargers: 1, pv: 0, swap: 1, startMs: START, sampleMs: 300_000 },
    grid: { genesisMs: START, epochLengthMs: HOUR, intervalMs: 300_000 },
    durationMs: 4 * HOUR,
    scenario: {},
    aggregatorEnv: { GRIDROOT_AGG_GRACE: '10m', GRIDROOT_AGG_IDLE_PARTITION: '2s' },
  })
  await harness.startIngest()
  await harness.startAggregator()
  await harness.publish()
  const deadline = Date.now() + 90_000
  let closed = await closedEpochTotals(harness.influx)
  while (closed.closedThrough < 2 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500))
    closed = await closedEpochTotals(harness.influx)
  }
  expect(closed.closedThrough).toBeGreaterThanOrEqual(2)
  const truth = new Map([...harness.truthByDeviceEpoch()].filter(([k]) => Number(k.split('/')[1]) <= 2))
  const recorded = new Map([...closed.totals].filter(([k]) => Number(k.split('/')[1]) <= 2))
  expect(printable(recorded)).toEqual(printable(truth))
})
