/**
 * The aggregator against real Kafka and InfluxDB, fed by real ingest from real Mosquitto: totals
 * per device and epoch equal the simulator's ground truth to the unit, with every fault class
 * on; late data is booked as adjustments; SIGKILLs of the aggregator and of InfluxDB change
 * nothing; each closed epoch is announced once on epochs.v1, after its totals.
 */
import { join } from 'node:path'
import { afterEach, describe, expect, inject, it } from 'vitest'
import { createRng } from '../../core/random/prng.ts'
import { createInfluxReader, type RevenueSource } from '../../services/api/adapters/influx-reader.ts'
import { createFleet } from '../../simulators/fleet/fleet.ts'
import { REPO_ROOT } from '../../stack/paths.ts'
import { startDedicatedInflux } from '../support/dedicated-influx.ts'
import type { EpochWatcher } from '../support/epoch-announcements.ts'
import {
  adjustmentPoints,
  closedEpochTotals,
  countPoints,
  deviceTotals,
  epochTotalsNow,
  rollupsAndDevicePoints,
  type Totals,
} from '../support/influx-queries.ts'
import { createHarness, type Harness, printable } from '../support/pipeline-harness.ts'

const endpoints = inject('endpoints')
const START = Date.parse('2026-06-01T00:00:00+08:00')
const HOUR = 3_600_000
const grid = { genesisMs: START, epochLengthMs: HOUR, intervalMs: 300_000 }
const fleet = { chargers: 8, pv: 6, swap: 6, startMs: START, sampleMs: 300_000 }
const run = `a${Date.now().toString(36)}`
const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c()
})

/** Waits until the aggregator has closed `epoch` (or the time is up; the assertions then say what is missing). */
async function waitForClosed(h: Harness, epoch: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline && (await closedEpochTotals(h.influx)).closedThrough < epoch) {
    await new Promise((r) => setTimeout(r, 500))
  }
}

/**
 * A closed epoch's recorded totals must equal what its intervals and booked adjustments add up
 * to now: late data never rewrites a closed epoch.
 */
async function expectClosedEpochsUnchanged(h: Harness, closedThrough: number, recorded: Map<string, Totals>) {
  const now = new Map<string, Totals>()
  for (let epoch = 0; epoch <= closedThrough; epoch++) {
    for (const [device, t] of await epochTotalsNow(h.influx, grid, epoch)) now.set(`${device}/${epoch}`, t)
  }
  expect(printable(now)).toEqual(printable(recorded))
}

/**
 * Epochs 0..through were each announced exactly once on epochs.v1, and each announcement's
 * digest equals the one recomputed from InfluxDB the moment it was read (the totals were
 * durable before the announcement), and its pools add up to the recorded epoch totals.
 */
async function expectAnnouncedOnce(
  watcher: EpochWatcher,
  through: number,
  recorded: Map<string, Totals>,
): Promise<void> {
  await watcher.waitForEpoch(through, 60_000)
  const epochs = watcher.announcements.map((a) => a.value.epoch).sort((a, b) => a - b)
  expect(epochs.filter((e) => e <= through)).toEqual(Array.from({ length: through + 1 }, (_, i) => i))
  for (const a of watcher.announcements) {
    expect(a.key).toBe(String(a.value.epoch))
    expect(a.value.version).toBe(1)
    expect(a.value.digest.algorithm).toBe('sha256')
    expect(a.value.digest.value, `epoch ${a.value.epoch} digest`).toBe(a.digestInInflux)
    let energyWh = 0
    let revenueUnits = 0n
    for (const p of a.value.pools) {
      energyWh += p.energyWh
      revenueUnits += BigInt(p.revenueUnits)
    }
    let wantEnergy = 0
    let wantRevenue = 0n
    for (const [key, t] of recorded) {
      if (Number(key.split('/')[1]) !== a.value.epoch) continue
      wantEnergy += t.energyWh
      wantRevenue += t.revenueUnits
    }
    if (a.value.epoch <= through) {
      expect(energyWh, `epoch ${a.value.epoch} energy`).toBe(wantEnergy)
      expect(revenueUnits, `epoch ${a.value.epoch} revenue`).toBe(wantRevenue)
    }
  }
}

