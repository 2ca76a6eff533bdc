/**
 * The aggregator's ports: what its write queue, epoch closer and wiring need from the outside
 * world, as interfaces. Adapters (adapters/*) implement them against InfluxDB and Kafka; the
 * domain never imports an adapter, and unit tests hand in small fakes.
 */

import type { PersistedDeviceState } from '../../core/aggregation/device-state.ts'
import type { RollupPoint } from '../../core/aggregation/rollups.ts'
import type { TimeGrid } from '../../core/epochs/grid.ts'
import type { EpochAnnouncement } from './domain/epoch-close.ts'

export interface PartitionWatermark {
  readonly partition: number
  readonly watermarkMs: number
  readonly updatedAtMs: number
}

/** One device's totals in one epoch, under one pool (a device that moved pools has two). */
export interface DeviceEpochTotals {
  readonly deviceId: string
  readonly poolId: string
  readonly assetClass: string
  readonly energyWh: number
  readonly revenueUnits: bigint
  readonly swaps: number
  readonly readings: number
  readonly quarantined: number
}

/** Where the aggregator's points live (InfluxDB). */
export interface AggregatorStore {
  /**
   * Writes line-protocol lines in ONE request: they land together or not at all (a client
   * crash cannot cut a request in half). Rejects with `InfluxWriteRefusedError` when the server
   * will never take them (4xx), with a `RetryableError` otherwise.
   */
  writeRequest(lines: readonly string[], signal?: AbortSignal): Promise<void>
  loadDeviceStates(consumerGroup: string): Promise<PersistedDeviceState[]>
  loadWatermarks(consumerGroup: string): Promise<PartitionWatermark[]>
  /**
   * The group's rollup points of the partitions named, each from its time on (`undefined`: all
   * of that partition's): the ones its owner can still change (core/aggregation/rollups.ts).
   */
  loadRollups(
    consumerGroup: string,
    fromMsByPartition: ReadonlyMap<number, number | undefined>,
  ): Promise<RollupPoint[]>
  /** Per device and pool: an epoch's intervals plus the adjustments booked into it. */
  epochTotals(grid: TimeGrid, epoch: number): Promise<DeviceEpochTotals[]>
  /**
   * Whether InfluxDB answers /ping: undefined when it does, else what went wrong as an operator
   * reads it (a refused connection is not a frozen server; for /healthz and start-up).
   */
  ping(): Promise<string | undefined>
  close(): Promise<void>
}

/** A record the aggregator will not process, kept with its reason (telemetry.dlq). */
export interface DeadLetter {
  readonly reason: AggregatorRejectReason
  readonly detail: string
  readonly key: string
  readonly value: Buffer | string
  /** Where it came from: the telemetry record, or the InfluxDB line that was refused. */
  readonly source: { readonly partition: number; readonly offset: string } | { readonly line: true }
}

export type AggregatorRejectReason = 'AGG_UNKNOWN_DEVICE' | 'AGG_INFLUX_REFUSED'

export interface DeadLetterSink {
  /** Resolves once Kafka acknowledged every letter. */
  send(letters: readonly DeadLetter[]): Promise<void>
  close(): Promise<void>
}

/**
 * Appends a watermark marker (core/telemetry/watermark-marker.ts) to one partition of
 * telemetry.v1: how an idle partition's watermark moves, in Kafka order for every reader.
 */
export interface WatermarkMarkerSink {
  /** Resolves once Kafka acknowledged the marker. */
  append(partition: number, watermarkMs: number): Promise<void>
  close(): Promise<void>
}

/**
 * The epochs.v1 channel, written by one closer at a time: `activate()` fences any earlier
 * closer (a Kafka transactional id), after which `closedThrough()` is what was announced and
 * committed. `announce()` publishes and records the epoch in one transaction, so an epoch is
 * announced exactly once however closers come and go.
 */
export interface EpochAnnouncer {
  activate(): Promise<void>
  /** The last epoch announced on the channel, or undefined before the first. */
  closedThrough(): Promise<number | undefined>
  /** Throws `CloserFencedError` when another closer took over. */
  announce(announcement: EpochAnnouncement): Promise<void>
  deactivate(): Promise<void>
}
