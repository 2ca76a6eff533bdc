/**
 * Epochs live in device time, balances in chain time. The map between them is a linear clock
 * fixed per deployment and published with the pool's terms, so anyone recomputes the window from
 * the chain alone:
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
