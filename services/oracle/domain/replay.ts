/**
 * The oracle's own replay of telemetry.v1: the aggregator's rules (dedup, seq order, meter
 * accounting, anomalies, intervals, tariffs, lateness by partition watermark) run again on the
 * original signed records, without InfluxDB. Pure: the adapter feeds records in partition order.
 *
 * It gives, per device and epoch, the totals the aggregator should have booked and the readings
 * the leaf pays for, each with the record that carried it (for the readings digest and the
 * archive). A signer whose source is `replay` signs only these totals, so a fault in the
 * aggregator's state (InfluxDB) cannot be signed through by it.
 *
 * Determinism: lateness depends only on each partition's own records in Kafka order (epochs.v1
 * closes an epoch only after every partition's watermark passed end + grace), so the replay
 * reproduces it. A reading ahead of a seq gap is released after every record, as in the
 * aggregator, once the partition's watermark or the device's own later readings passed it by
 * `reorderWindowMs`. One decision of the aggregator depends on its timing instead: the release
 * after `maxPendingWallMs` of wall time, which the replay never makes; when that made a
 * difference, the two disagree and the replay signer refuses (counted, with both roots) rather
 * than sign either.
 */

import {
  type AdjustmentWrite,
  Aggregation,
  type AggregationSettings,
  type IntervalWrite,
} from '../../../core/aggregation/aggregation.ts'
import type { PartitionClock } from '../../../core/aggregation/device-acceptance.ts'
import { getOrCreate } from '../../../core/collections.ts'
import { epochOf } from '../../../core/epochs/grid.ts'
import type { DeviceRecord } from '../../../core/identity/registry.ts'
import type { TelemetryMessage } from '../../../core/telemetry/types.ts'
import type { ArchivedRecord } from '../ports.ts'

/** A reading a leaf pays for, with the record that carried it. */
export interface PaidReading {
  readonly boot: number
  readonly seq: number
  readonly record: ArchivedRecord
  readonly indexInMessage: number
}

/** One device's result in one epoch, in the aggregator's terms. */
export interface DeviceEpochResult {
  readonly deviceId: string
  readonly poolId: string
  readonly assetClass: string
  readonly energyWh: number
  readonly revenueUnits: bigint
  readonly swaps: number
  readonly readings: number
  readonly quarantined: number
  /** In (boot, seq) order. */
  readonly paid: readonly PaidReading[]
}

export type ReplaySettings = Omit<AggregationSettings, 'maxPendingWallMs' | 'tariffs'>

/**
 * One step of a device's history in the replay: one of its records applied, or readings of it
 * that waited for a gap released after another record. With the partition watermark each step
 * began at, these are what the readings archive carries so that `verify` can run the device's
 * steps through these rules again (domain/leaf-recompute.ts).
 */
export interface DeviceStep {
  /** The device's record; undefined for a release. */
  readonly record: ArchivedRecord | undefined
  readonly partition: number
  /** The record's offset; for a release, the offset of the record after which it happened. */
  readonly offset: string
  /** The partition's watermark before the record was applied, or when the release ran. */
  readonly watermarkMs: number | undefined
  /**
   * The partition's device-time clock at the same moment (anchors and newest accounting time:
   * what bounds an accelerated device clock, set by other devices' readings). Undefined: not
   * recorded (a readings archive before v3).
   */
  readonly clock?: PartitionClock | undefined
  /** Epochs the step booked into (intervals, adjustments, readings counted). */
  readonly epochs: readonly number[]
}

const NEVER_MS = Number.MAX_SAFE_INTEGER

export class TelemetryReplay {
  private readonly aggregation: Aggregation
  private readonly grid: AggregationSettings['grid']
  /** epoch → device\0intervalStart → interval totals (the latest write wins, as in InfluxDB). */
  private readonly intervals = new Map<number, Map<string, IntervalWrite>>()
  /** booked epoch → device\0adjustsEpoch\0seq → adjustment */
  private readonly adjustments = new Map<number, Map<string, AdjustmentWrite>>()
  /** epoch → deviceId → paid readings in accounting order */
  private readonly paid = new Map<number, Map<string, PaidReading[]>>()
  /**
   * Where each reading object came from. The rules hand back the very object they accepted, so
   * a duplicate in another record can never be mistaken for the copy that was paid.
   */
  private readonly origins = new WeakMap<object, { record: ArchivedRecord; index: number; boot: number }>()
  private readonly nextOffsets = new Map<number, bigint>()
  /** deviceId → its steps in partition order (the readings archive's context). */
  private readonly histories = new Map<string, DeviceStep[]>()

