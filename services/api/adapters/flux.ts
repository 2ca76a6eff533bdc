/**
 * Flux queries built from validated parameters only. Nothing a caller sends is pasted into a
 * query: strings pass `fluxString`, which refuses any character outside a small safe set (so no
 * quote, backslash or `${` interpolation can ever open a hole), times are formatted from
 * integers, durations are integer milliseconds, group columns come from a fixed map.
 */
import type { WindowPlan } from '../domain/time-window.ts'
import type { QuarantineFilter, RevenueGroupBy, SeriesFilter } from '../ports.ts'

const SAFE = /^[A-Za-z0-9._:/ -]*$/

export class UnsafeFluxValueError extends Error {
  override readonly name = 'UnsafeFluxValueError'
}

/** A Flux string literal of a value that can hold nothing but safe characters. */
export function fluxString(value: string): string {
  if (!SAFE.test(value))
    throw new UnsafeFluxValueError(`refusing to put ${JSON.stringify(value)} into a Flux query`)
  return `"${value}"`
}

/** 1970-01-01 .. 9999-12-31: later ISO strings carry a six-digit `+010000` year, which Flux cannot parse. */
const FLUX_TIME_MIN_MS = 0
const FLUX_TIME_MAX_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999)

export function fluxTime(ms: number): string {
  if (!Number.isSafeInteger(ms)) throw new UnsafeFluxValueError(`not an integer time: ${ms}`)
  // Routes bound their times to device time (2000..2100); this is the last line, never a 503.
  if (ms < FLUX_TIME_MIN_MS || ms > FLUX_TIME_MAX_MS)
    throw new UnsafeFluxValueError(`time ${ms} ms is outside the Flux time literals of 1970..9999`)
  return new Date(ms).toISOString()
}

export function fluxDuration(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) throw new UnsafeFluxValueError(`not a duration in ms: ${ms}`)
  return `${ms}ms`
}

function fluxInt(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) throw new UnsafeFluxValueError(`not a non-negative integer: ${n}`)
  return String(n)
}

/** `|> filter(fn: (r) => r.tag == "a" or r.tag == "b")`, or nothing for an absent list. */
function anyOf(tag: string, values: readonly string[] | undefined): string {
  if (values === undefined || values.length === 0) return ''
  return `\n  |> filter(fn: (r) => ${values.map((v) => `r.${tag} == ${fluxString(v)}`).join(' or ')})`
}

function seriesFilters(filter: SeriesFilter): string {
  return anyOf('pool', filter.pools) + anyOf('class', filter.classes) + anyOf('device', filter.devices)
}

/** The tag each grouping sums by (also the names the aggregator writes, docs/architecture.md). */
export const GROUP_TAG: Record<RevenueGroupBy, string> = { pool: 'pool', class: 'class', device: 'device' }

/**
 * Energy, revenue and swaps summed per window and series by InfluxDB. The stop is one
 * millisecond before the range's end: InfluxDB 1.8's Flux includes points at the stop time,
 * where the next window's first interval starts.
 */
export function revenueSeriesFlux(
  bucket: string,
  plan: WindowPlan,
  groupBy: RevenueGroupBy,
  filter: SeriesFilter,
): string {
  return windowedRevenueFlux(
    bucket,
    plan,
    groupBy,
    'r._measurement == "interval" or r._measurement == "adjustment"',
    seriesFilters(filter),
  )
}

/**
 * The same sums from the aggregator's `revenue_rollup` points (per partition, pool and class:
 * a handful of series however many devices), for pool and class series without a device filter.
 */
export function revenueRollupFlux(
  bucket: string,
  aggregatorGroup: string,
  plan: WindowPlan,
  groupBy: Exclude<RevenueGroupBy, 'device'>,
  filter: Omit<SeriesFilter, 'devices'>,
): string {
  return windowedRevenueFlux(
    bucket,
    plan,
    groupBy,
    `r._measurement == "revenue_rollup" and r.group == ${fluxString(aggregatorGroup)}`,
    anyOf('pool', filter.pools) + anyOf('class', filter.classes),
  )
}

