/**
 * Epochs live in device time, balances in chain time. The map between them is a linear clock
 * held on-chain by each pool's RevenueDistributor (`epochClock()`, set at pool creation, fixed
 * once its chain genesis passes), so anyone recomputes the window from the chain alone:
 *
 *   chainS(deviceMs) = chainGenesisS + ceil((deviceMs − deviceGenesisMs) / (1000 × speedup))
 *   epoch n ↦ [chainS(start of n), chainS(end of n))   (block timestamps, seconds)
 *
 * In production speedup = 1 and the two genesis times are the same instant, so the window is the
 * epoch itself in seconds. The local stack's simulations run device time `speedup` times faster
 * than the wall clock that stamps anvil's blocks; the map compresses each epoch into the wall
 * time it took, without ever warping the chain's clock (the shared anvil must not be warped).
 * Adjacent epochs tile exactly: the end of n is the start of n + 1.
 */
import { epochEndMs, epochStartMs, type TimeGrid } from '../epochs/grid.ts'
import type { ChainWindow } from './balances.ts'
import { EntitlementInputError } from './errors.ts'

export interface ChainClock {
  readonly deviceGenesisMs: number
  readonly chainGenesisS: number
  /** Device milliseconds per chain millisecond (1 in production). */
  readonly speedup: number
}

/**
 * A pool's clock as its RevenueDistributor holds it on-chain (`epochClock()`, set at pool
 * creation): the chain clock plus the epoch length, so the grid of device epochs is on-chain too.
 */
export interface EpochClock extends ChainClock {
  readonly epochLengthMs: number
}

/** The grid's epochs mapped by `chain` (genesis and speed-up) onto chain seconds. */
export function epochClockOf(
  grid: Pick<TimeGrid, 'genesisMs' | 'epochLengthMs'>,
  chain: { readonly chainGenesisS: number; readonly speedup: number },
): EpochClock {
  return {
    deviceGenesisMs: grid.genesisMs,
    epochLengthMs: grid.epochLengthMs,
    chainGenesisS: chain.chainGenesisS,
    speedup: chain.speedup,
  }
}

/** The `EpochClock` struct of RevenueDistributor (viem's encoding: uint64 as bigint). */
export function epochClockToChain(clock: EpochClock) {
  return {
    deviceGenesisMs: BigInt(clock.deviceGenesisMs),
    epochLengthMs: BigInt(clock.epochLengthMs),
    chainGenesisS: BigInt(clock.chainGenesisS),
    speedup: clock.speedup,
  } as const
}

export function epochClockFromChain(c: {
  deviceGenesisMs: bigint
  epochLengthMs: bigint
  chainGenesisS: bigint
  speedup: number
}): EpochClock {
  return {
    deviceGenesisMs: Number(c.deviceGenesisMs),
    epochLengthMs: Number(c.epochLengthMs),
    chainGenesisS: Number(c.chainGenesisS),
    speedup: c.speedup,
  }
}

export function chainSeconds(clock: ChainClock, deviceMs: number): number {
  if (!Number.isSafeInteger(clock.speedup) || clock.speedup < 1)
    throw new EntitlementInputError(`the chain clock's speedup ${clock.speedup} is not an integer ≥ 1`)
  const scaled = (deviceMs - clock.deviceGenesisMs) / (1000 * clock.speedup)
  return clock.chainGenesisS + Math.ceil(scaled)
}

export function epochChainWindow(grid: TimeGrid, clock: ChainClock, epoch: number): ChainWindow {
  const window = {
    startS: chainSeconds(clock, epochStartMs(grid, epoch)),
    endS: chainSeconds(clock, epochEndMs(grid, epoch)),
  }
  if (window.endS <= window.startS)
    throw new EntitlementInputError(
      `epoch ${epoch} maps onto an empty chain window: an epoch must last at least a chain second`,
    )
  return window
}
