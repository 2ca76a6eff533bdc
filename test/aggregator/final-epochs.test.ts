/**
 * Final epochs under the failures issue 9 names, on the real servers: every test ends with the
 * ground truth to the unit (per device, and per closed epoch where nothing is late), and every
 * closed epoch announced exactly once on epochs.v1, with a digest that InfluxDB already
 * matched when the announcement was read.
 */
import { afterEach, describe, expect, inject, it } from 'vitest'
import { createKafka } from '../../runtime/clients/kafka.ts'
import type { EpochWatcher } from '../support/epoch-announcements.ts'
import {
  closedEpochTotals,
  countPoints,
  deviceTotals,
  epochTotalsNow,
  type Totals,
} from '../support/influx-queries.ts'
import { startKafkaCollector } from '../support/kafka-collector.ts'
import { createHarness, type Harness, printable } from '../support/pipeline-harness.ts'

const endpoints = inject('endpoints')
const START = Date.parse('2026-06-01T00:00:00+08:00')
const HOUR = 3_600_000
const grid = { genesisMs: START, epochLengthMs: HOUR, intervalMs: 300_000 }
const fleet = { chargers: 8, pv: 6, swap: 6, startMs: START, sampleMs: 300_000 }
const run = `f${Date.now().toString(36)}`
const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c()
})

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function until(what: string, timeoutMs: number, done: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(100)
  }
}

const waitForTotals = (h: Harness, timeoutMs: number) => {
  const want = JSON.stringify(printable(h.truthByDevice()))
  return until('device totals to match the ground truth', timeoutMs, async () => {
    return JSON.stringify(printable(await deviceTotals(h.influx))) === want
  })
}

const waitForClosed = (h: Harness, epoch: number, timeoutMs: number) =>
  until(
    `epoch ${epoch} to close`,
    timeoutMs,
    async () => (await closedEpochTotals(h.influx)).closedThrough >= epoch,
  )

/** Per closed epoch, the recorded totals equal the ledger's (nothing was late). */
async function expectClosedEqualTruth(h: Harness, through: number) {
  const closed = await closedEpochTotals(h.influx)
  expect(closed.closedThrough).toBe(through)
  const truth = new Map([...h.truthByDeviceEpoch()].filter(([k]) => Number(k.split('/')[1]) <= through))
  expect(printable(closed.totals)).toEqual(printable(truth))
  return closed.totals
}

/** Epochs 0..through announced exactly once each, digests matched in InfluxDB when read, pools sum to the totals. */
async function expectAnnouncedOnce(watcher: EpochWatcher, through: number, recorded: Map<string, Totals>) {
  await watcher.waitForEpoch(through, 60_000)
  const epochs = watcher.announcements.map((a) => a.value.epoch).sort((a, b) => a - b)
  expect(epochs).toEqual(Array.from({ length: through + 1 }, (_, i) => i))
  for (const a of watcher.announcements) {
    expect(a.key).toBe(String(a.value.epoch))
    expect(a.value.digest.value, `epoch ${a.value.epoch} digest`).toBe(a.digestInInflux)
    let revenue = 0n
    for (const p of a.value.pools) revenue += BigInt(p.revenueUnits)
    let want = 0n
    for (const [key, t] of recorded) if (Number(key.split('/')[1]) === a.value.epoch) want += t.revenueUnits
    expect(revenue, `epoch ${a.value.epoch} revenue`).toBe(want)
  }
}

