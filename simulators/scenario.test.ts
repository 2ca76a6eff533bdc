import { describe, expect, it } from 'vitest'
import { publicKeyFromHex } from '../core/identity/keys.ts'
import { decodeMessage } from '../core/telemetry/decode.ts'
import { verifyMessage } from '../core/telemetry/sign.ts'
import type { PvInverter, Reading, TelemetryMessage, TelemetryVersion } from '../core/telemetry/types.ts'
import { createFleet } from './fleet/fleet.ts'
import { localHour } from './models/device-model.ts'
import { NO_FAULTS, type Publish, Scenario } from './scenario.ts'

const START = Date.parse('2026-06-01T00:00:00+08:00')
const DAY = 86_400_000
const grid = { genesisMs: START, epochLengthMs: 6 * 3_600_000, intervalMs: 300_000 }
const fleetSpec = { seed: 'unit', chargers: 4, pv: 3, swap: 3, startMs: START, sampleMs: 300_000 }

function run(faults = {}, batchSize = 1, days = 1, telemetryVersion: TelemetryVersion = 2) {
  const scenario = new Scenario(createFleet(fleetSpec), { grid, faults, batchSize, telemetryVersion })
  const publishes = []
  for (let t = START + 300_000; t <= START + days * DAY; t += 300_000) publishes.push(...scenario.tick(t))
  publishes.push(...scenario.flush())
  return { scenario, publishes }
}

describe('simulated fleet', () => {
  it('is a pure function of its seed', () => {
    const a = run({ duplicate: 0.05, reorder: 0.05, malformed: 0.02 })
    const b = run({ duplicate: 0.05, reorder: 0.05, malformed: 0.02 })
    expect(a.publishes.map((p) => p.payload.toString('base64'))).toEqual(
      b.publishes.map((p) => p.payload.toString('base64')),
    )
    expect(a.scenario.ledger.snapshot()).toEqual(b.scenario.ledger.snapshot())
  })

  it('publishes only valid messages when no fault is injected, every reading exactly once', () => {
    const { scenario, publishes } = run(NO_FAULTS, 3)
    let readings = 0
    for (const p of publishes) {
      const decoded = decodeMessage(p.payload)
      expect(decoded.ok).toBe(true)
      if (decoded.ok) readings += decoded.value.readings.length
      expect(p.kind).toBe('genuine')
    }
    expect(readings).toBe(scenario.counters.genuineReadings)
    expect(scenario.ledger.snapshot().readings).toBe(readings)
  })

  it('PV follows the sun: nothing at night, output capped by the rating', () => {
    const { publishes } = run()
    const fleet = createFleet(fleetSpec)
    const rated = new Map(fleet.devices.map((d) => [d.record.deviceId, d.record.ratedPowerW]))
    let daytimeEnergy = 0
    for (const p of publishes.filter((x) => x.topic.includes('/pv/'))) {
      const decoded = decodeMessage(p.payload)
      if (!decoded.ok) throw new Error(decoded.reason)
      for (const r of decoded.value.readings as PvInverter[]) {
        const hour = localHour(r.ts)
        if (hour < 5.5 || hour > 19.5) expect(r.acPowerW).toBe(0)
        expect(r.acPowerW).toBeLessThanOrEqual(rated.get(p.deviceId) ?? 0)
        daytimeEnergy += r.acPowerW
      }
    }
    expect(daytimeEnergy).toBeGreaterThan(0)
  })

  it('ledger energy of a device equals its register difference (no meter change)', () => {
    const { scenario, publishes } = run()
    const first = new Map<string, number>()
    const last = new Map<string, number>()
    for (const p of publishes) {
      const decoded = decodeMessage(p.payload)
      if (!decoded.ok) continue
      for (const r of decoded.value.readings) {
        if (!first.has(p.deviceId)) first.set(p.deviceId, r.registerWh)
        last.set(p.deviceId, r.registerWh)
      }
    }
    const energy = new Map<string, number>()
    for (const t of scenario.ledger.snapshot().epochs)
      energy.set(t.deviceId, (energy.get(t.deviceId) ?? 0) + t.energyWh)
    for (const [deviceId, r0] of first) expect(energy.get(deviceId) ?? 0).toBe((last.get(deviceId) ?? 0) - r0)
    expect([...energy.values()].some((e) => e > 0)).toBe(true)
  })

  it('injects and counts each fault kind, without changing the ground truth of delivery faults', () => {
    const clean = run().scenario.ledger.snapshot()
    const delivery = {
      duplicate: 0.1,
      reorder: 0.1,
      late: 0.05,
      malformed: 0.05,
      badSignature: 0.05,
      unknownDevice: 0.05,
      replay: 0.05,
      oversize: 0.01,
    }
    const faulty = run(delivery)
    expect(faulty.scenario.ledger.snapshot()).toEqual(clean)
    for (const kind of Object.keys(delivery)) {
      const injected = faulty.scenario.counters.injected[kind as keyof typeof delivery]
      expect(injected, kind).toBeGreaterThan(0)
      if (kind !== 'reorder' && kind !== 'late')
        expect(faulty.publishes.filter((p) => p.kind === kind).length, kind).toBe(injected)
    }
  })

  it('meter replacement shows up as a register going backwards in the ledger', () => {
    const { scenario } = run({ meterReplace: 0.01 })
    expect(scenario.counters.injected.meterReplace).toBeGreaterThan(0)
    expect(scenario.ledger.snapshot().quarantinedByReason.REGISTER_BACKWARDS).toBeGreaterThan(0)
  })
})

