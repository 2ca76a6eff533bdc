/**
 * Why a mined transaction reverted. A receipt says only `status: reverted`; the reason is had by
 * replaying the transaction (same from, to, data, value and gas) as an `eth_call` on the block it
 * was mined in, whose state includes every transaction before it in that block (the one that
 * invalidated it, in the usual race), and decoding the revert with runtime/chain/revert.ts. A
 * transaction that used all its gas ran out of gas, whatever a replay says.
 */
import type { Hex, PublicClient, TransactionReceipt } from 'viem'
import { type DecodedRevert, decodeRevert, formatRevert } from './revert.ts'

export interface MinedRevert {
  readonly hash: Hex
  readonly blockNumber: bigint
  readonly gasUsed: bigint
  readonly gasLimit: bigint
  /** Every unit of the gas limit was used. */
  readonly outOfGas: boolean
  /** The custom error (or `require` reason) the replay reverted with. */
  readonly revert: DecodedRevert | undefined
  /** The replay's own error, kept as the cause. */
  readonly replayError: unknown
  /** One line: what the chain said, for an error message. */
  readonly why: string
}

/**
 * Replays the reverted transaction of `receipt` on its block and says why it reverted.
 *
 * @example
 * const receipt = await publicClient.waitForTransactionReceipt({ hash })
 * if (receipt.status === 'reverted') throw new TxError((await explainMinedRevert(publicClient, receipt)).why)
 */
export async function explainMinedRevert(
  client: PublicClient,
  receipt: TransactionReceipt,
): Promise<MinedRevert> {
  const tx = await client.getTransaction({ hash: receipt.transactionHash })
  const outOfGas = receipt.gasUsed >= tx.gas
  let replayError: unknown
  try {
    await client.call({
      account: tx.from,
      ...(tx.to ? { to: tx.to } : {}),
      data: tx.input,
      value: tx.value,
      gas: tx.gas,
      blockNumber: receipt.blockNumber,
    })
  } catch (error) {
    replayError = error
  }
  const revert = replayError === undefined ? undefined : decodeRevert(replayError)
  const gas = `${receipt.gasUsed} of ${tx.gas} gas`
  const why = outOfGas
    ? `it ran out of gas (${gas} used)`
    : revert
      ? `it reverted with ${formatRevert(revert)} (replayed on block ${receipt.blockNumber})`
      : replayError === undefined
        ? `replayed on block ${receipt.blockNumber} it passes (${gas} used): a later transaction of that block changed the state back`
        : `it reverted without a known error (replayed on block ${receipt.blockNumber}, ${gas} used)`
  return {
    hash: receipt.transactionHash,
    blockNumber: receipt.blockNumber,
    gasUsed: receipt.gasUsed,
    gasLimit: tx.gas,
    outOfGas,
    revert,
    replayError,
    why,
  }
}

/** The bounded details of a mined revert, for a gridroot error's `details`. */
export function minedRevertDetails(mined: MinedRevert): Readonly<Record<string, unknown>> {
  return {
    hash: mined.hash,
    blockNumber: String(mined.blockNumber),
    gasUsed: String(mined.gasUsed),
    gasLimit: String(mined.gasLimit),
    outOfGas: mined.outOfGas,
    ...(mined.revert ? { errorName: mined.revert.errorName, revert: formatRevert(mined.revert) } : {}),
  }
}
