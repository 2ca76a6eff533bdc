import { describe, expect, it } from 'vitest'
import { DEVICE_ID_PATTERN } from './topic.ts'
import {
  decodeWatermarkMarker,
  encodeWatermarkMarker,
  isWatermarkMarkerKey,
  WATERMARK_MARKER_KEY,
} from './watermark-marker.ts'

describe('watermark markers', () => {
  it('round-trips and is told apart from device keys', () => {
    const bytes = encodeWatermarkMarker({ watermarkMs: 1_780_243_200_000, by: 'agg-1' })
    expect(decodeWatermarkMarker(bytes)).toEqual({ watermarkMs: 1_780_243_200_000, by: 'agg-1' })
    expect(isWatermarkMarkerKey(Buffer.from(WATERMARK_MARKER_KEY))).toBe(true)
    expect(isWatermarkMarkerKey('pile-001')).toBe(false)
    expect(isWatermarkMarkerKey(null)).toBe(false)
    expect(DEVICE_ID_PATTERN.test(WATERMARK_MARKER_KEY)).toBe(false)
  })

  it.each([
    ['not JSON', 'nope'],
    ['other kind', JSON.stringify({ kind: 'x', watermarkMs: 1, by: 'a' })],
    ['float time', JSON.stringify({ kind: WATERMARK_MARKER_KEY, watermarkMs: 1.5, by: 'a' })],
    ['negative time', JSON.stringify({ kind: WATERMARK_MARKER_KEY, watermarkMs: -1, by: 'a' })],
    ['huge value', JSON.stringify({ kind: WATERMARK_MARKER_KEY, watermarkMs: 1, by: 'a'.repeat(600) })],
  ])('refuses %s with WATERMARK_MARKER_INVALID', (_name, text) => {
    expect(() => decodeWatermarkMarker(Buffer.from(text))).toThrow(
      expect.objectContaining({ code: 'WATERMARK_MARKER_INVALID' }),
    )
  })

  it('never encodes a time that is not a positive integer', () => {
    expect(() => encodeWatermarkMarker({ watermarkMs: Number.NaN, by: 'a' })).toThrow(/positive safe integer/)
  })
})
