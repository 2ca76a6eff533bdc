import { verify } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { deriveDeviceSeed, keyPairFromSeed } from '../../../core/identity/keys.ts'
import { indexRegistry } from '../../../core/identity/registry.ts'
import { canonicalJson, signingBytes } from '../../../core/telemetry/canonical.ts'
import { DEFAULT_DECODE_LIMITS, type DecodeLimits, decodeMessage } from '../../../core/telemetry/decode.ts'
import { REJECTION_REASON_CODES, type RejectionReason } from '../../../core/telemetry/reasons.ts'
import { encodeV1, encodeV2, signV1Message, signV2Body, verifyMessage } from '../../../core/telemetry/sign.ts'
import { signedBytesOf, TELEMETRY_V2_SIGNING_DOMAIN, V2_BODY_OFFSET } from '../../../core/telemetry/signed.ts'
import { telemetryTopic } from '../../../core/telemetry/topic.ts'
import type { PvInverter, Reading } from '../../../core/telemetry/types.ts'
import { admitAndVerify, admitSafely } from './admit.ts'

const pvKey = keyPairFromSeed(deriveDeviceSeed('test', 'pv-1'))
const otherKey = keyPairFromSeed(deriveDeviceSeed('test', 'someone-else'))
const registry = indexRegistry([
  {
    deviceId: 'pv-1',
    assetClass: 'pv',
    poolId: 'gcl-pv',
    ratedPowerW: 50_000,
    tariffId: 'fit',
    publicKey: pvKey.publicKeyHex,
  },
])
const topic = telemetryTopic('pv', 'pv-1')
const reading = (seq: number, over: Partial<PvInverter> = {}): Reading => ({
  type: 'pv.inverter',
  seq,
  ts: 1_780_000_000_000 + seq * 60_000,
  registerWh: 1000 + seq,
  acPowerW: 2000,
  irradianceWm2: 500,
  status: 'MPPT',
  ...over,
})
/** A validly signed v2 payload around exactly these body bytes. */
const signedBody = (body: string | Uint8Array, key = pvKey) =>
  signV2Body(typeof body === 'string' ? Buffer.from(body) : body, key.privateKey)
const v2 = (readings: Reading[], boot = 0, key = pvKey, deviceId = 'pv-1') =>
  encodeV2(deviceId, boot, readings, key.privateKey)
const v1 = (readings: Reading[], key = pvKey, deviceId = 'pv-1') =>
  encodeV1(deviceId, readings, key.privateKey)
const json = (v: unknown) => Buffer.from(JSON.stringify(v))
const sig = `${'A'.repeat(86)}==`
const READING_1 = JSON.stringify(reading(1))

function reasonOf(
  payload: Uint8Array,
  t = topic,
  limits: DecodeLimits = DEFAULT_DECODE_LIMITS,
): RejectionReason | 'OK' {
  const result = admitAndVerify(t, payload, registry, limits)
  return result.ok ? 'OK' : result.reason
}

describe('canonical encoding (v1)', () => {
  it('sorts keys and is independent of insertion order', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 'x', c: 2 }] })).toBe('{"a":[{"c":2,"d":"x"}],"b":1}')
    expect(signingBytes('pv-1', [reading(1)])).toEqual(signingBytes('pv-1', [{ ...reading(1) }].reverse()))
  })
  it('refuses non-integers', () => {
    expect(() => canonicalJson({ x: 1.5 })).toThrow(/safe integers/)
  })
})

describe('signatures', () => {
  it('verifies what the device signed and nothing else', () => {
    const decoded = decodeMessage(v2([reading(1)]))
    if (!decoded.ok) throw new Error(decoded.reason)
    expect(verifyMessage(decoded.value, pvKey.publicKeyRaw)).toBe(true)
    expect(
      verifyMessage(
        { ...decoded.value, body: Buffer.from(decoded.value.body).fill(0x20, 1, 2) },
        pvKey.publicKeyRaw,
      ),
    ).toBe(false)
    expect(verifyMessage(decoded.value, otherKey.publicKeyRaw)).toBe(false)
  })
  it('derives the same key from the same seed', () => {
    expect(keyPairFromSeed(deriveDeviceSeed('test', 'pv-1')).publicKeyHex).toBe(pvKey.publicKeyHex)
  })
})

