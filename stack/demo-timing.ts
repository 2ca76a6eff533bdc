/**
 * `npm start`'s oracle timing (pure). RevenueOracle takes a pool's epochs one after the other
 * (epoch n + 1 is proposed once n is final), so a pool finalizes at most one epoch per challenge
 * window. At the demo's speed an epoch closes every `epochMs / speed` of wall time (an hour at
 * 600× is 6 s); with the deployment's default 10 s window the oracle fell behind for good (155
 * of 326 closed epochs final after half an hour). The window is kept to a third of an epoch's
 * wall time, so proposing, waiting and finalizing fit in one epoch, between 1 s (the chain's
 * second resolution) and the 10 s default.
 */
export const DEFAULT_CHALLENGE_WINDOW_MS = 10_000
const MIN_CHALLENGE_WINDOW_MS = 1_000

export function demoChallengeWindowMs(epochMs: number, speed: number): number {
  const epochWallMs = epochMs / speed
  const third = Math.floor(epochWallMs / 3 / 1000) * 1000
  return Math.min(DEFAULT_CHALLENGE_WINDOW_MS, Math.max(MIN_CHALLENGE_WINDOW_MS, third))
}