describe('final epochs (real Mosquitto, Kafka, InfluxDB)', () => {
  it('SIGKILL of one of two instances mid-rebalance, a third joining while an epoch closes', async () => {
    const h = await createHarness({
      endpoints,
      name: `${run}-rebalance`,
      seed: 'final-rebalance',
      fleet,
      grid,
      durationMs: 10 * HOUR,
      scenario: { faults: { duplicate: 0.05, reorder: 0.05 } },
      aggregatorEnv: { GRIDROOT_AGG_GRACE: '60m', GRIDROOT_AGG_SESSION_TIMEOUT: '6s' },
    })
    cleanups.push(() => h.close())
    const epochs = await h.watchEpochs()
    await h.startIngest()
    await h.startAggregator()
    const second = await h.startAggregator()
    await h.publish({ pauseMs: 10 })
    // The first announcement: the closer is in the middle of closing the epochs behind it. A
    // third instance joins now, and while the group rebalances for it, the second is SIGKILLed.
    await until('the first announcement', 90_000, () => epochs.announcements.length > 0)
    const announcedAtJoin = epochs.announcements.length
    const third = await h.startAggregator({}, { waitHealthy: false })
    await sleep(1_500)
    await second.kill('SIGKILL')
    await third.waitHealthy(90_000)
    expect(announcedAtJoin).toBeLessThan(9)
    await waitForTotals(h, 120_000)
    await waitForClosed(h, 8, 60_000)
    expect(printable(await deviceTotals(h.influx))).toEqual(printable(h.truthByDevice()))
    const recorded = await expectClosedEqualTruth(h, 8)
    await expectAnnouncedOnce(epochs, 8, recorded)
  }, 240_000)

  it('SIGKILLs while 2,600 devices have their states written stay exact', async () => {
    const h = await createHarness({
      endpoints,
      name: `${run}-big`,
      seed: 'final-big',
      fleet: { chargers: 1000, pv: 800, swap: 800, startMs: START, sampleMs: 300_000 },
      grid,
      durationMs: 3 * HOUR,
      scenario: { faults: { duplicate: 0.01 } },
      aggregatorEnv: { GRIDROOT_AGG_GRACE: '30m', GRIDROOT_AGG_INFLUX_CHUNK: '500' },
    })
    cleanups.push(() => h.close())
    const epochs = await h.watchEpochs()
    await h.startIngest()
    let aggregator = await h.startAggregator()
    let kills = 0
    await h.publish({
      onTick: async (i) => {
        if (i !== 12 && i !== 24) return
        // Once the aggregator is into its writes (2,600 device states per batch), kill it.
        const seen = await aggregator.metric('gridroot_aggregator_records_total')
        await until('the aggregator to consume', 60_000, async () => {
          return (await aggregator.metric('gridroot_aggregator_records_total')) > seen
        })
        await aggregator.kill('SIGKILL')
        kills += 1
        aggregator = await h.startAggregator()
      },
    })
    expect(kills).toBe(2)
    await waitForTotals(h, 180_000)
    await waitForClosed(h, 1, 60_000)
    expect(printable(await deviceTotals(h.influx))).toEqual(printable(h.truthByDevice()))
    const recorded = await expectClosedEqualTruth(h, 1)
    await expectAnnouncedOnce(epochs, 1, recorded)
  }, 400_000)

  it('dead-letters lines InfluxDB refuses for good, and holds a device ingest knew first until the aggregator does', async () => {
    const newDevice = 'chg-000001'
    const h = await createHarness({
      endpoints,
      name: `${run}-refused`,
      seed: 'final-refused',
      fleet,
      grid,
      durationMs: 10 * HOUR,
      scenario: { faults: { meterReplace: 0.01 } },
      aggregatorEnv: { GRIDROOT_AGG_GRACE: '60m' },
      aggregatorRegistry: (devices) => devices.filter((d) => d.deviceId !== newDevice),
    })
    cleanups.push(() => h.close())
    const quarantined = Object.values(h.scenario.ledger.snapshot().quarantinedByReason).reduce(
      (a, b) => a + (b ?? 0),
      0,
    )
    expect(quarantined).toBeGreaterThan(0)
    expect(h.truthByDevice().get(newDevice)?.readings ?? 0).toBeGreaterThan(0)
    // A field type conflict: InfluxDB refuses every quarantine point of this shard from now on.
    const database = h.influx.bucket.split('/')[0] ?? ''
    const poison = await fetch(`${h.influx.url}/write?db=${encodeURIComponent(database)}`, {
      method: 'POST',
      body: `quarantine,device=poison detail=1i ${START}000000`,
    })
    expect(poison.status).toBe(204)
    const epochs = await h.watchEpochs()
    const dlq = await startKafkaCollector(endpoints.kafka, [h.topics.dlq.name], (r) =>
      (r.headers['gridroot-reason'] ?? '').startsWith('AGG_'),
    )
    cleanups.push(() => dlq.stop())
    await h.startIngest()
    const aggregator = await h.startAggregator()
    await h.publish({ pauseMs: 5 })
    await until('records of the unknown device to be held', 60_000, async () => {
      return (await aggregator.metric('gridroot_aggregator_held_records')) > 0
    })
    // Held, not dropped (nor committed past) while epochs close, also after its partition
    // would count as idle (15 s in the harness).
    await sleep(17_000)
    expect(await aggregator.metric('gridroot_aggregator_held_records')).toBeGreaterThan(0)
    h.setAggregatorRegistry((devices) => [...devices])
    await waitForTotals(h, 240_000)
    await waitForClosed(h, 8, 60_000)
    // Nothing lost: the new device's readings are all there, in epochs that closed while it was
    // held as adjustments; every other device matches the ledger epoch by epoch.
    expect(printable(await deviceTotals(h.influx))).toEqual(printable(h.truthByDevice()))
    const closed = await closedEpochTotals(h.influx)
    expect(closed.closedThrough).toBe(8)
    const others = (m: Map<string, Totals>) => new Map([...m].filter(([k]) => !k.startsWith(`${newDevice}/`)))
    const truth = new Map([...h.truthByDeviceEpoch()].filter(([k]) => Number(k.split('/')[1]) <= 8))
    expect(printable(others(closed.totals))).toEqual(
      printable(new Map([...truth].filter(([k]) => !k.startsWith(`${newDevice}/`)))),
    )
    await expectAnnouncedOnce(epochs, 8, closed.totals)
    // Every quarantined reading is either a point in InfluxDB or a refused line dead-lettered
    // with InfluxDB's reason (the conflict refuses those of its shard); the queue went on.
    const written = await countPoints(h.influx, 'quarantine', 'seq')
    await dlq.waitFor((r) => r.length + written >= quarantined, 30_000, 'dead letters')
    expect(dlq.records.length).toBeGreaterThan(0)
    expect(dlq.records.length + written).toBe(quarantined)
    for (const r of dlq.records) {
      expect(r.headers['gridroot-reason']).toBe('AGG_INFLUX_REFUSED')
      expect(r.headers['gridroot-detail']).toMatch(/HTTP 400: .*field type conflict/)
      expect(r.value.toString()).toMatch(/^quarantine,/)
    }
    expect(
      await aggregator.metric('gridroot_aggregator_dead_lettered_total', { reason: 'AGG_INFLUX_REFUSED' }),
    ).toBe(dlq.records.length)
    expect(await aggregator.metric('gridroot_aggregator_held_records')).toBe(0)
    expect((await fetch(`http://127.0.0.1:${aggregator.metricsPort}/healthz`)).status).toBe(200)
  }, 420_000)

  it('a fresh consumer group rebuilds from the whole topic without changing or re-announcing a closed epoch', async () => {
    const h = await createHarness({
      endpoints,
      name: `${run}-rebuild`,
      seed: 'final-rebuild',
      fleet,
      grid,
      durationMs: 10 * HOUR,
      // Devices that come back 3 h later: adjustments, which the rebuild must book the same way.
      scenario: { faults: { duplicate: 0.05, reorder: 0.05, offline: 0.01 }, offlineMs: 3 * HOUR },
      aggregatorEnv: { GRIDROOT_AGG_GRACE: '15m' },
    })
    cleanups.push(() => h.close())
    const epochs = await h.watchEpochs()
    await h.startIngest()
    const first = await h.startAggregator()
    await h.publish({ pauseMs: 5 })
    await waitForTotals(h, 240_000)
    await waitForClosed(h, 8, 60_000)
    await epochs.waitForEpoch(8, 30_000)
    const before = await closedEpochTotals(h.influx)
    const rawBefore = new Map<string, Totals>()
    for (let e = 0; e <= 8; e++)
      for (const [d, t] of await epochTotalsNow(h.influx, grid, e)) rawBefore.set(`${d}/${e}`, t)
    await first.kill('SIGTERM')

    const group = `${run}-rebuild-fresh`
    const rebuild = await h.startAggregator({ GRIDROOT_AGG_GROUP: group })
    const admin = createKafka(endpoints.kafka, 'test-rebuild').admin()
    await admin.connect()
    cleanups.push(() => admin.disconnect())
    await until('the fresh group to read the whole topic', 120_000, async () => {
      const [ends, committed] = await Promise.all([
        admin.fetchTopicOffsets(h.topics.telemetry.name),
        admin.fetchOffsets({ groupId: group, topics: [h.topics.telemetry.name] }),
      ])
      const at = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]))
      return ends.every((e) => (at.get(e.partition) ?? -1n) >= BigInt(e.high))
    })
    await sleep(3_000)
    expect(await rebuild.metric('gridroot_aggregator_records_total')).toBeGreaterThan(0)
    expect(printable(await deviceTotals(h.influx))).toEqual(printable(h.truthByDevice()))
    const after = await closedEpochTotals(h.influx)
    expect(printable(after.totals)).toEqual(printable(before.totals))
    const rawAfter = new Map<string, Totals>()
    for (let e = 0; e <= 8; e++)
      for (const [d, t] of await epochTotalsNow(h.influx, grid, e)) rawAfter.set(`${d}/${e}`, t)
    expect(printable(rawAfter)).toEqual(printable(rawBefore))
    await expectAnnouncedOnce(epochs, after.closedThrough, after.totals)
  }, 420_000)
})
