import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import type { DeviceEpochTotals } from '../ports.ts'
import {
  closableThroughEpoch,
  digestLines,
  encodeAnnouncement,
  epochAnnouncement,
  globalWatermark,
} from './epoch-close.ts'

const grid = { genesisMs: 1_000_000, epochLengthMs: 3_600_000, intervalMs: 300_000 }
const mark = (partition: number, watermarkMs: number) => ({ partition, watermarkMs, updatedAtMs: 0 })
const totals = (
  deviceId: string,
  poolId: string,
  energyWh: number,
  revenueUnits: bigint,
): DeviceEpochTotals => ({
  deviceId,
  poolId,
  assetClass: 'charger',
  energyWh,
  revenueUnits,
  swaps: 1,
  readings: 2,
  quarantined: 0,
})

describe('globalWatermark', () => {
  it('is the lowest partition watermark', () => {
    expect(globalWatermark(3, [mark(0, 50), mark(1, 20), mark(2, 90)])).toBe(20)
  })
  it('holds every close while one partition has no watermark yet', () => {
    expect(globalWatermark(3, [mark(0, 50), mark(2, 90)])).toBeUndefined()
    expect(globalWatermark(0, [])).toBeUndefined()
  })
})

describe('closableThroughEpoch', () => {
  it('closes epoch e once end(e) + grace <= watermark', () => {
    const end1 = grid.genesisMs + 2 * grid.epochLengthMs
    expect(closableThroughEpoch(grid, 600_000, end1 + 600_000)).toBe(1)
    expect(closableThroughEpoch(grid, 600_000, end1 + 599_999)).toBe(0)
  })
})

describe('epoch announcement', () => {
  // A device that moved pools within the epoch has one row per pool.
  const rows = [
    totals('chg-2', 'pool-b', 7, 9_007_199_254_740_993n),
    totals('chg-1', 'pool-b', 5, 10n),
    totals('chg-2', 'pool-a', 3, 4n),
  ]
  it('digests one line per pool and device, sorted by pool then device', () => {
    expect(digestLines(rows)).toBe(
      'pool-a,chg-2,3,4,1,2,0\npool-b,chg-1,5,10,1,2,0\npool-b,chg-2,7,9007199254740993,1,2,0\n',
    )
    const a = epochAnnouncement(grid, 4, rows)
    expect(a.digest).toBe(createHash('sha256').update(digestLines(rows)).digest('hex'))
    expect(epochAnnouncement(grid, 4, [...rows].reverse()).digest).toBe(a.digest)
  })
  it('encodes version, range, per-pool totals with money as decimal strings', () => {
    const json = JSON.parse(encodeAnnouncement(epochAnnouncement(grid, 4, rows)))
    expect(json).toEqual({
      version: 1,
      epoch: 4,
      startMs: grid.genesisMs + 4 * grid.epochLengthMs,
      endMs: grid.genesisMs + 5 * grid.epochLengthMs,
      devices: 2,
      pools: [
        {
          poolId: 'pool-a',
          devices: 1,
          energyWh: 3,
          revenueUnits: '4',
          swaps: 1,
          readings: 2,
          quarantined: 0,
        },
        {
          poolId: 'pool-b',
          devices: 2,
          energyWh: 12,
          revenueUnits: '9007199254741003',
          swaps: 2,
          readings: 4,
          quarantined: 0,
        },
      ],
      digest: { algorithm: 'sha256', value: createHash('sha256').update(digestLines(rows)).digest('hex') },
    })
  })
  it('announces an epoch without data with the digest of nothing', () => {
    const a = epochAnnouncement(grid, 0, [])
    expect(a.pools).toEqual([])
    expect(a.digest).toBe(createHash('sha256').update('').digest('hex'))
  })
})
