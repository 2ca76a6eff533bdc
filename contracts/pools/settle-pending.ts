/**
 * Waits until the sending account has no transaction pending in the node's pool. A run killed
 * after sending a mint (or any write) but before it was mined would otherwise read the chain
 * without it and send it again; once everything it sent is mined, every step reads the truth.
 */
import type { Address } from 'viem'
import { GridrootError } from '../../core/errors/base.ts'
import type { DeployClients } from '../deploy/deploy-contract.ts'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Returns how many transactions of `account` were pending when it was called. */
export async function settlePending(
  clients: DeployClients,
  account: Address,
  timeoutMs = 120_000,
): Promise<number> {
  const count = (blockTag: 'latest' | 'pending') =>
    clients.publicClient.getTransactionCount({ address: account, blockTag })
  const pending = (await count('pending')) - (await count('latest'))
  const deadline = Date.now() + timeoutMs
  while ((await count('pending')) > (await count('latest'))) {
    if (Date.now() > deadline)
      throw new GridrootError('TRANSACTIONS_PENDING', `${account} still has transactions pending`, {
        metaMessages: ['Wait until the node mines them (or replace them), then run the command again.'],
      })
    await sleep(1_000)
  }
  return Math.max(0, pending)
}
