/**
 * The bookings are a function of each partition's records in order, not of how the consumer
 * cut them into batches, where an instance crashed, or which instance replays: the same
 * records, split differently and with crashes between the data points and the device states
 * (or between the states and the offset commit), must leave the same points behind.
 *
 * The driver below does what services/aggregator does per batch: apply the records, the
 * end-of-batch pending sweep, take the writes, write the data points, then the states with the
 * watermarks, then commit; a crash restores from what was written and replays from the commit.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createFleet } from '../../simulators/fleet/fleet.ts'
import { Scenario } from '../../simulators/scenario.ts'
import { DEFAULT_ANOMALY_RULES } from '../energy/meter-account.ts'
import { DEFAULT_SEQUENCE_RULES } from '../energy/sequence.ts'
import type { DeviceRecord } from '../identity/registry.ts'
import { createRng } from '../random/prng.ts'
import { DEMO_TARIFF_BOOK, parseTariffBook } from '../revenue/tariffs.ts'
import { decodeAcceptedRecord } from '../telemetry/decode.ts'
import type { TelemetryMessage } from '../telemetry/types.ts'
import { Aggregation, type AggregationSettings } from './aggregation.ts'
import { DEFAULT_CLOCK_SETTINGS } from './device-acceptance.ts'
import type { PersistedDeviceState } from './device-state.ts'
import type { RollupPoint } from './rollups.ts'

const START = Date.parse('2026-06-01T00:00:00+08:00')
const HOUR = 3_600_000
const grid = { genesisMs: START, epochLengthMs: HOUR, intervalMs: 300_000 }
const tariffs = parseTariffBook(DEMO_TARIFF_BOOK, grid)
// A reorder window shorter than the late messages' delay and a short grace: gaps are given up
// by the watermark and late energy becomes adjustments, so the split matters if anything does.
const settings: AggregationSettings = {
  grid,
  rules: DEFAULT_ANOMALY_RULES,
  tariffs,
  graceMs: 10 * 60_000,
  reorderWindowMs: 20 * 60_000,
  maxPendingWallMs: Number.POSITIVE_INFINITY,
  sequence: DEFAULT_SEQUENCE_RULES,
  clock: DEFAULT_CLOCK_SETTINGS,
}
const PARTITIONS = 2

function records() {
  const fleet = createFleet({
    seed: 'batch-boundaries',
    chargers: 3,
    pv: 3,
    swap: 3,
    startMs: START,
    sampleMs: 300_000,
  })
  const scenario = new Scenario(fleet, {
    grid,
    tariffs,
    faults: { late: 0.04, reorder: 0.05, duplicate: 0.03 },
    lateMs: 30 * 60_000,
  })
  const byPartition: TelemetryMessage[][] = Array.from({ length: PARTITIONS }, () => [])
  const partitionOf = new Map(fleet.devices.map((d, i) => [d.record.deviceId, i % PARTITIONS]))
  const ticks = []
  for (let t = START + 300_000; t <= START + 6 * HOUR; t += 300_000) ticks.push(scenario.tick(t))
  ticks.push(scenario.flush())
  for (const tick of ticks)
    for (const p of tick) byPartition[partitionOf.get(p.deviceId) ?? 0]?.push(decodeAcceptedRecord(p.payload))
  const registry = new Map<string, DeviceRecord>(fleet.devices.map((d) => [d.record.deviceId, d.record]))
  return { byPartition, registry }
}

/** What InfluxDB and Kafka hold: points overwrite by key, like InfluxDB's. */
interface Durable {
  readonly points: Map<string, string>
  readonly states: Map<string, PersistedDeviceState>
  readonly watermarks: Map<number, number>
  readonly rollups: Map<string, RollupPoint>
  readonly committed: Map<number, number>
}

interface Plan {
  /** Records per batch, drawn per batch. */
  readonly maxBatch: number
  /** Per batch: crash after the data points (0), after the states (1), or not at all. */
  readonly crash: (batch: number) => 0 | 1 | undefined
  readonly seed: number
}

