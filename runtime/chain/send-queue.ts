/**
 * One transaction submission at a time per sending account, in this process. A process that
 * sends from one account in several loops at once (the distributor runs one per pool; the dev
 * wallet serves several browser tabs) must not let two sends read the node's pending nonce
 * before either is in the node's pool: both read the same count and the second fails `nonce
 * too low` (seen: 25 of 30 failed distributor passes in an hour of `npm start`, each recovered
 * only at the next poll). Holding the turn from the nonce read to the node's acceptance of the
 * transaction (its hash; not its receipt, so sends still pipeline) keeps the node the only
 * source of nonces: unlike a counter kept here, nothing drifts when a send fails, a transaction
 * is dropped or the node restarts empty. Two processes on one key still race: give each its own.
 */
import type { Address } from 'viem'

const tails = new Map<string, Promise<unknown>>()

/** Runs `submit` (which reads the nonce and hands the transaction to the node) after the sends before it from `from`. */
export async function submitInTurn<T>(from: Address, submit: () => Promise<T>): Promise<T> {
  const key = from.toLowerCase()
  const before = tails.get(key) ?? Promise.resolve()
  const mine = before.then(submit, submit)
  // The next send waits for this one to settle, whatever its outcome.
  const tail = mine.then(
    () => undefined,
    () => undefined,
  )
  tails.set(key, tail)
  try {
    return await mine
  } finally {
    if (tails.get(key) === tail) tails.delete(key)
  }
}
