/**
 * One device's aggregation state: its meter state, the one interval still accumulating (the
 * interval of its latest accounting time: earlier intervals can receive nothing more from it),
 * and readings that arrived ahead of a gap in seq, waiting for it to fill.
 */
import type { MeterState } from '../energy/meter-account.ts'
import type { DeviceSequence } from '../energy/sequence.ts'
import type { DeviceRecord } from '../identity/registry.ts'
import type { Reading } from '../telemetry/types.ts'

export interface IntervalTotals {
  readonly energyWh: number
  readonly swaps: number
  readonly readings: number
  readonly quarantined: number
}

export const ZERO_TOTALS: IntervalTotals = { energyWh: 0, swaps: 0, readings: 0, quarantined: 0 }

export function addTotals(a: IntervalTotals, b: IntervalTotals): IntervalTotals {
  return {
    energyWh: a.energyWh + b.energyWh,
    swaps: a.swaps + b.swaps,
    readings: a.readings + b.readings,
    quarantined: a.quarantined + b.quarantined,
  }
}

export interface OpenInterval extends IntervalTotals {
  readonly startMs: number
}

export interface PendingReading {
  readonly reading: Reading
  /** The boot of the message that carried it: with `reading.seq`, its order key. */
  readonly boot: number
  /** `readingHash(reading)`: a second reading with its key is compared by it. */
  readonly hash: number
  readonly receivedAtMs: number | undefined
  /** Kafka offset of the record that carried it: offsets are committed only below it. */
  readonly offset: string
  readonly firstSeenWallMs: number
}

export interface DeviceState {
  /** Replaced when the registry changes (a pool move starts a new open interval). */
  device: DeviceRecord
  partition: number
  meter: MeterState | undefined
  open: OpenInterval | undefined
  /** The boot of the last accepted reading (with `meter.lastSeq`, the device's position). */
  boot: number
  /** Keyed by `pendingKey(boot, seq)`. */
  readonly pending: Map<string, PendingReading>
  /** Recent accepted readings and given-up gaps (not persisted: core/energy/sequence.ts). */
  readonly sequence: DeviceSequence
}

export const pendingKey = (boot: number, seq: number): string => `${boot}/${seq}`

/** The persisted part of a device's state (pending readings are re-read from Kafka instead). */
export interface PersistedDeviceState {
  readonly deviceId: string
  readonly partition: number
  /** The pool the open interval was booked under (undefined in states written before pools moved). */
  readonly poolId: string | undefined
  readonly meter: MeterState
  readonly open: OpenInterval
  /** Boot of the last accepted reading; 0 for states written before boots existed. */
  readonly boot: number
}