describe('v2: the signed bytes are the record', () => {
  it('has exactly the documented layout, and the body in it is exactly the signed bytes', () => {
    const payload = v2([reading(1), reading(2)], 7)
    const text = payload.toString()
    expect(text).toMatch(
      /^\{"v":2,"sig":"[A-Za-z0-9+/]{86}==","body":\{"deviceId":"pv-1","boot":7,"readings":\[.*\]\}\}$/,
    )
    const body = payload.subarray(V2_BODY_OFFSET, payload.length - 1)
    const sigText = text.slice(14, 14 + 88)
    // Checked with node:crypto directly, not with the project's verifier.
    expect(
      verify(
        null,
        Buffer.concat([Buffer.from(TELEMETRY_V2_SIGNING_DOMAIN), body]),
        pvKey.publicKey,
        Buffer.from(sigText, 'base64'),
      ),
    ).toBe(true)
    const decoded = decodeMessage(payload)
    if (!decoded.ok) throw new Error(decoded.reason)
    expect(Buffer.from(decoded.value.body).equals(body)).toBe(true)
    expect(decoded.value).toMatchObject({ v: 2, deviceId: 'pv-1', boot: 7, sig: sigText })
    expect(decoded.value.readings).toEqual([reading(1), reading(2)])
    expect(reasonOf(payload)).toBe('OK')
  })
  it('accepts any body bytes the device chose (whitespace, key order) and keeps them verbatim', () => {
    const body = `{ "readings" : [ {"status":"MPPT","seq":1,"type":"pv.inverter","ts":1780000060000,"registerWh":1001,"acPowerW":2000,"irradianceWm2":500} ],\n "boot":0, "deviceId":"pv-1" }`
    const payload = signedBody(body)
    expect(reasonOf(payload)).toBe('OK')
    const decoded = decodeMessage(payload)
    expect(decoded.ok && Buffer.from(decoded.value.body).toString()).toBe(body)
    expect(decoded.ok && Buffer.from(signedBytesOf(decoded.value)).toString()).toBe(
      TELEMETRY_V2_SIGNING_DOMAIN + body,
    )
  })
  it('refuses every byte changed in the body (the signature covers each)', () => {
    const payload = v2([reading(1)])
    for (let i = V2_BODY_OFFSET; i < payload.length - 1; i += 7) {
      const tampered = Buffer.from(payload)
      tampered[i] = (tampered[i] as number) ^ 0x01
      expect(reasonOf(tampered), `byte ${i}`).not.toBe('OK')
    }
    const digit = payload.indexOf('"registerWh":1001') + 16
    const tampered = Buffer.from(payload)
    tampered[digit] = 0x32
    expect(reasonOf(tampered)).toBe('BAD_SIGNATURE')
  })
  it('gives every reading its boot: v2 carries it, v1 decodes as boot 0', () => {
    const two = decodeMessage(v2([reading(1)], 3))
    const one = decodeMessage(v1([reading(1)]))
    expect(two.ok && two.value.boot).toBe(3)
    expect(one.ok && one.value.boot).toBe(0)
    expect(one.ok && Buffer.from(one.value.body).toString()).toBe(
      canonicalJson({ deviceId: 'pv-1', readings: [reading(1)] }),
    )
  })
})

const body = (inner: string) => `{"deviceId":"pv-1","boot":0,"readings":[${inner}]}`

