/**
 * The publish load of a benchmark, made and signed before any timing starts: signing is the
 * devices' work, not what is measured. Built from the same fleet and scenario code as the
 * simulator, so payloads have the real sizes and mix of reading types.
 */
import type { TelemetryVersion } from '../../core/telemetry/types.ts'
import { createFleet, type Fleet } from '../../simulators/fleet/fleet.ts'
import { type Publish, Scenario } from '../../simulators/scenario.ts'

export interface BenchLoad {
  readonly publishes: readonly Publish[]
  readonly readings: number
  readonly payloadBytes: number
  /** Readings per signed message: every message carries exactly this many. */
  readonly readingsPerMessage: number
  readonly meanPayloadBytes: number
}

export interface FleetSize {
  readonly chargers: number
  readonly pv: number
  readonly swap: number
}

const START_MS = Date.parse('2026-06-01T12:00:00+08:00')
const SAMPLE_MS = 60_000

export function createBenchFleet(seed: string, size: FleetSize): Fleet {
  return createFleet({ seed, ...size, startMs: START_MS, sampleMs: SAMPLE_MS })
}

/**
 * `messages` signed messages of exactly `batchSize` readings each. Each tick covers `batchSize`
 * samples, so most messages are full; the scenario's shorter ones (a session that started
 * mid-tick) are left out, so that "readings per signature" is one number. Scenarios advance
 * device time, so two loads made from one fleet do not overlap.
 */
export function createBenchLoad(
  fleet: Fleet,
  options: { batchSize: number; messages: number; telemetryVersion?: TelemetryVersion },
): BenchLoad {
  const { batchSize, messages } = options
  const tickMs = SAMPLE_MS * batchSize
  const grid = { genesisMs: START_MS, epochLengthMs: 86_400_000, intervalMs: SAMPLE_MS }
  const scenario = new Scenario(fleet, { grid, batchSize, telemetryVersion: options.telemetryVersion ?? 2 })
  const publishes: Publish[] = []
  let toMs = START_MS
  while (publishes.length < messages) {
    toMs += tickMs
    for (const p of scenario.tick(toMs)) if (p.readings === batchSize) publishes.push(p)
  }
  publishes.length = messages
  let readings = 0
  let payloadBytes = 0
  for (const p of publishes) {
    readings += p.readings
    payloadBytes += p.payload.byteLength
  }
  return {
    publishes,
    readings,
    payloadBytes,
    readingsPerMessage: batchSize,
    meanPayloadBytes: payloadBytes / messages,
  }
}
