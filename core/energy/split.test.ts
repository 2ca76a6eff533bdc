import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { splitAcrossIntervals } from './split.ts'

const grid = { genesisMs: 0, epochLengthMs: 3_600_000, intervalMs: 300_000 }

describe('splitAcrossIntervals', () => {
  it('keeps energy inside one interval when the pair does not cross a boundary', () => {
    expect(splitAcrossIntervals(grid, 10_000, 20_000, 7)).toEqual([{ intervalStartMs: 0, energyWh: 7 }])
  })
  it('splits by time at boundaries', () => {
    // 150 s before the boundary at 300 s and 150 s after it: half each.
    expect(splitAcrossIntervals(grid, 150_000, 450_000, 100)).toEqual([
      { intervalStartMs: 0, energyWh: 50 },
      { intervalStartMs: 300_000, energyWh: 50 },
    ])
  })
  it('books a zero-duration pair where it ends', () => {
    expect(splitAcrossIntervals(grid, 600_000, 600_000, 5)).toEqual([
      { intervalStartMs: 600_000, energyWh: 5 },
    ])
  })
  it('conserves energy exactly for any pair', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10 ** 10 }),
        fc.integer({ min: 0, max: 10 ** 9 }),
        fc.integer({ min: 0, max: 2 ** 40 }),
        (from, duration, energy) => {
          const pieces = splitAcrossIntervals(grid, from, from + duration, energy)
          const sum = pieces.reduce((s, p) => s + p.energyWh, 0)
          return sum === energy && pieces.every((p) => Number.isInteger(p.energyWh) && p.energyWh > 0)
        },
      ),
    )
  })
  it('gives the same pieces whether a pair is split at a sample or not, when the sample lies on the line', () => {
    // R at 450 s is exactly on the linear path: splitting the pair there changes nothing.
    const whole = splitAcrossIntervals(grid, 0, 900_000, 900)
    const a = splitAcrossIntervals(grid, 0, 450_000, 450)
    const b = splitAcrossIntervals(grid, 450_000, 900_000, 450)
    const merged = new Map<number, number>()
    for (const p of [...a, ...b])
      merged.set(p.intervalStartMs, (merged.get(p.intervalStartMs) ?? 0) + p.energyWh)
    expect(Object.fromEntries(merged)).toEqual(
      Object.fromEntries(whole.map((p) => [p.intervalStartMs, p.energyWh])),
    )
  })
})