function windowedRevenueFlux(
  bucket: string,
  plan: WindowPlan,
  groupBy: RevenueGroupBy,
  measurement: string,
  filters: string,
): string {
  const tag = GROUP_TAG[groupBy]
  return `from(bucket: ${fluxString(bucket)})
  |> range(start: ${fluxTime(plan.fromMs)}, stop: ${fluxTime(plan.toMs - 1)})
  |> filter(fn: (r) => ${measurement})
  |> filter(fn: (r) => r._field == "energyWh" or r._field == "revenueUnits" or r._field == "swaps")${filters}
  |> group(columns: ["${tag}", "_field"])
  |> window(every: ${fluxDuration(plan.resolutionMs)}, offset: ${fluxDuration(plan.offsetMs)})
  |> sum()
  |> keep(columns: ["_start", "${tag}", "_field", "_value"])`
}

const STATE_RANGE = 'range(start: 1970-01-01T00:00:00Z, stop: 1970-01-01T00:00:01Z)'

/** The aggregator keeps one state point per device (time 0) with its newest accounted reading. */
export function lastSeenFlux(bucket: string, aggregatorGroup: string, devices?: readonly string[]): string {
  return `from(bucket: ${fluxString(bucket)})
  |> ${STATE_RANGE}
  |> filter(fn: (r) => r._measurement == "aggregator_device_state" and r.group == ${fluxString(aggregatorGroup)})
  |> filter(fn: (r) => r._field == "lastTs" or r._field == "lastSeq")${anyOf('device', devices)}
  |> keep(columns: ["device", "_field", "_value"])`
}

/** The aggregator's partition watermarks (one state point per partition, time 0), newest first. */
export function newestWatermarkFlux(bucket: string, aggregatorGroup: string): string {
  return `from(bucket: ${fluxString(bucket)})
  |> ${STATE_RANGE}
  |> filter(fn: (r) => r._measurement == "aggregator_watermark" and r.group == ${fluxString(aggregatorGroup)})
  |> filter(fn: (r) => r._field == "watermarkMs")
  |> group()
  |> max()`
}

function quarantineBase(bucket: string, filter: QuarantineFilter): string {
  return `from(bucket: ${fluxString(bucket)})
  |> range(start: ${fluxTime(filter.range.fromMs)}, stop: ${fluxTime(filter.range.toMs - 1)})
  |> filter(fn: (r) => r._measurement == "quarantine")${seriesFilters(filter)}${anyOf('reason', filter.reasons)}`
}

export function quarantinePageFlux(
  bucket: string,
  filter: QuarantineFilter,
  offset: number,
  limit: number,
): string {
  return `${quarantineBase(bucket, filter)}
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> group()
  |> sort(columns: ["_time", "device"], desc: true)
  |> limit(n: ${fluxInt(limit)}, offset: ${fluxInt(offset)})`
}

export function quarantineCountsFlux(bucket: string, filter: QuarantineFilter): string {
  return `${quarantineBase(bucket, filter)}
  |> filter(fn: (r) => r._field == "seq")
  |> group(columns: ["reason"])
  |> count()`
}

export function closedThroughFlux(bucket: string): string {
  return `from(bucket: ${fluxString(bucket)})
  |> range(start: 2000-01-01T00:00:00Z)
  |> filter(fn: (r) => r._measurement == "epoch_closed" and r._field == "epoch")
  |> group()
  |> max()`
}

/** Epoch markers and pool totals of closed epochs whose start lies in [fromMs, toMs). */
export function closedEpochsFlux(
  bucket: string,
  measurement: 'epoch_closed' | 'epoch_pool',
  fromMs: number,
  toMs: number,
): string {
  return `from(bucket: ${fluxString(bucket)})
  |> range(start: ${fluxTime(fromMs)}, stop: ${fluxTime(toMs - 1)})
  |> filter(fn: (r) => r._measurement == ${fluxString(measurement)})
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> group()`
}
