/**
 * The Aggregation's record flow: unknown devices held with their offsets, pool moves, and a
 * partition whose devices all start ahead of a seq gap.
 */
import { describe, expect, it } from 'vitest'
import { DEFAULT_ANOMALY_RULES } from '../energy/meter-account.ts'
import { DEFAULT_SEQUENCE_RULES } from '../energy/sequence.ts'
import type { DeviceRecord } from '../identity/registry.ts'
import { DEMO_TARIFF_BOOK, parseTariffBook } from '../revenue/tariffs.ts'
import type { TelemetryMessage } from '../telemetry/types.ts'
import { Aggregation } from './aggregation.ts'
import { DEFAULT_CLOCK_SETTINGS } from './device-acceptance.ts'

const START = Date.parse('2026-06-01T00:00:00+08:00')
const grid = { genesisMs: START, epochLengthMs: 3_600_000, intervalMs: 300_000 }
const settings = {
  grid,
  rules: DEFAULT_ANOMALY_RULES,
  tariffs: parseTariffBook(DEMO_TARIFF_BOOK, grid),
  graceMs: 3_600_000,
  reorderWindowMs: 3_600_000,
  maxPendingWallMs: Number.POSITIVE_INFINITY,
  sequence: DEFAULT_SEQUENCE_RULES,
  clock: DEFAULT_CLOCK_SETTINGS,
}
const pv: DeviceRecord = {
  deviceId: 'pv-000001',
  assetClass: 'pv',
  poolId: 'gcl-pv',
  ratedPowerW: 100_000,
  tariffId: 'pv-fit',
  publicKey: '00'.repeat(32),
}
const message = (seq: number, minute: number, registerWh: number): TelemetryMessage =>
  ({
    deviceId: pv.deviceId,
    readings: [
      {
        type: 'pv.inverter',
        seq,
        ts: START + 10 * 3_600_000 + minute * 60_000,
        registerWh,
        acPowerW: 6_000,
        irradianceWm2: 600,
        status: 'Producing',
      },
    ],
  }) as unknown as TelemetryMessage

describe('Aggregation record flow', () => {
  it('holds a record of an unknown device, and its offset, until the registry knows the device', () => {
    const registry = new Map<string, DeviceRecord>()
    const a = new Aggregation(settings, registry)
    expect(a.mustHold(0, pv.deviceId)).toBe(true)
    a.hold({
      partition: 0,
      offset: '7',
      message: message(1, 0, 1000),
      raw: Buffer.from('x'),
      receivedAtMs: undefined,
      firstSeenWallMs: 0,
    })
    a.skipRecord(0, '8')
    expect(a.takeWrites().offsets).toEqual([{ partition: 0, offset: '7' }])
    // Later records of the same device keep their order behind the held one.
    expect(a.mustHold(0, pv.deviceId)).toBe(true)
    a.hold({
      partition: 0,
      offset: '9',
      message: message(2, 5, 1500),
      raw: Buffer.from('y'),
      receivedAtMs: undefined,
      firstSeenWallMs: 0,
    })
    a.registryChanged(new Map([[pv.deviceId, pv]]), 1)
    const writes = a.takeWrites()
    expect(writes.offsets).toEqual([{ partition: 0, offset: '10' }])
    expect(writes.readings.map((r) => r.reading.seq)).toEqual([1, 2])
    expect(writes.intervals.reduce((sum, w) => sum + w.energyWh, 0)).toBe(500)
    expect(a.mustHold(0, pv.deviceId)).toBe(false)
  })

  it('hands held records over for dead-lettering once their wait ran out, and commits past them', () => {
    const a = new Aggregation(settings, new Map())
    a.hold({
      partition: 3,
      offset: '4',
      message: message(1, 0, 1000),
      raw: Buffer.from('x'),
      receivedAtMs: undefined,
      firstSeenWallMs: 100,
    })
    expect(a.takeExpiredUnknown(150, 100)).toEqual([])
    expect(a.takeWrites().offsets).toEqual([{ partition: 3, offset: '4' }])
    expect(a.takeExpiredUnknown(200, 100).map((r) => r.offset)).toEqual(['4'])
    expect(a.takeWrites().offsets).toEqual([{ partition: 3, offset: '5' }])
  })

  it('keeps the totals of each pool apart when a device moves pools within an interval', () => {
    const a = new Aggregation(settings, new Map([[pv.deviceId, pv]]))
    a.applyMessage(0, '0', message(1, 0, 1000), undefined, 0)
    a.applyMessage(0, '1', message(2, 1, 1100), undefined, 0)
    const before = a.takeWrites()
    a.registryChanged(new Map([[pv.deviceId, { ...pv, poolId: 'gcl-pv-2' }]]), 0)
    a.applyMessage(0, '2', message(3, 3, 1300), undefined, 0)
    const after = a.takeWrites()
    const energyByPool = (w: typeof before) =>
      Object.fromEntries(w.intervals.map((i) => [i.device.poolId, i.energyWh]))
    expect(energyByPool(before)).toEqual({ 'gcl-pv': 100 })
    // The new pool's point for the same interval holds only what came after the move.
    expect(energyByPool(after)).toEqual({ 'gcl-pv-2': 200 })
    expect(after.states[0]?.poolId).toBe('gcl-pv-2')
  })

  it("gives up a gap on the device's own readings when its partition has no watermark, without the wall clock", () => {
    // The device's seqs 1-91 never reached Kafka: every reading waits for them, and no accepted
    // reading gives the partition a watermark that could release them (npm start, 6 devices).
    const a = new Aggregation(settings, new Map([[pv.deviceId, pv]]))
    const watermarks: (number | undefined)[] = []
    for (let i = 0; i <= 24; i++) {
      a.applyMessage(0, String(i), message(92 + i, 5 * i, 100_000 + 500 * i), undefined, 0)
      watermarks.push(a.watermarkOf(0))
    }
    // Waiting until the device's own readings are the reorder window (1 h) past the first one.
    expect(watermarks.slice(0, 12)).toEqual(Array(12).fill(undefined))
    expect(watermarks[12]).toBe(START + 10 * 3_600_000 + 60 * 60_000)
    expect(watermarks[24]).toBe(START + 10 * 3_600_000 + 120 * 60_000)
    expect(a.sizes().pendingReadings).toBe(0)
    const writes = a.takeWrites()
    // The first reading is the baseline; everything after it is booked.
    expect(writes.readings.map((r) => r.reading.seq)).toEqual(Array.from({ length: 25 }, (_, i) => 92 + i))
    expect(writes.intervals.reduce((sum, w) => sum + w.energyWh, 0)).toBe(24 * 500)
    expect(writes.adjustments).toEqual([])
  })
})
