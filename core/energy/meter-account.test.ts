import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Reading } from '../telemetry/types.ts'
import {
  ANOMALY_REASON_CODES,
  type AnomalyReason,
  accountReading,
  DEFAULT_ANOMALY_RULES,
  type MeterState,
} from './meter-account.ts'

const NOON = Date.parse('2026-06-01T12:00:00+08:00')
const MIDNIGHT = Date.parse('2026-06-01T00:00:00+08:00')
const grid = { genesisMs: MIDNIGHT, epochLengthMs: 86_400_000, intervalMs: 300_000 }
const rules = { ...DEFAULT_ANOMALY_RULES, maxClockSkewMs: 60_000 }
const pv = { assetClass: 'pv' as const, ratedPowerW: 10_000 }
const charger = { assetClass: 'charger' as const, ratedPowerW: 7_000 }
const swap = { assetClass: 'swap' as const, ratedPowerW: 4_800 }

const pvReading = (seq: number, ts: number, registerWh: number, acPowerW = 6000): Reading => ({
  type: 'pv.inverter',
  seq,
  ts,
  registerWh,
  acPowerW,
  irradianceWm2: 600,
  status: 'MPPT',
})
const meter = (seq: number, ts: number, registerWh: number, powerW = 7000): Reading => ({
  type: 'charger.meter',
  seq,
  ts,
  registerWh,
  connectorId: 1,
  sessionId: 's',
  powerW,
})
const swapEvent = (
  seq: number,
  ts: number,
  registerWh: number,
  swapCount: number,
  socOut = 950,
  socIn = 200,
): Reading => ({
  type: 'swap.event',
  seq,
  ts,
  registerWh,
  swapCount,
  swapId: `w${seq}`,
  slotOut: 0,
  slotIn: 1,
  batteryOutId: 'a',
  batteryInId: 'b',
  socOutPermille: socOut,
  socInPermille: socIn,
  energyWh: 1000,
})

function reasonAfter(
  device: typeof pv | typeof charger | typeof swap,
  first: Reading,
  second: Reading,
  receivedAtMs?: number,
) {
  const state = accountReading(grid, rules, device, undefined, first).state
  return accountReading(grid, rules, device, state, second, receivedAtMs).anomaly?.reason
}

