/**
 * Watermark markers in telemetry.v1 (docs/architecture.md, "Idle partitions"). When a partition
 * has been read to its end and has been quiet for a while, its owner (the aggregator) does not
 * move the partition's watermark on the wall clock by itself: it appends a marker record to that
 * partition, and every reader raises the watermark when it reaches the marker. The decision thus
 * becomes part of the partition's Kafka order, so a fresh consumer group rebuilding from the
 * whole topic and the oracle's replaying signer reach the same lateness as the instance that
 * decided, record for record.
 *
 * A marker's key cannot be a device id (device ids start with a letter or digit and hold no
 * colon), so readers tell markers from telemetry by the key alone.
 */
import { GridrootError } from '../errors/base.ts'

export const WATERMARK_MARKER_KEY = 'gridroot:watermark.v1'

export interface WatermarkMarker {
  /** Accounting time (device time, ms since the Unix epoch) the partition is complete up to. */
  readonly watermarkMs: number
  /** Who decided, for logs and audits only (an aggregator instance). */
  readonly by: string
}

export class WatermarkMarkerError extends GridrootError<'WATERMARK_MARKER_INVALID'> {
  constructor(detail: string) {
    super('WATERMARK_MARKER_INVALID', `watermark marker: ${detail}`)
  }
}

/** Markers are tiny; anything larger under the marker key is not one. */
const MAX_MARKER_BYTES = 512

export function encodeWatermarkMarker(marker: WatermarkMarker): Buffer {
  if (!Number.isSafeInteger(marker.watermarkMs) || marker.watermarkMs <= 0)
    throw new WatermarkMarkerError(`watermarkMs must be a positive safe integer, got ${marker.watermarkMs}`)
  return Buffer.from(
    JSON.stringify({ kind: WATERMARK_MARKER_KEY, watermarkMs: marker.watermarkMs, by: marker.by }),
  )
}

export function isWatermarkMarkerKey(key: Buffer | string | null | undefined): boolean {
  if (key === null || key === undefined) return false
  return (typeof key === 'string' ? key : key.toString('utf8')) === WATERMARK_MARKER_KEY
}

/** Decodes a marker's value strictly; throws WatermarkMarkerError with the reason otherwise. */
export function decodeWatermarkMarker(value: Uint8Array): WatermarkMarker {
  if (value.length > MAX_MARKER_BYTES)
    throw new WatermarkMarkerError(`${value.length} bytes (at most ${MAX_MARKER_BYTES})`)
  let raw: unknown
  try {
    raw = JSON.parse(Buffer.from(value).toString('utf8'))
  } catch {
    throw new WatermarkMarkerError('not JSON')
  }
  if (typeof raw !== 'object' || raw === null) throw new WatermarkMarkerError('not an object')
  const { kind, watermarkMs, by } = raw as Record<string, unknown>
  if (kind !== WATERMARK_MARKER_KEY) throw new WatermarkMarkerError(`kind must be ${WATERMARK_MARKER_KEY}`)
  if (typeof watermarkMs !== 'number' || !Number.isSafeInteger(watermarkMs) || watermarkMs <= 0)
    throw new WatermarkMarkerError('watermarkMs must be a positive safe integer')
  if (typeof by !== 'string' || by.length > 200) throw new WatermarkMarkerError('by must be a short string')
  return { watermarkMs, by }
}
