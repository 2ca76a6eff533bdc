/**
 * Recomputing a device leaf from the readings archive: the device's archived steps (its signed
 * records, and the releases of readings that waited for a gap) run through the aggregator's own
 * rules (TelemetryReplay over core/aggregation, with a registry of this one device), each step
 * starting at the partition watermark and device-time clock the archive records for it. That
 * reproduces what the aggregator booked for the device: a reading's energy is its register delta
 * from the device's preceding reading (archived as context, paid nothing here), whether it is
 * late depends on its partition's watermark, and, accelerated (GRIDROOT_AGG_DEVICE_TIME_SPEED >
 * 1), where a reading of a clock that leapt is booked depends on the partition's clock (its
 * anchor, the fleet's, its newest accounting time); other devices move both (hence recorded). Pure.
 *
 * `selectSteps` is the signers' side: which of the device's steps the archive of an epoch must
 * carry. Every step from the first that booked into the epoch to the last, plus context before
 * it: one step, doubled until the recomputation gives what the leaf says (or the whole history).
 * Deterministic, so every signer selects the same steps and publishes the same bytes.
 */

import type { DeviceRecord } from '../../../core/identity/registry.ts'
import type { TariffBook } from '../../../core/revenue/tariffs.ts'
import { decodeAcceptedRecord } from '../../../core/telemetry/decode.ts'
import type { TelemetryMessage } from '../../../core/telemetry/types.ts'
import { type DeviceStep, type PaidReading, type ReplaySettings, TelemetryReplay } from './replay.ts'

/** The aggregation rules and tariffs a leaf is recomputed under (the services' GRIDROOT_AGG_* and tariff book). */
export interface LeafRules {
  readonly settings: ReplaySettings
  readonly tariffs: TariffBook
}

/** An archived step: what `verify` replays (DeviceStep without the replay's bookkeeping). */
export type ArchivedStep = Pick<DeviceStep, 'record' | 'partition' | 'offset' | 'watermarkMs' | 'clock'>

export interface RecomputedLeaf {
  readonly energyWh: number
  readonly revenueUnits: bigint
  readonly readings: number
  /** In (boot, seq) order. */
  readonly paid: readonly PaidReading[]
}

const decode = (record: NonNullable<ArchivedStep['record']>): TelemetryMessage | undefined => {
  try {
    return decodeAcceptedRecord(Buffer.from(record.valueBase64, 'base64'))
  } catch {
    return undefined
  }
}

/** The device's totals and paid readings in `epoch` from its archived steps, in partition order. */
export function recomputeLeaf(
  rules: LeafRules,
  device: DeviceRecord,
  epoch: number,
  steps: readonly ArchivedStep[],
): RecomputedLeaf {
  const replay = new TelemetryReplay(rules.settings, rules.tariffs, {
    get: (id) => (id === device.deviceId ? device : undefined),
  })
  for (const step of steps) {
    if (step.watermarkMs !== undefined) replay.raiseWatermark(step.partition, step.watermarkMs)
    // Set, not raised: it is the full replay's clock, which this one device never anchored.
    if (step.clock !== undefined) replay.setClock(step.partition, step.clock)
    if (step.record) replay.apply(step.record, decode(step.record))
    else replay.release(step.partition, step.offset)
  }
  const result = replay.epochResults(epoch).find((r) => r.deviceId === device.deviceId)
  return {
    energyWh: result?.energyWh ?? 0,
    revenueUnits: result?.revenueUnits ?? 0n,
    readings: result?.readings ?? 0,
    paid: [...replay.paidReadings(epoch, device.deviceId)].sort((a, b) => a.boot - b.boot || a.seq - b.seq),
  }
}

/** The same totals and the same paid readings (the same records and positions). */
export function sameLeaf(a: RecomputedLeaf, b: RecomputedLeaf): boolean {
  const key = (p: PaidReading) => `${p.record.partition}/${p.record.offset}/${p.indexInMessage}`
  return (
    a.energyWh === b.energyWh &&
    a.revenueUnits === b.revenueUnits &&
    a.readings === b.readings &&
    a.paid.length === b.paid.length &&
    a.paid.every((p, i) => key(p) === key(b.paid[i] as PaidReading))
  )
}

/**
 * The steps of `history` the epoch's archive carries for the device, so that `recomputeLeaf`
 * gives `target` (what the leaf pays). When even the whole history does not (a decision the
 * replay cannot see from one device, docs/architecture.md "verify"), the whole history is
 * returned and verify reports the difference.
 */
export function selectSteps(
  rules: LeafRules,
  device: DeviceRecord,
  epoch: number,
  history: readonly DeviceStep[],
  target: RecomputedLeaf,
): readonly DeviceStep[] {
  let first = -1
  let last = -1
  history.forEach((step, i) => {
    if (!step.epochs.includes(epoch)) return
    if (first < 0) first = i
    last = i
  })
  if (first < 0) return []
  for (let back = first === 0 ? 0 : 1; ; back *= 2) {
    const from = Math.max(0, first - back)
    const steps = history.slice(from, last + 1)
    if (from === 0 || sameLeaf(recomputeLeaf(rules, device, epoch, steps), target)) return steps
  }
}
