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

interface Delivery {
  /** Device milliseconds per receive-time millisecond: the aggregator's --speed. */
  readonly speed?: number
  /**
   * A broker or ingest outage: what is sent in [fromMs, toMs) device time is received all at
   * once at the first tick after it (the backlog is delivered at one receive time).
   */
  readonly outage?: { readonly fromMs: number; readonly toMs: number }
  readonly clockStepForwardMs?: number
  /** Extra fault rates on top of the device-faults fleet's. */
  readonly faults?: Readonly<Record<string, number>>
  /**
   * Count adjustments in the epoch they adjust (where the ledger books the energy), not the one
   * they are booked into; `late` then lists each adjustment's epochs.
   */
  readonly adjustmentsAtOrigin?: boolean
}

/** Receive time (wall ms) of device time `t` at `speed`: an accelerated run starts at WALL_0. */
const WALL_0 = Date.parse('2026-12-01T00:00:00Z')

function compare(seed: string, clockForwardForMs: number, delivery: Delivery = {}) {
  const speed = delivery.speed ?? 1
  const receiveAt = (t: number) => (speed === 1 ? t : WALL_0 + Math.round((t - START) / speed))
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
      ...delivery.faults,
    },
    clockStepForwardMs: delivery.clockStepForwardMs ?? 2 * 365 * 24 * HOUR,
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
      clock: speed === 1 ? DEFAULT_CLOCK_SETTINGS : { deviceTimeSpeed: speed },
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
  const late: { deviceId: string; adjustsEpoch: number; bookedEpoch: number }[] = []
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
    for (const a of writes.adjustments) {
      add(`${a.device.deviceId}/${delivery.adjustmentsAtOrigin ? a.adjustsEpoch : a.bookedEpoch}`, a)
      late.push({ deviceId: a.device.deviceId, adjustsEpoch: a.adjustsEpoch, bookedEpoch: a.bookedEpoch })
    }
    const counters = aggregation.takeCounters()
    ahead += counters.clockCorrected.CLOCK_AHEAD ?? 0
  }
  let t = START + SAMPLE_MS
  const held: Publish[] = []
  const outage = delivery.outage
  for (; t <= START + 3 * HOUR; t += SAMPLE_MS) {
    const publishes = scenario.tick(t)
    if (outage && t >= outage.fromMs && t < outage.toMs) {
      held.push(...publishes)
      continue
    }
    deliver(held.splice(0).concat(publishes), receiveAt(t))
  }
  deliver(held.splice(0).concat(scenario.flush()), receiveAt(t - SAMPLE_MS))
  for (const { key, t: totals } of intervals.values()) add(key, totals)

  const truth = new Map(scenario.ledger.snapshot().epochs.map((e) => [`${e.deviceId}/${e.epoch}`, line(e)]))
  const mine = new Map([...got].map(([k, v]) => [k, line(v)]))
  const differences: string[] = []
  for (const key of new Set([...truth.keys(), ...mine.keys()])) {
    const want = truth.get(key) ?? EMPTY
    const have = mine.get(key) ?? EMPTY
    if (want !== have) differences.push(`${seed} ${key}: ledger ${want}, aggregation ${have}`)
  }
  // Fleet totals: what the aggregation paid against what the ledger says is owed.
  const sum = (lines: Iterable<string>, field: string) => {
    let total = 0
    for (const l of lines) total += Number(new RegExp(` ?${field}=(-?\\d+)`).exec(l)?.[1] ?? 0)
    return total
  }
  const owed = {
    ledgerEnergyWh: sum(truth.values(), 'E'),
    paidEnergyWh: sum(mine.values(), 'E'),
    ledgerQuarantined: sum(truth.values(), 'q'),
    quarantined: sum(mine.values(), 'q'),
  }
  return { differences: differences.sort(), ahead, owed, late }
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

  // A charger is silent between sessions: when its first reading after the reboot (or its very
  // first) comes with the clock an hour behind, nothing says how far behind it is, and its energy
  // is booked at its device time, an hour back. That epoch is then past the grace for the
  // partition, and the energy is a late adjustment booked into the open epoch (DESIGN: data later
  // than the grace is booked into the next open epoch as an adjustment). The ledger books it
  // where it was earned, so counted at the epoch each adjustment adjusts, they agree to the unit,
  // and every adjustment of the run is of such a device.
  it('agrees with clockStepBackLarge (a reboot with the clock an hour behind for good) once adjustments count where earned', () => {
    const differences: string[] = []
    const late: { deviceId: string; adjustsEpoch: number; bookedEpoch: number }[] = []
    for (let n = 0; n < 12; n++) {
      const r = compare(`device-faults-${n}`, 30 * 60_000, {
        faults: { clockStepBackLarge: 0.01 },
        adjustmentsAtOrigin: true,
      })
      differences.push(...r.differences)
      late.push(...r.late)
    }
    // Energy, revenue, swaps and quarantine to the unit. Reading counts are left out: a late
    // reading that brings no energy is counted in no adjustment (one reading in 3 of 12 seeds).
    const money = (d: string) => {
      const [, want, have] = /ledger (.*), aggregation (.*)$/.exec(d) ?? []
      const strip = (l = '') => l.replace(/ n=\d+/, '')
      return strip(want) !== strip(have)
    }
    expect(differences.filter(money)).toEqual([])
    expect(late.length).toBeGreaterThan(0)
    for (const a of late) expect(a.bookedEpoch).toBeGreaterThan(a.adjustsEpoch)
  }, 180_000)

  // Issue 8, attack on the real stack: a 150 s Kafka stop at npm start's 600× left 6–12 % of the
  // energy unpaid. The backlog came in at one receive time; a clock that had jumped ahead in it
  // set the device's accounting time (the clock bound, the receive time or the partition's
  // clock, was hours past the readings), and every honest reading after it had 0 ms elapsed
  // and was quarantined as REGISTER_JUMP. Measured over these 12 seeds before the fix: 2.9 %
  // (real time) and 14 % (600×) of the energy unpaid, 162 and 570 readings quarantined beyond
  // the ledger's. Booking is exact per device and epoch only where receive times tell the
  // truth: a device whose clock is ahead at its very first reading, inside the backlog, is
  // booked at the backlog's receive time (docs/architecture.md, "Device clocks", known limits),
  // so these tests bound what the fleet is not paid rather than compare every epoch.
  function outage(delivery: Delivery) {
    let ahead = 0
    let owedWh = 0
    let unpaidWh = 0
    let extraQuarantined = 0
    for (let n = 0; n < 12; n++) {
      const r = compare(`device-faults-${n}`, 30 * 60_000, delivery)
      ahead += r.ahead
      owedWh += r.owed.ledgerEnergyWh
      unpaidWh += r.owed.ledgerEnergyWh - r.owed.paidEnergyWh
      extraQuarantined += r.owed.quarantined - r.owed.ledgerQuarantined
    }
    expect(ahead).toBeGreaterThan(10)
    // Measured after the fix: 0.07 % and 0.04 % unpaid, 16 and 8 extra quarantined.
    expect(unpaidWh / owedWh).toBeLessThan(0.002)
    expect(unpaidWh).toBeGreaterThanOrEqual(0)
    expect(extraQuarantined).toBeLessThanOrEqual(24)
  }

  it('pays the fleet when an outage delivers an hour of readings at one receive time (real time)', () => {
    outage({ outage: { fromMs: START + HOUR, toMs: START + 2 * HOUR } })
  }, 180_000)

  it('pays the fleet when an outage delivers 2 h of readings at once at 600× with 6 h clock jumps (npm start)', () => {
    outage({
      speed: 600,
      clockStepForwardMs: 6 * HOUR,
      outage: { fromMs: START + 30 * 60_000, toMs: START + 150 * 60_000 },
    })
  }, 180_000)
})
