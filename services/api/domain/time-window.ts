/**
 * Validation of the time parameters of a query, before anything reaches InfluxDB: a range is
 * snapped to whole windows of the chosen resolution (aligned with the epoch grid's genesis, so a
 * daily window is an epoch when epochs are days), and refused when it would make the store
 * aggregate more windows than the limits allow.
 */
import type { TimeGrid } from '../../../core/epochs/grid.ts'
import { formatDurationMs } from '../../../core/units/duration.ts'
import type { ApiLimits } from '../config.ts'
import { ApiError } from '../errors.ts'

export interface TimeRange {
  readonly fromMs: number
  /** Exclusive. */
  readonly toMs: number
}

export interface WindowPlan extends TimeRange {
  readonly resolutionMs: number
  /** Windows start at genesis + k·resolution: Flux's window offset, in [0, resolution). */
  readonly offsetMs: number
  readonly windows: number
}

/** A seconds field of 60: RFC 3339 has leap seconds, JavaScript and Flux times do not. */
const LEAP_SECOND = /T\d\d:\d\d:60/i

/**
 * One RFC 3339 string (already checked by the route schema) as ms. The schema passes a leap
 * second (23:59:60Z), which no JavaScript or Flux time can hold: the parameter is invalid.
 */
function parseInstant(parameter: 'from' | 'to', value: string): number {
  const ms = Date.parse(value)
  if (Number.isFinite(ms)) return ms
  throw new ApiError(
    'INVALID_PARAMETER',
    LEAP_SECOND.test(value)
      ? `${parameter} is a leap second (:60), which the API's times cannot hold: send :59 or the next second`
      : `${parameter} is not a date-time the API can read`,
    { details: { parameter } },
  )
}

/** Parses RFC 3339 strings (already checked by the route schema) into a valid range. */
export function parseRange(from: string, to: string, limits: ApiLimits): TimeRange {
  const fromMs = parseInstant('from', from)
  const toMs = parseInstant('to', to)
  if (fromMs >= toMs) throw new ApiError('INVALID_RANGE', 'from must be before to', { details: { from, to } })
  // Flux and JavaScript dates both cover this span; outside it nothing of ours can exist.
  if (fromMs < Date.UTC(2000, 0, 1) || toMs > Date.UTC(2200, 0, 1)) {
    throw new ApiError('INVALID_RANGE', 'from and to must lie between 2000-01-01 and 2200-01-01', {
      details: { from, to },
    })
  }
  if (toMs - fromMs > limits.maxRangeMs) {
    throw new ApiError('RANGE_TOO_LARGE', `the range is longer than ${formatDurationMs(limits.maxRangeMs)}`, {
      details: { maxRangeMs: limits.maxRangeMs, rangeMs: toMs - fromMs },
      hint: 'Send a shorter range: from..to may span at most details.maxRangeMs (GRIDROOT_API_MAX_RANGE); split a longer one into several requests.',
    })
  }
  return { fromMs, toMs }
}

export function planWindows(
  grid: TimeGrid,
  limits: ApiLimits,
  range: TimeRange,
  resolutionMs: number,
  series: number,
): WindowPlan {
  if (resolutionMs % grid.intervalMs !== 0) {
    throw new ApiError(
      'RESOLUTION_OFF_GRID',
      `resolution ${formatDurationMs(resolutionMs)} is not a multiple of the ${formatDurationMs(grid.intervalMs)} interval`,
      { details: { intervalMs: grid.intervalMs, resolutionMs } },
    )
  }
  const offsetMs = (((grid.genesisMs % resolutionMs) + resolutionMs) % resolutionMs) as number
  const fromMs = Math.floor((range.fromMs - offsetMs) / resolutionMs) * resolutionMs + offsetMs
  const toMs = Math.ceil((range.toMs - offsetMs) / resolutionMs) * resolutionMs + offsetMs
  const windows = (toMs - fromMs) / resolutionMs
  const points = windows * Math.max(1, series)
  if (points > limits.maxPoints) {
    const coarsest = Math.ceil(((toMs - fromMs) * Math.max(1, series)) / limits.maxPoints)
    throw new ApiError(
      'RANGE_TOO_LARGE',
      `${windows} windows × ${series} series = ${points} points, more than the ${limits.maxPoints} allowed`,
      {
        details: { maxPoints: limits.maxPoints, points, windows, series, minResolutionMs: coarsest },
        hint: 'Choose a coarser resolution (at least details.minResolutionMs), a shorter range or fewer series.',
      },
    )
  }
  return { fromMs, toMs, resolutionMs, offsetMs, windows }
}
