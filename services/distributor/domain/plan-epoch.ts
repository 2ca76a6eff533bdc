/**
 * One pool epoch's distribution, pure: the holders' entitlement for the finalized epoch
 * (core/entitlement), added to the cumulative amounts after the previous epoch, as the leaves of
 * the next cumulative holder tree. Everything here is a function of chain data (the oracle's
 * finalized revenue, the share token's Transfer logs, the identity registry's history) and the
 * pool's terms, so anyone recomputes the same root, and a distributor that restarts rebuilds
 * exactly what it had.
 */
import {
  accumulate,
  type BalanceChange,
  balanceChangesFromTransfers,
  type ChainWindow,
  computeEpochEntitlement,
  type EpochEntitlement,
  type ExclusionReason,
  type TokenTransfer,
  type WeightMode,
} from '../../../core/entitlement/index.ts'
import type { HolderLeaf } from '../../../core/merkle/index.ts'
import type { DistributionTerms, IdentityEvent, SplitMode } from '../ports.ts'

export interface EpochPlanInput {
  readonly poolId: string
  readonly epoch: number
  readonly revenueUnits: bigint
  readonly terms: DistributionTerms
  readonly window: ChainWindow
  /** Every Transfer log of the pool's share token with a block timestamp below the window's end. */
  readonly transfers: readonly TokenTransfer[]
  readonly identityEvents: readonly IdentityEvent[]
  /** The distributor's own address: it never holds a share. */
  readonly distributor: string
  /** Accounts the pool's configuration excludes (an operator's own wallet, an exchange). */
  readonly excludedAccounts: readonly string[]
}

export interface EpochPlan {
  readonly entitlement: EpochEntitlement
  /** Cumulative amounts per account (lowercase) after this epoch. */
  readonly cumulative: ReadonlyMap<string, bigint>
  readonly leaves: readonly HolderLeaf[]
  readonly cumulativeTotal: bigint
}

const weightMode = (mode: SplitMode): WeightMode => (mode === 'snapshot' ? 'end-balance' : 'time-weighted')

/**
 * Whether `account` is verified at the window's end (the last identity event before `endS`
 * decides; an account never verified is not). The whole epoch follows that one instant: an
 * investor unverified before the epoch ends earns nothing for it (its part is reported as
 * excluded), and the contract refuses its claims while it stays unverified.
 */
export function verifiedAt(events: readonly IdentityEvent[], endS: number): Map<string, boolean> {
  const sorted = [...events].sort((a, b) =>
    a.blockNumber === b.blockNumber ? a.logIndex - b.logIndex : a.blockNumber < b.blockNumber ? -1 : 1,
  )
  const status = new Map<string, boolean>()
  for (const e of sorted) if (e.timestampS < endS) status.set(e.account.toLowerCase(), e.verified)
  return status
}

export function planEpoch(previous: ReadonlyMap<string, bigint>, input: EpochPlanInput): EpochPlan {
  const verified = verifiedAt(input.identityEvents, input.window.endS)
  const treasury = input.terms.treasury.toLowerCase()
  const distributor = input.distributor.toLowerCase()
  const configured = new Set(input.excludedAccounts.map((a) => a.toLowerCase()))
  const exclusion = (account: string): ExclusionReason | undefined => {
    if (account === treasury) return 'treasury'
    if (account === distributor) return 'distributor'
    if (configured.has(account)) return 'configured'
    if (verified.get(account) !== true) return 'unverified'
    return undefined
  }
  const changes: BalanceChange[] = balanceChangesFromTransfers(
    input.transfers.filter((t) => t.timestampS < input.window.endS),
  )
  const entitlement = computeEpochEntitlement({
    poolId: input.poolId,
    epoch: input.epoch,
    revenueUnits: input.revenueUnits,
    terms: { holdersShareBps: input.terms.holdersBps, mode: weightMode(input.terms.splitMode) },
    window: input.window,
    changes,
    exclusion,
  })
  const cumulative = accumulate(previous, entitlement)
  const accounts = [...cumulative.keys()].sort()
  const leaves: HolderLeaf[] = accounts.map((account) => ({
    poolId: input.poolId,
    account: account as `0x${string}`,
    cumulativeAmount: cumulative.get(account)!,
  }))
  const cumulativeTotal = leaves.reduce((sum, l) => sum + l.cumulativeAmount, 0n)
  return { entitlement, cumulative, leaves, cumulativeTotal }
}