/**
 * The revenue rollups equal the device points they sum, per source, pool, class and interval, to
 * the unit; returns the keys compared.
 */
async function expectRollupsExact(h: Harness, name: string): Promise<string[]> {
  const { devices, rollups } = await rollupsAndDevicePoints(h.influx, `${name}-aggregator`)
  expect(Object.keys(devices).length).toBeGreaterThan(0)
  expect(rollups).toEqual(devices)
  return Object.keys(devices)
}

/** What the API's pool and class series add up to over the whole run, read from rollups or from device points. */
async function apiSeriesTotals(h: Harness, name: string, source: RevenueSource, groupBy: 'pool' | 'class') {
  const reader = createInfluxReader(h.influx, {
    aggregatorGroup: `${name}-aggregator`,
    revenueSource: source,
  })
  const plan = {
    fromMs: START,
    toMs: START + 24 * HOUR,
    resolutionMs: HOUR,
    offsetMs: START % HOUR,
    windows: 24,
  }
  const out: Record<string, string> = {}
  for (const s of await reader.revenue.revenueSeries(plan, groupBy, {})) {
    let energyWh = 0
    let revenueUnits = 0n
    for (const p of s.points) {
      energyWh += p.energyWh
      revenueUnits += p.revenueUnits
    }
    out[s.key] = `E=${energyWh} R=${revenueUnits}`
  }
  return out
}

/** The ground truth per pool or class: the ledger's device totals, summed. */
function truthBy(h: Harness, seed: string, groupBy: 'pool' | 'class'): Record<string, string> {
  const devices = new Map(
    createFleet({ seed, ...fleet })
      .registry()
      .devices.map((d) => [d.deviceId, groupBy === 'pool' ? d.poolId : d.assetClass]),
  )
  const sums = new Map<string, { energyWh: number; revenueUnits: bigint }>()
  for (const [deviceId, t] of h.truthByDevice()) {
    const key = devices.get(deviceId) ?? '?'
    const s = sums.get(key) ?? { energyWh: 0, revenueUnits: 0n }
    s.energyWh += t.energyWh
    s.revenueUnits += t.revenueUnits
    sums.set(key, s)
  }
  return Object.fromEntries([...sums].map(([k, s]) => [k, `E=${s.energyWh} R=${s.revenueUnits}`]))
}

async function waitForTotals(h: Harness, timeoutMs: number): Promise<void> {
  const want = JSON.stringify(printable(h.truthByDevice()))
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (JSON.stringify(printable(await deviceTotals(h.influx))) === want) return
    await new Promise((r) => setTimeout(r, 500))
  }
}

