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
  readonly now: () => number
}

/**
 * One in-flight or recent read shared by every caller for `ttlMs`: a dashboard refreshing on
 * many screens costs InfluxDB one query per moment, not one per screen.
 */
export function shared<T>(read: () => Promise<T>, ttlMs: number, now: () => number): () => Promise<T> {
  let cached: { at: number; value: Promise<T> } | undefined
  return () => {
    if (cached === undefined || now() - cached.at > ttlMs) {
      const value = read()
      cached = { at: now(), value }
      // A failed read is not kept: the next caller tries again.
      value.catch(() => {
        if (cached?.value === value) cached = undefined
      })
    }
    return cached.value
  }
}
