/**
 * What a holder can claim, from the pool's current cumulative tree and what the contract says
 * it has claimed already. Pure: the claim CLI and the API both call it.
 */
import type { Hex } from 'viem'
import type { HolderTree } from '../merkle/index.ts'

export interface ClaimQuote {
  readonly account: string
  /** Cumulative amount the current root grants the account (0 if it is not in the tree). */
  readonly cumulativeAmount: bigint
  readonly claimedUnits: bigint
  /** What a claim would pay now. */
  readonly claimableUnits: bigint
  /** The proof for `claim(account, cumulativeAmount, proof)`; empty if not in the tree. */
  readonly proof: readonly Hex[]
  readonly inTree: boolean
}

export function quoteClaim(tree: HolderTree | undefined, account: string, claimedUnits: bigint): ClaimQuote {
  const key = account.toLowerCase()
  const rank = tree?.rankOf(key)
  if (tree === undefined || rank === undefined)
    return { account: key, cumulativeAmount: 0n, claimedUnits, claimableUnits: 0n, proof: [], inTree: false }
  const cumulativeAmount = tree.leaves[rank]!.cumulativeAmount
  const claimable = cumulativeAmount > claimedUnits ? cumulativeAmount - claimedUnits : 0n
  return {
    account: key,
    cumulativeAmount,
    claimedUnits,
    claimableUnits: claimable,
    proof: tree.proof(rank),
    inTree: true,
  }
}
