/**
 * When epochs close, what a closed epoch's totals look like as points, and the announcement on
 * epochs.v1 (docs/architecture.md, "epochs.v1"). Pure.
 *
 * Epoch e closes only when EVERY partition of telemetry.v1 has a durable watermark of at least
 * end(e) + grace. A partition's owner decides lateness from that same watermark (a contribution
 * to e is late once the partition's watermark reached end(e) + grace), and watermarks only move
 * forward, so when e closes no owner, now or later, can still book an on-time contribution into
 * it: finality follows from the rule itself, not from instances learning of the close. A
 * partition without a watermark yet (no reading read from it) holds every close.
 */
import { createHash } from 'node:crypto'
import { epochEndMs, epochOf, epochStartMs, type TimeGrid } from '../../../core/epochs/grid.ts'
import type { DeviceEpochTotals, PartitionWatermark } from '../ports.ts'
import { int, MEASUREMENT, msToNs, type PointData } from './points.ts'

/** The lowest watermark over all `partitionCount` partitions, or undefined while one has none. */
export function globalWatermark(
  partitionCount: number,
  marks: readonly PartitionWatermark[],
): number | undefined {
  let lowest = Number.POSITIVE_INFINITY
  for (let p = 0; p < partitionCount; p++) {
    const mark = marks.find((m) => m.partition === p)
    if (mark === undefined) return undefined
    lowest = Math.min(lowest, mark.watermarkMs)
  }
  return partitionCount > 0 ? lowest : undefined
}

/**
 * The last epoch that may close under a global watermark: epoch e closes once
 * end(e) + grace <= watermark, i.e. e < epochOf(watermark - grace).
 */
export function closableThroughEpoch(grid: TimeGrid, graceMs: number, globalWatermarkMs: number): number {
  return epochOf(grid, globalWatermarkMs - graceMs) - 1
}

export interface PoolTotals {
  readonly poolId: string
  readonly devices: number
  readonly energyWh: number
  readonly revenueUnits: bigint
  readonly swaps: number
  readonly readings: number
  readonly quarantined: number
}

/** The value of an epochs.v1 record (version 1), before JSON encoding. */
export interface EpochAnnouncement {
  readonly version: 1
  readonly epoch: number
  readonly startMs: number
  readonly endMs: number
  readonly devices: number
  readonly pools: readonly PoolTotals[]
  /** sha256 over `digestLines` of the per-device totals, hex. */
  readonly digest: string
}

/** Sorted by pool, then device: the order of the digest and of the epoch_device points. */
export function sortTotals(totals: readonly DeviceEpochTotals[]): DeviceEpochTotals[] {
  return [...totals].sort((a, b) =>
    a.poolId === b.poolId ? compare(a.deviceId, b.deviceId) : compare(a.poolId, b.poolId),
  )
}
const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

/**
 * What the digest covers, one line per (pool, device) in `sortTotals` order:
 * `poolId,deviceId,energyWh,revenueUnits,swaps,readings,quarantined\n`, integers in decimal.
 */
export function digestLines(totals: readonly DeviceEpochTotals[]): string {
  let text = ''
  for (const t of sortTotals(totals)) {
    text += `${t.poolId},${t.deviceId},${t.energyWh},${t.revenueUnits},${t.swaps},${t.readings},${t.quarantined}\n`
  }
  return text
}

export function totalsDigest(totals: readonly DeviceEpochTotals[]): string {
  return createHash('sha256').update(digestLines(totals)).digest('hex')
}

export function poolTotals(totals: readonly DeviceEpochTotals[]): PoolTotals[] {
  const pools = new Map<string, Omit<PoolTotals, 'poolId'> & { poolId: string }>()
  for (const t of totals) {
    const p = pools.get(t.poolId) ?? {
      poolId: t.poolId,
      devices: 0,
      energyWh: 0,
      revenueUnits: 0n,
      swaps: 0,
      readings: 0,
      quarantined: 0,
    }
    pools.set(t.poolId, {
      poolId: t.poolId,
      devices: p.devices + 1,
      energyWh: p.energyWh + t.energyWh,
      revenueUnits: p.revenueUnits + t.revenueUnits,
      swaps: p.swaps + t.swaps,
      readings: p.readings + t.readings,
      quarantined: p.quarantined + t.quarantined,
    })
  }
  return [...pools.values()].sort((a, b) => compare(a.poolId, b.poolId))
}

export function epochAnnouncement(
  grid: TimeGrid,
  epoch: number,
  totals: readonly DeviceEpochTotals[],
): EpochAnnouncement {
  return {
    version: 1,
    epoch,
    startMs: epochStartMs(grid, epoch),
    endMs: epochEndMs(grid, epoch),
    devices: new Set(totals.map((t) => t.deviceId)).size,
    pools: poolTotals(totals),
    digest: totalsDigest(totals),
  }
}

/** The JSON of an epochs.v1 record value: money as decimal strings, everything else integers. */
export function encodeAnnouncement(a: EpochAnnouncement): string {
  return JSON.stringify({
    version: a.version,
    epoch: a.epoch,
    startMs: a.startMs,
    endMs: a.endMs,
    devices: a.devices,
    pools: a.pools.map((p) => ({
      poolId: p.poolId,
      devices: p.devices,
      energyWh: p.energyWh,
      revenueUnits: p.revenueUnits.toString(),
      swaps: p.swaps,
      readings: p.readings,
      quarantined: p.quarantined,
    })),
    digest: { algorithm: 'sha256', value: a.digest },
  })
}

/** The closed epoch's totals per device and per pool (written before the announcement). */
export function epochTotalsPoints(
  grid: TimeGrid,
  epoch: number,
  totals: readonly DeviceEpochTotals[],
): PointData[] {
  const timeNs = msToNs(epochStartMs(grid, epoch))
  const points: PointData[] = sortTotals(totals).map((t) => ({
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
  }))
  for (const p of poolTotals(totals)) {
    points.push({
      measurement: MEASUREMENT.epochPool,
      tags: { pool: p.poolId },
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
  return points
}

/** The marker, written after the announcement: it repeats the digest for readers of InfluxDB. */
export function epochClosedMarker(
  grid: TimeGrid,
  announcement: EpochAnnouncement,
  closedAtMs: number,
  watermarkMs: number,
): PointData {
  return {
    measurement: MEASUREMENT.epochClosed,
    tags: {},
    fields: {
      epoch: int(announcement.epoch),
      closedAtMs: int(closedAtMs),
      watermarkMs: int(watermarkMs),
      devices: int(announcement.devices),
      digest: { str: announcement.digest },
    },
    timeNs: msToNs(epochStartMs(grid, announcement.epoch)),
  }
}