const decoded = (p: Publish): TelemetryMessage => {
  const d = decodeMessage(p.payload)
  if (!d.ok) throw new Error(`${p.kind}: ${d.reason} ${d.detail}`)
  return d.value
}

/** Energy and swaps per device over the whole run, and what was quarantined, from the ledger. */
function costs(scenario: Scenario) {
  const snapshot = scenario.ledger.snapshot()
  const perDevice: Record<string, string> = {}
  for (const e of snapshot.epochs) {
    const [energy = 0, swaps = 0] = (perDevice[e.deviceId] ?? '0/0').split('/').map(Number)
    perDevice[e.deviceId] = `${energy + e.energyWh}/${swaps + e.swaps}`
  }
  return { perDevice, quarantined: snapshot.quarantinedByReason }
}

describe('telemetry versions', () => {
  it('publishes v2 by default and v1 when asked, the same readings either way', () => {
    const two = run(NO_FAULTS, 3)
    const one = run(NO_FAULTS, 3, 1, 1)
    expect(two.publishes.every((p) => decoded(p).v === 2)).toBe(true)
    expect(one.publishes.every((p) => decoded(p).v === 1)).toBe(true)
    expect(one.publishes.map((p) => decoded(p).readings)).toEqual(
      two.publishes.map((p) => decoded(p).readings),
    )
    expect(one.scenario.ledger.snapshot()).toEqual(two.scenario.ledger.snapshot())
  })
  it('refuses a seq reset in v1, which has no boot', () => {
    expect(() => run({ seqReset: 0.01 }, 1, 1, 1)).toThrow(/v2/)
  })
})

