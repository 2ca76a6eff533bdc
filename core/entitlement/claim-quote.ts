/**
 * What a holder can claim, from the pool's current cumulative tree, what the contract says it
 * has claimed already, and whether a claim would go through now (the distributor pays only a
 * verified account, and nothing while paused). Pure: the claim CLI and the API both call it.
 */
import type { Hex } from 'viem'
import type { HolderTree } from '../merkle/index.ts'

/** Why a claim would revert now although something is owed: the contract's error, as a stable code. */
export type ClaimBlock = 'NOT_VERIFIED' | 'PAUSED'

export interface ClaimStanding {
  /** The identity registry holds the account as verified (RevenueDistributor reverts NotVerified otherwise). */
  readonly verified: boolean
  readonly paused: boolean
}

export interface ClaimQuote {
  readonly account: string
  /** Cumulative amount the current root grants the account (0 if it is not in the tree). */
  readonly cumulativeAmount: bigint
  readonly claimedUnits: bigint
  /** What the account is owed (cumulative minus claimed), whether or not it can claim it now. */
  readonly owedUnits: bigint
  /** What a claim would pay now: the owed amount, or 0 while `blockedBy` is set. */
  readonly claimableUnits: bigint
  /** Set when something is owed but a claim would revert; undefined otherwise. */
  readonly blockedBy: ClaimBlock | undefined
  readonly verified: boolean
  /** The proof for `claim(account, cumulativeAmount, proof)`; empty if not in the tree. */
  readonly proof: readonly Hex[]
  readonly inTree: boolean
}

export function quoteClaim(
  tree: HolderTree | undefined,
  account: string,
  claimedUnits: bigint,
  standing: ClaimStanding,
): ClaimQuote {
  const key = account.toLowerCase()
  const rank = tree?.rankOf(key)
  const inTree = tree !== undefined && rank !== undefined
  const cumulativeAmount = inTree ? tree.leaves[rank]!.cumulativeAmount : 0n
  const owedUnits = cumulativeAmount > claimedUnits ? cumulativeAmount - claimedUnits : 0n
  // Paused first: while paused nobody can claim, verified or not.
  const blockedBy: ClaimBlock | undefined =
    owedUnits === 0n ? undefined : standing.paused ? 'PAUSED' : standing.verified ? undefined : 'NOT_VERIFIED'
  return {
    account: key,
    cumulativeAmount,
    claimedUnits,
    owedUnits,
    claimableUnits: blockedBy === undefined ? owedUnits : 0n,
    blockedBy,
    verified: standing.verified,
    proof: inTree ? tree.proof(rank) : [],
    inTree,
  }
}
