/**
 * The aggregator's writes as InfluxDB line protocol, formatted directly: at tens of thousands of
 * readings a second this is the hot path, so each device's escaped series keys are built once
 * and cached, and times are formatted as digit strings without BigInt. The measurements and
 * their fields are the contract in docs/architecture.md ("InfluxDB measurements").
 */

import type { Writes } from '../../../core/aggregation/aggregation.ts'
import type { RollupPoint } from '../../../core/aggregation/rollups.ts'
import { epochStartMs, type TimeGrid } from '../../../core/epochs/grid.ts'
import type { DeviceRecord } from '../../../core/identity/registry.ts'
import type { Reading } from '../../../core/telemetry/types.ts'
import { MEASUREMENT } from '../domain/points.ts'
import { escapeString, escapeTag } from './line-protocol.ts'

/** Nanosecond timestamp of a millisecond time, with `subMs` (< 1e6) in the last six digits. */
export function nsDigits(ms: number, subMs = 0): string {
  return subMs === 0 ? `${ms}000000` : `${ms}${String(subMs).padStart(6, '0')}`
}

/** Readings of one device can share a device millisecond; seq in the nanoseconds keeps them apart. */
const readingNs = (tsMs: number, seq: number) => nsDigits(tsMs, seq % 1_000_000)

function readingFields(r: Reading): string {
  let f = `seq=${r.seq}i,registerWh=${r.registerWh}i`
  switch (r.type) {
    case 'charger.meter':
      f += `,powerW=${r.powerW}i,sessionId="${escapeString(r.sessionId)}"`
      break
    case 'charger.session_start':
    case 'charger.session_stop':
      f += `,sessionId="${escapeString(r.sessionId)}"`
      break
    case 'charger.status':
      f += `,status="${r.status}"`
      break
    case 'pv.inverter':
      f += `,powerW=${r.acPowerW}i,irradianceWm2=${r.irradianceWm2}i,status="${r.status}"`
      break
    case 'swap.event':
      f += `,swapCount=${r.swapCount}i,energyWh=${r.energyWh}i,socOutPermille=${r.socOutPermille}i,socInPermille=${r.socInPermille}i`
      break
    case 'swap.slots':
      f += `,swapCount=${r.swapCount}i`
      break
  }
  return f
}

/**
 * One rollup point (docs/architecture.md, `revenue_rollup`): its whole value, tagged with the
 * consumer group whose device states it is consistent with.
 */
export function rollupLine(consumerGroup: string, p: RollupPoint): string {
  return `${MEASUREMENT.revenueRollup},class=${escapeTag(p.assetClass)},group=${escapeTag(consumerGroup)},partition=${p.partition},pool=${escapeTag(p.poolId)},source=${p.source} energyWh=${p.energyWh}i,revenueUnits=${p.revenueUnits}i,swaps=${p.swaps}i,readings=${p.readings}i,quarantined=${p.quarantined}i ${nsDigits(p.timeMs)}`
}

export class LineFormatter {
  /** `class=…,device=…,pool=…` per device record (a registry update brings new records: a pool move new tags). */
  private readonly deviceTags = new WeakMap<DeviceRecord, string>()

  constructor(
    private readonly grid: TimeGrid,
    private readonly consumerGroup: string,
  ) {}

  private tags(d: DeviceRecord): string {
    let tags = this.deviceTags.get(d)
    if (tags === undefined) {
      tags = `class=${escapeTag(d.assetClass)},device=${escapeTag(d.deviceId)},pool=${escapeTag(d.poolId)}`
      this.deviceTags.set(d, tags)
    }
    return tags
  }

  /** Intervals, adjustments, readings and quarantines: written before the states. */
  dataLines(writes: Writes): string[] {
    const lines: string[] = []
    for (const w of writes.intervals) {
      lines.push(
        `${MEASUREMENT.interval},${this.tags(w.device)} energyWh=${w.energyWh}i,revenueUnits=${w.revenueUnits}i,swaps=${w.swaps}i,readings=${w.readings}i,quarantined=${w.quarantined}i ${nsDigits(w.intervalStartMs)}`,
      )
    }
    for (const a of writes.adjustments) {
      lines.push(
        // A boot tag only past boot 0: a seq restarts per boot, and boot-0 points keep their identity.
        `${MEASUREMENT.adjustment},adjusts_epoch=${a.adjustsEpoch},${a.boot > 0 ? `boot=${a.boot},` : ''}${this.tags(a.device)} energyWh=${a.energyWh}i,revenueUnits=${a.revenueUnits}i,swaps=${a.swaps}i,readings=${a.readings}i,quarantined=${a.quarantined}i,bookedEpoch=${a.bookedEpoch}i,seq=${a.seq}i ${readingNs(epochStartMs(this.grid, a.bookedEpoch), a.seq)}`,
      )
    }
    for (const { device, reading } of writes.readings) {
      lines.push(
        `${MEASUREMENT.reading},${this.tags(device)},type=${reading.type} ${readingFields(reading)} ${readingNs(reading.ts, reading.seq)}`,
      )
    }
    for (const q of writes.quarantines) {
      lines.push(
        `${MEASUREMENT.quarantine},${this.tags(q.device)},reason=${q.reason} seq=${q.reading.seq}i,registerWh=${q.reading.registerWh}i,detail="${escapeString(q.detail)}",reading="${escapeString(JSON.stringify(q.reading))}" ${readingNs(q.reading.ts, q.reading.seq)}`,
      )
    }
    return lines
  }

  /**
   * Device states and partition watermarks live at time 0, one point each, overwritten in place.
   * They are written together in one request, after the data: a watermark never lands without
   * the device states it accounts for (a replay would turn counted readings into adjustments).
   * The rollups go in the same request, so a restore reads rollups that match the states.
   */
  stateLines(writes: Writes, updatedAtMs: number): string[] {
    const group = escapeTag(this.consumerGroup)
    const lines: string[] = []
    for (const s of writes.states) {
      const m = s.meter
      const o = s.open
      lines.push(
        `${MEASUREMENT.deviceState},device=${escapeTag(s.deviceId)},group=${group} partition=${s.partition}i,lastSeq=${m.lastSeq}i,lastTs=${m.lastTs}i,lastRegisterWh=${m.lastRegisterWh}i,lastSwapCount=${m.lastSwapCount ?? -1}i,lastPowerW=${m.lastPowerW ?? -1}i,lastDeviceTs=${m.lastDeviceTs ?? -1}i,lastReceivedAtMs=${m.lastReceivedAtMs ?? -1}i,lastStepMs=${m.lastStepMs ?? -1}i,openStartMs=${o.startMs}i,openEnergyWh=${o.energyWh}i,openSwaps=${o.swaps}i,openReadings=${o.readings}i,openQuarantined=${o.quarantined}i,boot=${s.boot}i${s.poolId === undefined ? '' : `,openPool="${escapeString(s.poolId)}"`} 0`,
      )
    }
    for (const [partition, watermarkMs] of writes.watermarks) {
      lines.push(
        `${MEASUREMENT.watermark},group=${group},partition=${partition} watermarkMs=${watermarkMs}i,updatedAtMs=${updatedAtMs}i 0`,
      )
    }
    for (const r of writes.rollups) lines.push(rollupLine(this.consumerGroup, r))
    return lines
  }
}
