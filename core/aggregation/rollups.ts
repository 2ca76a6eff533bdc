/**
 * Revenue rollups: per partition, pool, asset class and interval (and per booked epoch for
 * adjustments), the sum of the device points, so that a fleet-wide chart reads a handful of
 * series instead of one per device.
 *
 * Why a running sum is exact here: a partition's devices are booked only by its owner, and the
 * rollup points are written in the same request as the device states and the watermark they
 * account for (one request lands whole or not at all). A restart or a rebalance therefore
 * reloads rollups and states from the same moment, and replaying the uncommitted records from
 * there adds the same deltas again: the points written are the same values. Device points change
 * only by the difference between what a batch left them at and what they held before it, and
 * that difference is what is added here, so a rollup always equals the sum of its device points.
 *
 * Which rollups can still change: only those of epochs a partition can still book into on time
 * (from `epochOf(watermark − grace)` on, the epoch late data is booked into). Older ones are
 * final; they are dropped from memory and not reloaded.
 */
import { epochOf, epochStartMs, type TimeGrid } from '../epochs/grid.ts'
import type { IntervalTotals } from './device-state.ts'

/** `interval`: summed interval points at the interval's start; `adjustment`: adjustments at the booked epoch's start. */
export type RollupSource = 'interval' | 'adjustment'

export interface RollupTotals extends IntervalTotals {
  readonly revenueUnits: bigint
}

export interface RollupPoint extends RollupTotals {
  readonly partition: number
  readonly source: RollupSource
  readonly poolId: string
  readonly assetClass: string
  readonly timeMs: number
}

const keyOf = (p: Omit<RollupPoint, keyof RollupTotals>) =>
  `${p.partition}\u0000${p.source}\u0000${p.poolId}\u0000${p.assetClass}\u0000${p.timeMs}`

/**
 * The earliest rollup time that can still change, per partition, from the watermarks and the
 * partitions of the device states: `undefined` for a partition with device states but no
 * watermark yet (nothing there is late, so every rollup of it can still grow; such a partition
 * has only seen anomalies, so it holds few points).
 */
export function rollupRestoreFrom(
  grid: TimeGrid,
  graceMs: number,
  statePartitions: Iterable<number>,
  watermarks: ReadonlyMap<number, number>,
): Map<number, number | undefined> {
  const from = new Map<number, number | undefined>()
  for (const p of statePartitions) from.set(p, undefined)
  for (const [p, watermarkMs] of watermarks)
    from.set(p, epochStartMs(grid, epochOf(grid, watermarkMs - graceMs)))
  return from
}

export class Rollups {
  private readonly points = new Map<string, RollupPoint>()
  private dirty = new Set<string>()

  /** Rollups as persisted with the device states being restored. */
  restore(points: readonly RollupPoint[]): void {
    for (const p of points) this.points.set(keyOf(p), p)
  }

  add(at: Omit<RollupPoint, keyof RollupTotals>, delta: RollupTotals): void {
    const key = keyOf(at)
    const before = this.points.get(key)
    this.points.set(key, {
      ...at,
      energyWh: (before?.energyWh ?? 0) + delta.energyWh,
      revenueUnits: (before?.revenueUnits ?? 0n) + delta.revenueUnits,
      swaps: (before?.swaps ?? 0) + delta.swaps,
      readings: (before?.readings ?? 0) + delta.readings,
      quarantined: (before?.quarantined ?? 0) + delta.quarantined,
    })
    this.dirty.add(key)
  }

  /** The rollups changed since the last call, with their whole values (a point is overwritten, never added to). */
  take(): RollupPoint[] {
    const out = [...this.dirty].map((k) => this.points.get(k) as RollupPoint)
    this.dirty = new Set()
    return out
  }

  /** Forgets a partition's rollups before `fromMs`: its owner can no longer change them. */
  prune(partition: number, fromMs: number): void {
    for (const [key, p] of this.points)
      if (p.partition === partition && p.timeMs < fromMs && !this.dirty.has(key)) this.points.delete(key)
  }

  forget(partitions: readonly number[]): void {
    for (const [key, p] of this.points)
      if (partitions.includes(p.partition)) {
        this.points.delete(key)
        this.dirty.delete(key)
      }
  }

  get size(): number {
    return this.points.size
  }
}
