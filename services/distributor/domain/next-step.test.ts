import { describe, expect, it } from 'vitest'
import { clockProblem } from './next-step.ts'

describe('clockProblem', () => {
  const grid = { genesisMs: Date.parse('2026-06-01T00:00:00+08:00'), epochLengthMs: 3_600_000 }
  const clock = {
    deviceGenesisMs: grid.genesisMs,
    epochLengthMs: 3_600_000,
    chainGenesisS: 1_900_000_000,
    speedup: 600,
  }

  it("accepts an on-chain clock on this deployment's grid, whatever its chain genesis and speed-up", () => {
    expect(clockProblem(grid, clock)).toBeUndefined()
  })

  it('names both grids when the pool was created on another epoch length or genesis', () => {
    expect(clockProblem(grid, { ...clock, epochLengthMs: 86_400_000 })).toMatch(
      /epochs of 86400000 ms from device time 2026-05-31T16:00:00.000Z, but this deployment's grid has epochs of 3600000 ms/,
    )
    expect(clockProblem(grid, { ...clock, deviceGenesisMs: grid.genesisMs + 1 })).toMatch(
      /2026-05-31T16:00:00.001Z/,
    )
  })
})
