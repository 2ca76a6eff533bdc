import { describe, expect, it } from 'vitest'
import { deviceStatus, fleetClock, summarizeFleet } from './fleet-status.ts'

const rule = { windowMs: 1_000, clock: 'fleet' as const }
const seen = [
  { deviceId: 'a', lastSeenMs: 10_000, lastSeq: 5 },
  { deviceId: 'b', lastSeenMs: 9_000, lastSeq: 7 },
  { deviceId: 'c', lastSeenMs: 8_999, lastSeq: 1 },
]

describe('fleet status', () => {
  it('measures online against the newest reading of the fleet', () => {
    const clock = fleetClock(seen, rule, 99_999_999)
    expect(clock.asOfMs).toBe(10_000)
    expect(seen.map((d) => deviceStatus(d, clock).online)).toEqual([true, true, false])
    expect(deviceStatus(undefined, clock)).toEqual({
      lastSeenMs: undefined,
      lastSeq: undefined,
      online: false,
    })
  })
  it('or against the wall clock', () => {
    const clock = fleetClock(seen, { ...rule, clock: 'wall' }, 10_500)
    expect(seen.map((d) => deviceStatus(d, clock).online)).toEqual([true, false, false])
  })
  it('counts per class and pool, with never-seen devices', () => {
    const devices = [
      { deviceId: 'a', assetClass: 'pv' as const, poolId: 'p' },
      { deviceId: 'c', assetClass: 'pv' as const, poolId: 'p' },
      { deviceId: 'z', assetClass: 'swap' as const, poolId: 'q' },
    ]
    const summary = summarizeFleet(
      devices,
      new Map(seen.map((d) => [d.deviceId, d])),
      fleetClock(seen, rule, 0),
    )
    expect(summary.total).toEqual({ devices: 3, online: 1, neverSeen: 1 })
    expect(summary.byClass.pv).toEqual({ devices: 2, online: 1, neverSeen: 0 })
    expect(summary.byPool.q).toEqual({ devices: 1, online: 0, neverSeen: 1 })
  })
})