describe('admit v2: every rejection reason, each on a validly signed message where a signature applies', () => {
  const cases: Record<RejectionReason, () => RejectionReason | 'OK'> = {
    PAYLOAD_TOO_LARGE: () =>
      reasonOf(v2([reading(1)]), topic, { ...DEFAULT_DECODE_LIMITS, maxMessageBytes: 100 }),
    MALFORMED_JSON: () => reasonOf(signedBody(`{"deviceId":"pv-1","boot":0,"readings":[${READING_1}]`)),
    UNSUPPORTED_VERSION: () => reasonOf(json({ v: 3, deviceId: 'pv-1', readings: [reading(1)], sig })),
    ENVELOPE_INVALID: () =>
      reasonOf(
        Buffer.from(
          v2([reading(1)])
            .toString()
            .replace('{"v":2,', '{"v":2, '),
        ),
      ),
    SCHEMA_VIOLATION: () =>
      reasonOf(signedBody(`{"deviceId":"pv-1","boot":0,"readings":[${READING_1}],"bonus":1}`)),
    NUMBER_FORM: () =>
      reasonOf(signedBody(body(READING_1.replace('"registerWh":1001', '"registerWh":1001.0')))),
    DUPLICATE_KEY: () =>
      reasonOf(
        signedBody(body(READING_1.replace('"registerWh":1001', '"registerWh":999999,"registerWh":1001'))),
      ),
    UNKNOWN_READING_TYPE: () => reasonOf(v2([{ ...reading(1), type: 'pv.teleport' } as unknown as Reading])),
    EMPTY_BATCH: () => reasonOf(v2([])),
    BATCH_TOO_LARGE: () =>
      reasonOf(v2([reading(1), reading(2)]), topic, { ...DEFAULT_DECODE_LIMITS, maxReadingsPerMessage: 1 }),
    SEQ_NOT_INCREASING: () => reasonOf(v2([reading(2), reading(2)])),
    MIXED_ASSET_CLASSES: () =>
      reasonOf(
        v2([
          reading(1),
          { type: 'swap.slots', seq: 2, ts: 1_780_000_000_000, registerWh: 1, swapCount: 0, slots: [] },
        ]),
      ),
    SIGNATURE_MALFORMED: () =>
      reasonOf(
        Buffer.from(
          v2([reading(1)])
            .toString()
            .replace(/==","body"/, '=A","body"'),
        ),
      ),
    TOPIC_INVALID: () => reasonOf(v2([reading(1)]), 'gridroot/v1/wind/pv-1/telemetry'),
    TOPIC_MISMATCH: () => reasonOf(v2([reading(1)], 0, pvKey, 'pv-2')),
    UNKNOWN_DEVICE: () => reasonOf(v2([reading(1)], 0, pvKey, 'pv-9'), telemetryTopic('pv', 'pv-9')),
    CLASS_MISMATCH: () => reasonOf(v2([reading(1)]), telemetryTopic('charger', 'pv-1')),
    BAD_SIGNATURE: () => reasonOf(v2([reading(1)], 0, otherKey)),
  }
  for (const [reason, run] of Object.entries(cases)) {
    it(reason, () => expect(run()).toBe(reason))
  }
  it('covers every reason code', () => {
    expect(Object.keys(cases).sort()).toEqual([...REJECTION_REASON_CODES].sort())
  })
  it('refuses numbers in any form but plain non-negative decimal integers, with the place named', () => {
    for (const [from, to] of [
      ['"registerWh":1001', '"registerWh":1.001e3'],
      ['"registerWh":1001', '"registerWh":1001E0'],
      ['"acPowerW":2000', '"acPowerW":-0'],
      ['"acPowerW":2000', '"acPowerW":-1'],
    ] as const) {
      const result = admitAndVerify(
        topic,
        signedBody(body(READING_1.replace(from, to))),
        registry,
        DEFAULT_DECODE_LIMITS,
      )
      expect(result.ok ? 'OK' : result.reason, to).toBe('NUMBER_FORM')
      expect(result.ok ? '' : result.detail).toMatch(/body byte \d+/)
    }
  })
  it('refuses a key given twice at the top level, and literals that are no telemetry value', () => {
    expect(reasonOf(signedBody(`{"deviceId":"pv-1","boot":5,"boot":0,"readings":[${READING_1}]}`))).toBe(
      'DUPLICATE_KEY',
    )
    expect(
      reasonOf(signedBody(`{"deviceId":"pv-1","deviceId":"pv-1","boot":0,"readings":[${READING_1}]}`)),
    ).toBe('DUPLICATE_KEY')
    expect(reasonOf(signedBody(body(READING_1.replace('"acPowerW":2000', '"acPowerW":true'))))).toBe(
      'SCHEMA_VIOLATION',
    )
    expect(reasonOf(signedBody(body(READING_1.replace('"status":"MPPT"', '"status":null'))))).toBe(
      'SCHEMA_VIOLATION',
    )
  })
  it('reads strings with escapes, colons, dots and minus signs as strings', () => {
    const charger = indexRegistry([
      {
        deviceId: 'ch-1',
        assetClass: 'charger',
        poolId: 'p',
        ratedPowerW: 7_000,
        tariffId: 't',
        publicKey: pvKey.publicKeyHex,
      },
    ])
    const start =
      '{"type":"charger.session_start","seq":1,"ts":1780000060000,"registerWh":5,"connectorId":1,"sessionId":"a:b.c-1e5\\"x\\\\"}'
    const payload = signedBody(`{"deviceId":"ch-1","boot":0,"readings":[${start}]}`)
    const result = admitAndVerify(telemetryTopic('charger', 'ch-1'), payload, charger, DEFAULT_DECODE_LIMITS)
    expect(result.ok ? 'OK' : `${result.reason} ${result.detail}`).toBe('OK')
    const decoded = decodeMessage(payload)
    expect(decoded.ok && (decoded.value.readings[0] as { sessionId: string }).sessionId).toBe('a:b.c-1e5"x\\')
  })
  it('checks boot: a non-negative integer of at most 32 bits, required', () => {
    expect(reasonOf(v2([reading(1)], 4_294_967_295))).toBe('OK')
    expect(reasonOf(v2([reading(1)], 4_294_967_296))).toBe('SCHEMA_VIOLATION')
    expect(reasonOf(signedBody(`{"deviceId":"pv-1","readings":[${READING_1}]}`))).toBe('SCHEMA_VIOLATION')
    expect(reasonOf(signedBody(`{"deviceId":"pv-1","boot":"1","readings":[${READING_1}]}`))).toBe(
      'SCHEMA_VIOLATION',
    )
  })
  it('refuses what lies outside the layout: other whitespace, extra envelope members, a body that is no object', () => {
    const good = v2([reading(1)]).toString()
    expect(reasonOf(Buffer.from(`${good}\n`))).toBe('ENVELOPE_INVALID')
    expect(reasonOf(Buffer.from(good.replace('"sig":', '"sig" :')))).toBe('ENVELOPE_INVALID')
    expect(reasonOf(json({ sig: 'x', v: 2, body: {} }))).toBe('ENVELOPE_INVALID')
  })
  it('calls an envelope member after the body ENVELOPE_INVALID and names it, signed or not', () => {
    const good = v2([reading(1)]).toString()
    const unsigned = admitAndVerify(
      topic,
      Buffer.from(`${good.slice(0, -1)},"x\\"y":1}`),
      registry,
      DEFAULT_DECODE_LIMITS,
    )
    expect(unsigned.ok || [unsigned.reason, unsigned.detail]).toEqual([
      'ENVELOPE_INVALID',
      expect.stringContaining('member "x\\"y" after body'),
    ])
    const signed = admitAndVerify(
      topic,
      signedBody(`${body(READING_1)},"extra":{"a":1}`),
      registry,
      DEFAULT_DECODE_LIMITS,
    )
    expect(signed.ok || [signed.reason, signed.detail]).toEqual([
      'ENVELOPE_INVALID',
      expect.stringContaining('member "extra" after body'),
    ])
    // A body that never closes is still broken JSON, and a wrong key still a bad signature.
    expect(reasonOf(signedBody(`{"deviceId":"pv-1","boot":0,"readings":[${READING_1}]`))).toBe(
      'MALFORMED_JSON',
    )
    expect(reasonOf(v2([reading(1)], 0, otherKey))).toBe('BAD_SIGNATURE')
    expect(reasonOf(signedBody(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])))).toBe('MALFORMED_JSON')
  })
  it('calls a payload that is not JSON at all MALFORMED_JSON, as in v1 (truncated, binary)', () => {
    const good = v2([reading(1), reading(2)])
    for (let cut = 20; cut < good.length; cut += 37)
      expect(reasonOf(good.subarray(0, cut)), `cut at ${cut}`).toBe('MALFORMED_JSON')
    // Cut right after a reading: the last byte is a brace, the envelope looks whole, the body is not JSON.
    const afterReading = good.indexOf('},{') + 1
    expect(reasonOf(good.subarray(0, afterReading))).toBe('MALFORMED_JSON')
    expect(reasonOf(Buffer.concat([good.subarray(0, V2_BODY_OFFSET), Buffer.from([0x7b, 0xff, 0x7d])]))).toBe(
      'MALFORMED_JSON',
    )
  })
  it('verifies before it parses: an unsigned body is BAD_SIGNATURE whatever it holds', () => {
    const good = v2([reading(1)])
    const garbage = Buffer.concat([
      good.subarray(0, V2_BODY_OFFSET),
      Buffer.from('{"nonsense":1.5}'),
      Buffer.from('}'),
    ])
    expect(reasonOf(garbage)).toBe('BAD_SIGNATURE')
  })
  it('never throws on arbitrary bytes, also behind a v2 prefix', () => {
    const prefix = v2([reading(1)]).subarray(0, V2_BODY_OFFSET)
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, withPrefix) => {
        const payload = withPrefix ? Buffer.concat([prefix, bytes]) : Buffer.from(bytes)
        expect(() => admitAndVerify(topic, payload, registry, DEFAULT_DECODE_LIMITS)).not.toThrow()
        expect(() => decodeMessage(payload)).not.toThrow()
      }),
      { numRuns: 400 },
    )
  })
})

