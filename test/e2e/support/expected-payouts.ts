/**
 * What each holder should be paid, worked out by the test itself from chain data and the
 * simulator's ground truth, following the rule that docs/architecture.md ("Holder entitlement")
 * states, without calling core/entitlement or the distributor's chain adapter:
 *
 * - distributable = floor(Σ ground-truth revenue of the pool's devices in the epoch × bps / 10 000);
 * - weight = Σ balance × seconds held inside the epoch's chain window [startS, endS), a balance
 *   change counting from its block's timestamp; balances from the token's raw Transfer logs;
 * - every holder with weight takes part in the split (floor of each quota, the remainder one unit
 *   each to the largest fractional parts, ties by lowercase address); an account not verified at
 *   the window's end keeps its weight, and its part is withheld (not paid to anyone).
 */
import { type Address, type Hex, type PublicClient, parseAbiItem } from 'viem'
import type { TokenTransfer } from '../../../core/entitlement/index.ts'

/** ERC-20's Transfer: a standard event, so this reader does not follow the token's ABI file. */
const TRANSFER = parseAbiItem('event Transfer(address indexed from, address indexed to, uint256 value)')
const ZERO = '0x0000000000000000000000000000000000000000'

/** A Transfer log with its block's timestamp (the shape only; nothing of core's rule is used). */
export type RawTransfer = TokenTransfer

/** Every Transfer log of `token`, in chain order, with its block's timestamp (seconds). */
export async function readTransfers(client: PublicClient, token: Address): Promise<RawTransfer[]> {
  const logs = await client.getLogs({ address: token, event: TRANSFER, fromBlock: 0n, toBlock: 'latest' })
  const stamps = new Map<bigint, number>()
  const out: RawTransfer[] = []
  for (const log of logs) {
    const blockNumber = log.blockNumber as bigint
    if (!stamps.has(blockNumber))
      stamps.set(blockNumber, Number((await client.getBlock({ blockNumber })).timestamp))
    out.push({
      from: (log.args.from as string).toLowerCase(),
      to: (log.args.to as string).toLowerCase(),
      value: log.args.value as bigint,
      blockNumber,
      logIndex: log.logIndex as number,
      timestampS: stamps.get(blockNumber) as number,
    })
  }
  return out.sort((a, b) =>
    a.blockNumber === b.blockNumber ? a.logIndex - b.logIndex : a.blockNumber < b.blockNumber ? -1 : 1,
  )
}

/** Balance × seconds per account inside [startS, endS). */
export function timeWeights(
  transfers: readonly RawTransfer[],
  window: { readonly startS: number; readonly endS: number },
): Map<string, bigint> {
  const held = new Map<string, bigint>()
  const weights = new Map<string, bigint>()
  // Each account's balance is constant between the timestamps of its changes: weigh every
  // stretch [from, until) by the part of it that lies inside the window.
  const since = new Map<string, number>()
  const close = (account: string, untilS: number) => {
    const from = Math.max(since.get(account) ?? window.startS, window.startS)
    const until = Math.min(untilS, window.endS)
    const balance = held.get(account) ?? 0n
    if (until > from && balance > 0n)
      weights.set(account, (weights.get(account) ?? 0n) + balance * BigInt(until - from))
    since.set(account, untilS)
  }
  for (const t of transfers) {
    for (const [account, delta] of [
      [t.from, -t.value],
      [t.to, t.value],
    ] as const) {
      if (account === ZERO) continue
      close(account, t.timestampS)
      held.set(account, (held.get(account) ?? 0n) + delta)
    }
  }
  for (const account of held.keys()) close(account, window.endS)
  return weights
}

export interface EpochShares {
  readonly distributableUnits: bigint
  /** What each eligible holder is paid for the epoch. */
  readonly paid: Map<string, bigint>
  /** What the weight of each excluded holder earned, kept back. */
  readonly withheld: Map<string, bigint>
}

export function epochShares(
  distributableUnits: bigint,
  weights: ReadonlyMap<string, bigint>,
  excluded: (account: string) => boolean,
): EpochShares {
  const accounts = [...weights.keys()].filter((a) => (weights.get(a) ?? 0n) > 0n).sort()
  const total = accounts.reduce((s, a) => s + (weights.get(a) as bigint), 0n)
  const share = new Map<string, bigint>()
  const rest = new Map<string, bigint>()
  let given = 0n
  for (const a of accounts) {
    const quota = distributableUnits * (weights.get(a) as bigint)
    share.set(a, total === 0n ? 0n : quota / total)
    rest.set(a, total === 0n ? 0n : quota % total)
    given += share.get(a) as bigint
  }
  const byRemainder = [...accounts].sort((a, b) => {
    const ra = rest.get(a) as bigint
    const rb = rest.get(b) as bigint
    return ra !== rb ? (ra > rb ? -1 : 1) : a < b ? -1 : 1
  })
  for (let left = total === 0n ? 0n : distributableUnits - given, i = 0; left > 0n; left--, i++) {
    const a = byRemainder[i] as string
    share.set(a, (share.get(a) as bigint) + 1n)
  }
  const paid = new Map<string, bigint>()
  const withheld = new Map<string, bigint>()
  for (const [a, amount] of share) (excluded(a) ? withheld : paid).set(a, amount)
  return { distributableUnits, paid, withheld }
}

/** An account's verification changing at a block timestamp (a Verified/Unverified the test sent). */
export interface IdentityChange {
  readonly account: Hex
  readonly verified: boolean
  readonly timestampS: number
}

/**
 * Whether `account` is verified at `endS`: the last change before it decides (everyone the test
 * deals with was verified before the first window).
 */
export function verifiedAt(changes: readonly IdentityChange[], account: string, endS: number): boolean {
  let verified = true
  for (const c of changes)
    if (c.account.toLowerCase() === account && c.timestampS < endS) verified = c.verified
  return verified
}