describe('accountReading: every anomaly reason', () => {
  const cases: Record<AnomalyReason, () => AnomalyReason | undefined> = {
    REGISTER_BACKWARDS: () => reasonAfter(pv, pvReading(1, NOON, 5000), pvReading(2, NOON + 300_000, 4000)),
    REGISTER_JUMP: () =>
      reasonAfter(pv, pvReading(1, NOON, 5000), pvReading(2, NOON + 300_000, 5000 + 100_000)),
    COUNTER_BACKWARDS: () =>
      reasonAfter(swap, swapEvent(1, NOON, 5000, 10), swapEvent(2, NOON + 60_000, 6000, 9)),
    POWER_ABOVE_RATED: () =>
      reasonAfter(pv, pvReading(1, NOON, 5000), pvReading(2, NOON + 300_000, 5500, 50_000)),
    PV_ENERGY_AT_NIGHT: () =>
      reasonAfter(
        pv,
        pvReading(1, MIDNIGHT + 3_600_000, 5000, 0),
        pvReading(2, MIDNIGHT + 3_900_000, 5100, 0),
      ),
    ENERGY_POWER_MISMATCH: () =>
      reasonAfter(charger, meter(1, NOON, 1000), meter(2, NOON + 300_000, 1000 + 100, 7000)),
    SOC_IMPOSSIBLE: () =>
      reasonAfter(swap, swapEvent(1, NOON, 5000, 10), swapEvent(2, NOON + 60_000, 6000, 11, 100, 300)),
    COUNTER_JUMP: () =>
      reasonAfter(swap, swapEvent(1, NOON, 5000, 10), swapEvent(2, NOON + 60_000, 6000, 5_000)),
    CLOCK_SKEW: () =>
      reasonAfter(pv, pvReading(1, NOON, 5000), pvReading(2, NOON + 300_000, 5500), NOON + 300_000 + 120_000),
  }
  for (const [reason, run] of Object.entries(cases)) it(reason, () => expect(run()).toBe(reason))
  it('covers every code', () => expect(Object.keys(cases).sort()).toEqual([...ANOMALY_REASON_CODES].sort()))
  it('accepts plausible readings', () => {
    // 6 kW for 5 min = 500 Wh.
    expect(
      reasonAfter(pv, pvReading(1, NOON, 5000), pvReading(2, NOON + 300_000, 5500), NOON + 300_000),
    ).toBeUndefined()
    expect(
      reasonAfter(swap, swapEvent(1, NOON, 5000, 10), swapEvent(2, NOON + 60_000, 6000, 11)),
    ).toBeUndefined()
  })
  it('quarantined readings pay nothing and become the baseline', () => {
    const s1 = accountReading(grid, rules, pv, undefined, pvReading(1, NOON, 5000)).state
    const bad = accountReading(grid, rules, pv, s1, pvReading(2, NOON + 300_000, 10))
    expect(bad.anomaly?.reason).toBe('REGISTER_BACKWARDS')
    expect(bad.energy).toEqual([])
    const after = accountReading(grid, rules, pv, bad.state, pvReading(3, NOON + 600_000, 510))
    expect(after.energy.reduce((s, p) => s + p.energyWh, 0)).toBe(500)
  })
  it('books a reading with an earlier device time at the latest time seen', () => {
    const s1 = accountReading(grid, rules, pv, undefined, pvReading(1, NOON + 600_000, 5000)).state
    // Within the one watt-hour a meter may round up; more in no time at all would be a jump.
    const r = accountReading(grid, rules, pv, s1, pvReading(2, NOON + 500_000, 5001))
    expect(r.energy).toEqual([{ intervalStartMs: NOON + 600_000, energyWh: 1 }])
    expect(r.state.lastTs).toBe(NOON + 600_000)
  })
})