describe('device faults of issue 8: injected, counted, and free of cost in the ground truth', () => {
  const clean = run()
  const cleanCosts = costs(clean.scenario)
  const genuineOf = (publishes: Publish[]) => publishes.filter((p) => p.kind === 'genuine').map(decoded)

  it('seqReset: a reflash raises boot and restarts seq at 1; (boot, seq) always increases', () => {
    const { scenario, publishes } = run({ seqReset: 0.01 })
    expect(scenario.counters.injected.seqReset).toBeGreaterThan(0)
    const last = new Map<string, [number, number]>()
    let bootsSeen = 0
    for (const m of genuineOf(publishes)) {
      for (const r of m.readings) {
        const [boot, seq] = last.get(m.deviceId) ?? [0, 0]
        expect(m.boot > boot || (m.boot === boot && r.seq > seq), `${m.deviceId} ${m.boot}/${r.seq}`).toBe(
          true,
        )
        if (m.boot > boot) {
          expect(r.seq).toBe(1)
          bootsSeen += m.boot - boot
        }
        last.set(m.deviceId, [m.boot, r.seq])
      }
    }
    // Each reset shows as a boot step, unless it came after the device's last reading.
    expect(bootsSeen).toBeGreaterThan(0)
    expect(bootsSeen).toBeLessThanOrEqual(scenario.counters.injected.seqReset)
    expect(costs(scenario)).toEqual(cleanCosts)
  })

  it('conflictingDuplicate: same deviceId, boot and seq, other content, validly signed, a tick after the genuine one', () => {
    const fleet = createFleet(fleetSpec)
    const keys = new Map(fleet.devices.map((d) => [d.record.deviceId, publicKeyFromHex(d.record.publicKey)]))
    const scenario = new Scenario(fleet, {
      grid,
      faults: { conflictingDuplicate: 0.05, seqReset: 0.01 },
      batchSize: 1,
    })
    const ticks: Publish[][] = []
    for (let t = START + 300_000; t <= START + DAY; t += 300_000) ticks.push(scenario.tick(t))
    ticks.push(scenario.flush())
    const conflicting = ticks.flat().filter((p) => p.kind === 'conflictingDuplicate')
    expect(conflicting.length).toBe(scenario.counters.injected.conflictingDuplicate)
    expect(conflicting.length).toBeGreaterThan(10)
    // The tick each genuine reading went out in, by (deviceId, boot, seq).
    const seen = new Map<string, { readings: string; tick: number }>()
    ticks.forEach((tick, i) => {
      for (const p of tick) {
        const m = decoded(p)
        expect(verifyMessage(m, keys.get(m.deviceId) as Buffer)).toBe(true)
        const key = `${m.deviceId}/${m.boot}/${m.readings[0]?.seq}`
        if (p.kind === 'genuine') seen.set(key, { readings: JSON.stringify(m.readings), tick: i })
        else {
          expect(seen.has(key), key).toBe(true)
          expect(JSON.stringify(m.readings)).not.toBe(seen.get(key)?.readings)
          // Published only after the tick of the genuine one was acknowledged: never beside it.
          expect(seen.get(key)?.tick, key).toBeLessThan(i)
        }
      }
    })
    expect(costs(scenario)).toEqual(cleanCosts)
  })

  it('clockStepBack: the device clock goes back a few seconds for good; nothing is quarantined', () => {
    const { scenario, publishes } = run({ clockStepBack: 0.02 })
    expect(scenario.counters.injected.clockStepBack).toBeGreaterThan(0)
    const offsets = new Set(
      genuineOf(publishes)
        .filter((m) => m.deviceId.startsWith('pv'))
        .flatMap((m) => m.readings)
        .map((r: Reading) => ((r.ts % 300_000) + 300_000) % 300_000),
    )
    expect([...offsets].some((o) => o !== 0)).toBe(true) // PV samples are no longer on the grid
    expect(costs(scenario)).toEqual(cleanCosts)
  })

  it('clockStepBackLarge: a reboot with the clock an hour behind for good costs nothing', () => {
    const { scenario, publishes } = run({ clockStepBackLarge: 0.005 })
    expect(scenario.counters.injected.clockStepBackLarge).toBeGreaterThan(0)
    // Some readings went out an hour or more behind the device's previous ones.
    let behind = 0
    const lastTs = new Map<string, number>()
    for (const m of genuineOf(publishes)) {
      for (const r of m.readings as Reading[]) {
        if (r.ts <= (lastTs.get(m.deviceId) ?? Number.NEGATIVE_INFINITY) - 3_000_000) behind += 1
        lastTs.set(m.deviceId, Math.max(r.ts, lastTs.get(m.deviceId) ?? r.ts))
      }
    }
    expect(behind).toBeGreaterThan(0)
    expect(costs(scenario)).toEqual(cleanCosts)
  })

  it('clockStepForward: the clock jumps hours ahead until NTP corrects it', () => {
    const { scenario, publishes } = run({ clockStepForward: 0.01 })
    expect(scenario.counters.injected.clockStepForward).toBeGreaterThan(0)
    let ahead = 0
    let sentAtMs = START
    for (const p of publishes) {
      if (p.kind !== 'genuine') continue
      for (const r of decoded(p).readings) if (r.ts > sentAtMs + 3_600_000) ahead += 1
      sentAtMs = Math.max(sentAtMs, ...decoded(p).readings.map((r) => Math.min(r.ts, sentAtMs + 300_000)))
    }
    expect(ahead).toBeGreaterThan(0)
    const faulty = costs(scenario)
    // Every kWh and swap is paid, in the same device totals; the readings ahead are booked at
    // their receive time, and nothing is quarantined.
    expect(faulty.perDevice).toEqual(cleanCosts.perDevice)
    expect(faulty.quarantined).toEqual(cleanCosts.quarantined)
  })

  it('counterJump: a replaced swap controller reports its counter far ahead at once', () => {
    const { scenario, publishes } = run({ counterJump: 0.02 })
    expect(scenario.counters.injected.counterJump).toBeGreaterThan(0)
    const lastCount = new Map<string, number>()
    let jumps = 0
    for (const m of genuineOf(publishes)) {
      for (const r of m.readings) {
        if (r.type !== 'swap.slots' && r.type !== 'swap.event') continue
        const before = lastCount.get(m.deviceId)
        if (before !== undefined && r.swapCount - before >= 50_000) {
          expect(r.type).toBe('swap.slots')
          jumps += Math.floor((r.swapCount - before) / 50_000)
        }
        lastCount.set(m.deviceId, r.swapCount)
      }
    }
    // Each jump shows at the next reading, unless it came after the cabinet's last one.
    expect(jumps).toBeGreaterThan(0)
    expect(jumps).toBeLessThanOrEqual(scenario.counters.injected.counterJump)
    // No phantom swaps, no energy lost: the jump reading is quarantined (COUNTER_JUMP) and
    // becomes the baseline; the cabinet's real swaps and energy are all paid.
    const faulty = costs(scenario)
    expect(faulty.perDevice).toEqual(cleanCosts.perDevice)
    expect(faulty.quarantined.COUNTER_JUMP).toBe(jumps)
  })
})
