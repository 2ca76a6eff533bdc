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
import { Aggregation } from './aggregation.ts'
import { DEFAULT_CLOCK_SETTINGS } from './device-acceptance.ts'

const START = Date.parse('2026-06-01T00:00:00+08:00')
const grid = { genesisMs: START, epochLengthMs: 3_600_000, intervalMs: 300_000 }
const tariffs = parseTariffBook(DEMO_TARIFF_BOOK, grid)
const settings = {
  grid,
  rules: DEFAULT_ANOMALY_RULES,
  tariffs,
  graceMs: 10 * 86_400_000,
  reorderWindowMs: 86_400_000,
  maxPendingWallMs: Number.POSITIVE_INFINITY,
  sequence: DEFAULT_SEQUENCE_RULES,
  clock: DEFAULT_CLOCK_SETTINGS,
}

function fleetRun(meterReplace = 0) {
  const fleet = createFleet({
    seed: 'agg-unit',
    chargers: 3,
    pv: 3,
    swap: 3,
    startMs: START,
    sampleMs: 300_000,
  })
  const scenario = new Scenario(fleet, { grid, tariffs, faults: { meterReplace } })
  const messages: TelemetryMessage[] = []
  for (let t = START + 300_000; t <= START + 8 * 3_600_000; t += 300_000) {
    for (const p of scenario.tick(t)) messages.push(decodeAcceptedRecord(p.payload))
  }
  const registry = new Map(fleet.devices.map((d) => [d.record.deviceId, d.record]))
  return { scenario, messages, registry }
}

/** Feeds messages into a fresh Aggregation and returns interval totals as the last writes left them. */
function aggregate(messages: readonly TelemetryMessage[], registry: ReadonlyMap<string, DeviceRecord>) {
  const aggregation = new Aggregation(settings, registry)
  const intervals = new Map<string, string>()
  messages.forEach((m, i) => {
    aggregation.applyMessage(0, String(i), m, undefined, 0)
    if (i % 17 === 0)
      for (const w of aggregation.takeWrites().intervals)
        intervals.set(
          `${w.device.deviceId}/${w.intervalStartMs}`,
          `${w.energyWh}/${w.swaps}/${w.revenueUnits}`,
        )
  })
  for (const w of aggregation.takeWrites().intervals)
    intervals.set(`${w.device.deviceId}/${w.intervalStartMs}`, `${w.energyWh}/${w.swaps}/${w.revenueUnits}`)
  return { intervals, aggregation }
}

/** Energy and swaps per device interval, from the ground-truth ledger. */
function truthIntervals(scenario: Scenario, deviceIds: Iterable<string>) {
  const out = new Map<string, string>()
  for (const deviceId of deviceIds) {
    for (const [start, t] of scenario.ledger.deviceIntervals(deviceId))
      out.set(`${deviceId}/${start}`, `${t.energyWh}/${t.swaps}`)
  }
  return out
}

const nonEmpty = (m: Map<string, string>) => new Map([...m].filter(([, v]) => !v.startsWith('0/0')))

describe('Aggregation', () => {
  const { scenario, messages, registry } = fleetRun()
  const baseline = aggregate(messages, registry).intervals

  it('books exactly the ground truth energy and swaps per interval', () => {
    const truth = truthIntervals(scenario, registry.keys())
    const got = new Map([...baseline].map(([k, v]) => [k, v.split('/').slice(0, 2).join('/')]))
    expect(Object.fromEntries(nonEmpty(got))).toEqual(Object.fromEntries(nonEmpty(truth)))
    expect(nonEmpty(truth).size).toBeGreaterThan(50)
  })

  it('gives the same totals however delivery batched, duplicated or reordered the same readings', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 1, max: 6 }), (seed, batch) => {
        const rng = createRng('delivery', seed)
        // Re-batch each device's readings, duplicate some messages, then shuffle within a window.
        const byDevice = new Map<string, TelemetryMessage['readings'][number][]>()
        for (const m of messages)
          byDevice.set(m.deviceId, [...(byDevice.get(m.deviceId) ?? []), ...m.readings])
        const rebatched: TelemetryMessage[] = []
        for (const [deviceId, readings] of byDevice) {
          for (let i = 0; i < readings.length; i += batch) {
            rebatched.push({
              v: 2,
              deviceId,
              boot: 0,
              readings: readings.slice(i, i + batch),
              sig: '',
              body: new Uint8Array(0),
            })
          }
        }
        rebatched.sort((a, b) => (a.readings[0]?.ts ?? 0) - (b.readings[0]?.ts ?? 0))
        const delivered: TelemetryMessage[] = []
        for (const m of rebatched) {
          delivered.push(m)
          if (rng.chance(0.1)) delivered.push(m)
        }
        for (let i = delivered.length - 1; i > 0; i--) {
          const j = Math.max(0, i - rng.int(0, 8))
          ;[delivered[i], delivered[j]] = [delivered[j] as TelemetryMessage, delivered[i] as TelemetryMessage]
        }
        const { intervals, aggregation } = aggregate(delivered, registry)
        expect(aggregation.sizes().pendingReadings).toBe(0)
        expect(Object.fromEntries(intervals)).toEqual(Object.fromEntries(baseline))
      }),
      { numRuns: 15 },
    )
    // 15 runs of a 9-device, 8-hour fleet: about 4 s on a quiet machine, more at load 20.
  }, 30_000)

  it('quarantines a meter replacement like the ledger does', () => {
    const run = fleetRun(0.02)
    const { aggregation } = aggregate(run.messages, run.registry)
    const counters = aggregation.takeCounters()
    expect(counters.quarantined).toEqual(run.scenario.ledger.snapshot().quarantinedByReason)
    expect(counters.quarantined.REGISTER_BACKWARDS).toBeGreaterThan(0)
  })

  it('commits offsets only below readings still waiting for a gap', () => {
    const aggregation = new Aggregation(settings, registry)
    const first = messages.find((m) => m.deviceId.startsWith('pv')) as TelemetryMessage
    const later = messages.filter((m) => m.deviceId === first.deviceId).slice(2, 3)[0] as TelemetryMessage
    aggregation.applyMessage(0, '10', first, undefined, 0)
    aggregation.applyMessage(0, '11', later, undefined, 0)
    expect(aggregation.committableOffset(0)).toBe('11')
    aggregation.releaseStalePending(0, 0)
    expect(aggregation.committableOffset(0)).toBe('11')
  })
})
