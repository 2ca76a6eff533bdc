/**
 * The ground-truth ledger against the aggregator's own rules (core/aggregation's Aggregation, as
 * the aggregator, the oracle's replay and verify run them) for the device-faults fleet of
 * test/aggregator/device-faults.test.ts over many seeds: each tick's publishes go to the
 * partition kafkajs would give their device, received at the tick's time (real time: receive
 * time = send time), with the same grace and reorder window. Per device and epoch (intervals,
 * plus adjustments in the epoch they are booked into, as the closed-epoch totals count them)
 * energy, revenue, swaps, readings and quarantined readings equal the ledger's. Clocks that stay
 * ahead past the grace are the case this guards (issue 8: a clock jumping into the future must
 * not move anybody's revenue into another epoch).
 */
import { Partitioners } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { Aggregation } from '../core/aggregation/aggregation.ts'
import { DEFAULT_CLOCK_SETTINGS } from '../core/aggregation/device-acceptance.ts'
import { DEFAULT_ANOMALY_RULES } from '../core/energy/meter-account.ts'
import { DEFAULT_SEQUENCE_RULES } from '../core/energy/sequence.ts'
import { epochOf } from '../core/epochs/grid.ts'
import { DEMO_TARIFF_BOOK, parseTariffBook } from '../core/revenue/tariffs.ts'
import { decodeAcceptedRecord } from '../core/telemetry/decode.ts'
import { createFleet } from './fleet/fleet.ts'
import { type Publish, Scenario } from './scenario.ts'

const HOUR = 3_600_000
const SAMPLE_MS = 300_000
const START = Date.parse('2026-06-01T08:00:00+08:00')
const grid = { genesisMs: START, epochLengthMs: HOUR, intervalMs: SAMPLE_MS }
const tariffs = parseTariffBook(DEMO_TARIFF_BOOK, grid)
const PARTITIONS = 6
const partitioner = Partitioners.DefaultPartitioner()
const partitionMetadata = Array.from({ length: PARTITIONS }, (_, partitionId) => ({
  partitionId,
  leader: 0,
  replicas: [0],
  isr: [0],
  partitionErrorCode: 0,
}))
const partitionOf = (deviceId: string) =>
  partitioner({ topic: 'telemetry.v1', partitionMetadata, message: { key: deviceId, value: null } })
/** What ingest would not hand to Kafka. */
const REJECTED_BY_INGEST = new Set(['malformed', 'badSignature', 'unknownDevice', 'oversize'])

interface Totals {
  energyWh: number
  revenueUnits: bigint
  swaps: number
  readings: number
  quarantined: number
}
const line = (t: Omit<Totals, 'revenueUnits'> & { readonly revenueUnits: bigint | undefined }) =>
  `E=${t.energyWh} R=${t.revenueUnits} S=${t.swaps} n=${t.readings} q=${t.quarantined}`
const EMPTY = 'E=0 R=0 S=0 n=0 q=0'

