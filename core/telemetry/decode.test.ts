import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { deriveDeviceSeed, keyPairFromSeed } from '../identity/keys.ts'
import { decodeAcceptedRecord, decodeMessage, TelemetryRecordInvalidError } from './decode.ts'
import { encodeV1, encodeV2 } from './sign.ts'
import { signedDigestHex, TELEMETRY_V2_SIGNING_DOMAIN, V2_BODY_OFFSET } from './signed.ts'
import type { Reading } from './types.ts'

const key = keyPairFromSeed(deriveDeviceSeed('decode', 'sw-1'))
const slots = (seq: number): Reading => ({
  type: 'swap.slots',
  seq,
  ts: 1_780_000_000_000 + seq,
  registerWh: 5,
  swapCount: 2,
  slots: ['full', 'empty'],
})

describe('decodeAcceptedRecord (readers of telemetry.v1)', () => {
  it('reads both versions into one type, with boot and the signed body', () => {
    const two = decodeAcceptedRecord(encodeV2('sw-1', 4, [slots(1)], key.privateKey))
    const one = decodeAcceptedRecord(encodeV1('sw-1', [slots(1)], key.privateKey))
    expect(two).toMatchObject({ v: 2, deviceId: 'sw-1', boot: 4, readings: [slots(1)] })
    expect(one).toMatchObject({ v: 1, deviceId: 'sw-1', boot: 0, readings: [slots(1)] })
  })
  it('applies no size limits of its own (ingest applied them), but refuses what is not telemetry', () => {
    const big = Array.from({ length: 1500 }, (_, i) => slots(i + 1))
    expect(decodeAcceptedRecord(encodeV2('sw-1', 0, big, key.privateKey)).readings).toHaveLength(1500)
    expect(() => decodeAcceptedRecord(Buffer.from('{"hello":1}'))).toThrow(TelemetryRecordInvalidError)
    const error = (() => {
      try {
        decodeAcceptedRecord(Buffer.from('not json'))
      } catch (e) {
        return e as TelemetryRecordInvalidError
      }
      return undefined
    })()
    expect(error?.reason).toBe('MALFORMED_JSON')
    expect(error?.code).toBe('TELEMETRY_RECORD_INVALID')
  })
  it('gives the sha256 of exactly the signed bytes as the message digest', () => {
    const payload = encodeV2('sw-1', 0, [slots(1)], key.privateKey)
    const body = payload.subarray(V2_BODY_OFFSET, payload.length - 1)
    const expected = createHash('sha256')
      .update(Buffer.concat([Buffer.from(TELEMETRY_V2_SIGNING_DOMAIN), body]))
      .digest('hex')
    expect(signedDigestHex(decodeAcceptedRecord(payload))).toBe(expected)
  })
})

describe('decodeMessage v2 envelope', () => {
  it('calls a member after the body ENVELOPE_INVALID, naming it (it is not part of the signed body)', () => {
    const good = Buffer.from(encodeV2('sw-1', 0, [slots(1)], key.privateKey)).toString()
    const decoded = decodeMessage(Buffer.from(`${good.slice(0, -1)},"note":"hi"}`))
    expect(decoded.ok || [decoded.reason, decoded.detail]).toEqual([
      'ENVELOPE_INVALID',
      expect.stringContaining('member "note" after body'),
    ])
  })
})
