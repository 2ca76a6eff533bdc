import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { formatUnits, parseUnits, revenueForEnergyUnits } from './money.ts'

describe('revenueForEnergyUnits', () => {
  it('floors energy × price / 1000', () => {
    expect(revenueForEnergyUnits(1500, 1_000_000n)).toBe(1_500_000n)
    expect(revenueForEnergyUnits(1, 999n)).toBe(0n)
    expect(revenueForEnergyUnits(3, 333n)).toBe(0n)
    expect(revenueForEnergyUnits(7, 1_234_567n)).toBe(8641n)
  })
  it('rejects negative inputs', () => {
    expect(() => revenueForEnergyUnits(-1, 1n)).toThrow(RangeError)
    expect(() => revenueForEnergyUnits(1, -1n)).toThrow(RangeError)
  })
  it('never exceeds the exact value and is within one unit of it', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 40 }),
        fc.bigInt({ min: 0n, max: 10n ** 9n }),
        (wh, price) => {
          const r = revenueForEnergyUnits(wh, price)
          const exactTimes1000 = BigInt(wh) * price
          return r * 1000n <= exactTimes1000 && exactTimes1000 < (r + 1n) * 1000n
        },
      ),
    )
  })
})

describe('formatUnits / parseUnits', () => {
  it('round-trips', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(10n ** 20n), max: 10n ** 20n }),
        (u) => parseUnits(formatUnits(u)) === u,
      ),
    )
    expect(formatUnits(1_500_000n)).toBe('1.500000')
    expect(parseUnits('0.000001')).toBe(1n)
    expect(() => parseUnits('1.0000001')).toThrow(/decimals/)
    expect(() => parseUnits('abc')).toThrow(/not a decimal/)
  })
})
