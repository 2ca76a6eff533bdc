import { describe, expect, it } from 'vitest'
import { demoChallengeWindowMs, oracleKeepsUp } from './demo-timing.ts'

describe("npm start's challenge window", () => {
  it('leaves the guardian 20 s at the demo defaults (6 h at 600x: 36 s of wall time per epoch)', () => {
    expect(demoChallengeWindowMs(6 * 3_600_000, 600)).toBe(20_000)
    expect(oracleKeepsUp(6 * 3_600_000, 600, 20_000)).toBe(true)
  })

  it('is never under 20 s, however fast the epochs; the oracle then falls behind, and says so', () => {
    expect(demoChallengeWindowMs(3_600_000, 600)).toBe(20_000)
    expect(demoChallengeWindowMs(3_600_000, 100_000)).toBe(20_000)
    expect(oracleKeepsUp(3_600_000, 600, 20_000)).toBe(false)
  })

  it('is a third of a slower epoch, up to a minute (a day at 600x is 144 s of wall time)', () => {
    expect(demoChallengeWindowMs(86_400_000, 600)).toBe(48_000)
    expect(demoChallengeWindowMs(3_600_000, 1)).toBe(60_000)
  })
})
