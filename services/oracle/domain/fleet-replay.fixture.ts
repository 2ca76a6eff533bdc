/** A small simulated fleet replayed through TelemetryReplay, for the domain's unit tests. */

import { DEFAULT_CLOCK_SETTINGS } from '../../../core/aggregation/device-acceptance.ts'
import { DEFAULT_ANOMALY_RULES } from '../../../core/energy/meter-account.ts'
import { DEFAULT_SEQUENCE_RULES } from '../../../core/energy/sequence.ts'
import { DEMO_TARIFF_BOOK, parseTariffBook } from '../../../core/revenue/tariffs.ts'
import { decodeAcceptedRecord } from '../../../core/telemetry/decode.ts'
import type { TelemetryMessage } from '../../../core/telemetry/types.ts'
import { createFleet } from '../../../simulators/fleet/fleet.ts'
import { Scenario } from '../../../simulators/scenario.ts'
import type { ArchivedRecord } from '../ports.ts'
import { type ReplaySettings, TelemetryReplay } from './replay.ts'

export const START = Date.parse('2026-06-01T00:00:00+08:00')
export const grid = { genesisMs: START, epochLengthMs: 3_600_000, intervalMs: 300_000 }
const tariffs = parseTariffBook(DEMO_TARIFF_BOOK, grid)

/** `size` and `hours` default to the unit tests' 9 devices over 4 hours (the API benchmark: 16,000). */
export function runFleet(
  faults: Record<string, number>,
  size: { readonly chargers: number; readonly pv: number; readonly swap: number } = {
    chargers: 3,
    pv: 3,
    swap: 3,
  },
  hours = 4,
  /** Overrides of the replay's settings (the default grace and reorder window make nothing late). */
  settings: Partial<ReplaySettings> = {},
  /** When the fleet starts reporting (the grid's genesis stays START): PV earns nothing at night. */
  fromMs = START,
  /**
   * The receive time of what the fleet sends at device time `t` (default: `t`, real time). An
   * accelerated run's receive times are wall time: `fromMs + (t - fromMs) / speed`.
   */
  receivedAtOf: (deviceMs: number) => number = (t) => t,
) {
  const fleet = createFleet({ seed: 'oracle-replay', ...size, startMs: fromMs, sampleMs: 300_000 })
  const scenario = new Scenario(fleet, { grid, tariffs, faults })
  const registry = new Map(fleet.devices.map((d) => [d.record.deviceId, d.record]))
  const replay = new TelemetryReplay(
    {
      grid,
      rules: DEFAULT_ANOMALY_RULES,
      graceMs: 10 * 86_400_000,
      reorderWindowMs: 86_400_000,
      sequence: DEFAULT_SEQUENCE_RULES,
      clock: DEFAULT_CLOCK_SETTINGS,
      ...settings,
    },
    tariffs,
    registry,
  )
  let offset = 0
  // Records carry their receive time: the aggregator's device clock bound compares with it.
  const feed = (payloads: { deviceId: string; payload: Buffer; kind: string }[], receivedAtMs: number) => {
    for (const p of payloads) {
      if (!registry.has(p.deviceId)) continue
      let message: TelemetryMessage | undefined
      try {
        message = decodeAcceptedRecord(p.payload)
      } catch {
        message = undefined
      }
      // Ingest would have rejected these before Kafka.
      if (['malformed', 'badSignature', 'unknownDevice', 'oversize'].includes(p.kind)) continue
      const record: ArchivedRecord = {
        deviceId: p.deviceId,
        partition: 0,
        offset: String(offset++),
        receivedAtMs,
        valueBase64: p.payload.toString('base64'),
      }
      replay.apply(record, message)
    }
  }
  for (let t = fromMs + 300_000; t <= fromMs + hours * 3_600_000; t += 300_000)
    feed(scenario.tick(t), receivedAtOf(t))
  feed(scenario.flush(), receivedAtOf(fromMs + hours * 3_600_000))
  return { replay, truth: scenario.ledger.snapshot().epochs, registry }
}
