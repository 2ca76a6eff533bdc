/**
 * Measurement names, and low-volume points as plain data (epoch totals; the adapter turns them
 * into line protocol). The high-volume writes are formatted directly by
 * adapters/influx-lines.ts. These
 * measurements are a contract with the oracle, the API and auditors: docs/architecture.md lists
 * them. Timestamps are deterministic (interval starts, device times, epoch starts) and so are
 * tags, so writing the same point again overwrites it: replays are idempotent.
 */
export type FieldValue =
  | { readonly int: bigint | number }
  | { readonly str: string }
  | { readonly bool: boolean }

export interface PointData {
  readonly measurement: string
  readonly tags: Readonly<Record<string, string>>
  readonly fields: Readonly<Record<string, FieldValue>>
  /** Nanoseconds since the Unix epoch. */
  readonly timeNs: bigint
}

export const MEASUREMENT = {
  /** Energy, revenue, swaps and reading counts per device per interval. */
  interval: 'interval',
  /** Late data booked into a later epoch, tagged with the epoch it adjusts. */
  adjustment: 'adjustment',
  /** Interval and adjustment points summed per partition, pool and class (core/aggregation/rollups.ts). */
  revenueRollup: 'revenue_rollup',
  /** Accepted readings, one point each. */
  reading: 'reading',
  /** Anomalous readings with their reason: kept, counted, never paid. */
  quarantine: 'quarantine',
  /** The aggregator's per-device state, so a restart resumes exactly. */
  deviceState: 'aggregator_device_state',
  /** Per-partition watermarks (device time), from which epochs close. */
  watermark: 'aggregator_watermark',
  /** Closed-epoch totals per device and per pool, and the close marker. */
  epochDevice: 'epoch_device',
  epochPool: 'epoch_pool',
  epochClosed: 'epoch_closed',
} as const

export const int = (value: bigint | number): FieldValue => ({ int: value })
export const str = (value: string): FieldValue => ({ str: value })
export const bool = (value: boolean): FieldValue => ({ bool: value })

export function msToNs(ms: number): bigint {
  return BigInt(ms) * 1_000_000n
}
