/**
 * When epochs close, and what a closed epoch's totals look like as points. Pure.
 *
 * The global watermark is the lowest watermark of the partitions that still have records to
 * process (committed offset below the partition's end). A partition whose records are all
 * processed and committed cannot hold an epoch open: nothing of it is waiting; what its devices
 * send later is late and becomes an adjustment. When every partition is caught up, the highest
 * watermark counts. Lag comes from Kafka itself (committed offsets against high watermarks), so
 * the rule holds across restarts and across several aggregator instances.
 */
import { epochStartMs, type TimeGrid } from '../../../core/epochs/grid.ts'
import type { DeviceEpochTotals, PartitionWatermark } from '../adapters/influx-store.ts'
import { int, MEASUREMENT, msToNs, type PointData } from './points.ts'

export function globalWatermark(
  marks: readonly PartitionWatermark[],
  caughtUpPartitions: ReadonlySet<number>,
): number | undefined {
  if (marks.length === 0) return undefined
  const active = marks.filter((m) => !caughtUpPartitions.has(m.partition))
  const pool = active.length > 0 ? active : marks
  const values = pool.map((m) => m.watermarkMs)
  return active.length > 0 ? Math.min(...values) : Math.max(...values)
}

export function epochClosePoints(
  grid: TimeGrid,
  epoch: number,
  totals: readonly DeviceEpochTotals[],
  closedAtMs: number,
  watermarkMs: number,
): PointData[] {
  const timeNs = msToNs(epochStartMs(grid, epoch))
  const points: PointData[] = []
  const pools = new Map<
    string,
    {
      energyWh: number
      revenueUnits: bigint
      swaps: number
      readings: number
      quarantined: number
      devices: number
    }
  >()
  for (const t of totals) {
    points.push({
      measurement: MEASUREMENT.epochDevice,
      tags: { device: t.deviceId, pool: t.poolId, class: t.assetClass },
      fields: {
        epoch: int(epoch),
        energyWh: int(t.energyWh),
        revenueUnits: int(t.revenueUnits),
        swaps: int(t.swaps),
        readings: int(t.readings),
        quarantined: int(t.quarantined),
      },
      timeNs,
    })
    const p = pools.get(t.poolId) ?? {
      energyWh: 0,
      revenueUnits: 0n,
      swaps: 0,
      readings: 0,
      quarantined: 0,
      devices: 0,
    }
    p.energyWh += t.energyWh
    p.revenueUnits += t.revenueUnits
    p.swaps += t.swaps
    p.readings += t.readings
    p.quarantined += t.quarantined
    p.devices += 1
    pools.set(t.poolId, p)
  }
  for (const [pool, p] of pools) {
    points.push({
      measurement: MEASUREMENT.epochPool,
      tags: { pool },
      fields: {
        epoch: int(epoch),
        energyWh: int(p.energyWh),
        revenueUnits: int(p.revenueUnits),
        swaps: int(p.swaps),
        readings: int(p.readings),
        quarantined: int(p.quarantined),
        devices: int(p.devices),
      },
      timeNs,
    })
  }
  // The marker last: once it is there, the totals above are.
  points.push({
    measurement: MEASUREMENT.epochClosed,
    tags: {},
    fields: {
      epoch: int(epoch),
      closedAtMs: int(closedAtMs),
      watermarkMs: int(watermarkMs),
      devices: int(totals.length),
    },
    timeNs,
  })
  return points
}