  constructor(
    readonly settings: ReplaySettings,
    readonly tariffs: AggregationSettings['tariffs'],
    readonly registry: { get(deviceId: string): DeviceRecord | undefined },
  ) {
    this.aggregation = new Aggregation({ ...settings, tariffs, maxPendingWallMs: NEVER_MS }, registry)
    this.grid = settings.grid
  }

  /** A device's steps so far, in partition order. */
  historyOf(deviceId: string): readonly DeviceStep[] {
    return this.histories.get(deviceId) ?? []
  }

  /** verify: sets a partition's watermark to what an archived step began at (it only rises). */
  raiseWatermark(partition: number, toMs: number): void {
    this.aggregation.raiseWatermark(partition, toMs)
  }

  /** verify: sets a partition's device-time clock to what an archived step was applied at. */
  setClock(partition: number, clock: PartitionClock): void {
    this.aggregation.setClock(partition, clock)
  }

  /** verify: an archived release (readings that waited for a gap, released at the watermark). */
  release(partition: number, offset: string): void {
    this.aggregation.releaseStalePending(partition, 0)
    this.collect({ partition, offset, ...this.moment(partition) })
  }

  /** The partition's watermark and clock now: what a step records it began at. */
  private moment(partition: number): { watermarkMs: number | undefined; clock: PartitionClock } {
    return {
      watermarkMs: this.aggregation.watermarkOf(partition),
      clock: this.aggregation.clockOf(partition),
    }
  }

  /** Offset after the last record applied, per partition. */
  positions(): ReadonlyMap<number, bigint> {
    return this.nextOffsets
  }

  /** The partition's watermark (latest accounting time of its accepted readings), ms. */
  watermarkOf(partition: number): number | undefined {
    return this.aggregation.watermarkOf(partition)
  }

  /** Applies one telemetry.v1 record (records of a partition in offset order). */
  apply(record: ArchivedRecord, message: TelemetryMessage | undefined): void {
    const { partition, offset } = record
    this.nextOffsets.set(partition, BigInt(offset) + 1n)
    const before = this.moment(partition)
    if (!message) {
      this.aggregation.skipRecord(partition, offset)
    } else {
      const boot = message.boot
      message.readings.forEach((reading, index) => {
        this.origins.set(reading, { record, index, boot })
      })
      this.aggregation.applyMessage(partition, offset, message, record.receivedAtMs, 0)
    }
    const released = this.moment(partition)
    this.aggregation.releaseStalePending(partition, 0)
    this.collect(
      { partition, offset, ...released },
      message ? { deviceId: message.deviceId, record, ...before } : undefined,
    )
  }

  /**
   * Applies a watermark marker (core/telemetry/watermark-marker.ts) at its place in the
   * partition: the aggregator raised the partition's watermark at this very record, so what
   * follows for the passed epochs is late here too.
   */
  applyWatermarkMarker(
    partition: number,
    offset: string,
    watermarkMs: number | undefined,
    receivedAtMs: number | undefined,
  ): void {
    this.nextOffsets.set(partition, BigInt(offset) + 1n)
    // The same bounded rule as the aggregator's (an undecodable marker moves nothing).
    if (watermarkMs === undefined) this.aggregation.skipRecord(partition, offset)
    else this.aggregation.applyWatermarkMarker(partition, offset, watermarkMs, receivedAtMs)
    const released = this.moment(partition)
    this.aggregation.releaseStalePending(partition, 0)
    this.collect({ partition, offset, ...released })
  }

