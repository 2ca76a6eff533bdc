/**
 * The per-device acceptance rules through the Aggregation: each device fault costs nothing
 * against the same device without the fault, and moves neither the device nor the watermark.
 */
import { describe, expect, it } from 'vitest'
import { DEFAULT_ANOMALY_RULES } from '../energy/meter-account.ts'
import { DEFAULT_SEQUENCE_RULES } from '../energy/sequence.ts'
import type { DeviceRecord } from '../identity/registry.ts'
import { DEMO_TARIFF_BOOK, parseTariffBook } from '../revenue/tariffs.ts'
import type { Reading, TelemetryMessage } from '../telemetry/types.ts'
import { Aggregation, type AggregationSettings } from './aggregation.ts'
import { DEFAULT_CLOCK_SETTINGS, MAX_INTERVAL_REVENUE_UNITS, PartitionClocks } from './device-acceptance.ts'

const START = Date.parse('2026-06-01T00:00:00+08:00')
const MIN = 60_000
const grid = { genesisMs: START, epochLengthMs: 3_600_000, intervalMs: 300_000 }
const settings: AggregationSettings = {
  grid,
  rules: DEFAULT_ANOMALY_RULES,
  tariffs: parseTariffBook(DEMO_TARIFF_BOOK, grid),
  graceMs: 10 * 86_400_000,
  reorderWindowMs: 86_400_000,
  // Nothing is released by the wall clock during a run; the sweep at its end releases all.
  maxPendingWallMs: 60_000,
  sequence: { ...DEFAULT_SEQUENCE_RULES, maxSeqJump: 1000 },
  clock: DEFAULT_CLOCK_SETTINGS,
}
const charger: DeviceRecord = {
  deviceId: 'chg-1',
  assetClass: 'charger',
  poolId: 'pool',
  ratedPowerW: 7000,
  tariffId: 'ev-tou',
  publicKey: '',
}
const cabinet: DeviceRecord = { ...charger, deviceId: 'swp-1', assetClass: 'swap', tariffId: 'swap-std' }
const peer: DeviceRecord = { ...charger, deviceId: 'chg-2' }
const registry = new Map([charger, cabinet, peer].map((d) => [d.deviceId, d]))

/** A charger reading a minute apart, 100 Wh a minute (6 kW). */
const status = (seq: number, minute: number, registerWh = 1000 + minute * 100): Reading => ({
  type: 'charger.status',
  seq,
  ts: START + minute * MIN,
  registerWh,
  connectorId: 1,
  status: 'Charging',
  errorCode: 'NoError',
})
const swapSlots = (seq: number, minute: number, swapCount: number, registerWh: number): Reading => ({
  type: 'swap.slots',
  seq,
  ts: START + minute * MIN,
  registerWh,
  swapCount,
  slots: ['full'],
})
const message = (readings: readonly Reading[], boot = 0, deviceId = charger.deviceId): TelemetryMessage => ({
  v: 2,
  deviceId,
  boot,
  readings,
  sig: '',
  body: new Uint8Array(0),
})

interface Delivery {
  readonly message: TelemetryMessage
  /** Kafka record timestamp; by default far after the device time (device time in the past). */
  readonly receivedAtMs?: number
  /** Then sweep on the wall clock: everything waiting is released (a quiet partition). */
  readonly sweep?: true
}
const SWEEP_WALL_MS = 1e12

/** Feeds deliveries, then totals per device over intervals and adjustments. */
function run(deliveries: readonly Delivery[], over: Partial<AggregationSettings> = {}) {
  const aggregation = new Aggregation({ ...settings, ...over }, registry)
  const intervals = new Map<string, { energyWh: number; swaps: number; revenueUnits: bigint }>()
  const quarantines: string[] = []
  deliveries.forEach((d, i) => {
    aggregation.applyMessage(0, String(i), d.message, d.receivedAtMs ?? START + 86_400_000 * 30, 0)
    if (d.sweep) aggregation.releaseStalePending(0, SWEEP_WALL_MS)
  })
  aggregation.releaseStalePending(0, SWEEP_WALL_MS)
  const writes = aggregation.takeWrites()
  for (const w of writes.intervals) intervals.set(`${w.device.deviceId}/${w.intervalStartMs}`, w)
  for (const q of writes.quarantines) quarantines.push(`${q.reading.seq}:${q.reason}`)
  const watermark = writes.watermarks.get(0)
  const totals = new Map<string, { energyWh: number; swaps: number; revenueUnits: bigint }>()
  for (const [key, w] of intervals) {
    const id = key.split('/')[0] as string
    const t = totals.get(id) ?? { energyWh: 0, swaps: 0, revenueUnits: 0n }
    totals.set(id, {
      energyWh: t.energyWh + w.energyWh,
      swaps: t.swaps + w.swaps,
      revenueUnits: t.revenueUnits + w.revenueUnits,
    })
  }
  return { totals, quarantines, watermark, counters: aggregation.takeCounters(), writes, aggregation }
}

