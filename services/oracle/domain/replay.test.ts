import { describe, expect, it } from 'vitest'
import { decodeAcceptedRecord } from '../../../core/telemetry/decode.ts'
import { runFleet as run } from './fleet-replay.fixture.ts'

describe('TelemetryReplay', () => {
  it('books every device epoch as the ground truth, to the unit, with one paid reading per accepted reading', () => {
    const { replay, truth } = run({ duplicate: 0.05, replay: 0.02, reorder: 0.05 })
    expect(truth.length).toBeGreaterThan(20)
    for (const t of truth) {
      const result = replay.epochResults(t.epoch).find((r) => r.deviceId === t.deviceId)
      expect(result, `${t.deviceId}/${t.epoch}`).toBeDefined()
      expect({
        energyWh: result?.energyWh,
        revenueUnits: result?.revenueUnits,
        swaps: result?.swaps,
        readings: result?.readings,
        quarantined: result?.quarantined,
      }).toEqual({
        energyWh: t.energyWh,
        revenueUnits: t.revenueUnits,
        swaps: t.swaps,
        readings: t.readings,
        quarantined: t.quarantined,
      })
      expect(result?.paid).toHaveLength(t.readings)
      const seqs = result?.paid.map((p) => p.seq) ?? []
      expect(seqs).toEqual([...new Set(seqs)].sort((a, b) => a - b))
    }
  })

  it('points every paid reading at a record that carries it', () => {
    const { replay, truth } = run({ duplicate: 0.05 })
    for (const t of truth.slice(0, 10)) {
      for (const p of replay.paidReadings(t.epoch, t.deviceId)) {
        const message = decodeAcceptedRecord(Buffer.from(p.record.valueBase64, 'base64'))
        expect(message.deviceId).toBe(t.deviceId)
        expect(message.readings[p.indexInMessage]?.seq).toBe(p.seq)
      }
    }
  })
})
