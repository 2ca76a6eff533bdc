/** What every operator route is handed: the grid, the limits and the read ports. */
import type { TimeGrid } from '../../../../core/epochs/grid.ts'
import type { ApiLimits, OnlineRule } from '../../config.ts'
import type {
  DeviceDirectory,
  DeviceLastSeen,
  DlqReader,
  EpochChainReader,
  EpochStore,
  FleetStateStore,
  HolderReader,
  QuarantineStore,
  RevenueStore,
} from '../../ports.ts'

export interface OperatorContext {
  readonly grid: TimeGrid
  readonly limits: ApiLimits
  readonly online: OnlineRule
  readonly registry: DeviceDirectory
  readonly revenue: RevenueStore
  readonly fleet: FleetStateStore
  readonly quarantine: QuarantineStore
  readonly epochs: EpochStore
  readonly dlq: DlqReader
  readonly chain: EpochChainReader | undefined
  readonly holders: HolderReader | undefined
  /** Last-seen times of the whole fleet, shared by concurrent requests for a moment. */
  readonly fleetSnapshot: () => Promise<ReadonlyMap<string, DeviceLastSeen>>
  /**
   * The "now" online and the open epoch are measured against (domain/fleet-status.ts): the wall
   * clock, or the fleet's newest reading from the partition watermarks (a few series), falling
   * back to the snapshot before the aggregator wrote any. Undefined: no device seen yet.
   */
  readonly fleetClockMs: () => Promise<number | undefined>
  readonly now: () => number
}

/**
 * One in-flight or recent read shared by every caller for `ttlMs`: a dashboard refreshing on
 * many screens costs InfluxDB one query per moment, not one per screen.
 */
export function shared<T>(read: () => Promise<T>, ttlMs: number, now: () => number): () => Promise<T> {
  // `at` is when the value arrived (undefined while in flight): a read that took longer than the
  // TTL (the 16,000-device snapshot takes seconds) is still fresh for its next caller.
  let cached: { at: number | undefined; value: Promise<T> } | undefined
  return () => {
    if (cached === undefined || (cached.at !== undefined && now() - cached.at > ttlMs)) {
      const value = read()
      const entry: { at: number | undefined; value: Promise<T> } = { at: undefined, value }
      cached = entry
      value.then(
        () => {
          entry.at = now()
        },
        // A failed read is not kept: the next caller tries again.
        () => {
          if (cached === entry) cached = undefined
        },
      )
    }
    return cached.value
  }
}