describe('accountReading: clocks', () => {
  it('an NTP step back of a few seconds quarantines no energy', () => {
    // Charger at 7 kW, a reading every 10 s (19.4 Wh); the clock steps back 8 s after seq 2.
    let state = accountReading(grid, rules, charger, undefined, meter(1, NOON, 1000)).state
    let booked = 0
    const readings = [
      meter(2, NOON + 10_000, 1019),
      meter(3, NOON + 12_000, 1039),
      meter(4, NOON + 22_000, 1058),
    ]
    for (const r of readings) {
      const result = accountReading(grid, rules, charger, state, r)
      expect(result.anomaly, `seq ${r.seq}`).toBeUndefined()
      booked += result.energy.reduce((sum, p) => sum + p.energyWh, 0)
      state = result.state
    }
    expect(booked).toBe(58)
    // Seq 3's device time is before seq 2's: booked at seq 2's time, and counted as a correction.
    const s2 = accountReading(grid, rules, charger, undefined, meter(2, NOON + 10_000, 1019)).state
    const stepped = accountReading(grid, rules, charger, s2, meter(3, NOON + 2_000, 1039))
    expect(stepped.clockCorrection).toBe('CLOCK_BEHIND')
    expect(stepped.state.lastTs).toBe(NOON + 10_000)
  })
  it('a clock 1 h behind for good (reflash, battery-less reboot) loses no energy within rating', () => {
    // 60 kW charger, +1000 Wh every 5 min of real time (12 kW); after seq 1 the clock goes back
    // 1 h for good. Each reading is received 5 min after the last; no receive times, no change.
    const fast = { assetClass: 'charger' as const, ratedPowerW: 60_000 }
    const FIVE = 300_000
    let state = accountReading(
      grid,
      DEFAULT_ANOMALY_RULES,
      fast,
      undefined,
      meter(1, NOON, 0, 12_000),
      NOON,
    ).state
    let booked = 0
    for (let i = 1; i <= 12; i++) {
      const r = meter(1 + i, NOON - 3_600_000 + i * FIVE, i * 1000, 12_000)
      const result = accountReading(grid, DEFAULT_ANOMALY_RULES, fast, state, r, NOON + i * FIVE)
      expect(result.anomaly, `reading ${i}`).toBeUndefined()
      expect(result.clockCorrection).toBe('CLOCK_BEHIND')
      // Booked when it was earned: the accounting time goes on with real time.
      expect(result.state.lastTs).toBe(NOON + i * FIVE)
      expect(result.energy).toEqual([{ intervalStartMs: NOON + (i - 1) * FIVE, energyWh: 1000 }])
      booked += result.energy.reduce((sum, p) => sum + p.energyWh, 0)
      state = result.state
    }
    expect(booked).toBe(12_000)
    // Readings uploaded together (one receive time) after the step: the device's own clock.
    const later = NOON + 15 * FIVE
    for (let i = 13; i <= 15; i++) {
      const r = meter(1 + i, NOON - 3_600_000 + i * FIVE, i * 1000, 12_000)
      const result = accountReading(grid, DEFAULT_ANOMALY_RULES, fast, state, r, later)
      expect(result.anomaly, `reading ${i}`).toBeUndefined()
      expect(result.state.lastTs).toBe(NOON + i * FIVE)
      state = result.state
    }
    // Accelerated (600×): 0.5 s of receive time is 5 min of device time.
    const bound = (receivedAtMs: number) => ({
      maxTs: NOON + (receivedAtMs - NOON) * 600 + 600_000,
      clampToMs: NOON + (receivedAtMs - NOON) * 600,
      deviceTimeSpeed: 600,
    })
    const s1 = accountReading(
      grid,
      DEFAULT_ANOMALY_RULES,
      fast,
      undefined,
      meter(1, NOON, 0, 12_000),
      NOON,
      bound(NOON),
    ).state
    const r = meter(2, NOON - 3_600_000 + FIVE, 1000, 12_000)
    const stepped = accountReading(grid, DEFAULT_ANOMALY_RULES, fast, s1, r, NOON + 500, bound(NOON + 500))
    expect(stepped.anomaly).toBeUndefined()
    expect(stepped.state.lastTs).toBe(NOON + FIVE)
  })
  it('a clock behind still quarantines energy over rating in the time that really elapsed', () => {
    // 60 kW × 1.2 for 5 min (+10 s tolerance, +1 Wh rounding) is 6201 Wh: +7000 Wh is a jump.
    const fast = { assetClass: 'charger' as const, ratedPowerW: 60_000 }
    const s1 = accountReading(
      grid,
      DEFAULT_ANOMALY_RULES,
      fast,
      undefined,
      meter(1, NOON, 0, 12_000),
      NOON,
    ).state
    const back = NOON - 3_600_000 + 300_000
    const jump = accountReading(
      grid,
      DEFAULT_ANOMALY_RULES,
      fast,
      s1,
      meter(2, back, 7000, 12_000),
      NOON + 300_000,
    )
    expect(jump.anomaly?.reason).toBe('REGISTER_JUMP')
    expect(jump.anomaly?.detail).toBe('+7000 Wh in 300000 ms exceeds 6201 Wh at rated power')
    // On the device's own clock after the step, too.
    const ok = accountReading(
      grid,
      DEFAULT_ANOMALY_RULES,
      fast,
      s1,
      meter(2, back, 1000, 12_000),
      NOON + 300_000,
    )
    const over = accountReading(
      grid,
      DEFAULT_ANOMALY_RULES,
      fast,
      ok.state,
      meter(3, back + 60_000, 3000, 12_000),
      NOON + 300_000,
    )
    expect(over.anomaly?.reason).toBe('REGISTER_JUMP')
    // A clock that goes back and forth gains nothing: the accounting time never passes the bound.
    const forth = accountReading(
      grid,
      DEFAULT_ANOMALY_RULES,
      fast,
      ok.state,
      meter(3, back + 3_000_000, 1000, 12_000),
      NOON + 310_000,
    )
    expect(forth.state.lastTs).toBe(NOON + 310_000 + DEFAULT_ANOMALY_RULES.maxClockAheadMs)
  })
  it('a step back beyond the tolerance is still a jump', () => {
    const s1 = accountReading(grid, rules, charger, undefined, meter(1, NOON + 60_000, 1000)).state
    expect(accountReading(grid, rules, charger, s1, meter(2, NOON, 1100)).anomaly?.reason).toBe(
      'REGISTER_JUMP',
    )
  })
  it('a device time beyond receive time + tolerance is booked at the receive time, energy kept', () => {
    const s1 = accountReading(grid, DEFAULT_ANOMALY_RULES, charger, undefined, meter(1, NOON, 1000)).state
    const sixHours = 6 * 3_600_000
    // Two readings from a clock 6 h ahead (received at true time), then NTP puts it right.
    const a = accountReading(
      grid,
      DEFAULT_ANOMALY_RULES,
      charger,
      s1,
      meter(2, NOON + 300_000 + sixHours, 1500, 6000),
      NOON + 300_000,
    )
    expect(a.clockCorrection).toBe('CLOCK_AHEAD')
    expect(a.anomaly).toBeUndefined()
    // At the receive time, not at the device's last time (NOON): however long the clock stays
    // ahead, its energy lands where it was earned, never in an interval left behind.
    expect(a.state.lastTs).toBe(NOON + 300_000)
    expect(a.energy).toEqual([{ intervalStartMs: NOON, energyWh: 500 }])
    const b = accountReading(
      grid,
      DEFAULT_ANOMALY_RULES,
      charger,
      a.state,
      meter(3, NOON + 600_000 + sixHours, 2000, 6000),
      NOON + 600_000,
    )
    expect(b.clockCorrection).toBe('CLOCK_AHEAD')
    expect(b.anomaly).toBeUndefined()
    expect(b.state.lastTs).toBe(NOON + 600_000)
    expect(b.energy).toEqual([{ intervalStartMs: NOON + 300_000, energyWh: 500 }])
    const c = accountReading(
      grid,
      DEFAULT_ANOMALY_RULES,
      charger,
      b.state,
      meter(4, NOON + 900_000, 2500, 6000),
      NOON + 900_000,
    )
    expect(c.clockCorrection).toBeUndefined()
    expect(c.anomaly).toBeUndefined()
    expect(c.state.lastTs).toBe(NOON + 900_000)
    expect(c.energy).toEqual([{ intervalStartMs: NOON + 600_000, energyWh: 500 }])
    const total = [a, b, c].flatMap((r) => r.energy).reduce((sum, p) => sum + p.energyWh, 0)
    expect(total).toBe(1500)
    // An explicit bound (the aggregator's accelerated partition clock) overrides the receive time.
    const bounded = accountReading(
      grid,
      DEFAULT_ANOMALY_RULES,
      charger,
      s1,
      meter(2, NOON + 300_000, 1500, 6000),
      NOON + 300_000,
      {
        maxTs: NOON + 100_000,
        clampToMs: NOON,
      },
    )
    expect(bounded.clockCorrection).toBe('CLOCK_AHEAD')
    expect(bounded.state.lastTs).toBe(NOON)
    // A receive time before the device's last accounting time books at the latter: accounting
    // time never runs backwards.
    const early = accountReading(
      grid,
      DEFAULT_ANOMALY_RULES,
      charger,
      a.state,
      meter(3, NOON + sixHours, 1600, 6000),
      NOON + 100_000,
    )
    expect(early.clockCorrection).toBe('CLOCK_AHEAD')
    expect(early.state.lastTs).toBe(NOON + 300_000)
    // Within the bound, the device's own time stands.
    const within = accountReading(
      grid,
      DEFAULT_ANOMALY_RULES,
      charger,
      s1,
      meter(2, NOON + 300_000, 1500, 6000),
      NOON + 100_000,
    )
    expect(within.clockCorrection).toBeUndefined()
    expect(within.state.lastTs).toBe(NOON + 300_000)
  })
})

