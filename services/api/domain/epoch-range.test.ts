import { describe, expect, it } from 'vitest'
import type { TimeGrid } from '../../../core/epochs/grid.ts'
import { ApiError } from '../errors.ts'
import { lastEpochInDeviceTime, planEpochSpan } from './epoch-range.ts'

const HOURLY: TimeGrid = { genesisMs: Date.UTC(2026, 0, 1), epochLengthMs: 3_600_000, intervalMs: 300_000 }

function refusal(run: () => unknown): ApiError {
  try {
    run()
  } catch (error) {
    if (error instanceof ApiError) return error
    throw error
  }
  throw new Error('not refused')
}

describe('planEpochSpan', () => {
  it('ends device time at the epoch that starts before 2100-01-01', () => {
    const max = lastEpochInDeviceTime(HOURLY)
    expect(HOURLY.genesisMs + max * HOURLY.epochLengthMs).toBeLessThan(Date.UTC(2100, 0, 1))
    expect(HOURLY.genesisMs + (max + 1) * HOURLY.epochLengthMs).toBe(Date.UTC(2100, 0, 1))
  })

  it('refuses an epoch that starts after device time, naming the parameter and the bound (attack12 F2)', () => {
    const max = lastEpochInDeviceTime(HOURLY)
    for (const query of [
      { fromEpoch: 70_000_000, limit: 50 },
      { fromEpoch: 69_999_990, toEpoch: 70_000_000, limit: 50 },
      { fromEpoch: max + 1, limit: 50 },
    ]) {
      const error = refusal(() => planEpochSpan(HOURLY, query, 10))
      expect(error.code).toBe('INVALID_PARAMETER')
      expect(error.details.maxEpoch).toBe(max)
      expect(['fromEpoch', 'toEpoch']).toContain(error.details.parameter)
    }
  })

  it('stops a page from fromEpoch alone at the last epoch, and keeps the other rules', () => {
    const max = lastEpochInDeviceTime(HOURLY)
    expect(planEpochSpan(HOURLY, { fromEpoch: max - 1, limit: 50 }, 10)).toEqual({ from: max - 1, to: max })
    expect(planEpochSpan(HOURLY, { limit: 50 }, 10)).toEqual({ from: 0, to: 10 })
    expect(planEpochSpan(HOURLY, { limit: 50 }, undefined)).toEqual({ from: 0, to: -1 })
    expect(planEpochSpan(HOURLY, { fromEpoch: 3, limit: 2 }, 10)).toEqual({ from: 3, to: 4 })
    expect(refusal(() => planEpochSpan(HOURLY, { fromEpoch: 5, toEpoch: 2, limit: 50 }, 10)).code).toBe(
      'INVALID_RANGE',
    )
    expect(refusal(() => planEpochSpan(HOURLY, { fromEpoch: 0, toEpoch: 900, limit: 50 }, 10)).code).toBe(
      'RANGE_TOO_LARGE',
    )
  })
})
