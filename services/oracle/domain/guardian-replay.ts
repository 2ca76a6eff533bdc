/**
 * The guardian's replay of telemetry.v1: the records go into a `TelemetryReplay` exactly as a
 * signer's do (signer.ts `onTelemetry`: watermark markers at their place, every other record
 * decoded as an accepted message, kept with its partition, offset and receive time), so the
 * guardian's totals and paid readings are a replay signer's. Pure.
 *
 * `replayStatus` is the signer's readiness rule (every partition's replay watermark at the
 * epoch's end + grace, after which nothing changes the epoch any more) with one addition: a
 * replay that read every partition to its end and is still short has found an epoch that
 * telemetry.v1 has not closed.
 */
import { epochEndMs, type TimeGrid } from '../../../core/epochs/grid.ts'
import { decodeAcceptedRecord } from '../../../core/telemetry/decode.ts'
import type { TelemetryMessage } from '../../../core/telemetry/types.ts'
import { decodeWatermarkMarker, isWatermarkMarkerKey } from '../../../core/telemetry/watermark-marker.ts'
import type { ArchivedRecord } from '../ports.ts'
import type { TelemetryReplay } from './replay.ts'

export interface TelemetryRecord {
  readonly partition: number
  readonly offset: string
  readonly timestampMs: number
  readonly key: string | undefined
  readonly value: Buffer
}

/** Applies records of one partition, in offset order; `onSkipped` hears of each that did not decode. */
export function feedReplay(
  replay: TelemetryReplay,
  records: readonly TelemetryRecord[],
  onSkipped: (record: TelemetryRecord, what: 'marker' | 'telemetry', error: unknown) => void,
): void {
  for (const r of records) {
    if (isWatermarkMarkerKey(r.key)) {
      let watermarkMs: number | undefined
      try {
        watermarkMs = decodeWatermarkMarker(r.value).watermarkMs
      } catch (error) {
        onSkipped(r, 'marker', error)
      }
      replay.applyWatermarkMarker(r.partition, r.offset, watermarkMs, r.timestampMs)
      continue
    }
    let message: TelemetryMessage | undefined
    try {
      message = decodeAcceptedRecord(r.value)
    } catch (error) {
      onSkipped(r, 'telemetry', error)
    }
    const record: ArchivedRecord = {
      deviceId: message?.deviceId ?? r.key ?? 'unknown',
      partition: r.partition,
      offset: r.offset,
      receivedAtMs: r.timestampMs,
      valueBase64: r.value.toString('base64'),
    }
    replay.apply(record, message)
  }
}

export type ReplayStatus =
  | { readonly kind: 'passed' }
  | { readonly kind: 'behind'; readonly detail: string }
  | { readonly kind: 'not-closed'; readonly detail: string }

export interface ReplayStatusInput {
  readonly grid: TimeGrid
  readonly graceMs: number
  readonly epoch: number
  /** Each partition's replay watermark (undefined: nothing accepted yet). */
  readonly watermarkOf: (partition: number) => number | undefined
  /** The topic's partition ends (high watermarks), read after the positions. */
  readonly ends: ReadonlyMap<number, bigint>
  /** Offset after the last record the replay applied, per partition. */
  readonly positions: ReadonlyMap<number, bigint>
}

export function replayStatus(input: ReplayStatusInput): ReplayStatus {
  const needMs = epochEndMs(input.grid, input.epoch) + input.graceMs
  if (input.ends.size === 0) return { kind: 'behind', detail: 'telemetry.v1 has no partitions yet' }
  const short: number[] = []
  const unread: number[] = []
  for (const [partition, end] of input.ends) {
    if ((input.watermarkOf(partition) ?? Number.NEGATIVE_INFINITY) >= needMs) continue
    short.push(partition)
    if ((input.positions.get(partition) ?? 0n) < end) unread.push(partition)
  }
  if (short.length === 0) return { kind: 'passed' }
  const at = new Date(needMs).toISOString()
  if (unread.length > 0)
    return {
      kind: 'behind',
      detail: `the replay has not passed ${at} (end + grace) in partitions ${short.join(', ')} and has records left to read in ${unread.join(', ')}`,
    }
  return {
    kind: 'not-closed',
    detail: `telemetry.v1 read to its end: partitions ${short.join(', ')} have not reached ${at} (end + grace)`,
  }
}