describe('accountReading: a backlog delivered at one receive time (issue 8, outage)', () => {
  const FIVE = 300_000
  const SIX_HOURS = 6 * 3_600_000
  // Readings every 5 min from NOON; the outage delivers everything after seq 3 at NOON + 2 h.
  const backlogAt = NOON + 2 * 3_600_000
  const run = (readings: Reading[], receivedAt: (i: number) => number) => {
    let state: MeterState | undefined
    const results = readings.map((r, i) => {
      const result = accountReading(grid, DEFAULT_ANOMALY_RULES, charger, state, r, receivedAt(i))
      state = result.state
      return result
    })
    return results
  }
  it('a clock that leapt 6 h ahead in the backlog neither sets the device’s time nor costs the readings after it', () => {
    const readings = Array.from({ length: 16 }, (_, i) => {
      const trueTs = NOON + i * FIVE
      // seq 6..9 from a clock 6 h ahead, then NTP puts it right.
      return meter(i + 1, i >= 5 && i <= 8 ? trueTs + SIX_HOURS : trueTs, i * 500, 6000)
    })
    const results = run(readings, (i) => (i < 3 ? NOON + i * FIVE : backlogAt))
    expect(results.map((r) => r.anomaly?.reason)).toEqual(Array(16).fill(undefined))
    // Booked at the true times: the ahead stretch by the device's cadence, then its own clock.
    expect(results.map((r) => r.state.lastTs)).toEqual(readings.map((_, i) => NOON + i * FIVE))
    expect(results.slice(5, 9).map((r) => r.clockCorrection)).toEqual(Array(4).fill('CLOCK_AHEAD'))
    expect(results[9]?.clockCorrection).toBeUndefined()
    const paid = results.flatMap((r) => r.energy).reduce((sum, p) => sum + p.energyWh, 0)
    expect(paid).toBe(15 * 500)
  })
  it('accelerated (600×): the partition clock hours past the backlog does not let the leap through', () => {
    const speed = 600
    const wall0 = Date.parse('2026-12-01T00:00:00Z')
    const wallOf = (t: number) => wall0 + (t - NOON) / speed
    // The partition's clock as the aggregator gives it: anchored at NOON, at the receive time.
    const bound = (receivedAtMs: number) => {
      const now = NOON + (receivedAtMs - wall0) * speed
      return { maxTs: now + 300_000 + speed * 30_000, clampToMs: now, deviceTimeSpeed: speed }
    }
    const backlogWall = wallOf(NOON + 25 * 3_600_000)
    let state: MeterState | undefined
    const results = Array.from({ length: 12 }, (_, i) => {
      const trueTs = NOON + i * FIVE
      const r = meter(i + 1, i === 4 || i === 5 ? trueTs + SIX_HOURS : trueTs, i * 500, 6000)
      const received = i < 3 ? wallOf(trueTs) : backlogWall
      const result = accountReading(grid, DEFAULT_ANOMALY_RULES, charger, state, r, received, bound(received))
      state = result.state
      return result
    })
    expect(results.map((r) => r.anomaly?.reason)).toEqual(Array(12).fill(undefined))
    expect(results.map((r) => r.state.lastTs)).toEqual(results.map((_, i) => NOON + i * FIVE))
  })
  it('a clock stepped back 1 h inside the backlog is booked by the device’s cadence, not 0 ms', () => {
    const readings = Array.from({ length: 10 }, (_, i) =>
      meter(i + 1, NOON + i * FIVE - (i >= 5 ? 3_600_000 : 0), i * 500, 6000),
    )
    const results = run(readings, (i) => (i < 3 ? NOON + i * FIVE : backlogAt))
    expect(results.map((r) => r.anomaly?.reason)).toEqual(Array(10).fill(undefined))
    expect(results.map((r) => r.state.lastTs)).toEqual(readings.map((_, i) => NOON + i * FIVE))
    expect(results[5]?.clockCorrection).toBe('CLOCK_BEHIND')
  })
  it('right again after a run-on from a clamp ahead of true time: the first honest step is measured over the expected time', () => {
    // A first reading 6 h ahead, clamped 2.5 min past its true time (NOON); four more ahead run
    // on at the device's cadence, then NTP puts the clock right. Received 5 min apart at 600×.
    const speed = 600
    const wall0 = Date.parse('2026-12-01T00:00:00Z')
    const received = (i: number) => wall0 + (i * FIVE) / speed
    // The partition's clock runs 2.5 min ahead of true time (a fleet slower than the speed set).
    const clockMs = (i: number) => NOON + i * FIVE + 150_000
    let state: MeterState | undefined
    const results = Array.from({ length: 8 }, (_, i) => {
      const r = meter(i + 1, NOON + i * FIVE + (i < 5 ? SIX_HOURS : 0), i * 580, 6960)
      const bound = { maxTs: clockMs(i) + 3_300_000, clampToMs: clockMs(i), deviceTimeSpeed: speed }
      const result = accountReading(grid, DEFAULT_ANOMALY_RULES, charger, state, r, received(i), bound)
      state = result.state
      return result
    })
    // Seq 6 is booked at its own time, 2.5 min after seq 5's; 580 Wh at 7 kW needs 5 min.
    expect(results.map((r) => r.anomaly?.reason)).toEqual(Array(8).fill(undefined))
    expect(results[5]?.state.lastTs).toBe(NOON + 5 * FIVE)
    expect(results[5]?.clockCorrection).toBeUndefined()
    const paid = results.flatMap((r) => r.energy).reduce((sum, p) => sum + p.energyWh, 0)
    expect(paid).toBe(7 * 580)
  })
  it('energy over rating in a backlog is still a jump', () => {
    // 7 kW × 1.2 over 5 min (+10 s) is 721 Wh: +5000 Wh in one cadence step is not plausible.
    const readings = Array.from({ length: 6 }, (_, i) =>
      meter(i + 1, NOON + i * FIVE - (i === 5 ? 3_600_000 : 0), i === 5 ? 7500 : i * 500, 6000),
    )
    const results = run(readings, (i) => (i < 3 ? NOON + i * FIVE : backlogAt))
    expect(results[5]?.anomaly?.reason).toBe('REGISTER_JUMP')
  })
})

