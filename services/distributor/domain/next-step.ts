/**
 * The distributor's next step for one pool, derived from chain state alone, so that a restart at
 * any point resumes where the chain is (nothing it remembers decides whether to publish). Pure.
 *
 * The contract takes exactly one epoch next (`nextEpoch`, strictly in order), so a root is never
 * published twice. It is published once the oracle epoch is final and the chain has moved past
 * the epoch's window: until a block with timestamp ≥ the window's end exists, a transfer could
 * still land inside the window, and the weights would not be final.
 */
import type { ChainWindow, EpochClock } from '../../../core/entitlement/index.ts'
import type { TimeGrid } from '../../../core/epochs/grid.ts'
import type { DistributorState } from '../ports.ts'

export type PublishStep =
  | { readonly kind: 'publish'; readonly epoch: number }
  | {
      readonly kind: 'wait'
      readonly epoch: number
      readonly reason: 'paused' | 'oracle-not-final' | 'window-open'
      /** window-open: the chain time (s) the latest block must reach. */
      readonly untilS?: number
    }

/**
 * Why the pool's on-chain epoch clock cannot serve this deployment's epoch grid (the oracle's
 * epochs are numbered on the grid of GRIDROOT_EPOCH_*), or undefined when it can.
 */
export function clockProblem(
  grid: Pick<TimeGrid, 'genesisMs' | 'epochLengthMs'>,
  clock: EpochClock,
): string | undefined {
  if (clock.deviceGenesisMs === grid.genesisMs && clock.epochLengthMs === grid.epochLengthMs) return undefined
  return `the pool's RevenueDistributor maps epochs of ${clock.epochLengthMs} ms from device time ${new Date(clock.deviceGenesisMs).toISOString()}, but this deployment's grid has epochs of ${grid.epochLengthMs} ms from ${new Date(grid.genesisMs).toISOString()}`
}

export function nextPublishStep(
  state: DistributorState,
  oracleFinal: boolean,
  window: ChainWindow,
  latestBlockTimestampS: number,
): PublishStep {
  const epoch = state.nextEpoch
  if (state.paused) return { kind: 'wait', epoch, reason: 'paused' }
  if (!oracleFinal) return { kind: 'wait', epoch, reason: 'oracle-not-final' }
  if (latestBlockTimestampS < window.endS)
    return { kind: 'wait', epoch, reason: 'window-open', untilS: window.endS }
  return { kind: 'publish', epoch }
}

/** Why the treasury cannot fund `increase` now, with what to do; undefined when it can. */
export function fundingProblem(
  increase: bigint,
  treasury: { readonly address: string; readonly balance: bigint; readonly allowance: bigint },
): string | undefined {
  if (treasury.balance < increase)
    return `the treasury ${treasury.address} holds ${treasury.balance} base units but the epoch needs ${increase}: transfer at least ${increase - treasury.balance} more of the payment token to it`
  if (treasury.allowance < increase)
    return `the treasury ${treasury.address} allows the distributor ${treasury.allowance} base units but the epoch needs ${increase}: approve the distributor for at least ${increase}`
  return undefined
}
