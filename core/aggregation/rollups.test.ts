import { describe, expect, it } from 'vitest'
import { createFleet } from '../../simulators/fleet/fleet.ts'
import { Scenario } from '../../simulators/scenario.ts'
import { DEFAULT_ANOMALY_RULES } from '../energy/meter-account.ts'
import { DEFAULT_SEQUENCE_RULES } from '../energy/sequence.ts'
import { epochStartMs } from '../epochs/grid.ts'
import type { DeviceRecord } from '../identity/registry.ts'
import { createRng } from '../random/prng.ts'
import { DEMO_TARIFF_BOOK, parseTariffBook } from '../revenue/tariffs.ts'
import { decodeAcceptedRecord } from '../telemetry/decode.ts'
import type { TelemetryMessage } from '../telemetry/types.ts'
import { Aggregation, type Writes } from './aggregation.ts'
import { DEFAULT_CLOCK_SETTINGS } from './device-acceptance.ts'
import type { PersistedDeviceState } from './device-state.ts'
import { type RollupPoint, Rollups, rollupRestoreFrom } from './rollups.ts'

const START = Date.parse('2026-06-01T00:00:00+08:00')
const HOUR = 3_600_000
const grid = { genesisMs: START, epochLengthMs: HOUR, intervalMs: 300_000 }
const tariffs = parseTariffBook(DEMO_TARIFF_BOOK, grid)
// A short grace: devices back from 2 h offline are late, so adjustments are booked.
const settings = {
  grid,
  rules: DEFAULT_ANOMALY_RULES,
  tariffs,
  graceMs: 10 * 60_000,
  reorderWindowMs: 30 * 60_000,
  maxPendingWallMs: Number.POSITIVE_INFINITY,
  sequence: DEFAULT_SEQUENCE_RULES,
  clock: DEFAULT_CLOCK_SETTINGS,
}
const PARTITIONS = 3

interface Stored {
  energyWh: number
  revenueUnits: bigint
  swaps: number
  readings: number
  quarantined: number
}

/** What InfluxDB would hold: points overwritten by key, plus the committed offsets. */
class FakeStore {
  readonly devicePoints = new Map<string, { group: string; value: Stored }>()
  readonly states = new Map<string, PersistedDeviceState>()
  readonly watermarks = new Map<number, number>()
  readonly rollups = new Map<string, RollupPoint>()
  readonly committed = new Map<number, number>()

  writeData(w: Writes): void {
    for (const i of w.intervals)
      this.devicePoints.set(`i/${i.device.deviceId}/${i.device.poolId}/${i.intervalStartMs}`, {
        group: `interval/${i.device.poolId}/${i.device.assetClass}/${i.intervalStartMs}`,
        value: i,
      })
    for (const a of w.adjustments)
      this.devicePoints.set(`a/${a.device.deviceId}/${a.adjustsEpoch}/${a.boot}/${a.seq}`, {
        group: `adjustment/${a.device.poolId}/${a.device.assetClass}/${epochStartMs(grid, a.bookedEpoch)}`,
        value: a,
      })
  }

  /** The one request of states, watermarks and rollups. */
  writeStates(w: Writes): void {
    for (const s of w.states) this.states.set(s.deviceId, s)
    for (const [p, m] of w.watermarks) this.watermarks.set(p, m)
    for (const r of w.rollups)
      this.rollups.set(`${r.partition}/${r.source}/${r.poolId}/${r.assetClass}/${r.timeMs}`, r)
  }

  commit(w: Writes): void {
    for (const o of w.offsets) this.committed.set(o.partition, Number(o.offset))
  }

  /** What a restore reads: the states, watermarks and the rollups still open to change. */
  restore(registry: ReadonlyMap<string, DeviceRecord>): Aggregation {
    const a = new Aggregation(settings, registry)
    const from = rollupRestoreFrom(
      grid,
      settings.graceMs,
      [...this.states.values()].map((s) => s.partition),
      this.watermarks,
    )
    const rollups = [...this.rollups.values()].filter((r) => {
      if (!from.has(r.partition)) return false
      const fromMs = from.get(r.partition)
      return fromMs === undefined || r.timeMs >= fromMs
    })
    a.restore([...this.states.values()], this.watermarks, rollups)
    return a
  }

  sumOf(source: 'devices' | 'rollups'): Map<string, string> {
    const out = new Map<string, Stored>()
    const add = (key: string, v: Stored) => {
      const t = out.get(key) ?? { energyWh: 0, revenueUnits: 0n, swaps: 0, readings: 0, quarantined: 0 }
      t.energyWh += v.energyWh
      t.revenueUnits += v.revenueUnits
      t.swaps += v.swaps
      t.readings += v.readings
      t.quarantined += v.quarantined
      out.set(key, t)
    }
    if (source === 'devices') for (const { group, value } of this.devicePoints.values()) add(group, value)
    else for (const r of this.rollups.values()) add(`${r.source}/${r.poolId}/${r.assetClass}/${r.timeMs}`, r)
    return new Map(
      [...out]
        .filter(([, t]) => t.energyWh + t.swaps + t.readings + t.quarantined !== 0 || t.revenueUnits !== 0n)
        .map(([k, t]) => [k, `${t.energyWh}/${t.revenueUnits}/${t.swaps}/${t.readings}/${t.quarantined}`]),
    )
  }
}