describe('accountReading: swap counters', () => {
  it('a counter that moves by plausible swaps is paid; a replaced controller’s jump is not', () => {
    const s1 = accountReading(grid, rules, swap, undefined, swapEvent(1, NOON, 5000, 10)).state
    // Three swaps in 2 minutes (some readings lost) are plausible: 1 + 120/h × 130 s = 5.
    const ok = accountReading(grid, rules, swap, s1, swapEvent(2, NOON + 120_000, 7000, 13))
    expect(ok.anomaly).toBeUndefined()
    expect(ok.swaps).toBe(3)
    const jump = accountReading(grid, rules, swap, s1, swapEvent(2, NOON + 120_000, 7000, 16))
    expect(jump.anomaly?.reason).toBe('COUNTER_JUMP')
    expect(jump.swaps).toBe(0)
    expect(jump.energy).toEqual([])
  })
})

describe('accountReading: energy is conserved', () => {
  it('a device’s interval energies sum to its register difference when nothing is anomalous', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 900_000 }), fc.integer({ min: 0, max: 1000 })), {
          maxLength: 60,
        }),
        (steps) => {
          let state: MeterState | undefined
          let ts = NOON
          let register = 1_000_000
          let booked = 0
          let seq = 0
          const relaxed = { ...DEFAULT_ANOMALY_RULES, maxPowerFactor: 1e9 }
          for (const [dt, de] of [[0, 0], ...steps] as const) {
            ts += dt
            register += de
            const r = accountReading(grid, relaxed, { assetClass: 'charger', ratedPowerW: 1e9 }, state, {
              type: 'charger.status',
              seq: ++seq,
              ts,
              registerWh: register,
              connectorId: 1,
              status: 'Charging',
              errorCode: 'NoError',
            })
            expect(r.anomaly).toBeUndefined()
            booked += r.energy.reduce((s, p) => s + p.energyWh, 0)
            state = r.state
          }
          return booked === register - 1_000_000
        },
      ),
    )
  })
})
