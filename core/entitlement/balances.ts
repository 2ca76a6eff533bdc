/**
 * Holder balances in chain time, from the payment-share token's Transfer logs: each transfer is a
 * debit of `from` and a credit of `to` at its block's timestamp (mints and burns touch only one
 * side: the zero address holds nothing). Weights per account over an epoch's chain window:
 *
 * - `time-weighted` (default): Σ balance × seconds held within [startS, endS), in token units ×
 *   seconds. A change in a block with timestamp T counts from T on, so a balance bought at the
 *   last second of the window weighs one second out of the window's length.
 * - `end-balance`: the balance after every change with T < endS.
 *
 * A constant balance b weighs b × (endS − startS) time-weighted, proportional to b, so both modes
 * split the same. Changes at or after endS belong to later epochs and are ignored.
 */
import { EntitlementInputError } from './errors.ts'

export const ZERO_ADDRESS = '0x0000000000000000000000000000000000000000'

/** One Transfer log of the share token, with its block's timestamp (seconds). */
export interface TokenTransfer {
  readonly from: string
  readonly to: string
  readonly value: bigint
  readonly blockNumber: bigint
  readonly logIndex: number
  readonly timestampS: number
}

/** A signed change of one account's balance, effective from `timestampS`. */
export interface BalanceChange {
  readonly account: string
  readonly delta: bigint
  readonly blockNumber: bigint
  readonly logIndex: number
  readonly timestampS: number
}

export type WeightMode = 'time-weighted' | 'end-balance'

/** [startS, endS) in chain seconds (block timestamps). */
export interface ChainWindow {
  readonly startS: number
  readonly endS: number
}

/** The balance changes of a list of Transfer logs (accounts lowercased). */
export function balanceChangesFromTransfers(transfers: readonly TokenTransfer[]): BalanceChange[] {
  const changes: BalanceChange[] = []
  for (const t of transfers) {
    if (t.value < 0n) throw new EntitlementInputError(`a transfer of a negative value ${t.value}`)
    const from = t.from.toLowerCase()
    const to = t.to.toLowerCase()
    // plain literals of one shape: a hundred thousand spreads cost more than the weights do
    if (from !== ZERO_ADDRESS)
      changes.push({
        account: from,
        delta: -t.value,
        blockNumber: t.blockNumber,
        logIndex: t.logIndex,
        timestampS: t.timestampS,
      })
    if (to !== ZERO_ADDRESS)
      changes.push({
        account: to,
        delta: t.value,
        blockNumber: t.blockNumber,
        logIndex: t.logIndex,
        timestampS: t.timestampS,
      })
  }
  return changes
}

function checkWindow(window: ChainWindow): void {
  if (
    !Number.isSafeInteger(window.startS) ||
    !Number.isSafeInteger(window.endS) ||
    window.endS <= window.startS
  )
    throw new EntitlementInputError(
      `the chain window [${window.startS}, ${window.endS}) is empty or not integral`,
    )
}

/**
 * Each account's weight over the window (accounts lowercased; accounts that held nothing in the
 * window are left out). The changes may come in any order: they are applied in (block, log) order,
 * and a balance that would go negative is refused.
 */
export function holderWeights(
  changes: readonly BalanceChange[],
  window: ChainWindow,
  mode: WeightMode = 'time-weighted',
): Map<string, bigint> {
  checkWindow(window)
  const byBlockAndLog = (a: BalanceChange, b: BalanceChange) =>
    a.blockNumber !== b.blockNumber ? (a.blockNumber < b.blockNumber ? -1 : 1) : a.logIndex - b.logIndex
  // Logs arrive in chain order; sort only when they do not.
  let inOrder = true
  for (let i = 1; i < changes.length && inOrder; i++)
    inOrder = byBlockAndLog(changes[i - 1]!, changes[i]!) <= 0
  const sorted = inOrder ? changes : [...changes].sort(byBlockAndLog)
  const balance = new Map<string, bigint>()
  const since = new Map<string, number>()
  const weight = new Map<string, bigint>()
  const accrue = (account: string, untilS: number) => {
    const held = balance.get(account) ?? 0n
    const from = Math.max(since.get(account) ?? window.startS, window.startS)
    if (held > 0n && untilS > from)
      weight.set(account, (weight.get(account) ?? 0n) + held * BigInt(untilS - from))
  }
  let lastTimestamp = Number.NEGATIVE_INFINITY
  for (const c of sorted) {
    if (c.timestampS < lastTimestamp)
      throw new EntitlementInputError(`block ${c.blockNumber} has a timestamp before its predecessor's`)
    lastTimestamp = c.timestampS
    if (c.timestampS >= window.endS) break
    const account = c.account.toLowerCase()
    if (mode === 'time-weighted') accrue(account, c.timestampS)
    const next = (balance.get(account) ?? 0n) + c.delta
    if (next < 0n)
      throw new EntitlementInputError(`account ${account} would hold ${next} after block ${c.blockNumber}`, {
        account,
        blockNumber: c.blockNumber,
      })
    balance.set(account, next)
    since.set(account, c.timestampS)
  }
  if (mode === 'end-balance') {
    for (const [account, held] of balance) if (held > 0n) weight.set(account, held)
    return weight
  }
  for (const account of balance.keys()) accrue(account, window.endS)
  return weight
}
