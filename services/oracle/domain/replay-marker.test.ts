/**
 * Watermark markers in the replay: a marker raises a partition's watermark at its place in the
 * log, so that what follows it for passed epochs is booked late, exactly as the aggregator that
 * appended the marker booked it (core/telemetry/watermark-marker.ts).
 */
import { expect, it } from 'vitest'
import { DEFAULT_CLOCK_SETTINGS } from '../../../core/aggregation/device-acceptance.ts'
import { DEFAULT_ANOMALY_RULES } from '../../../core/energy/meter-account.ts'
import { DEFAULT_SEQUENCE_RULES } from '../../../core/energy/sequence.ts'
import type { DeviceRecord } from '../../../core/identity/registry.ts'
import { DEMO_TARIFF_BOOK, parseTariffBook } from '../../../core/revenue/tariffs.ts'
import { decodeAcceptedRecord } from '../../../core/telemetry/decode.ts'
import { createFleet } from '../../../simulators/fleet/fleet.ts'
import { Scenario } from '../../../simulators/scenario.ts'
import { TelemetryReplay } from './replay.ts'

// Daytime, so that both PV plants earn in every hour fed.
const START = Date.parse('2026-06-01T08:00:00+08:00')
const HOUR = 3_600_000
const grid = { genesisMs: START, epochLengthMs: HOUR, intervalMs: 300_000 }
const tariffs = parseTariffBook(DEMO_TARIFF_BOOK, grid)

/** The replay under the aggregator's default rules, with a 10-minute grace. */
function newReplay(registry: ReadonlyMap<string, DeviceRecord>): TelemetryReplay {
  return new TelemetryReplay(
    {
      grid,
      rules: DEFAULT_ANOMALY_RULES,
      graceMs: 600_000,
      reorderWindowMs: HOUR,
      sequence: DEFAULT_SEQUENCE_RULES,
      clock: DEFAULT_CLOCK_SETTINGS,
    },
    tariffs,
    registry,
  )
}

function replayOf(withMarker: boolean) {
  const fleet = createFleet({
    seed: 'replay-marker',
    chargers: 0,
    pv: 2,
    swap: 0,
    startMs: START,
    sampleMs: 300_000,
  })
  const [first, second] = fleet.devices.map((d) => d.record.deviceId)
  const scenario = new Scenario(fleet, { grid, tariffs, faults: {} })
  const registry = new Map(fleet.devices.map((d) => [d.record.deviceId, d.record]))
  const replay = newReplay(registry)
  const offsets = new Map<number, number>()
  const nextOffset = (partition: number) => {
    const n = offsets.get(partition) ?? 0
    offsets.set(partition, n + 1)
    return String(n)
  }
  const held: { payload: Buffer; receivedAtMs: number }[] = []
  const feed = (partition: number, payload: Buffer, receivedAtMs: number) => {
    const offset = nextOffset(partition)
    replay.apply(
      { deviceId: 'x', partition, offset, receivedAtMs, valueBase64: payload.toString('base64') },
      decodeAcceptedRecord(payload),
    )
  }
  // The first plant reports on partition 0 for 4 hours; the second plant's readings (its own
  // partition 1) are held back, as if its link were down.
  for (let t = START + 300_000; t <= START + 4 * HOUR; t += 300_000)
    for (const p of scenario.tick(t)) {
      if (p.deviceId === first) feed(0, p.payload, t)
      else if (p.deviceId === second) held.push({ payload: p.payload, receivedAtMs: t })
    }
  if (withMarker) replay.applyWatermarkMarker(1, nextOffset(1), replay.watermarkOf(0) ?? 0, START + 4 * HOUR)
  for (const h of held) feed(1, h.payload, START + 4 * HOUR)
  return { replay, second: second ?? '' }
}

it('a marker gives an empty partition a watermark, and what arrives behind it is booked late', () => {
  const marked = replayOf(true)
  const unmarked = replayOf(false)
  expect(unmarked.replay.watermarkOf(1)).toBeDefined()
  // Epochs 0-2 are passed by the marker's watermark (4 h minus the grace).
  const onTime = (r: TelemetryReplay, id: string) => {
    let wh = 0
    for (let e = 0; e <= 2; e++) wh += r.epochResults(e).find((d) => d.deviceId === id)?.energyWh ?? 0
    return wh
  }
  // Without the marker the held readings are on time in epochs 0-2; after it they are late.
  expect(onTime(unmarked.replay, unmarked.second)).toBeGreaterThan(0)
  expect(onTime(marked.replay, marked.second)).toBe(0)
  // Late, not lost: the device's energy over all epochs is the same either way.
  const total = (r: TelemetryReplay, id: string) => {
    let wh = 0
    for (let e = 0; e < 8; e++) wh += r.epochResults(e).find((d) => d.deviceId === id)?.energyWh ?? 0
    return wh
  }
  expect(total(marked.replay, marked.second)).toBe(total(unmarked.replay, unmarked.second))
  expect(total(marked.replay, marked.second)).toBeGreaterThan(0)
})

it('a forged far-future marker moves the watermark no further than an honest clock could', () => {
  const fleet = createFleet({
    seed: 'replay-marker',
    chargers: 0,
    pv: 1,
    swap: 0,
    startMs: START,
    sampleMs: 300_000,
  })
  const registry = new Map(fleet.devices.map((d) => [d.record.deviceId, d.record]))
  const replay = newReplay(registry)
  const receivedAtMs = START + HOUR
  const year2300 = Date.parse('2300-01-01T00:00:00Z')
  replay.applyWatermarkMarker(0, '0', year2300, receivedAtMs)
  expect(replay.watermarkOf(0)).toBe(receivedAtMs + DEFAULT_ANOMALY_RULES.maxClockAheadMs)
  // No receive time: nothing to bound it by, so it moves nothing.
  replay.applyWatermarkMarker(1, '0', year2300, undefined)
  expect(replay.watermarkOf(1)).toBeUndefined()
})
