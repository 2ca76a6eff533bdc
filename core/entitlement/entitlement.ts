/**
 * A pool epoch's holder entitlement (issue 11), pure:
 *
 * 1. distributable = floor(finalized epoch revenue × holdersShareBps / 10 000); the rest is the
 *    operator's (`operatorUnits`).
 * 2. Every holder's weight over the epoch's chain window (./balances.ts).
 * 3. Excluded accounts (treasury, distributor, unverified holders: the caller's rule decides,
 *    with a reason) keep their weight in the split, so nobody else's share depends on them; what
 *    their weight earned goes where `excludedPartTo` says, and is reported per account:
 *    `operator` (default) withholds it (not funded, it stays with the pool's treasury);
 *    `eligible-holders` splits the whole distributable among the eligible holders instead.
 * 4. Exact allocation by largest remainder (./allocate.ts); if no eligible holder has any weight,
 *    the whole distributable is reported as `unallocatedUnits` and not funded.
 *
 * Always: distributed + withheld + unallocated = distributable, distributable + operator = revenue.
 */
import { allocateLargestRemainder } from './allocate.ts'
import { type BalanceChange, type ChainWindow, holderWeights, type WeightMode } from './balances.ts'
import { EntitlementInputError } from './errors.ts'

export const BPS_DENOMINATOR = 10_000n

export type ExclusionReason = 'treasury' | 'distributor' | 'unverified' | 'configured'
export type ExcludedPartTo = 'operator' | 'eligible-holders'

export interface EntitlementTerms {
  /** Holders' share of the pool's revenue in basis points (0..10 000). */
  readonly holdersShareBps: number
  readonly mode?: WeightMode
  readonly excludedPartTo?: ExcludedPartTo
}

export interface EpochEntitlementInput {
  readonly poolId: string
  readonly epoch: number
  /** The finalized oracle epoch's revenue, base units of the payment token. */
  readonly revenueUnits: bigint
  readonly terms: EntitlementTerms
  readonly window: ChainWindow
  /** Every balance change of the share token up to (at least) the window's end. */
  readonly changes: readonly BalanceChange[]
  /** The configured rule: why an account cannot hold a share, or undefined if it can. */
  readonly exclusion: (account: string) => ExclusionReason | undefined
}

export interface Allocation {
  readonly account: string
  readonly weight: bigint
  readonly amountUnits: bigint
}

export interface ExcludedAllocation extends Allocation {
  readonly reason: ExclusionReason
  /** Where `amountUnits` (what the weight earned) went. */
  readonly goesTo: ExcludedPartTo
}

export interface EpochEntitlement {
  readonly poolId: string
  readonly epoch: number
  readonly mode: WeightMode
  readonly window: ChainWindow
  readonly revenueUnits: bigint
  readonly holdersShareBps: number
  readonly distributableUnits: bigint
  readonly operatorUnits: bigint
  readonly totalWeight: bigint
  /** Eligible holders, ascending by account, amounts summing to `distributedUnits`. */
  readonly allocations: readonly Allocation[]
  readonly excluded: readonly ExcludedAllocation[]
  readonly distributedUnits: bigint
  /** Excluded accounts' part kept back (excludedPartTo = operator). */
  readonly withheldUnits: bigint
  /** Nothing to split by: no eligible holder had any weight. */
  readonly unallocatedUnits: bigint
}

export function distributableUnits(revenueUnits: bigint, holdersShareBps: number): bigint {
  if (revenueUnits < 0n) throw new EntitlementInputError(`epoch revenue ${revenueUnits} is negative`)
  if (!Number.isInteger(holdersShareBps) || holdersShareBps < 0 || holdersShareBps > 10_000)
    throw new EntitlementInputError(`holders' share ${holdersShareBps} bps is not within 0..10000`)
  return (revenueUnits * BigInt(holdersShareBps)) / BPS_DENOMINATOR
}

const byAccount = (a: { account: string }, b: { account: string }) =>
  a.account < b.account ? -1 : a.account > b.account ? 1 : 0

export function computeEpochEntitlement(input: EpochEntitlementInput): EpochEntitlement {
  const mode = input.terms.mode ?? 'time-weighted'
  const excludedPartTo = input.terms.excludedPartTo ?? 'operator'
  const distributable = distributableUnits(input.revenueUnits, input.terms.holdersShareBps)
  const weights = [...holderWeights(input.changes, input.window, mode)]
    .map(([account, weight]) => ({ account, weight, reason: input.exclusion(account) }))
    .sort(byAccount)
  const totalWeight = weights.reduce((sum, w) => sum + w.weight, 0n)
  const eligible = weights.filter((w) => w.reason === undefined)
  const excludedWeights = weights.filter((w) => w.reason !== undefined)
  const eligibleWeight = eligible.reduce((sum, w) => sum + w.weight, 0n)

  // What each weight earns in the split over everyone: excluded accounts' parts are reported
  // from it, and under `operator` the eligible holders are paid from it too.
  const fullShares = allocateLargestRemainder(distributable, weights)
  const fullShareOf = new Map<string, bigint>()
  weights.forEach((w, i) => {
    if (w.reason !== undefined || excludedPartTo === 'operator') fullShareOf.set(w.account, fullShares[i]!)
  })
  let allocations: Allocation[]
  if (excludedPartTo === 'operator') {
    allocations = eligible.map((w) => ({
      account: w.account,
      weight: w.weight,
      amountUnits: fullShareOf.get(w.account)!,
    }))
  } else {
    const shares = allocateLargestRemainder(distributable, eligible)
    allocations = eligible.map((w, i) => ({ account: w.account, weight: w.weight, amountUnits: shares[i]! }))
  }
  const excluded = excludedWeights.map((w) => ({
    account: w.account,
    weight: w.weight,
    amountUnits: fullShareOf.get(w.account)!,
    reason: w.reason!,
    goesTo: excludedPartTo,
  }))
  const distributed = allocations.reduce((sum, a) => sum + a.amountUnits, 0n)
  const excludedPart = excluded.reduce((sum, a) => sum + a.amountUnits, 0n)
  const withheld = excludedPartTo === 'operator' ? excludedPart : 0n
  return {
    poolId: input.poolId,
    epoch: input.epoch,
    mode,
    window: input.window,
    revenueUnits: input.revenueUnits,
    holdersShareBps: input.terms.holdersShareBps,
    distributableUnits: distributable,
    operatorUnits: input.revenueUnits - distributable,
    totalWeight,
    allocations,
    excluded,
    distributedUnits: distributed,
    withheldUnits: withheld,
    unallocatedUnits:
      (excludedPartTo === 'operator' ? totalWeight : eligibleWeight) === 0n ? distributable : 0n,
  }
}

/**
 * Cumulative amounts per account after one more epoch (the holder tree's leaves): previous
 * totals plus this epoch's allocations; accounts with nothing this epoch keep their total.
 */
export function accumulate(
  previous: ReadonlyMap<string, bigint>,
  entitlement: Pick<EpochEntitlement, 'allocations'>,
): Map<string, bigint> {
  const next = new Map(previous)
  for (const a of entitlement.allocations) {
    if (a.amountUnits === 0n) continue
    next.set(a.account, (next.get(a.account) ?? 0n) + a.amountUnits)
  }
  return next
}
