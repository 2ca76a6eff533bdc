import { describe, expect, it } from 'vitest'
import { PaidLedger, type PaidReading } from './paid-ledger.ts'

const seqs = (deviceId: string, boot: number, from: number, to: number): PaidReading[] =>
  Array.from({ length: to - from + 1 }, (_, i) => ({ deviceId, boot, seq: from + i }))

describe('paid ledger', () => {
  it('takes epochs that pay new readings, a gap filled late among them', () => {
    const ledger = new PaidLedger(3)
    const e3 = [...seqs('chg-1', 1, 1, 9), ...seqs('chg-1', 1, 11, 20), ...seqs('pv-1', 1, 1, 20)]
    expect(ledger.firstPaidTwice(3, e3)).toBeUndefined()
    ledger.add(3, e3)
    // seq 10 arrived late and is booked into epoch 4 as an adjustment, beside its own readings.
    const e4 = [...seqs('chg-1', 1, 10, 10), ...seqs('chg-1', 1, 21, 30)]
    expect(ledger.firstPaidTwice(4, e4)).toBeUndefined()
    ledger.add(4, e4)
    // A reflash: boot 2 starts at seq 1 again, which boot 1 paid long ago.
    expect(ledger.firstPaidTwice(5, seqs('chg-1', 2, 1, 5))).toBeUndefined()
    ledger.add(5, seqs('chg-1', 2, 1, 5))
    expect(ledger.through).toBe(6)
    expect(ledger.size).toEqual({ epochs: 3, ranges: 6 })
  })

  it('names a reading an earlier epoch paid, and the epoch that paid it', () => {
    const ledger = new PaidLedger(0)
    ledger.add(0, seqs('chg-1', 1, 1, 72))
    ledger.add(1, seqs('chg-1', 1, 73, 144))
    // attack10 F2: epoch 2 re-books genuine readings of epoch 1 as late adjustments.
    const forged = [...seqs('chg-1', 1, 145, 216), ...seqs('chg-1', 1, 100, 110)]
    expect(ledger.firstPaidTwice(2, forged)).toEqual({
      deviceId: 'chg-1',
      boot: 1,
      seq: 100,
      epoch: 2,
      paidInEpoch: 1,
    })
    expect(ledger.firstPaidTwice(2, seqs('chg-1', 1, 1, 1))).toMatchObject({ seq: 1, paidInEpoch: 0 })
    expect(ledger.firstPaidTwice(2, seqs('chg-1', 1, 144, 145))).toMatchObject({ seq: 144, paidInEpoch: 1 })
    expect(ledger.firstPaidTwice(2, seqs('chg-2', 1, 100, 110))).toBeUndefined()
  })

  it('names a reading one archive pays twice', () => {
    const ledger = new PaidLedger(0)
    const twice = [...seqs('swp-1', 1, 1, 5), { deviceId: 'swp-1', boot: 1, seq: 3 }]
    expect(ledger.firstPaidTwice(0, twice)).toEqual({
      deviceId: 'swp-1',
      boot: 1,
      seq: 3,
      epoch: 0,
      paidInEpoch: 0,
    })
  })

  it('adds epochs in order only', () => {
    const ledger = new PaidLedger(2)
    expect(() => ledger.add(3, [])).toThrow(/epoch 3 cannot be added/)
    ledger.add(2, [])
    expect(() => ledger.add(2, [])).toThrow(/epoch 2 cannot be added/)
  })
})
