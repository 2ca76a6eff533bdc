import { describe, expect, it } from 'vitest'
import { deriveDeviceSeed, keyPairFromSeed } from '../../../core/identity/keys.ts'
import { indexRegistry } from '../../../core/identity/registry.ts'
import { canonicalJson, signingBytes } from '../../../core/telemetry/canonical.ts'
import { DEFAULT_DECODE_LIMITS } from '../../../core/telemetry/decode.ts'
import { REJECTION_REASON_CODES, type RejectionReason } from '../../../core/telemetry/reasons.ts'
import { encodeMessage, signMessage, verifyMessage } from '../../../core/telemetry/sign.ts'
import { telemetryTopic } from '../../../core/telemetry/topic.ts'
import type { PvInverter, Reading } from '../../../core/telemetry/types.ts'
import { admit } from './admit.ts'

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
const signed = (readings: Reading[], key = pvKey) =>
  encodeMessage(signMessage('pv-1', readings, key.privateKey))
const json = (v: unknown) => Buffer.from(JSON.stringify(v))
const sig = `${'A'.repeat(86)}==`

function reasonOf(payload: Uint8Array, t = topic, limits = DEFAULT_DECODE_LIMITS): RejectionReason | 'OK' {
  const result = admit(t, payload, registry, limits)
  return result.ok ? 'OK' : result.reason
}

describe('canonical encoding', () => {
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
    const message = signMessage('pv-1', [reading(1)], pvKey.privateKey)
    expect(verifyMessage(message, pvKey.publicKeyRaw)).toBe(true)
    expect(
      verifyMessage({ ...message, readings: [reading(1, { registerWh: 999_999 })] }, pvKey.publicKeyRaw),
    ).toBe(false)
    expect(verifyMessage(message, otherKey.publicKeyRaw)).toBe(false)
  })
  it('derives the same key from the same seed', () => {
    expect(keyPairFromSeed(deriveDeviceSeed('test', 'pv-1')).publicKeyHex).toBe(pvKey.publicKeyHex)
  })
})

describe('admit: every rejection reason', () => {
  const cases: Record<Exclude<RejectionReason, 'BAD_SIGNATURE'>, () => RejectionReason | 'OK'> = {
    PAYLOAD_TOO_LARGE: () =>
      reasonOf(signed([reading(1)]), topic, { ...DEFAULT_DECODE_LIMITS, maxMessageBytes: 10 }),
    MALFORMED_JSON: () => reasonOf(Buffer.from('{"v":1,')),
    UNSUPPORTED_VERSION: () => reasonOf(json({ v: 2, deviceId: 'pv-1', readings: [reading(1)], sig })),
    SCHEMA_VIOLATION: () =>
      reasonOf(json({ v: 1, deviceId: 'pv-1', readings: [reading(1, { registerWh: 1.5 })], sig })),
    UNKNOWN_READING_TYPE: () =>
      reasonOf(json({ v: 1, deviceId: 'pv-1', readings: [{ ...reading(1), type: 'pv.teleport' }], sig })),
    EMPTY_BATCH: () => reasonOf(json({ v: 1, deviceId: 'pv-1', readings: [], sig })),
    BATCH_TOO_LARGE: () =>
      reasonOf(signed([reading(1), reading(2)]), topic, {
        ...DEFAULT_DECODE_LIMITS,
        maxReadingsPerMessage: 1,
      }),
    SEQ_NOT_INCREASING: () => reasonOf(signed([reading(2), reading(2)])),
    MIXED_ASSET_CLASSES: () =>
      reasonOf(
        json({
          v: 1,
          deviceId: 'pv-1',
          readings: [
            reading(1),
            { type: 'swap.slots', seq: 2, ts: 1_780_000_000_000, registerWh: 1, swapCount: 0, slots: [] },
          ],
          sig,
        }),
      ),
    SIGNATURE_MALFORMED: () => reasonOf(json({ v: 1, deviceId: 'pv-1', readings: [reading(1)], sig: 'abc' })),
    TOPIC_INVALID: () => reasonOf(signed([reading(1)]), 'gridroot/v1/wind/pv-1/telemetry'),
    TOPIC_MISMATCH: () => reasonOf(signed([reading(1)]), telemetryTopic('pv', 'pv-2')),
    UNKNOWN_DEVICE: () =>
      reasonOf(
        encodeMessage(signMessage('pv-9', [reading(1)], pvKey.privateKey)),
        telemetryTopic('pv', 'pv-9'),
      ),
    CLASS_MISMATCH: () => reasonOf(signed([reading(1)]), telemetryTopic('charger', 'pv-1')),
  }
  for (const [reason, run] of Object.entries(cases)) {
    it(reason, () => expect(run()).toBe(reason))
  }
  it('covers every reason code (BAD_SIGNATURE is decided by the verifier)', () => {
    expect([...Object.keys(cases), 'BAD_SIGNATURE'].sort()).toEqual([...REJECTION_REASON_CODES].sort())
  })
  it('refuses a signature in non-canonical base64 (same bytes, other string)', () => {
    const good = JSON.parse(signed([reading(1)]).toString()) as { sig: string }
    const last = good.sig.at(-3) as string
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
    const twin = `${good.sig.slice(0, -3)}${alphabet[alphabet.indexOf(last) + 1]}==`
    expect(Buffer.from(twin, 'base64').equals(Buffer.from(good.sig, 'base64'))).toBe(true)
    const result = admit(topic, json({ ...good, sig: twin }), registry, DEFAULT_DECODE_LIMITS)
    expect(result.ok ? 'OK' : result.reason).toBe('SIGNATURE_MALFORMED')
    expect(admit(topic, json(good), registry, DEFAULT_DECODE_LIMITS).ok).toBe(true)
  })
  it('admits a well-formed signed batch and hands over the bytes to verify', () => {
    const result = admit(topic, signed([reading(1), reading(2)]), registry, DEFAULT_DECODE_LIMITS)
    expect(result.ok).toBe(true)
    if (result.ok) {
      expect(result.value.signingBytes).toEqual(signingBytes('pv-1', [reading(1), reading(2)]))
      expect(result.value.device.poolId).toBe('gcl-pv')
    }
  })
  it('rejects unknown fields and missing fields with the field named', () => {
    const extra = admit(
      topic,
      json({ v: 1, deviceId: 'pv-1', readings: [{ ...reading(1), bonusWh: 5 }], sig }),
      registry,
      DEFAULT_DECODE_LIMITS,
    )
    expect(extra.ok ? '' : extra.detail).toMatch(/bonusWh is not a field/)
    const { registerWh: _omit, ...missing } = reading(1) as PvInverter
    const absent = admit(
      topic,
      json({ v: 1, deviceId: 'pv-1', readings: [missing], sig }),
      registry,
      DEFAULT_DECODE_LIMITS,
    )
    expect(absent.ok ? '' : absent.detail).toMatch(/registerWh is missing/)
  })
  it('never throws on arbitrary bytes', () => {
    for (let i = 0; i < 500; i++) {
      const bytes = Buffer.from(Array.from({ length: i % 64 }, (_, j) => (i * 31 + j * 17) % 256))
      expect(() => admit(topic, bytes, registry, DEFAULT_DECODE_LIMITS)).not.toThrow()
    }
  })
})
