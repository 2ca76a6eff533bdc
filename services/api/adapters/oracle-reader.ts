/**
 * Epoch state on-chain: RevenueOracle's `epochRecord(poolId, epoch)` for each pool epoch a page
 * shows, read with viem (one eth_call each, in parallel). Pool ids become bytes32 as the
 * contracts file records them.
 */
import type { Address, Hex, PublicClient } from 'viem'
import { revenueOracleAbi } from '../../../contracts/abi/index.ts'
import { RetryableError } from '../../../core/errors/base.ts'
import { chainKey, type EpochChainReader, type OnChainEpoch, type OnChainEpochStatus } from '../ports.ts'

/** IRevenueOracle.EpochStatus, in its declaration order. */
const STATUS: readonly OnChainEpochStatus[] = ['none', 'pending', 'rejected', 'final']

export class ChainUnavailableError extends RetryableError<'CHAIN_UNAVAILABLE'> {
  override readonly name = 'ChainUnavailableError'
  /** `contract`: what was read, for the message ("the chain did not answer a read of X"). */
  constructor(cause: unknown, contract = 'RevenueOracle') {
    super('CHAIN_UNAVAILABLE', `the chain did not answer a read of ${contract}`, {
      metaMessages: ['Is the node at GRIDROOT_RPC_URL up, and the contracts file from this chain?'],
      cause,
    })
  }
}

export function createOracleReader(options: {
  readonly publicClient: PublicClient
  readonly revenueOracle: Address
  /** poolId → bytes32 (from the contracts file); pools not in it have no chain state. */
  readonly poolIds: ReadonlyMap<string, Hex>
}): EpochChainReader {
  return {
    async records(requests) {
      const out = new Map<string, OnChainEpoch>()
      const known = requests.filter((r) => options.poolIds.has(r.poolId))
      try {
        await Promise.all(
          known.map(async ({ poolId, epoch }) => {
            const record = await options.publicClient.readContract({
              address: options.revenueOracle,
              abi: revenueOracleAbi,
              functionName: 'epochRecord',
              args: [options.poolIds.get(poolId) as Hex, BigInt(epoch)],
            })
            out.set(chainKey(poolId, epoch), {
              status: STATUS[record.status] ?? 'none',
              root: record.root,
              attempt: record.attempt,
              finalizesAtMs: Number(record.finalizesAt) * 1000,
              leafCount: record.leafCount,
              revenueUnits: record.revenueUnits,
            })
          }),
        )
      } catch (error) {
        throw new ChainUnavailableError(error)
      }
      return out
    },
  }
}
