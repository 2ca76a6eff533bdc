/**
 * An accelerated aggregator restarted from its persisted states and watermarks (issue 8: an
 * aggregator SIGKILL at 600× left PV readings quarantined as PV_ENERGY_AT_NIGHT with the
 * partition's clock 5–6 h ahead). A restart has no partition anchor; the first reading it
 * accepted anchored the partition, so a device whose clock had jumped 6 h ahead set the
 * partition's clock and watermark 6 h ahead. The restored watermark anchors it instead.
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
const registry = new Map([a, b].map((d) => [d.deviceId, d]))
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
})
