import { describe, expect, it } from 'vitest'
import { decodeMessage } from '../core/telemetry/decode.ts'
import type { PvInverter } from '../core/telemetry/types.ts'
import { createFleet } from './fleet/fleet.ts'
import { localHour } from './models/device-model.ts'
import { NO_FAULTS, Scenario } from './scenario.ts'

const START = Date.parse('2026-06-01T00:00:00+08:00')
const DAY = 86_400_000
const grid = { genesisMs: START, epochLengthMs: 6 * 3_600_000, intervalMs: 300_000 }
const fleetSpec = { seed: 'unit', chargers: 4, pv: 3, swap: 3, startMs: START, sampleMs: 300_000 }

function run(faults = {}, batchSize = 1, days = 1) {
  const scenario = new Scenario(createFleet(fleetSpec), { grid, faults, batchSize })
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