function run(input: ReturnType<typeof records>, plan: Plan): Durable {
  const durable: Durable = {
    points: new Map(),
    states: new Map(),
    watermarks: new Map(),
    rollups: new Map(),
    committed: new Map(),
  }
  const rng = createRng('batches', plan.seed)
  let aggregation = new Aggregation(settings, input.registry)
  const position = new Map<number, number>()
  const restart = () => {
    aggregation = new Aggregation(settings, input.registry)
    aggregation.restore([...durable.states.values()], durable.watermarks, [...durable.rollups.values()])
    for (let p = 0; p < PARTITIONS; p++) position.set(p, durable.committed.get(p) ?? 0)
  }
  let batch = 0
  for (;;) {
    const open = [...Array(PARTITIONS).keys()].filter(
      (p) => (position.get(p) ?? 0) < (input.byPartition[p]?.length ?? 0),
    )
    if (open.length === 0) break
    const partition = open[rng.int(0, open.length - 1)] as number
    const from = position.get(partition) ?? 0
    const messages = (input.byPartition[partition] ?? []).slice(from, from + rng.int(1, plan.maxBatch))
    messages.forEach((m, i) => {
      aggregation.applyMessage(partition, String(from + i), m, undefined, 0)
    })
    aggregation.releaseStalePending(partition, 0)
    position.set(partition, from + messages.length)
    const writes = aggregation.takeWrites()
    for (const w of writes.intervals)
      durable.points.set(
        `interval/${w.device.deviceId}/${w.device.poolId}/${w.intervalStartMs}`,
        `${w.energyWh}/${w.revenueUnits}/${w.swaps}/${w.readings}/${w.quarantined}`,
      )
    for (const a of writes.adjustments)
      durable.points.set(
        `adjustment/${a.device.deviceId}/${a.adjustsEpoch}/${a.boot}/${a.seq}`,
        `${a.bookedEpoch}:${a.energyWh}/${a.revenueUnits}/${a.swaps}/${a.readings}/${a.quarantined}`,
      )
    for (const r of writes.readings)
      durable.points.set(`reading/${r.device.deviceId}/${r.reading.seq}/${r.reading.ts}`, `epoch ${r.epoch}`)
    const crash = plan.crash(batch++)
    if (crash === 0) {
      restart()
      continue
    }
    for (const s of writes.states) durable.states.set(s.deviceId, s)
    for (const [p, w] of writes.watermarks) durable.watermarks.set(p, w)
    for (const r of writes.rollups)
      durable.rollups.set(`${r.partition}/${r.source}/${r.poolId}/${r.assetClass}/${r.timeMs}`, r)
    if (crash === 1) {
      restart()
      continue
    }
    for (const o of writes.offsets) durable.committed.set(o.partition, Number(o.offset))
  }
  return durable
}

const input = records()
const sorted = (m: Map<string, string>) => Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : 1)))
const reference = run(input, { maxBatch: 1, crash: () => undefined, seed: 0 })

describe('bookings do not depend on batch boundaries or crash points', () => {
  it('the reference run gives gaps up and books late energy as adjustments (the rules this is about)', () => {
    const adjustments = [...reference.points.keys()].filter((k) => k.startsWith('adjustment/'))
    expect(adjustments.length).toBeGreaterThan(0)
    expect(reference.points.size).toBeGreaterThan(500)
  })

  it('same records, other batch splits: the same points', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.integer({ min: 2, max: 400 }),
        (seed, maxBatch) => {
          const got = run(input, { maxBatch, crash: () => undefined, seed })
          expect(sorted(got.points)).toEqual(sorted(reference.points))
        },
      ),
      { numRuns: 8 },
    )
  }, 120_000)

  it('crashes after the data points or after the states, replayed from the commit: the same points', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.integer({ min: 2, max: 200 }),
        (seed, maxBatch) => {
          const rng = createRng('crashes', seed)
          let crashes = 0
          const got = run(input, {
            maxBatch,
            seed,
            crash: (batch) => {
              if (crashes >= 30 || !(batch === 3 || rng.chance(0.15))) return undefined
              crashes += 1
              return rng.chance(0.5) ? 0 : 1
            },
          })
          expect(crashes).toBeGreaterThan(0)
          expect(sorted(got.points)).toEqual(sorted(reference.points))
        },
      ),
      { numRuns: 8 },
    )
  }, 120_000)
})