function compare(seed: string, clockForwardForMs: number) {
  // The fleet, faults and aggregator settings of test/aggregator/device-faults.test.ts.
  const fleet = createFleet({ seed, chargers: 8, pv: 9, swap: 6, startMs: START, sampleMs: SAMPLE_MS })
  const scenario = new Scenario(fleet, {
    grid,
    tariffs,
    faults: {
      seqReset: 0.03,
      clockStepBack: 0.03,
      clockStepForward: 0.02,
      counterJump: 0.03,
      duplicate: 0.03,
      replay: 0.02,
      reorder: 0.03,
      conflictingDuplicate: 0.02,
    },
    clockStepForwardMs: 2 * 365 * 24 * HOUR,
    clockForwardForMs,
  })
  const registry = new Map(fleet.devices.map((d) => [d.record.deviceId, d.record]))
  const aggregation = new Aggregation(
    {
      grid,
      rules: DEFAULT_ANOMALY_RULES,
      tariffs,
      graceMs: 40 * 60_000,
      reorderWindowMs: 20 * 60_000,
      maxPendingWallMs: Number.POSITIVE_INFINITY,
      sequence: DEFAULT_SEQUENCE_RULES,
      clock: DEFAULT_CLOCK_SETTINGS,
    },
    registry,
  )
  const got = new Map<string, Totals>()
  const add = (key: string, t: Readonly<Totals>) => {
    const sum = got.get(key) ?? { energyWh: 0, revenueUnits: 0n, swaps: 0, readings: 0, quarantined: 0 }
    sum.energyWh += t.energyWh
    sum.revenueUnits += t.revenueUnits
    sum.swaps += t.swaps
    sum.readings += t.readings
    sum.quarantined += t.quarantined
    got.set(key, sum)
  }
  // Interval points are rewritten whole: the last write of each stands.
  const intervals = new Map<string, { key: string; t: Readonly<Totals> }>()
  const offsets = new Map<number, number>()
  let ahead = 0
  const deliver = (publishes: readonly Publish[], receivedAtMs: number) => {
    for (const p of publishes) {
      if (REJECTED_BY_INGEST.has(p.kind)) continue
      const partition = partitionOf(p.deviceId)
      const offset = offsets.get(partition) ?? 0
      offsets.set(partition, offset + 1)
      aggregation.applyMessage(partition, String(offset), decodeAcceptedRecord(p.payload), receivedAtMs, 0)
    }
    for (let partition = 0; partition < PARTITIONS; partition++) aggregation.releaseStalePending(partition, 0)
    const writes = aggregation.takeWrites()
    for (const w of writes.intervals)
      intervals.set(`${w.device.deviceId}/${w.intervalStartMs}`, {
        key: `${w.device.deviceId}/${epochOf(grid, w.intervalStartMs)}`,
        t: w,
      })
    for (const a of writes.adjustments) add(`${a.device.deviceId}/${a.bookedEpoch}`, a)
    const counters = aggregation.takeCounters()
    ahead += counters.clockCorrected.CLOCK_AHEAD ?? 0
  }
  let t = START + SAMPLE_MS
  for (; t <= START + 3 * HOUR; t += SAMPLE_MS) deliver(scenario.tick(t), t)
  deliver(scenario.flush(), t - SAMPLE_MS)
  for (const { key, t: totals } of intervals.values()) add(key, totals)

  const truth = new Map(scenario.ledger.snapshot().epochs.map((e) => [`${e.deviceId}/${e.epoch}`, line(e)]))
  const mine = new Map([...got].map(([k, v]) => [k, line(v)]))
  const differences: string[] = []
  for (const key of new Set([...truth.keys(), ...mine.keys()])) {
    const want = truth.get(key) ?? EMPTY
    const have = mine.get(key) ?? EMPTY
    if (want !== have) differences.push(`${seed} ${key}: ledger ${want}, aggregation ${have}`)
  }
  return { differences: differences.sort(), ahead }
}

describe('ground-truth ledger = the aggregator’s rules, device-faults fleet', () => {
  it('agrees per device and epoch over 30 seeds (clocks ahead for 30 min, as in the real-stack test)', () => {
    let ahead = 0
    const differences: string[] = []
    for (let n = 0; n < 30; n++) {
      const r = compare(`device-faults-${n}`, 30 * 60_000)
      ahead += r.ahead
      differences.push(...r.differences)
    }
    expect(ahead).toBeGreaterThan(30)
    expect(differences).toEqual([])
  }, 180_000)

  it('agrees when the clocks stay ahead for 2 h, well past the 40 min grace', () => {
    let ahead = 0
    const differences: string[] = []
    for (let n = 0; n < 8; n++) {
      const r = compare(`device-faults-${n}`, 2 * HOUR)
      ahead += r.ahead
      differences.push(...r.differences)
    }
    expect(ahead).toBeGreaterThan(100)
    expect(differences).toEqual([])
  }, 180_000)
})
