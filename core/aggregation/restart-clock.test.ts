/**
 * An accelerated aggregator restarted from its persisted states and watermarks (issue 8: an
 * aggregator SIGKILL at 600× left PV readings quarantined as PV_ENERGY_AT_NIGHT with the
 * partition's clock 5–6 h ahead). A restart has no partition anchor; the first reading it
 * accepted anchored the partition, so a device whose clock had jumped 6 h ahead set the
 * partition's clock and watermark 6 h ahead. The restored watermark bounds it instead, until a
 * reading within that bound anchors it (a restored watermark anchoring it for good left a
 * partition quiet for an hour before the restart with a clock an hour behind the fleet, issue 8).
 */
import { describe, expect, it } from 'vitest'
import { DEFAULT_ANOMALY_RULES } from '../energy/meter-account.ts'
import { DEFAULT_SEQUENCE_RULES } from '../energy/sequence.ts'
import type { DeviceRecord } from '../identity/registry.ts'
import { DEMO_TARIFF_BOOK, parseTariffBook } from '../revenue/tariffs.ts'
import type { TelemetryMessage } from '../telemetry/types.ts'
import { Aggregation } from './aggregation.ts'

const HOUR = 3_600_000
const START = Date.parse('2026-06-01T00:00:00+08:00')
const SPEED = 600
const WALL_0 = Date.parse('2026-12-01T00:00:00Z')
const grid = { genesisMs: START, epochLengthMs: HOUR, intervalMs: 300_000 }
const settings = {
  grid,
  rules: DEFAULT_ANOMALY_RULES,
  tariffs: parseTariffBook(DEMO_TARIFF_BOOK, grid),
  graceMs: 40 * 60_000,
  reorderWindowMs: 20 * 60_000,
  maxPendingWallMs: Number.POSITIVE_INFINITY,
  sequence: DEFAULT_SEQUENCE_RULES,
  clock: { deviceTimeSpeed: SPEED },
}
const pvDevice = (n: number): DeviceRecord => ({
  deviceId: `pv-00000${n}`,
  assetClass: 'pv',
  poolId: 'gcl-pv',
  ratedPowerW: 100_000,
  tariffId: 'pv-fit',
  publicKey: '00'.repeat(32),
})
const a = pvDevice(1)
const b = pvDevice(2)
const charger: DeviceRecord = {
  deviceId: 'chg-000001',
  assetClass: 'charger',
  poolId: 'gcl-ev',
  ratedPowerW: 7_000,
  tariffId: 'ev-tou',
  publicKey: '00'.repeat(32),
}
const registry = new Map([a, b, charger].map((d) => [d.deviceId, d]))
/** True time 15:00 + `minute`; the device's clock `aheadMs` ahead of it. */
const message = (device: DeviceRecord, seq: number, minute: number, registerWh: number, aheadMs = 0) =>
  ({
    deviceId: device.deviceId,
    readings: [
      {
        type: 'pv.inverter',
        seq,
        ts: START + 15 * HOUR + minute * 60_000 + aheadMs,
        registerWh,
        acPowerW: 6_000,
        irradianceWm2: 600,
        status: 'Producing',
      },
    ],
  }) as unknown as TelemetryMessage
/** A charger charging at 6960 W (580 Wh a 5-minute step) at true time 15:00 + `minute`. */
const chargerMessage = (seq: number, minute: number, registerWh: number, aheadMs = 0) =>
  ({
    deviceId: charger.deviceId,
    readings: [
      {
        type: 'charger.meter',
        seq,
        ts: START + 15 * HOUR + minute * 60_000 + aheadMs,
        registerWh,
        connectorId: 1,
        sessionId: `s${minute < 0 ? 1 : 2}`,
        powerW: 6_960,
      },
    ],
  }) as unknown as TelemetryMessage
/** Receive time of true time 15:00 + `minute` at 600×. */
const rx = (minute: number) => WALL_0 + Math.round((15 * HOUR + minute * 60_000) / SPEED)

