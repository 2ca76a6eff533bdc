/**
 * Whether the submitter's wait for signatures has become a stall. Pure.
 *
 * Waiting on signatures is normal while the signers are still computing an epoch (their own
 * /healthz says so). It is a stall when the pool has waited on its next epoch longer than a
 * bound while the signers already signed later epochs of that pool: they moved on, and what
 * the submitter needs was lost on the way or refused. /healthz then must not say ok (it did:
 * `"step":"wait","reason":"signatures"` for good while payouts stopped).
 */
import type { Hex } from './proposal.ts'
import type { SubmitStep } from './submit-step.ts'

/** Since when a pool has waited on signatures for one epoch and attempt. */
export interface SignatureWait {
  readonly epoch: number
  readonly attempt: number
  readonly sinceMs: number
}

/** The wait after this step: kept while the same epoch and attempt still wait, else restarted or ended. */
export function trackSignatureWait(
  previous: SignatureWait | undefined,
  step: SubmitStep,
  attempt: number,
  nowMs: number,
): SignatureWait | undefined {
  if (step.kind !== 'wait' || step.reason !== 'signatures') return undefined
  if (previous && previous.epoch === step.epoch && previous.attempt === attempt) return previous
  return { epoch: step.epoch, attempt, sinceMs: nowMs }
}

export interface SignaturesMissing {
  readonly code: 'SIGNATURES_MISSING'
  readonly poolId: string
  readonly epoch: number
  readonly attempt: number
  readonly waitingMs: number
  readonly threshold: number
  /** The highest epoch of this pool a current signer is known to have signed. */
  readonly laterSignedEpoch: number
  /** What the book holds for the epoch: each proposal's root and signers, and the refusals. */
  readonly have: {
    readonly proposals: readonly {
      readonly root: Hex
      readonly attempt: number
      readonly signers: readonly Hex[]
    }[]
    readonly refusals: readonly { readonly signer: Hex; readonly reason: string }[]
  }
  /** Roots the guardian rejected that the signers signed again for this attempt (never proposed). */
  readonly rejectedRootResigned?: readonly Hex[]
  readonly message: string
}

export function signaturesMissing(input: {
  readonly poolId: string
  readonly wait: SignatureWait | undefined
  readonly nowMs: number
  readonly stallMs: number
  readonly threshold: number
  readonly laterSignedEpoch: number | undefined
  readonly have: SignaturesMissing['have']
  /** Roots the guardian rejected for this epoch: a proposal with one of them is never proposed. */
  readonly rejectedRoots?: readonly Hex[]
}): SignaturesMissing | undefined {
  const { wait, laterSignedEpoch } = input
  if (!wait || laterSignedEpoch === undefined || laterSignedEpoch <= wait.epoch) return undefined
  const waitingMs = input.nowMs - wait.sinceMs
  if (waitingMs < input.stallMs) return undefined
  const rejected = new Set((input.rejectedRoots ?? []).map((r) => r.toLowerCase()))
  const current = input.have.proposals.filter((p) => p.attempt === wait.attempt)
  const best = Math.max(
    0,
    ...current.filter((p) => !rejected.has(p.root.toLowerCase())).map((p) => p.signers.length),
  )
  // After a rejection the signers often recompute the same root for attempt N: signed by all,
  // never proposed. Say that, not "waits for 2, has 3" (attack10b F5).
  const resigned = current
    .filter((p) => rejected.has(p.root.toLowerCase()) && p.signers.length >= input.threshold)
    .map((p) => p.root)
  const after = wait.attempt > 0 ? `, after ${wait.attempt} guardian rejection(s)` : ''
  const message =
    resigned.length > 0
      ? `${input.poolId} has waited ${Math.round(waitingMs / 1000)} s on epoch ${wait.epoch} (attempt ${wait.attempt}${after}): ` +
        `the signers signed attempt ${wait.attempt} with ${resigned.join(', ')}, the root the guardian rejected, which is never proposed again; ` +
        `it needs ${input.threshold} signatures on a corrected root (best other proposal has ${best}). ` +
        `Correct what the signers compute epoch ${wait.epoch} from, or have the guardian's reason reviewed; later epochs (signed up to ${laterSignedEpoch}) wait behind it`
      : `${input.poolId} has waited ${Math.round(waitingMs / 1000)} s for ${input.threshold} signatures on epoch ${wait.epoch} ` +
        `(attempt ${wait.attempt}${after}; best proposal has ${best}, ${input.have.refusals.length} refusal(s)) ` +
        `while signers signed up to epoch ${laterSignedEpoch}`
  return {
    code: 'SIGNATURES_MISSING',
    poolId: input.poolId,
    epoch: wait.epoch,
    attempt: wait.attempt,
    waitingMs,
    threshold: input.threshold,
    laterSignedEpoch,
    have: input.have,
    ...(resigned.length > 0 ? { rejectedRootResigned: resigned } : {}),
    message,
  }
}
