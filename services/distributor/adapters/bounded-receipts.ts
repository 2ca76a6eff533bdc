/**
 * The public client the distributor's pool chain sends through, with every receipt wait bounded
 * (GRIDROOT_DISTRIBUTOR_RECEIPT_TIMEOUT). A transaction dropped by a reorg never gets a receipt:
 * viem would wait its default 180 s while /healthz blamed the node (attack F8), and then the pass
 * failed like any chain error. Bounded, the wait ends in a `ReceiptTimeoutError` naming the
 * transaction, and the distributor re-derives its step from chain state (pool-distributor.ts):
 * the contract's `nextEpoch` says whether the publication landed, so resending never pays twice.
 *
 * It wraps the client instead of passing a timeout in, because runtime/chain/pool-chain.ts (shared
 * with the API and the claim CLI) waits without one; every other action is the client's own.
 */
import { type Hex, type PublicClient, WaitForTransactionReceiptTimeoutError } from 'viem'
import { RetryableError } from '../../../core/errors/base.ts'

/** No receipt within the bound: the transaction may have been dropped (a reorg) or may still be mined later. */
export class ReceiptTimeoutError extends RetryableError<'RECEIPT_TIMEOUT'> {
  override readonly name = 'ReceiptTimeoutError'
  readonly hash: Hex
  constructor(hash: Hex, timeoutMs: number, cause: unknown) {
    super('RECEIPT_TIMEOUT', `no receipt for transaction ${hash} within ${Math.round(timeoutMs / 1000)} s`, {
      metaMessages: [
        'It was dropped (a reorg, a node restart) or is still waiting to be mined; the distributor reads the chain state again and sends again only if the step is still undone.',
      ],
      details: { hash, timeoutMs },
      cause,
    })
    this.hash = hash
  }
}

export interface BoundedReceiptsOptions {
  readonly timeoutMs: number
  /** Called with the transaction whose receipt is awaited, and with undefined when the wait ends. */
  readonly onWait?: (hash: Hex | undefined) => void
}

export function withBoundedReceipts(client: PublicClient, options: BoundedReceiptsOptions): PublicClient {
  const waitForTransactionReceipt: PublicClient['waitForTransactionReceipt'] = async (args) => {
    options.onWait?.(args.hash)
    try {
      return await client.waitForTransactionReceipt({ ...args, timeout: options.timeoutMs })
    } catch (error) {
      if (error instanceof WaitForTransactionReceiptTimeoutError)
        throw new ReceiptTimeoutError(args.hash, options.timeoutMs, error)
      throw error
    } finally {
      options.onWait?.(undefined)
    }
  }
  return { ...client, waitForTransactionReceipt }
}