const genuine = (n: number, from = 1): Delivery[] =>
  Array.from({ length: n }, (_, i) => ({ message: message([status(from + i, from + i - 1)]) }))
const baseline = run(genuine(20))

describe('device acceptance: sequence faults cost nothing', () => {
  it('one reading with a very high seq is SEQ_JUMP and does not silence the device', () => {
    const bogus = { message: message([status(2 ** 40, 5, 1450)]) }
    const r = run([...genuine(5), bogus, ...genuine(15, 6)])
    expect(r.quarantines).toEqual([`${2 ** 40}:SEQ_JUMP`])
    expect(r.totals).toEqual(baseline.totals)
    expect(r.counters.duplicates).toBe(0)
  })

  it('a reflash that restarts seq at 1 in a new boot goes on accounting from the register', () => {
    // Boot 0 seqs 1..10, then boot 1 seqs 1..10 (the register does not restart).
    const reboot = Array.from({ length: 10 }, (_, i) => ({ message: message([status(i + 1, 10 + i)], 1) }))
    const r = run([...genuine(10), ...reboot])
    expect(r.quarantines).toEqual([])
    expect(r.totals).toEqual(baseline.totals)
    const state = r.writes.states.find((s) => s.deviceId === charger.deviceId)
    expect(state?.boot).toBe(1)
    expect(state?.meter.lastSeq).toBe(10)
  })

  it('a reading of an earlier boot after the device moved on is BOOT_REGRESSED; a replay of it a duplicate', () => {
    const reboot = Array.from({ length: 10 }, (_, i) => ({ message: message([status(i + 1, 10 + i)], 1) }))
    const straggler = { message: message([status(11, 10, 1950)], 0) }
    const replay = genuine(10)[9] as Delivery
    const r = run([
      ...genuine(10),
      ...reboot.slice(0, 3),
      { ...(reboot[3] as Delivery), sweep: true },
      straggler,
      replay,
      ...reboot.slice(4),
    ])
    expect(r.quarantines).toEqual(['11:BOOT_REGRESSED'])
    expect(r.counters.duplicates).toBe(1)
    expect(r.totals).toEqual(baseline.totals)
  })

  it('a new boot waits behind a gap of the old one', () => {
    const reboot = Array.from({ length: 10 }, (_, i) => ({ message: message([status(i + 1, 10 + i)], 1) }))
    const all = [...genuine(10), ...reboot]
    // Boot 0 seq 9 arrives after boot 1 started, seq 10 before: boot 1 waits for the gap.
    const r = run([...all.slice(0, 8), all[9] as Delivery, ...all.slice(10), all[8] as Delivery])
    expect(r.quarantines).toEqual([])
    expect(r.totals).toEqual(baseline.totals)
    expect(r.counters.gapsSkipped).toBe(0)
    expect(r.aggregation.sizes().pendingReadings).toBe(0)
  })

  it('same (deviceId, boot, seq) with other content is CONFLICTING_DUPLICATE; an identical replay is dropped', () => {
    const conflict = { message: message([status(7, 6, 1555)]) }
    const replay = genuine(7)[6] as Delivery
    const r = run([...genuine(10), conflict, replay, ...genuine(10, 11)])
    expect(r.quarantines).toEqual(['7:CONFLICTING_DUPLICATE'])
    expect(r.counters.duplicates).toBe(1)
    expect(r.totals).toEqual(baseline.totals)
  })

  it('a conflict with a reading still waiting for its gap is quarantined too; the first one stands', () => {
    const all = genuine(20)
    const conflict = { message: message([status(6, 5, 1555)]) }
    // Seq 5 is late: seq 6 waits, then a conflicting seq 6 arrives.
    const r = run([...all.slice(0, 4), all[5] as Delivery, conflict, all[4] as Delivery, ...all.slice(6)])
    expect(r.quarantines).toEqual(['6:CONFLICTING_DUPLICATE'])
    expect(r.totals).toEqual(baseline.totals)
  })

  it('behind the window, a seq that went back with a newer device time is SEQ_REWOUND', () => {
    const over = { sequence: { ...settings.sequence, recentWindow: 4 } }
    const rewound = { message: message([status(2, 20, 3000)]) }
    const oldReplay = genuine(2)[1] as Delivery
    const r = run([...genuine(20), rewound, oldReplay], over)
    expect(r.quarantines).toEqual(['2:SEQ_REWOUND'])
    expect(r.counters.duplicates).toBe(1)
    expect(r.counters.staleDuplicates).toBe(1)
    expect(r.totals).toEqual(run(genuine(20), over).totals)
  })

  it('a reading that arrives after its gap was given up is GAP_GIVEN_UP, and its energy is not lost', () => {
    const aggregation = new Aggregation({ ...settings, maxPendingWallMs: 1000 }, registry)
    const all = genuine(20)
    all.forEach((d, i) => {
      if (i !== 4) aggregation.applyMessage(0, String(i), d.message, undefined, 0)
    })
    aggregation.releaseStalePending(0, 5_000)
    aggregation.applyMessage(0, '99', (all[4] as Delivery).message, undefined, 6_000)
    const writes = aggregation.takeWrites()
    expect(writes.quarantines.map((q) => `${q.reading.seq}:${q.reason}`)).toEqual(['5:GAP_GIVEN_UP'])
    const energy = writes.intervals.reduce((s, w) => s + w.energyWh, 0)
    expect(energy).toBe(baseline.totals.get(charger.deviceId)?.energyWh)
    expect(aggregation.takeCounters().gapsSkipped).toBe(1)
  })
})