  /**
   * Takes the writes of one step: the applied record's device gets a record step, every other
   * device with writes a release step (its waiting readings were released after this record).
   */
  private collect(
    release: { partition: number; offset: string; watermarkMs: number | undefined; clock: PartitionClock },
    applied?: {
      deviceId: string
      record: ArchivedRecord
      watermarkMs: number | undefined
      clock: PartitionClock
    },
  ): void {
    const writes = this.aggregation.takeWrites()
    this.aggregation.takeCounters()
    const touched = new Map<string, Set<number>>()
    const touch = (deviceId: string, epoch: number) =>
      getOrCreate(touched, deviceId, () => new Set()).add(epoch)
    for (const w of writes.intervals) touch(w.device.deviceId, epochOf(this.grid, w.intervalStartMs))
    for (const a of writes.adjustments) touch(a.device.deviceId, a.bookedEpoch)
    for (const r of writes.readings) touch(r.device.deviceId, r.epoch)
    if (applied) {
      const epochs = [...(touched.get(applied.deviceId) ?? [])]
      touched.delete(applied.deviceId)
      getOrCreate(this.histories, applied.deviceId, () => []).push({
        record: applied.record,
        partition: release.partition,
        offset: release.offset,
        watermarkMs: applied.watermarkMs,
        clock: applied.clock,
        epochs,
      })
    }
    for (const [deviceId, epochs] of touched)
      getOrCreate(this.histories, deviceId, () => []).push({
        record: undefined,
        ...release,
        epochs: [...epochs],
      })
    for (const w of writes.intervals) {
      getOrCreate(this.intervals, epochOf(this.grid, w.intervalStartMs), () => new Map()).set(
        `${w.device.deviceId}\u0000${w.intervalStartMs}`,
        w,
      )
    }
    for (const a of writes.adjustments) {
      getOrCreate(this.adjustments, a.bookedEpoch, () => new Map()).set(
        `${a.device.deviceId}\u0000${a.adjustsEpoch}\u0000${a.seq}`,
        a,
      )
    }
    for (const r of writes.readings) {
      const seen = this.origins.get(r.reading)
      if (!seen) throw new Error(`replay: an accepted reading of ${r.device.deviceId} has no record`)
      const byDevice = getOrCreate(this.paid, r.epoch, () => new Map<string, PaidReading[]>())
      getOrCreate(byDevice, r.device.deviceId, () => []).push({
        boot: seen.boot,
        seq: r.reading.seq,
        record: seen.record,
        indexInMessage: seen.index,
      })
    }
  }

  /** Every device with anything booked in the epoch, sorted by pool then device. */
  epochResults(epoch: number): DeviceEpochResult[] {
    const byDevice = new Map<
      string,
      {
        device: DeviceRecord
        energyWh: number
        revenueUnits: bigint
        swaps: number
        readings: number
        quarantined: number
      }
    >()
    const add = (w: IntervalWrite | AdjustmentWrite) => {
      const t = getOrCreate(byDevice, w.device.deviceId, () => ({
        device: w.device,
        energyWh: 0,
        revenueUnits: 0n,
        swaps: 0,
        readings: 0,
        quarantined: 0,
      }))
      t.energyWh += w.energyWh
      t.revenueUnits += w.revenueUnits
      t.swaps += w.swaps
      t.readings += w.readings
      t.quarantined += w.quarantined
    }
    for (const w of this.intervals.get(epoch)?.values() ?? []) add(w)
    for (const a of this.adjustments.get(epoch)?.values() ?? []) add(a)
    const paid = this.paid.get(epoch)
    return [...byDevice.values()]
      .map((t) => ({
        deviceId: t.device.deviceId,
        poolId: t.device.poolId,
        assetClass: t.device.assetClass,
        energyWh: t.energyWh,
        revenueUnits: t.revenueUnits,
        swaps: t.swaps,
        readings: t.readings,
        quarantined: t.quarantined,
        paid: [...(paid?.get(t.device.deviceId) ?? [])].sort((a, b) => a.boot - b.boot || a.seq - b.seq),
      }))
      .sort((a, b) => (a.poolId === b.poolId ? compare(a.deviceId, b.deviceId) : compare(a.poolId, b.poolId)))
  }

  /** Paid readings of one device in an epoch (also for devices the totals do not list). */
  paidReadings(epoch: number, deviceId: string): readonly PaidReading[] {
    return this.paid.get(epoch)?.get(deviceId) ?? []
  }
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)
