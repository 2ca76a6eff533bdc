/**
 * How long a final epoch has waited for a committed artifact the store does not give, and when
 * that is an outage rather than a publication in flight. A missing tree or archive is a wait,
 * never a payment, but a wait the pool never leaves was 200 on /healthz for good (attack F6): past
 * GRIDROOT_DISTRIBUTOR_ARTIFACT_WAIT it is ARTIFACT_MISSING, 503, while the distributor keeps
 * looking at every poll. Pure.
 */
import type { Hex } from 'viem'
import type { ArtifactKind } from './commitment-gate.ts'

/** The artifact a pool's next epoch waits for, since the first pass that found it missing. */
export interface MissingArtifact {
  readonly epoch: number
  readonly artifact: ArtifactKind
  readonly hash: Hex
  readonly sinceMs: number
}

export interface ArtifactMissingProblem {
  readonly code: 'ARTIFACT_MISSING'
  readonly pool: string
  readonly epoch: number
  readonly artifact: ArtifactKind
  readonly hash: Hex
  readonly missingForMs: number
  readonly message: string
  readonly hint: string
}

/** The wait after this pass: kept (with its start) while the same artifact is missing, otherwise new. */
export function nextMissing(
  before: MissingArtifact | undefined,
  now: Omit<MissingArtifact, 'sinceMs'>,
  nowMs: number,
): MissingArtifact {
  if (before?.epoch === now.epoch && before.hash === now.hash) return before
  return { ...now, sinceMs: nowMs }
}

/** ARTIFACT_MISSING once the artifact has been missing for `waitMs`; undefined before. */
export function artifactMissingProblem(
  pool: string,
  missing: MissingArtifact | undefined,
  nowMs: number,
  waitMs: number,
): ArtifactMissingProblem | undefined {
  if (missing === undefined) return undefined
  const missingForMs = nowMs - missing.sinceMs
  if (missingForMs < waitMs) return undefined
  return {
    code: 'ARTIFACT_MISSING',
    pool,
    epoch: missing.epoch,
    artifact: missing.artifact,
    hash: missing.hash,
    missingForMs,
    message: `pool ${pool} epoch ${missing.epoch} is final, but its ${missing.artifact} ${missing.hash} has been missing from the artifact store for ${Math.round(missingForMs / 1000)} s: nothing is paid for the pool until it is there`,
    hint: `Put the ${missing.artifact} ${missing.hash} into the artifact store (GRIDROOT_ARTIFACT_DIR): the oracle signers publish it before they sign, and any copy whose keccak256 is that hash will do. The distributor looks again at every poll.`,
  }
}