describe('device acceptance: clocks', () => {
  it('a clock that jumps into the future is booked at the receive time and moves no watermark', () => {
    // Real time: device time ≈ receive time. The device's clock jumps a year ahead at seq 6..8.
    const year = 365 * 86_400_000
    const deliveries: Delivery[] = genuine(20).map((d, i) => {
      const reading = d.message.readings[0] as Reading
      const ahead = i >= 5 && i <= 7
      return {
        message: message([{ ...reading, ts: reading.ts + (ahead ? year : 0) }]),
        receivedAtMs: reading.ts + 200,
      }
    })
    const r = run(deliveries)
    expect(r.quarantines).toEqual([])
    expect(r.counters.clockCorrected.CLOCK_AHEAD).toBe(3)
    expect(r.totals.get(charger.deviceId)?.energyWh).toBe(baseline.totals.get(charger.deviceId)?.energyWh)
    expect(r.watermark).toBeLessThan(START + 20 * MIN + 1000)
    // Without the bound, the watermark would sit a year ahead.
    const unbounded = run(
      deliveries.map((d) => ({ message: d.message, receivedAtMs: d.message.readings[0]?.ts as number })),
      {
        rules: { ...DEFAULT_ANOMALY_RULES, maxClockAheadMs: 2 * year },
      },
    )
    expect(unbounded.watermark).toBeGreaterThan(START + year)
  })

  it('accelerated: the partition clock advances at most speed × receive time, so one device cannot pull it', () => {
    // 600× real time: a minute of device time every 100 ms of receive time; two devices.
    const clock = { deviceTimeSpeed: 600 }
    const receivedAt = (minute: number) => 1_000_000 + minute * 100
    const deliveries: Delivery[] = []
    for (let m = 0; m < 20; m++) {
      const mine = status(m + 1, m)
      const jump = m === 10 ? 86_400_000 : 0
      deliveries.push({ message: message([{ ...mine, ts: mine.ts + jump }]), receivedAtMs: receivedAt(m) })
      deliveries.push({
        message: message([status(m + 1, m)], 0, peer.deviceId),
        receivedAtMs: receivedAt(m) + 1,
      })
    }
    const r = run(deliveries, { clock })
    expect(r.counters.clockCorrected.CLOCK_AHEAD).toBe(1)
    expect(r.watermark).toBeLessThanOrEqual(START + 19 * MIN + DEFAULT_ANOMALY_RULES.maxClockAheadMs)
    expect(r.totals.get(charger.deviceId)?.energyWh).toBe(baseline.totals.get(charger.deviceId)?.energyWh)
    expect(r.totals.get(peer.deviceId)).toEqual(baseline.totals.get(charger.deviceId))
  })

  it('a reflash with the clock 1 h behind for good loses no energy, and books it when it was earned', () => {
    // Received 200 ms after the true time; from seq 6 on a new boot whose clock is 1 h behind.
    const deliveries: Delivery[] = genuine(20).map((d, i) => {
      const reading = d.message.readings[0] as Reading
      const reflashed = i >= 5
      return {
        message: message(
          [reflashed ? { ...reading, seq: i - 4, ts: reading.ts - 3_600_000 } : reading],
          reflashed ? 1 : 0,
        ),
        receivedAtMs: reading.ts + 200,
      }
    })
    const r = run(deliveries)
    expect(r.quarantines).toEqual([])
    expect(r.counters.clockCorrected.CLOCK_BEHIND).toBe(15)
    expect(r.totals.get(charger.deviceId)).toEqual(baseline.totals.get(charger.deviceId))
    // The device's time goes on with real time, and so does the watermark.
    expect(r.watermark).toBe(START + 19 * MIN)
    // The same after a restore in the middle of the stretch (the state keeps what measures it).
    const first = run(deliveries.slice(0, 10))
    const restored = new Aggregation(settings, registry)
    restored.restore(first.writes.states, new Map([[0, first.watermark as number]]))
    deliveries.slice(10).forEach((d, i) => {
      restored.applyMessage(0, String(10 + i), d.message, d.receivedAtMs, 0)
    })
    const after = restored.takeWrites()
    expect(after.quarantines).toEqual([])
    expect(after.intervals.map((w) => [w.intervalStartMs, w.energyWh])).toEqual(
      r.writes.intervals
        .filter((w) => w.intervalStartMs >= START + 5 * MIN)
        .map((w) => [w.intervalStartMs, w.energyWh]),
    )
  })

  it('a clock behind still quarantines energy over rating in the time that really elapsed', () => {
    // The reflashed clock is 1 h behind; seq 3 of boot 1 claims 1000 Wh in a minute at 7 kW.
    const deliveries: Delivery[] = genuine(10).map((d, i) => {
      const reading = d.message.readings[0] as Reading
      const reflashed = i >= 5
      const registerWh = reading.registerWh + (i >= 7 ? 1000 : 0)
      return {
        message: message(
          [reflashed ? { ...reading, seq: i - 4, ts: reading.ts - 3_600_000, registerWh } : reading],
          reflashed ? 1 : 0,
        ),
        receivedAtMs: reading.ts + 200,
      }
    })
    const r = run(deliveries)
    expect(r.quarantines).toEqual(['3:REGISTER_JUMP'])
    expect(r.writes.quarantines[0]?.detail).toBe('+1100 Wh in 60000 ms exceeds 164 Wh at rated power')
  })

  it('an NTP step back of a few seconds quarantines nothing', () => {
    const stepped = genuine(20).map((d, i) => {
      const reading = d.message.readings[0] as Reading
      return { message: message([{ ...reading, ts: reading.ts - (i >= 8 ? 8_000 : 0) }]) }
    })
    const r = run(stepped)
    expect(r.quarantines).toEqual([])
    expect(r.totals.get(charger.deviceId)?.energyWh).toBe(baseline.totals.get(charger.deviceId)?.energyWh)
  })
})

