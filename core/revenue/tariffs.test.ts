import { describe, expect, it } from 'vitest'
import { ConfigError } from '../errors/base.ts'
import { DEMO_TARIFF_BOOK, intervalRevenueUnits, parseTariffBook, tariffAt } from './tariffs.ts'

const GENESIS = Date.parse('2026-06-01T00:00:00+08:00')
const grid = { genesisMs: GENESIS, epochLengthMs: 86_400_000, intervalMs: 300_000 }
const at = (localTime: string) => Date.parse(`2026-06-01T${localTime}+08:00`)

const book = parseTariffBook(
  {
    utcOffsetHours: 8,
    tariffs: {
      ev: [
        {
          effectiveFrom: '2026-01-01T00:00:00+08:00',
          kind: 'charger',
          // Deliberately out of order: the book sorts them.
          touPeriods: [
            { fromHour: 21, pricePerKWhUnits: '1300000' },
            { fromHour: 9, pricePerKWhUnits: '1650000' },
          ],
          serviceFeePerKWhUnits: 1_000_000,
        },
        {
          effectiveFrom: '2026-06-01T12:00:00+08:00',
          kind: 'charger',
          touPeriods: [{ fromHour: 0, pricePerKWhUnits: '2000000' }],
          serviceFeePerKWhUnits: 0,
        },
      ],
      fit: [{ effectiveFrom: '2020-01-01T00:00:00Z', kind: 'pv', feedInPerKWhUnits: '4000000' }],
      swap: [
        {
          effectiveFrom: '2020-01-01T00:00:00Z',
          kind: 'swap',
          perSwapUnits: '6000000',
          energyPerKWhUnits: '900000',
        },
      ],
    },
  },
  grid,
)

describe('tariffs', () => {
  it('prices charging by time-of-use period plus the service fee', () => {
    // 10:00 is in the 09:00 period: 1.65 + 1.00 HKD per kWh; 2.5 kWh → 6.625 HKD.
    expect(intervalRevenueUnits(book, 'ev', at('10:00:00'), 2500, 0)).toBe(6_625_000n)
    // 03:00 is before the first start of the day: the 21:00 period of the previous day runs.
    expect(intervalRevenueUnits(book, 'ev', at('03:00:00'), 1000, 0)).toBe(2_300_000n)
  })
  it('applies a new version from its effective time on, never to the past', () => {
    expect(intervalRevenueUnits(book, 'ev', at('11:55:00'), 1000, 0)).toBe(2_650_000n)
    expect(intervalRevenueUnits(book, 'ev', at('12:00:00'), 1000, 0)).toBe(2_000_000n)
    expect(tariffAt(book, 'ev', at('11:59:59')).kind).toBe('charger')
  })
  it('prices PV by feed-in tariff and swaps per swap plus energy, flooring to a unit', () => {
    expect(intervalRevenueUnits(book, 'fit', at('12:00:00'), 333, 0)).toBe(1_332_000n)
    expect(intervalRevenueUnits(book, 'swap', at('08:00:00'), 1234, 2)).toBe(12_000_000n + 1_110_600n)
    expect(intervalRevenueUnits(book, 'fit', at('12:00:00'), 1, 0)).toBe(4000n)
    // 1 Wh at 0.000999 HKD/kWh floors to nothing.
    const cheap = parseTariffBook(
      { tariffs: { c: [{ effectiveFrom: '2020-01-01T00:00:00Z', kind: 'pv', feedInPerKWhUnits: 999 }] } },
      grid,
    )
    expect(intervalRevenueUnits(cheap, 'c', at('12:00:00'), 1, 0)).toBe(0n)
  })
  it('refuses changes off the interval grid, unknown tariffs and malformed books', () => {
    expect(() =>
      parseTariffBook(
        {
          tariffs: { x: [{ effectiveFrom: '2026-06-01T00:01:00+08:00', kind: 'pv', feedInPerKWhUnits: 1 }] },
        },
        grid,
      ),
    ).toThrow(/interval boundary/)
    expect(() => tariffAt(book, 'nope', at('12:00:00'))).toThrow(ConfigError)
    expect(() => tariffAt(book, 'ev', Date.parse('2025-01-01T00:00:00Z'))).toThrow(/no tariff ev/)
    expect(() =>
      parseTariffBook(
        { tariffs: { x: [{ effectiveFrom: 'soon', kind: 'pv', feedInPerKWhUnits: 1 }] } },
        grid,
      ),
    ).toThrow(ConfigError)
  })
  it('parses the demo book', () => {
    expect(parseTariffBook(DEMO_TARIFF_BOOK, grid).tariffs.size).toBe(3)
  })
})
