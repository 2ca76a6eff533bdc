/**
 * What the pools file's investors still need minted, against what the token has minted so far
 * (read from its Transfer events from the zero address, so holders' transfers change nothing).
 *
 * Invariant: the token's supply never exceeds the file's total for the pool (the sum of its
 * investors' tokens). A pool's holders share its revenue pro rata, so a mint that the total does
 * not account for dilutes every holder: replacing an investor's address in the file used to mint
 * its amount again to the new address while the old kept its tokens (attack10b F8: LSEV's supply
 * 1,000,000 → 1,600,000). Tokens are never burned and RevenueShareToken has no forced transfer,
 * so such a mint cannot be undone: it is refused before anything is sent.
 */
import type { Address } from 'viem'

export interface PlannedInvestor {
  readonly account: Address
  /** Configured amount, token base units. */
  readonly amount: bigint
  /** Where the entry is, for messages: `pools[0] (longshine-ev).investors[1]`. */
  readonly place: string
}

export interface MintPlan {
  readonly mint: readonly { readonly investor: PlannedInvestor; readonly amount: bigint }[]
  readonly done: readonly PlannedInvestor[]
  /** Investors minted more than configured (tokens are never burned: a thing to do by hand). */
  readonly over: readonly { readonly investor: PlannedInvestor; readonly minted: bigint }[]
  /** Mints no entry accounts for: accounts not in the file, or minted beyond their amount. */
  readonly unaccounted: readonly { readonly account: Address; readonly units: bigint }[]
  readonly mintedUnits: bigint
  readonly fileUnits: bigint
  /** Supply after the planned mints would exceed the file's total: refuse, mint nothing. */
  readonly exceedsFileTotal: boolean
}

/** @param minted units minted so far per account (any case); accounts outside the file included */
export function planMints(
  investors: readonly PlannedInvestor[],
  minted: ReadonlyMap<string, { readonly account: Address; readonly units: bigint }>,
): MintPlan {
  const mint: { investor: PlannedInvestor; amount: bigint }[] = []
  const done: PlannedInvestor[] = []
  const over: { investor: PlannedInvestor; minted: bigint }[] = []
  const configured = new Map(investors.map((i) => [i.account.toLowerCase(), i.amount]))
  let fileUnits = 0n
  for (const investor of investors) {
    fileUnits += investor.amount
    const already = minted.get(investor.account.toLowerCase())?.units ?? 0n
    if (already < investor.amount) mint.push({ investor, amount: investor.amount - already })
    else if (already === investor.amount) done.push(investor)
    else over.push({ investor, minted: already })
  }
  let mintedUnits = 0n
  const unaccounted: { account: Address; units: bigint }[] = []
  for (const [key, { account, units }] of minted) {
    mintedUnits += units
    const excess = units - (configured.get(key) ?? 0n)
    if (excess > 0n) unaccounted.push({ account, units: excess })
  }
  const toMint = mint.reduce((sum, m) => sum + m.amount, 0n)
  return {
    mint,
    done,
    over,
    unaccounted,
    mintedUnits,
    fileUnits,
    exceedsFileTotal: toMint > 0n && mintedUnits + toMint > fileUnits,
  }
}