describe('device acceptance: the accelerated fleet clock', () => {
  it('a partition without an anchor of its own is bounded by the first partition’s', () => {
    const clocks = new PartitionClocks({ deviceTimeSpeed: 600 }, 300_000)
    const t0 = Date.parse('2026-06-01T00:05:00Z')
    const wall0 = Date.parse('2026-12-01T00:00:00Z')
    expect(clocks.bound(1, wall0)?.maxTs).toBe(Number.POSITIVE_INFINITY)
    clocks.observe(1, t0, wall0)
    // Partition 2 has seen nothing: a device whose clock is 6 h ahead at its very first reading
    // would have anchored it 6 h ahead, and its watermark with it.
    const b = clocks.bound(2, wall0 + 1_000)
    expect(b?.clampToMs).toBe(t0 + 600_000)
    expect(b?.maxTs).toBe(t0 + 600_000 + 300_000 + 600 * 30_000)
    expect(t0 + 6 * 3_600_000).toBeGreaterThan(b?.maxTs ?? 0)
    // Its own anchor, once set, stands for it.
    clocks.observe(2, t0 + 60_000, wall0 + 1_000)
    expect(clocks.bound(2, wall0 + 1_000)?.clampToMs).toBe(t0 + 60_000)
  })
})

describe('device acceptance: counters and stored values', () => {
  it('a replaced controller’s swap counter jump books no phantom swaps', () => {
    const slots = (seq: number, count: number, wh: number) => ({
      message: message([swapSlots(seq, seq * 10, count, wh)], 0, cabinet.deviceId),
    })
    const r = run([
      slots(1, 100, 50_000),
      slots(2, 101, 51_000),
      slots(3, 9_000, 52_000),
      slots(4, 9_001, 53_000),
    ])
    expect(r.quarantines).toEqual(['3:COUNTER_JUMP'])
    expect(r.totals.get(cabinet.deviceId)?.swaps).toBe(2)
  })

  it('values beyond what InfluxDB and exact sums hold are VALUE_OUT_OF_RANGE and move nothing', () => {
    const huge = { message: message([status(6, 5, 2 ** 53)]) }
    const badSeq = { message: message([status(2 ** 53 + 2, 5)]) }
    const r = run([...genuine(5), huge, badSeq, ...genuine(15, 6)])
    expect(r.quarantines.map((q) => q.split(':')[1])).toEqual(['VALUE_OUT_OF_RANGE', 'VALUE_OUT_OF_RANGE'])
    expect(r.totals).toEqual(baseline.totals)
    for (const q of r.writes.quarantines) {
      expect(Number.isSafeInteger(q.reading.seq) && Number.isSafeInteger(q.reading.registerWh)).toBe(true)
    }
  })

  it('an interval whose revenue would exceed the stored bound is refused before it is booked', () => {
    // A 10 GW "charger" (registry typo): 1 TWh in a minute would be 2.3e12 units.
    const giant: DeviceRecord = { ...charger, deviceId: 'chg-1', ratedPowerW: 1e14 }
    const aggregation = new Aggregation(settings, new Map([[giant.deviceId, giant]]))
    aggregation.applyMessage(0, '0', message([status(1, 0, 1000)]), undefined, 0)
    aggregation.applyMessage(0, '1', message([status(2, 1, 1000 + 2 ** 40)]), undefined, 0)
    const writes = aggregation.takeWrites()
    expect(writes.quarantines.map((q) => q.reason)).toEqual(['VALUE_OUT_OF_RANGE'])
    for (const w of writes.intervals) expect(w.revenueUnits <= MAX_INTERVAL_REVENUE_UNITS).toBe(true)
    expect(writes.states[0]?.meter.lastSeq).toBe(1)
  })

  it('persists boot with the device state and goes on from it after a restore', () => {
    const first = run([...genuine(10), { message: message([status(1, 10)], 1) }])
    const states = first.writes.states
    expect(states[0]?.boot).toBe(1)
    const restored = new Aggregation(settings, registry)
    restored.restore(states, new Map())
    restored.applyMessage(0, '0', message([status(2, 11)], 1), undefined, 0)
    // The window is not persisted: after a restore, device time tells a straggler from a replay.
    restored.applyMessage(0, '1', message([status(11, 12, 2150)], 0), undefined, 0)
    restored.applyMessage(0, '2', message([status(10, 9)], 0), undefined, 0)
    const writes = restored.takeWrites()
    expect(writes.intervals.reduce((s, w) => s + w.energyWh, 0)).toBe(100)
    expect(writes.quarantines.map((q) => q.reason)).toEqual(['BOOT_REGRESSED'])
    expect(restored.takeCounters().staleDuplicates).toBe(1)
  })
})
