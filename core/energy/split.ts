/**
 * The one rule that turns two register samples into energy per interval. Energy between samples
 * (t1, R1) and (t2, R2) is spread evenly over device time [t1, t2) and cut at interval
 * boundaries. Pieces are differences of floored cumulative shares, so they are integers that
 * sum exactly to R2 − R1: nothing is created or lost by the split.
 */
import { intervalStart, type TimeGrid } from '../epochs/grid.ts'

export interface IntervalEnergy {
  readonly intervalStartMs: number
  readonly energyWh: number
}

export function splitAcrossIntervals(
  grid: TimeGrid,
  fromMs: number,
  toMs: number,
  energyWh: number,
): IntervalEnergy[] {
  if (energyWh === 0) return []
  // A pair without positive duration has nowhere to spread: book it where it ends.
  if (toMs <= fromMs) return [{ intervalStartMs: intervalStart(grid, toMs), energyWh }]
  const pieces: IntervalEnergy[] = []
  const span = BigInt(toMs - fromMs)
  const total = BigInt(energyWh)
  let start = intervalStart(grid, fromMs)
  let bookedWh = 0
  while (start < toMs) {
    const end = Math.min(start + grid.intervalMs, toMs)
    // BigInt: energy × milliseconds overflows a double's exact range for long gaps.
    const cumulativeWh = Number((total * BigInt(end - fromMs)) / span)
    const pieceWh = cumulativeWh - bookedWh
    if (pieceWh > 0) pieces.push({ intervalStartMs: start, energyWh: pieceWh })
    bookedWh = cumulativeWh
    start += grid.intervalMs
  }
  return pieces
}