describe('accelerated aggregator restarted from committed state', () => {
  it('bounds a new device whose clock is 6 h ahead by the restored watermark: CLOCK_AHEAD, no watermark 6 h ahead, nothing late', () => {
    const before = new Aggregation(settings, registry)
    let offset = 0
    for (let m = 0; m <= 30; m += 5) {
      before.applyMessage(0, String(offset++), message(a, m / 5 + 1, m, 1000 + m * 100), rx(m), 0)
    }
    const persisted = before.takeWrites()
    const watermark = before.watermarkOf(0)
    expect(watermark).toBe(START + 15 * HOUR + 30 * 60_000)

    // SIGKILL; a new process restores and resumes at the committed offset.
    const after = new Aggregation(settings, registry)
    after.restore(persisted.states, persisted.watermarks)
    after.takeCounters()
    // b comes online with its clock 6 h ahead (21:35 on its clock: night): it has no line to be
    // judged by, and its reading is the first after the restart.
    after.applyMessage(0, String(offset++), message(b, 1, 35, 5000, 6 * HOUR), rx(35), 0)
    after.applyMessage(0, String(offset++), message(a, 8, 35, 1000 + 35 * 100), rx(35), 0)
    after.applyMessage(0, String(offset++), message(b, 2, 40, 5500, 6 * HOUR), rx(40), 0)
    after.applyMessage(0, String(offset++), message(a, 9, 40, 1000 + 40 * 100), rx(40), 0)
    const counters = after.takeCounters()
    expect(counters.clockCorrected.CLOCK_AHEAD).toBe(2)
    expect(counters.quarantined).toEqual({})
    expect(after.watermarkOf(0)).toBe(START + 15 * HOUR + 40 * 60_000)
    const writes = after.takeWrites()
    expect(writes.adjustments).toEqual([])
    const energy = writes.intervals.reduce((sum, w) => sum + w.energyWh, 0)
    // a's 10 min and b's one step, all in the epoch they were earned in.
    expect(energy).toBe(10 * 100 + 500)
    for (const w of writes.intervals) expect(w.intervalStartMs).toBeLessThan(START + 16 * HOUR)
  })

  it('a partition quiet for an hour before the restart is anchored at the fleet’s time: a clock back from 6 h ahead is booked at its own time, nothing quarantined', () => {
    // Partition 0: a PV inverter every 5 min from 14:00 to 15:30. Partition 1: a charger whose
    // session ended at 14:30, silent since, so its watermark is an hour behind the fleet's.
    const before = new Aggregation(settings, registry)
    let offset = 0
    let seq = 1
    for (let m = -60; m <= 30; m += 5) {
      before.applyMessage(0, String(offset++), message(a, seq++, m, 100_000 + (m + 60) * 100), rx(m), 0)
      if (m <= -30)
        before.applyMessage(1, String(offset++), chargerMessage((m + 65) / 5, m, (m + 60) * 116), rx(m), 0)
    }
    const persisted = before.takeWrites()
    expect(before.watermarkOf(1)).toBe(START + 14 * HOUR + 30 * 60_000)

    const after = new Aggregation(settings, registry)
    after.restore(persisted.states, persisted.watermarks)
    after.takeCounters()
    // A new session at 15:35 with the charger's clock 6 h ahead for three readings; from 15:50 on
    // its clock is right again, and those readings reach Kafka together at 16:20 (an ingest outage).
    const sessionWh = 30 * 116
    let chargerSeq = 8
    for (let m = 35; m <= 80; m += 5) {
      after.applyMessage(0, String(offset++), message(a, seq++, m, 100_000 + (m + 60) * 100), rx(m), 0)
      if (m <= 45)
        after.applyMessage(
          1,
          String(offset++),
          chargerMessage(chargerSeq++, m, sessionWh + (m - 35) * 116, 6 * HOUR),
          rx(m),
          0,
        )
      if (m === 80)
        for (let k = 50; k <= 80; k += 5)
          after.applyMessage(
            1,
            String(offset++),
            chargerMessage(chargerSeq++, k, sessionWh + (k - 35) * 116),
            rx(80),
            0,
          )
    }
    const counters = after.takeCounters()
    // Only the three readings 6 h ahead are corrected (the anchor at the restored watermark, an
    // hour behind, clamped all ten: the seven honest ones CLOCK_AHEAD, booked before 15:20).
    expect(counters.clockCorrected).toEqual({ CLOCK_AHEAD: 3 })
    expect(counters.quarantined).toEqual({})
    const writes = after.takeWrites()
    expect(writes.adjustments).toEqual([])
    const chargerIntervals = new Map(
      writes.intervals
        .filter((w) => w.device.deviceId === charger.deviceId && w.energyWh > 0)
        .map((w) => [(w.intervalStartMs - START - 15 * HOUR) / 60_000, w.energyWh]),
    )
    // 580 Wh in each 5-minute interval it was earned in, 15:35 to 16:15.
    expect(chargerIntervals).toEqual(new Map([35, 40, 45, 50, 55, 60, 65, 70, 75].map((m) => [m, 580])))
    expect(after.watermarkOf(1)).toBe(START + 15 * HOUR + 80 * 60_000)
  })
})
