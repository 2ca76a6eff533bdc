/**
 * The ground-truth ledger: for every device and epoch, what the pipeline must arrive at, computed
 * from the readings the devices really sent (injected faults excluded) by the same core rules the
 * aggregator uses: meter accounting, anomaly checks, interval split and interval revenue. It is
 * the reference of every end-to-end test.
 */

import { getOrCreate } from '../core/collections.ts'
import {
  type AnomalyReason,
  type AnomalyRules,
  accountReading,
  DEFAULT_ANOMALY_RULES,
  type MeterState,
} from '../core/energy/meter-account.ts'
import { epochOf, type TimeGrid } from '../core/epochs/grid.ts'
import type { DeviceRecord } from '../core/identity/registry.ts'
import { intervalRevenueUnits, type TariffBook } from '../core/revenue/tariffs.ts'
import type { Reading } from '../core/telemetry/types.ts'

export interface EpochTruth {
  readonly deviceId: string
  readonly poolId: string
  readonly epoch: number
  readonly energyWh: number
  readonly swaps: number
  /** Present when the ledger was given a tariff book. */
  readonly revenueUnits: bigint | undefined
  /** Accepted readings in this epoch (by accounting time); quarantined ones are counted apart. */
  readonly readings: number
  readonly quarantined: number
}

export interface LedgerSnapshot {
  readonly devices: number
  readonly readings: number
  readonly quarantinedByReason: Readonly<Partial<Record<AnomalyReason, number>>>
  readonly epochs: readonly EpochTruth[]
}

interface IntervalTotals {
  energyWh: number
  swaps: number
}

export class GroundTruthLedger {
  private readonly states = new Map<string, MeterState>()
  /** Each device's boot: with seq, its order key (boot, seq). */
  private readonly boots = new Map<string, number>()
  private readonly intervals = new Map<string, Map<number, IntervalTotals>>()
  private readonly counts = new Map<string, { readings: number; quarantined: number }>()
  private readings = 0
  private readonly quarantined: Partial<Record<AnomalyReason, number>> = {}

  constructor(
    private readonly grid: TimeGrid,
    private readonly devices: ReadonlyMap<string, DeviceRecord>,
    private readonly rules: AnomalyRules = DEFAULT_ANOMALY_RULES,
    private readonly tariffs?: TariffBook,
  ) {}

  /**
   * Records a device's readings of one boot, sent at true time `sentAtMs`; they must come in
   * (boot, seq) order, as the device produced them. A new boot restarts seq at 1 and keeps the
   * meter: a reflash costs nothing. The readings go through the aggregator's own accounting
   * (`accountReading`), with the true send time where the aggregator has the receive time.
   */
  record(deviceId: string, boot: number, readings: readonly Reading[], sentAtMs?: number): void {
    const device = this.devices.get(deviceId)
    if (!device) throw new RangeError(`ledger: unknown device ${deviceId}`)
    const intervals = getOrCreate(this.intervals, deviceId, () => new Map<number, IntervalTotals>())
    const lastBoot = this.boots.get(deviceId) ?? 0
    if (boot < lastBoot) throw new RangeError(`ledger: ${deviceId} boot ${boot} after ${lastBoot}`)
    const restarted = boot > lastBoot
    this.boots.set(deviceId, boot)
    for (const [i, reading] of readings.entries()) {
      const previous = this.states.get(deviceId)
      if (previous && !(restarted && i === 0) && reading.seq <= previous.lastSeq) {
        throw new RangeError(
          `ledger: ${deviceId} seq ${reading.seq} after ${previous.lastSeq} in boot ${boot}`,
        )
      }
      const result = accountReading(this.grid, this.rules, device, previous, reading, sentAtMs)
      this.states.set(deviceId, result.state)
      this.readings += 1
      // Counted where the aggregator counts them: at the reading's accounting time.
      const countKey = `${deviceId}\u0000${epochOf(this.grid, result.state.lastTs)}`
      const count = getOrCreate(this.counts, countKey, () => ({ readings: 0, quarantined: 0 }))
      if (!result.anomaly) count.readings += 1
      if (result.anomaly) {
        count.quarantined += 1
        this.quarantined[result.anomaly.reason] = (this.quarantined[result.anomaly.reason] ?? 0) + 1
      }
      const at = (start: number) => getOrCreate(intervals, start, () => ({ energyWh: 0, swaps: 0 }))
      for (const piece of result.energy) at(piece.intervalStartMs).energyWh += piece.energyWh
      if (result.swaps > 0) at(result.swapIntervalStartMs).swaps += result.swaps
    }
  }

  /** Energy, swaps (and revenue) per interval of one device, for interval-level comparisons. */
  deviceIntervals(deviceId: string): ReadonlyMap<number, Readonly<IntervalTotals>> {
    return this.intervals.get(deviceId) ?? new Map()
  }

  snapshot(): LedgerSnapshot {
    const epochs = new Map<
      string,
      { deviceId: string; epoch: number; energyWh: number; swaps: number; revenue: bigint }
    >()
    const entry = (deviceId: string, epoch: number) =>
      getOrCreate(epochs, `${deviceId}\u0000${epoch}`, () => ({
        deviceId,
        epoch,
        energyWh: 0,
        swaps: 0,
        revenue: 0n,
      }))
    for (const [deviceId, intervals] of this.intervals) {
      const device = this.devices.get(deviceId) as DeviceRecord
      for (const [start, totals] of intervals) {
        const e = entry(deviceId, epochOf(this.grid, start))
        e.energyWh += totals.energyWh
        e.swaps += totals.swaps
        if (this.tariffs)
          e.revenue += intervalRevenueUnits(
            this.tariffs,
            device.tariffId,
            start,
            totals.energyWh,
            totals.swaps,
          )
      }
    }
    for (const key of this.counts.keys()) {
      const [deviceId = '', epoch = '0'] = key.split('\u0000')
      entry(deviceId, Number(epoch))
    }
    const list: EpochTruth[] = [...epochs.entries()].map(([key, e]) => ({
      deviceId: e.deviceId,
      poolId: this.devices.get(e.deviceId)?.poolId ?? '',
      epoch: e.epoch,
      energyWh: e.energyWh,
      swaps: e.swaps,
      revenueUnits: this.tariffs ? e.revenue : undefined,
      readings: this.counts.get(key)?.readings ?? 0,
      quarantined: this.counts.get(key)?.quarantined ?? 0,
    }))
    list.sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : a.epoch - b.epoch))
    return {
      devices: this.states.size,
      readings: this.readings,
      quarantinedByReason: { ...this.quarantined },
      epochs: list,
    }
  }
}
