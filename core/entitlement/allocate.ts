/**
 * Exact pro-rata split (DESIGN.md, Units): each share floor(amount × w / W), then the remainder
 * one unit each to the largest fractional parts, ties by account (ascending lowercase hex). The
 * shares sum exactly to the amount. A weight-0 account never gets a unit: the fractional parts
 * sum to remainder × W, each below W, so more than `remainder` accounts have one above zero.
 * Monotone: raising one weight never lowers that account's share (its quota and fractional part
 * rise; at most one account per floor that drops can overtake it, and the remainder grows by
 * exactly that many).
 */
import { EntitlementInputError } from './errors.ts'

export interface Weighted {
  readonly account: string
  readonly weight: bigint
}

/** Shares of `amount` by weight, in the order of `entries`; all zero if the weights sum to 0. */
export function allocateLargestRemainder(amount: bigint, entries: readonly Weighted[]): bigint[] {
  if (amount < 0n) throw new EntitlementInputError(`cannot split a negative amount ${amount}`)
  let total = 0n
  for (const e of entries) {
    if (e.weight < 0n)
      throw new EntitlementInputError(`account ${e.account} has a negative weight ${e.weight}`)
    total += e.weight
  }
  const shares = new Array<bigint>(entries.length).fill(0n)
  if (total === 0n || amount === 0n) return shares
  const fractions = new Array<bigint>(entries.length)
  let given = 0n
  for (let i = 0; i < entries.length; i++) {
    const product = amount * entries[i]!.weight
    shares[i] = product / total
    fractions[i] = product % total
    given += shares[i]!
  }
  let remainder = amount - given
  if (remainder === 0n) return shares
  const order = entries.map((_, i) => i)
  order.sort((a, b) => {
    const fa = fractions[a]!
    const fb = fractions[b]!
    if (fa !== fb) return fa > fb ? -1 : 1
    const ka = entries[a]!.account
    const kb = entries[b]!.account
    return ka < kb ? -1 : ka > kb ? 1 : 0
  })
  for (const i of order) {
    if (remainder === 0n) break
    shares[i] = shares[i]! + 1n
    remainder--
  }
  return shares
}