describe('admit v1 (migration window)', () => {
  it('still accepts v1 by default, and rejects it once v1 is turned off', () => {
    expect(reasonOf(v1([reading(1), reading(2)]))).toBe('OK')
    expect(reasonOf(v1([reading(1)]), topic, { ...DEFAULT_DECODE_LIMITS, acceptV1: false })).toBe(
      'UNSUPPORTED_VERSION',
    )
    expect(reasonOf(v2([reading(1)]), topic, { ...DEFAULT_DECODE_LIMITS, acceptV1: false })).toBe('OK')
  })
  it('keeps its rejection reasons', () => {
    expect(reasonOf(v1([reading(1)], otherKey))).toBe('BAD_SIGNATURE')
    expect(reasonOf(v1([reading(1)]), telemetryTopic('pv', 'pv-2'))).toBe('TOPIC_MISMATCH')
    expect(reasonOf(json({ v: 1, deviceId: 'pv-1', readings: [reading(1, { registerWh: 1.5 })], sig }))).toBe(
      'SCHEMA_VIOLATION',
    )
    expect(reasonOf(json({ v: 1, deviceId: 'pv-1', readings: [], sig }))).toBe('EMPTY_BATCH')
    expect(reasonOf(json({ v: 1, deviceId: 'pv-1', readings: [reading(1)], sig: 'abc' }))).toBe(
      'SIGNATURE_MALFORMED',
    )
    expect(reasonOf(Buffer.from('{"v":1,'))).toBe('MALFORMED_JSON')
    expect(reasonOf(json({ ...signV1Message('pv-1', [reading(1)], pvKey.privateKey), boot: 1 }))).toBe(
      'SCHEMA_VIOLATION',
    )
  })
  it('refuses a signature in non-canonical base64 (same bytes, other string)', () => {
    const good = signV1Message('pv-1', [reading(1)], pvKey.privateKey)
    const last = good.sig.at(-3) as string
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
    const twin = `${good.sig.slice(0, -3)}${alphabet[alphabet.indexOf(last) + 1]}==`
    expect(Buffer.from(twin, 'base64').equals(Buffer.from(good.sig, 'base64'))).toBe(true)
    expect(reasonOf(json({ ...good, sig: twin }))).toBe('SIGNATURE_MALFORMED')
    expect(reasonOf(json(good))).toBe('OK')
  })
  it('rejects unknown fields and missing fields with the field named', () => {
    const extra = admitAndVerify(
      topic,
      json({ v: 1, deviceId: 'pv-1', readings: [{ ...reading(1), bonusWh: 5 }], sig }),
      registry,
      DEFAULT_DECODE_LIMITS,
    )
    expect(extra.ok ? '' : extra.detail).toMatch(/bonusWh is not a field/)
    const { registerWh: _omit, ...missing } = reading(1) as PvInverter
    const absent = admitAndVerify(
      topic,
      json({ v: 1, deviceId: 'pv-1', readings: [missing], sig }),
      registry,
      DEFAULT_DECODE_LIMITS,
    )
    expect(absent.ok ? '' : absent.detail).toMatch(/registerWh is missing/)
  })
})

