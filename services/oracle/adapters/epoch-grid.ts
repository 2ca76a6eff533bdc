/**
 * A pool's epoch grid from the chain: its RevenueDistributor's `epochClock()` (set at pool
 * creation, fixed once its chain genesis passes), which maps device-time epochs exactly as the
 * aggregator and the signers cut them. `verify` recomputes leaves on it (attack10a F5).
 */
import type { Address, PublicClient } from 'viem'
import { revenueDistributorAbi } from '../../../contracts/abi/index.ts'
import { epochClockFromChain } from '../../../core/entitlement/index.ts'
import type { EpochGrid } from '../verify.ts'

export async function readEpochGrid(client: PublicClient, distributor: Address): Promise<EpochGrid> {
  const clock = epochClockFromChain(
    await client.readContract({
      address: distributor,
      abi: revenueDistributorAbi,
      functionName: 'epochClock',
    }),
  )
  return { genesisMs: clock.deviceGenesisMs, epochLengthMs: clock.epochLengthMs }
}
