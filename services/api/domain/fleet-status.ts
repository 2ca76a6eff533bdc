/**
 * Which devices are online. "Now" is either the wall clock or the fleet's own clock (the newest
 * reading of any device): simulations and replays run in device time far from the wall clock,
 * and against the fleet's clock a device is offline exactly when it fell behind the others.
 */
import type { AssetClass } from '../../../core/telemetry/types.ts'
import type { OnlineRule } from '../config.ts'
import type { DeviceLastSeen } from '../ports.ts'

export interface DeviceStatus {
  readonly lastSeenMs: number | undefined
  readonly lastSeq: number | undefined
  readonly online: boolean
}

export interface FleetClock {
  /** The "now" devices are measured against; undefined when no device was ever seen. */
  readonly asOfMs: number | undefined
  readonly rule: OnlineRule
}

export function fleetClock(
  lastSeen: readonly DeviceLastSeen[],
  rule: OnlineRule,
  wallNowMs: number,
): FleetClock {
  if (rule.clock === 'wall') return { asOfMs: wallNowMs, rule }
  let newest: number | undefined
  for (const d of lastSeen) if (newest === undefined || d.lastSeenMs > newest) newest = d.lastSeenMs
  return { asOfMs: newest, rule }
}

export function deviceStatus(seen: DeviceLastSeen | undefined, clock: FleetClock): DeviceStatus {
  if (seen === undefined || clock.asOfMs === undefined) {
    return { lastSeenMs: undefined, lastSeq: undefined, online: false }
  }
  return {
    lastSeenMs: seen.lastSeenMs,
    lastSeq: seen.lastSeq,
    online: clock.asOfMs - seen.lastSeenMs <= clock.rule.windowMs,
  }
}

export interface GroupCounts {
  devices: number
  online: number
  neverSeen: number
}

export interface FleetSummary {
  readonly asOfMs: number | undefined
  readonly total: GroupCounts
  readonly byClass: Record<AssetClass, GroupCounts>
  readonly byPool: Record<string, GroupCounts>
}

export function summarizeFleet(
  devices: Iterable<{ readonly deviceId: string; readonly assetClass: AssetClass; readonly poolId: string }>,
  lastSeen: ReadonlyMap<string, DeviceLastSeen>,
  clock: FleetClock,
): FleetSummary {
  const zero = (): GroupCounts => ({ devices: 0, online: 0, neverSeen: 0 })
  const total = zero()
  const byClass: Record<AssetClass, GroupCounts> = { charger: zero(), pv: zero(), swap: zero() }
  const byPool: Record<string, GroupCounts> = {}
  for (const d of devices) {
    const status = deviceStatus(lastSeen.get(d.deviceId), clock)
    byPool[d.poolId] ??= zero()
    for (const counts of [total, byClass[d.assetClass], byPool[d.poolId] as GroupCounts]) {
      counts.devices++
      if (status.online) counts.online++
      if (status.lastSeenMs === undefined) counts.neverSeen++
    }
  }
  return { asOfMs: clock.asOfMs, total, byClass, byPool }
}