describe('pathological input', () => {
  // JSON.parse reads deep nesting iteratively; JSON.stringify recursed on it into a RangeError
  // that escaped admission and crashed its worker, on every message it was handed.
  const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`
  it('rejects 100,000 nested brackets where a detail shows the value, and does not throw', () => {
    const version = admitAndVerify(
      topic,
      Buffer.from(`{"v":${deep(100_000)}}`),
      registry,
      DEFAULT_DECODE_LIMITS,
    )
    expect(version).toMatchObject({
      ok: false,
      reason: 'UNSUPPORTED_VERSION',
      detail: 'v is an array of 1, expected 2 or 1',
    })
    const type = Buffer.from(
      `{"v":1,"deviceId":"pv-1","sig":"${sig}","readings":[{"type":${deep(100_000)}}]}`,
    )
    expect(admitAndVerify(topic, type, registry, DEFAULT_DECODE_LIMITS)).toMatchObject({
      ok: false,
      reason: 'UNKNOWN_READING_TYPE',
    })
  })
  it('admitSafely turns an exception of admission into the message’s ADMISSION_ERROR', () => {
    const broken = {
      get() {
        throw new RangeError('Maximum call stack size exceeded')
      },
    } as unknown as typeof registry
    expect(admitSafely(topic, v2([reading(1)]), broken, DEFAULT_DECODE_LIMITS)).toEqual({
      ok: false,
      reason: 'ADMISSION_ERROR',
      detail: 'RangeError: Maximum call stack size exceeded',
    })
    expect(admitSafely(topic, v2([reading(1)]), registry, DEFAULT_DECODE_LIMITS).ok).toBe(true)
  })
})
