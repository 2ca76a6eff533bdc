import { describe, expect, it } from 'vitest'
import { demoChallengeWindowMs } from './demo-timing.ts'

describe("npm start's challenge window", () => {
  it('fits a third of an epoch of wall time at the demo speed (1 h at 600x: 6 s, so 2 s)', () => {
    expect(demoChallengeWindowMs(3_600_000, 600)).toBe(2_000)
  })

  it('is never under a second, however fast the epochs', () => {
    expect(demoChallengeWindowMs(3_600_000, 100_000)).toBe(1_000)
  })

  it('stays at the 10 s default for slow demos (a day at 600x is 144 s of wall time)', () => {
    expect(demoChallengeWindowMs(86_400_000, 600)).toBe(10_000)
    expect(demoChallengeWindowMs(3_600_000, 1)).toBe(10_000)
  })
})
