/**
 * `npm start`'s oracle timing (pure).
 *
 * The challenge window is the guardian's time to act (services/oracle/guardian.ts): anyone may
 * finalize a pending root once it has passed, so a root two compromised signer keys proposed is
 * paid unless the guardian rejects it first. With the old 2 s window (a third of a 1 h epoch at
 * 600×) an outside attack had a forged root final and paid before anyone could look. The
 * guardian needs a poll (1 s) to see the proposal, its replay at the epoch, a rebuild of the pool
 * epoch and a mined `reject`: 4 s after the proposal on a loaded 2-core machine, 11 s for one
 * started after the proposal (test/oracle/guardian.test.ts), and a supervised restart after a
 * crash waits 1 s before it. So the window is never under 20 s.
 *
 * RevenueOracle takes a pool's epochs one after the other (epoch n + 1 is proposed once n is
 * final), so a pool finalizes at most one epoch per window; with windows longer than an epoch's
 * wall time the oracle falls behind for good (seen with a 10 s window and 6 s epochs: 155 of 326
 * closed epochs final after half an hour). Hence npm start's default epoch of 6 h (36 s of wall
 * time at 600×). Above the floor the window is a third of an epoch's wall time, so proposing,
 * waiting and finalizing fit in one epoch, up to a minute.
 */
export const GUARDIAN_MIN_CHALLENGE_WINDOW_MS = 20_000
const MAX_CHALLENGE_WINDOW_MS = 60_000

export function demoChallengeWindowMs(epochMs: number, speed: number): number {
  const third = Math.floor(epochMs / speed / 3 / 1000) * 1000
  return Math.min(MAX_CHALLENGE_WINDOW_MS, Math.max(GUARDIAN_MIN_CHALLENGE_WINDOW_MS, third))
}

/**
 * Whether finalizing keeps up with the epochs: a window plus the few seconds of closing, signing,
 * proposing and finalizing fit in an epoch's wall time (half as much again as the window).
 */
export function oracleKeepsUp(epochMs: number, speed: number, windowMs: number): boolean {
  return epochMs / speed >= windowMs * 1.5
}
