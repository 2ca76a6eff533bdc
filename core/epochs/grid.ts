/**
 * Time grid of device time: intervals (the resolution of the revenue series, e.g. 5 minutes)
 * inside epochs (the unit of on-chain settlement, e.g. a day). Epoch n covers
 * [genesisMs + n·epochLengthMs, genesisMs + (n+1)·epochLengthMs).
 */
import { ConfigError } from '../errors/base.ts'

export interface TimeGrid {
  readonly genesisMs: number
  readonly epochLengthMs: number
  readonly intervalMs: number
}

export function assertTimeGrid(grid: TimeGrid): TimeGrid {
  const { genesisMs, epochLengthMs, intervalMs } = grid
  if (
    ![genesisMs, epochLengthMs, intervalMs].every(Number.isSafeInteger) ||
    intervalMs <= 0 ||
    epochLengthMs <= 0
  ) {
    throw new ConfigError('the epoch grid needs integer genesisMs, epochLengthMs > 0 and intervalMs > 0')
  }
  if (epochLengthMs % intervalMs !== 0) {
    throw new ConfigError(`epochLengthMs ${epochLengthMs} is not a multiple of intervalMs ${intervalMs}`, {
      metaMessages: ['Choose an interval that divides the epoch, e.g. 300000 (5 min) for a day.'],
    })
  }
  return grid
}

/** Start of the interval that contains `tMs`. */
export function intervalStart(grid: TimeGrid, tMs: number): number {
  return grid.genesisMs + Math.floor((tMs - grid.genesisMs) / grid.intervalMs) * grid.intervalMs
}

/** Index of the epoch that contains `tMs` (negative before genesis). */
export function epochOf(grid: TimeGrid, tMs: number): number {
  return Math.floor((tMs - grid.genesisMs) / grid.epochLengthMs)
}

export function epochStartMs(grid: TimeGrid, epoch: number): number {
  return grid.genesisMs + epoch * grid.epochLengthMs
}

export function epochEndMs(grid: TimeGrid, epoch: number): number {
  return epochStartMs(grid, epoch + 1)
}
