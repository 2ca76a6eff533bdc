import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { DEFAULT_LIMITS } from '../config.ts'
import { ApiError } from '../errors.ts'
import { parseRange, planWindows } from './time-window.ts'

// Genesis at 16:00 UTC (midnight +08:00): daily windows must start there, not at UTC midnight.
const grid = {
  genesisMs: Date.parse('2026-06-01T00:00:00+08:00'),
  epochLengthMs: 86_400_000,
  intervalMs: 300_000,
}
const code = (f: () => unknown) => {
  try {
    f()
  } catch (error) {
    return error instanceof ApiError ? error.code : String(error)
  }
  return 'none'
}

describe('time windows', () => {
  it('aligns daily windows with the epoch grid', () => {
    const range = parseRange('2026-06-03T00:00:00Z', '2026-06-05T00:00:00Z', DEFAULT_LIMITS)
    const plan = planWindows(grid, DEFAULT_LIMITS, range, 86_400_000, 3)
    expect(new Date(plan.fromMs).toISOString()).toBe('2026-06-02T16:00:00.000Z')
    expect(new Date(plan.toMs).toISOString()).toBe('2026-06-05T16:00:00.000Z')
    expect(plan.windows).toBe(3)
    expect(plan.offsetMs).toBe(16 * 3_600_000)
  })

  it('always covers the asked range with whole windows on the grid', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: Date.UTC(2026, 0, 1), max: Date.UTC(2027, 0, 1) }),
        fc.integer({ min: 1, max: 30 * 86_400_000 }),
        fc.constantFrom(300_000, 900_000, 3_600_000, 86_400_000),
        (fromMs, spanMs, resolutionMs) => {
          const plan = planWindows(
            grid,
            { ...DEFAULT_LIMITS, maxPoints: 1e9 },
            { fromMs, toMs: fromMs + spanMs },
            resolutionMs,
            1,
          )
          expect(plan.fromMs).toBeLessThanOrEqual(fromMs)
          expect(plan.toMs).toBeGreaterThanOrEqual(fromMs + spanMs)
          expect(Math.abs((plan.fromMs - grid.genesisMs) % resolutionMs)).toBe(0)
          expect(plan.windows * resolutionMs).toBe(plan.toMs - plan.fromMs)
          expect(fromMs - plan.fromMs).toBeLessThan(resolutionMs)
        },
      ),
    )
  })

  it('refuses reversed, empty, ancient, long, off-grid and oversized requests', () => {
    expect(code(() => parseRange('2026-06-02T00:00:00Z', '2026-06-01T00:00:00Z', DEFAULT_LIMITS))).toBe(
      'INVALID_RANGE',
    )
    expect(code(() => parseRange('2026-06-01T00:00:00Z', '2026-06-01T00:00:00Z', DEFAULT_LIMITS))).toBe(
      'INVALID_RANGE',
    )
    expect(code(() => parseRange('1999-06-01T00:00:00Z', '1999-06-02T00:00:00Z', DEFAULT_LIMITS))).toBe(
      'INVALID_RANGE',
    )
    expect(code(() => parseRange('2026-01-01T00:00:00Z', '2028-01-01T00:00:00Z', DEFAULT_LIMITS))).toBe(
      'RANGE_TOO_LARGE',
    )
    const day = { fromMs: Date.UTC(2026, 5, 1), toMs: Date.UTC(2026, 5, 2) }
    expect(code(() => planWindows(grid, DEFAULT_LIMITS, day, 60_000, 1))).toBe('RESOLUTION_OFF_GRID')
    expect(code(() => planWindows(grid, { ...DEFAULT_LIMITS, maxPoints: 100 }, day, 300_000, 1))).toBe(
      'RANGE_TOO_LARGE',
    )
  })
})
