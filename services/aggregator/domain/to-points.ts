/** Turns the aggregation's writes into points (docs/architecture.md, "InfluxDB measurements"). */
import { epochStartMs, type TimeGrid } from '../../../core/epochs/grid.ts'
import type { DeviceRecord } from '../../../core/identity/registry.ts'
import type { Reading } from '../../../core/telemetry/types.ts'
import type { Writes } from './aggregation.ts'
import { type FieldValue, int, MEASUREMENT, msToNs, type PointData, readingTimeNs, str } from './points.ts'

const deviceTags = (d: DeviceRecord) => ({ device: d.deviceId, pool: d.poolId, class: d.assetClass })

function readingFields(r: Reading): Record<string, FieldValue> {
  const fields: Record<string, FieldValue> = { seq: int(r.seq), registerWh: int(r.registerWh) }
  switch (r.type) {
    case 'charger.meter':
      fields.powerW = int(r.powerW)
      fields.sessionId = str(r.sessionId)
      break
    case 'charger.session_start':
    case 'charger.session_stop':
      fields.sessionId = str(r.sessionId)
      break
    case 'charger.status':
      fields.status = str(r.status)
      break
    case 'pv.inverter':
      fields.powerW = int(r.acPowerW)
      fields.irradianceWm2 = int(r.irradianceWm2)
      fields.status = str(r.status)
      break
    case 'swap.event':
      fields.swapCount = int(r.swapCount)
      fields.energyWh = int(r.energyWh)
      fields.socOutPermille = int(r.socOutPermille)
      fields.socInPermille = int(r.socInPermille)
      break
    case 'swap.slots':
      fields.swapCount = int(r.swapCount)
      break
  }
  return fields
}

/** Data points first; device states and watermarks are written after them (see the service). */
export function dataPoints(writes: Writes, grid: TimeGrid): PointData[] {
  const points: PointData[] = []
  for (const w of writes.intervals) {
    points.push({
      measurement: MEASUREMENT.interval,
      tags: deviceTags(w.device),
      fields: {
        energyWh: int(w.energyWh),
        revenueUnits: int(w.revenueUnits),
        swaps: int(w.swaps),
        readings: int(w.readings),
        quarantined: int(w.quarantined),
      },
      timeNs: msToNs(w.intervalStartMs),
    })
  }
  for (const a of writes.adjustments) {
    points.push({
      measurement: MEASUREMENT.adjustment,
      tags: { ...deviceTags(a.device), adjusts_epoch: String(a.adjustsEpoch) },
      fields: {
        energyWh: int(a.energyWh),
        revenueUnits: int(a.revenueUnits),
        swaps: int(a.swaps),
        readings: int(a.readings),
        quarantined: int(a.quarantined),
        bookedEpoch: int(a.bookedEpoch),
        seq: int(a.seq),
      },
      timeNs: readingTimeNs(epochStartMs(grid, a.bookedEpoch), a.seq),
    })
  }
  for (const { device, reading } of writes.readings) {
    points.push({
      measurement: MEASUREMENT.reading,
      tags: { ...deviceTags(device), type: reading.type },
      fields: readingFields(reading),
      timeNs: readingTimeNs(reading.ts, reading.seq),
    })
  }
  for (const q of writes.quarantines) {
    points.push({
      measurement: MEASUREMENT.quarantine,
      tags: { ...deviceTags(q.device), reason: q.reason },
      fields: {
        seq: int(q.reading.seq),
        registerWh: int(q.reading.registerWh),
        detail: str(q.detail),
        reading: str(JSON.stringify(q.reading)),
      },
      timeNs: readingTimeNs(q.reading.ts, q.reading.seq),
    })
  }
  return points
}

/** Persisted state lives at time 0: one point per device (or partition), overwritten in place. */
export function statePoints(writes: Writes, consumerGroup: string, updatedAtMs: number): PointData[] {
  const points: PointData[] = []
  for (const s of writes.states) {
    points.push({
      measurement: MEASUREMENT.deviceState,
      tags: { device: s.deviceId, group: consumerGroup },
      fields: {
        partition: int(s.partition),
        lastSeq: int(s.meter.lastSeq),
        lastTs: int(s.meter.lastTs),
        lastRegisterWh: int(s.meter.lastRegisterWh),
        lastSwapCount: int(s.meter.lastSwapCount ?? -1),
        lastPowerW: int(s.meter.lastPowerW ?? -1),
        openStartMs: int(s.open.startMs),
        openEnergyWh: int(s.open.energyWh),
        openSwaps: int(s.open.swaps),
        openReadings: int(s.open.readings),
        openQuarantined: int(s.open.quarantined),
      },
      timeNs: 0n,
    })
  }
  for (const [partition, watermarkMs] of writes.watermarks) {
    points.push({
      measurement: MEASUREMENT.watermark,
      tags: { partition: String(partition), group: consumerGroup },
      fields: { watermarkMs: int(watermarkMs), updatedAtMs: int(updatedAtMs) },
      timeNs: 0n,
    })
  }
  return points
}
