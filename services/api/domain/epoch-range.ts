/**
 * Which closed epochs one `/operator/epochs` request reads. Epoch numbers become Flux time
 * literals (the epoch's start), so every epoch asked for must start inside the data contract's
 * device time (2000..2100, core/telemetry/decode.ts): nothing can exist later, and with hourly
 * epochs the schema's 100,000,000 would start past year 9999, which is no Flux time at all.
 */

import { epochOf, type TimeGrid } from '../../../core/epochs/grid.ts'
import { MAX_DEVICE_TIME_MS } from '../../../core/telemetry/decode.ts'
import { ApiError } from '../errors.ts'

/** Most epochs one `/operator/epochs` request spans (the `limit` parameter's maximum). */
export const MAX_EPOCH_SPAN = 500

export interface EpochQuery {
  readonly fromEpoch?: number | undefined
  readonly toEpoch?: number | undefined
  readonly limit: number
}

/** Inclusive; `to` < 0 means no epoch at all (none closed yet). */
export interface EpochSpan {
  readonly from: number
  readonly to: number
}

/** The last epoch that starts before 2100-01-01, the end of device time. */
export function lastEpochInDeviceTime(grid: TimeGrid): number {
  return epochOf(grid, MAX_DEVICE_TIME_MS - 1)
}

/**
 * Refuses an epoch parameter that starts after 2100-01-01 (INVALID_PARAMETER, details.maxEpoch),
 * on every route that takes one: nothing can have been recorded, proposed or paid for it.
 */
export function assertEpochInDeviceTime(grid: TimeGrid, parameter: string, value: number): void {
  const maxEpoch = lastEpochInDeviceTime(grid)
  if (value > maxEpoch) {
    throw new ApiError(
      'INVALID_PARAMETER',
      `${parameter} ${value} starts after 2100-01-01, the end of device time (the last epoch is ${maxEpoch})`,
      { details: { parameter, maxEpoch } },
    )
  }
}

export function planEpochSpan(
  grid: TimeGrid,
  query: EpochQuery,
  closedThrough: number | undefined,
): EpochSpan {
  const maxEpoch = lastEpochInDeviceTime(grid)
  for (const parameter of ['fromEpoch', 'toEpoch'] as const) {
    const value = query[parameter]
    if (value !== undefined) assertEpochInDeviceTime(grid, parameter, value)
  }
  if (query.fromEpoch === undefined && query.toEpoch === undefined) {
    const to = Math.min(closedThrough ?? -1, maxEpoch)
    return { from: Math.max(0, to - query.limit + 1), to }
  }
  const from = query.fromEpoch ?? 0
  // A page from fromEpoch alone stops at the last epoch there can be.
  const to = query.toEpoch ?? Math.min(from + query.limit - 1, maxEpoch)
  if (to < from)
    throw new ApiError('INVALID_RANGE', 'toEpoch must not be before fromEpoch', {
      details: { from, to },
      hint: 'Send fromEpoch <= toEpoch, both epoch numbers (0 is the epoch at genesis); without either, the newest closed epochs are listed.',
    })
  if (to - from + 1 > query.limit) {
    throw new ApiError(
      'RANGE_TOO_LARGE',
      `${to - from + 1} epochs asked for, more than limit ${query.limit}`,
      {
        details: { maxEpochs: query.limit },
        hint: `Span at most limit epochs from fromEpoch to toEpoch (both included; limit is at most ${MAX_EPOCH_SPAN}), or page with several requests.`,
      },
    )
  }
  return { from, to }
}