describe('aggregator (real Mosquitto, Kafka, InfluxDB)', () => {
  it('matches the ground truth per device and epoch to the unit with every fault class on', async () => {
    const faults = {
      duplicate: 0.05,
      reorder: 0.05,
      late: 0.02,
      offline: 0.005,
      clockSkew: 0.01,
      meterReplace: 0.003,
      malformed: 0.02,
      badSignature: 0.02,
      unknownDevice: 0.02,
      replay: 0.03,
      oversize: 0.005,
    }
    const h = await createHarness({
      endpoints,
      name: `${run}-faults`,
      seed: 'aggregator-faults',
      fleet,
      grid,
      durationMs: 10 * HOUR,
      scenario: {
        faults,
        lateMs: 20 * 60_000,
        offlineMs: 40 * 60_000,
        batchSize: 2,
      },
      // Longer than any lateness injected here: nothing is late, so epochs match exactly.
      aggregatorEnv: { GRIDROOT_AGG_GRACE: '90m', GRIDROOT_AGG_REORDER_WINDOW: '60m' },
    })
    cleanups.push(() => h.close())
    const injected = h.scenario.counters.injected
    // Every fault class configured here was injected (the simulator knows more classes).
    for (const kind of Object.keys(faults) as (keyof typeof faults)[])
      expect(injected[kind], `${kind} injected`).toBeGreaterThan(0)
    expect(h.scenario.ledger.snapshot().quarantinedByReason.REGISTER_BACKWARDS ?? 0).toBeGreaterThan(0)

    const epochs = await h.watchEpochs()
    await h.startIngest()
    const aggregator = await h.startAggregator()
    await h.publish()
    await waitForTotals(h, 90_000)
    // Data ends at 10 h; with 90 min of grace, epochs through 7 (ending 8 h) can close.
    await waitForClosed(h, 7, 30_000)

    expect(printable(await deviceTotals(h.influx))).toEqual(printable(h.truthByDevice()))
    await expectRollupsExact(h, `${run}-faults`)
    // Closed epochs: the recorded totals equal the ledger's, device by device.
    const closed = await closedEpochTotals(h.influx)
    expect(closed.closedThrough).toBe(7)
    const truth = new Map(
      [...h.truthByDeviceEpoch()].filter(([k]) => Number(k.split('/')[1]) <= closed.closedThrough),
    )
    expect(printable(closed.totals)).toEqual(printable(truth))
    await expectAnnouncedOnce(epochs, 7, closed.totals)
    expect(epochs.duplicates()).toEqual([])
    expect(await aggregator.metric('gridroot_aggregator_readings_duplicate_total')).toBeGreaterThanOrEqual(
      injected.duplicate + injected.replay,
    )
    expect(
      await aggregator.metric('gridroot_aggregator_readings_quarantined_total', {
        reason: 'REGISTER_BACKWARDS',
      }),
    ).toBe(h.scenario.ledger.snapshot().quarantinedByReason.REGISTER_BACKWARDS)
    expect(await countPoints(h.influx, 'quarantine', 'seq')).toBe(
      Object.values(h.scenario.ledger.snapshot().quarantinedByReason).reduce((a, b) => a + (b ?? 0), 0),
    )
  })

  it('books data that arrives after its epoch closed into the next open epoch as an adjustment', async () => {
    const h = await createHarness({
      endpoints,
      name: `${run}-late`,
      seed: 'aggregator-late',
      fleet,
      grid,
      durationMs: 10 * HOUR,
      // Devices that go offline come back 3 h later with their backlog, long after the grace.
      scenario: { faults: { offline: 0.01 }, offlineMs: 3 * HOUR },
      aggregatorEnv: { GRIDROOT_AGG_GRACE: '15m' },
    })
    cleanups.push(() => h.close())
    expect(h.scenario.counters.injected.offline).toBeGreaterThan(0)
    await h.startIngest()
    await h.startAggregator()
    await h.publish({ pauseMs: 5 })
    await waitForTotals(h, 90_000)
    await waitForClosed(h, 8, 30_000)
    // Nothing is lost: intervals plus adjustments equal the ground truth per device.
    expect(printable(await deviceTotals(h.influx))).toEqual(printable(h.truthByDevice()))
    const adjustments = await adjustmentPoints(h.influx)
    expect(adjustments.length).toBeGreaterThan(0)
    // The rollups hold the adjustments too (at their booked epoch), and the API's pool and class
    // series read from them equal those summed from the device points and the ground truth.
    const compared = await expectRollupsExact(h, `${run}-late`)
    expect(compared.some((k) => k.startsWith('adjustment/'))).toBe(true)
    for (const groupBy of ['pool', 'class'] as const) {
      const fromRollups = await apiSeriesTotals(h, `${run}-late`, 'rollup', groupBy)
      expect(fromRollups).toEqual(truthBy(h, 'aggregator-late', groupBy))
      expect(fromRollups).toEqual(await apiSeriesTotals(h, `${run}-late`, 'devices', groupBy))
    }
    for (const a of adjustments) expect(a.adjustsEpoch).toBeLessThan(a.bookedEpoch)
    // The late energy sits in later epochs, named by the epoch it adjusts, so closed epochs no
    // longer match the ledger's device-time epochs; and no closed epoch changed after closing.
    const closed = await closedEpochTotals(h.influx)
    expect(closed.closedThrough).toBe(8)
    const truth = new Map(
      [...h.truthByDeviceEpoch()].filter(([k]) => Number(k.split('/')[1]) <= closed.closedThrough),
    )
    expect(printable(closed.totals)).not.toEqual(printable(truth))
    await expectClosedEpochsUnchanged(h, closed.closedThrough, closed.totals)
  })

  it('splits the partitions between two instances, through a rebalance, and stays exact', async () => {
    const h = await createHarness({
      endpoints,
      name: `${run}-pair`,
      seed: 'aggregator-pair',
      fleet,
      grid,
      durationMs: 10 * HOUR,
      scenario: { faults: { duplicate: 0.05, reorder: 0.05 } },
      aggregatorEnv: { GRIDROOT_AGG_GRACE: '60m' },
    })
    cleanups.push(() => h.close())
    const epochs = await h.watchEpochs()
    await h.startIngest()
    const first = await h.startAggregator()
    let second: Awaited<ReturnType<Harness['startAggregator']>> | undefined
    await h.publish({
      pauseMs: 10,
      onTick: async (i) => {
        // The second instance joins mid-stream: the group rebalances and both reload their state.
        if (i === 40) second = await h.startAggregator()
      },
    })
    await waitForTotals(h, 90_000)
    await waitForClosed(h, 8, 60_000)
    expect(printable(await deviceTotals(h.influx))).toEqual(printable(h.truthByDevice()))
    await expectRollupsExact(h, `${run}-pair`)
    const closed = await closedEpochTotals(h.influx)
    const truth = new Map(
      [...h.truthByDeviceEpoch()].filter(([k]) => Number(k.split('/')[1]) <= closed.closedThrough),
    )
    expect(closed.closedThrough).toBe(8)
    expect(printable(closed.totals)).toEqual(printable(truth))
    await expectAnnouncedOnce(epochs, 8, closed.totals)
    expect(epochs.duplicates()).toEqual([])
    // Both did part of the work.
    expect(await first.metric('gridroot_aggregator_records_total')).toBeGreaterThan(0)
    expect(await second?.metric('gridroot_aggregator_records_total')).toBeGreaterThan(0)
  })

  it('stays exact when the aggregator is SIGKILLed at random points and InfluxDB is killed and restarted', async () => {
    const influx = await startDedicatedInflux(join(REPO_ROOT, '.run', `${run}-influx`))
    cleanups.push(() => influx.stop())
    const h = await createHarness({
      endpoints,
      name: `${run}-crash`,
      seed: 'aggregator-crash',
      fleet,
      grid,
      durationMs: 16 * HOUR,
      scenario: { faults: { duplicate: 0.05, reorder: 0.05, replay: 0.02 } },
      aggregatorEnv: { GRIDROOT_AGG_GRACE: '60m' },
      influx: influx.endpoint,
    })
    cleanups.push(() => h.close())
    const epochs = await h.watchEpochs()
    await h.startIngest()
    let aggregator = await h.startAggregator()
    const rng = createRng(run, 'kills')
    const killAt = new Set([rng.int(20, 50), rng.int(60, 90), rng.int(100, 140)])
    const influxDownAt = rng.int(150, 170)
    let kills = 0
    await h.publish({
      pauseMs: 10,
      onTick: async (i) => {
        if (killAt.has(i)) {
          await aggregator.kill('SIGKILL')
          kills += 1
          aggregator = await h.startAggregator()
        }
        if (i === influxDownAt) {
          await influx.kill()
          await new Promise((r) => setTimeout(r, 2000))
          await influx.start()
        }
      },
    })
    expect(kills).toBe(3)
    await waitForTotals(h, 120_000)
    await waitForClosed(h, 14, 60_000)
    expect(printable(await deviceTotals(h.influx))).toEqual(printable(h.truthByDevice()))
    await expectRollupsExact(h, `${run}-crash`)
    const closed = await closedEpochTotals(h.influx)
    const truth = new Map(
      [...h.truthByDeviceEpoch()].filter(([k]) => Number(k.split('/')[1]) <= closed.closedThrough),
    )
    expect(closed.closedThrough).toBe(14)
    expect(printable(closed.totals)).toEqual(printable(truth))
    await expectAnnouncedOnce(epochs, 14, closed.totals)
    expect(epochs.duplicates()).toEqual([])
    // The aggregator running at the InfluxDB kill saw its writes fail, retried, and lost nothing.
    expect(await aggregator.metric('gridroot_aggregator_influx_write_failures_total')).toBeGreaterThan(0)
    // Three restarts and an InfluxDB outage take minutes on a loaded 2-core machine; the waits
    // above carry their own deadlines (120 s of them for the totals alone).
  }, 420_000)
})
