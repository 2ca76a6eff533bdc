/**
 * The submitter's next step for one pool, derived from chain state alone (plus the signatures it
 * has collected), so that a restart at any point resumes where the chain is: nothing the
 * submitter remembers decides whether to propose or finalize. Pure.
 *
 * - A pending root is finalized once its challenge window has passed, and nothing else is
 *   proposed for the pool meanwhile (epochs advance strictly: the contract takes epoch n+1 only
 *   after n is final), so a proposal is never sent twice.
 * - Never a pending proposal that no current signer signed in the book: the whole EpochRoot
 *   struct as its EpochProposed event carries it (root, attempt, totals, leaf count, tree and
 *   archive hashes) must be a proposal of the book. Anything else was proposed with signatures
 *   the signers never published, i.e. a compromised or broken signer threshold (attack10a F2;
 *   attack10 F2: the same root with another energyWh or archive hash passed a root-and-totals
 *   match). It waits as `unsigned-pending` for the guardian to reject it, however long the
 *   window has passed.
 * - Otherwise the contract's next epoch is proposed once `threshold` current signers signed the
 *   same proposal, never a root the guardian rejected for that epoch.
 */
import type { Hex, Proposal } from './proposal.ts'
import type { ReadyProposal } from './signature-book.ts'

export interface PoolChainState {
  readonly poolId: string
  /** The only epoch the contract accepts a proposal for now. */
  readonly nextEpoch: number
  /** The contract's attempt number for `nextEpoch` (what signatures must be made for). */
  readonly attempt: number
  readonly pending:
    | {
        readonly epoch: number
        readonly root: Hex
        readonly finalizableAtSec: bigint
        /** What was proposed, every signed field (from its EpochProposed event). */
        readonly proposal: Proposal
      }
    | undefined
  /** Roots the guardian rejected for `nextEpoch`. */
  readonly rejectedRoots: readonly Hex[]
}

export type SubmitStep =
  | { readonly kind: 'finalize'; readonly poolId: string; readonly epoch: number; readonly root: Hex }
  | {
      readonly kind: 'propose'
      readonly poolId: string
      readonly epoch: number
      readonly ready: ReadyProposal
    }
  | {
      readonly kind: 'wait'
      readonly poolId: string
      readonly epoch: number
      readonly reason: 'challenge-window' | 'signatures'
      /** For the challenge window: when it ends (chain time, seconds). */
      readonly untilSec?: bigint
    }
  | {
      readonly kind: 'wait'
      readonly poolId: string
      readonly epoch: number
      readonly reason: 'unsigned-pending'
      readonly attempt: number
      /** The pending root no current signer signed. */
      readonly root: Hex
      /** When its challenge window ends (chain time, seconds): the guardian must reject before. */
      readonly untilSec: bigint
    }

/** Whether a current signer signed this pending proposal (every field) in the submitter's book. */
export type SignedInBook = (pending: NonNullable<PoolChainState['pending']>) => boolean

export function nextSubmitStep(
  state: PoolChainState,
  nowSec: bigint,
  readyFor: (epoch: number, attempt: number, rejectedRoots: ReadonlySet<string>) => ReadyProposal | undefined,
  signedInBook: SignedInBook,
): SubmitStep {
  const { poolId, pending } = state
  if (pending) {
    if (!signedInBook(pending))
      return {
        kind: 'wait',
        poolId,
        epoch: pending.epoch,
        reason: 'unsigned-pending',
        attempt: state.attempt,
        root: pending.root,
        untilSec: pending.finalizableAtSec,
      }
    if (nowSec >= pending.finalizableAtSec) {
      return { kind: 'finalize', poolId, epoch: pending.epoch, root: pending.root }
    }
    return {
      kind: 'wait',
      poolId,
      epoch: pending.epoch,
      reason: 'challenge-window',
      untilSec: pending.finalizableAtSec,
    }
  }
  const rejected = new Set(state.rejectedRoots.map((r) => r.toLowerCase()))
  const ready = readyFor(state.nextEpoch, state.attempt, rejected)
  if (ready && !rejected.has(ready.proposal.root.toLowerCase())) {
    return { kind: 'propose', poolId, epoch: state.nextEpoch, ready }
  }
  return { kind: 'wait', poolId, epoch: state.nextEpoch, reason: 'signatures' }
}