function fleetRun() {
  const fleet = createFleet({
    seed: 'rollup-unit',
    chargers: 4,
    pv: 3,
    swap: 3,
    startMs: START,
    sampleMs: 300_000,
  })
  const scenario = new Scenario(fleet, {
    grid,
    tariffs,
    faults: { offline: 0.01, late: 0.03, reorder: 0.05, duplicate: 0.05, replay: 0.03, meterReplace: 0.003 },
    offlineMs: 2 * HOUR,
    lateMs: 40 * 60_000,
  })
  const records: { partition: number; message: TelemetryMessage }[] = []
  const partitionOf = new Map(fleet.devices.map((d, i) => [d.record.deviceId, i % PARTITIONS]))
  for (let t = START + 300_000; t <= START + 10 * HOUR; t += 300_000) {
    for (const p of scenario.tick(t)) {
      if (p.kind !== 'genuine') continue
      records.push({ partition: partitionOf.get(p.deviceId) ?? 0, message: decodeAcceptedRecord(p.payload) })
    }
  }
  const registry = new Map(fleet.devices.map((d) => [d.record.deviceId, d.record]))
  // Kafka offsets per partition.
  const byPartition = new Map<number, { offset: number; message: TelemetryMessage }[]>()
  const log = records.map(({ partition, message }) => {
    const list = byPartition.get(partition) ?? []
    byPartition.set(partition, list)
    const entry = { partition, offset: list.length, message }
    list.push(entry)
    return entry
  })
  return { registry, log, byPartition }
}

describe('revenue rollups', () => {
  const { registry, log, byPartition } = fleetRun()

  it('equal the sum of the device points, through late data, crashes mid-job and restores', () => {
    const store = new FakeStore()
    const rng = createRng('rollup-unit', 'crashes')
    let aggregation = new Aggregation(settings, registry)
    let adjustments = 0
    let crashes = 0
    // Consumes the log in order; at random a job lands only its data (a crash before the
    // states request), or nothing after its data and states (a crash before the commit); then
    // the instance restores from the store and replays each partition from its committed offset.
    let position = log.map(() => true)
    const pending = () => log.filter((_, i) => position[i])
    while (pending().length > 0) {
      let crashed = false
      for (const entry of pending()) {
        position[log.indexOf(entry)] = false
        aggregation.applyMessage(entry.partition, String(entry.offset), entry.message, undefined, 0)
        // Released per record, so a replay releases at the same points as the first run: when the
        // release runs once per batch, a reading released after a crash can fall on the other
        // side of the lateness line than in the crashed job, whose data points then stay behind
        // (a property of the device points, not of the rollups).
        aggregation.releaseStalePending(entry.partition, 0)
        if (!rng.chance(0.1)) continue
        const writes = aggregation.takeWrites()
        adjustments += writes.adjustments.length
        store.writeData(writes)
        const fate = rng.int(0, 9)
        if (fate === 0) {
          crashed = true
          break
        }
        store.writeStates(writes)
        if (fate === 1) {
          crashed = true
          break
        }
        store.commit(writes)
      }
      if (!crashed) {
        for (const p of byPartition.keys()) aggregation.releaseStalePending(p, Number.POSITIVE_INFINITY)
        const writes = aggregation.takeWrites()
        store.writeData(writes)
        store.writeStates(writes)
        store.commit(writes)
        break
      }
      crashes += 1
      aggregation = store.restore(registry)
      position = log.map((e) => e.offset >= (store.committed.get(e.partition) ?? 0))
    }
    expect(crashes).toBeGreaterThan(3)
    expect(adjustments).toBeGreaterThan(0)
    const devices = store.sumOf('devices')
    expect(devices.size).toBeGreaterThan(100)
    expect(store.sumOf('rollups')).toEqual(devices)
  })

  it('keeps in memory only the rollups its partitions can still change', () => {
    const aggregation = new Aggregation(settings, registry)
    for (const e of log) aggregation.applyMessage(e.partition, String(e.offset), e.message, undefined, 0)
    aggregation.takeWrites()
    // 10 h of 5-minute intervals over 3 partitions and 3 pools would be hundreds.
    expect(aggregation.sizes().rollups).toBeLessThan(PARTITIONS * 3 * 2 * (HOUR / 300_000) + 10)
  })

  it('restores the whole of a partition without a watermark', () => {
    expect(rollupRestoreFrom(grid, 600_000, [0, 1], new Map([[1, START + 2 * HOUR + 5 * 60_000]]))).toEqual(
      new Map([
        [0, undefined],
        [1, START + HOUR],
      ]),
    )
    const r = new Rollups()
    const at = { partition: 0, source: 'interval' as const, poolId: 'p', assetClass: 'pv', timeMs: START }
    r.restore([{ ...at, energyWh: 5, revenueUnits: 2n ** 60n, swaps: 0, readings: 1, quarantined: 0 }])
    r.add(at, { energyWh: 1, revenueUnits: 1n, swaps: 0, readings: 1, quarantined: 0 })
    expect(r.take()).toEqual([
      { ...at, energyWh: 6, revenueUnits: 2n ** 60n + 1n, swaps: 0, readings: 2, quarantined: 0 },
    ])
    expect(r.take()).toEqual([])
  })
})
