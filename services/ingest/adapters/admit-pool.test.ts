import { afterAll, describe, expect, it } from 'vitest'
import { deriveDeviceSeed, keyPairFromSeed } from '../../../core/identity/keys.ts'
import { DEFAULT_DECODE_LIMITS } from '../../../core/telemetry/decode.ts'
import { encodeV1, encodeV2 } from '../../../core/telemetry/sign.ts'
import { telemetryTopic } from '../../../core/telemetry/topic.ts'
import type { Reading } from '../../../core/telemetry/types.ts'
import { createAdmitPool, packPayloads, unpackPayloads } from './admit-pool.ts'

const key = keyPairFromSeed(deriveDeviceSeed('pool', 'pv-1'))
const registry = [
  {
    deviceId: 'pv-1',
    assetClass: 'pv' as const,
    poolId: 'gcl-pv',
    ratedPowerW: 50_000,
    tariffId: 'fit',
    publicKey: key.publicKeyHex,
  },
]
const reading = (seq: number): Reading => ({
  type: 'pv.inverter',
  seq,
  ts: 1_780_000_000_000 + seq * 60_000,
  registerWh: 1000 + seq,
  acPowerW: 2000,
  irradianceWm2: 500,
  status: 'MPPT',
})
const topic = telemetryTopic('pv', 'pv-1')

describe('createAdmitPool (real worker threads)', () => {
  const pool = createAdmitPool({ workers: 2, registry, limits: DEFAULT_DECODE_LIMITS })
  afterAll(() => pool.close())

  it('admits signed messages of both versions and rejects bad ones with their reason, in many concurrent hand-offs', async () => {
    const good = Array.from({ length: 200 }, (_, i) =>
      i % 2 === 0
        ? encodeV2('pv-1', 0, [reading(i + 1), reading(i + 2)], key.privateKey)
        : encodeV1('pv-1', [reading(i + 1), reading(i + 2)], key.privateKey),
    )
    const forged = good
      .slice(0, 20)
      .map((b) => Buffer.from(b.toString().replace('"registerWh":1001', '"registerWh":9999')))
    const results = await Promise.all([
      ...good.map((b) => pool.admit(topic, b)),
      ...forged.map((b) => pool.admit(topic, b)),
      pool.admit(topic, Buffer.from('{"v":1,')),
    ])
    expect(
      results.slice(0, 200).every((r) => r.ok && r.value.deviceId === 'pv-1' && r.value.readings === 2),
    ).toBe(true)
    expect(results.slice(200, 220).map((r) => (r.ok ? 'OK' : r.reason))).toEqual([
      'BAD_SIGNATURE',
      ...Array.from({ length: 19 }, () => 'OK'),
    ])
    expect(results.at(-1)).toMatchObject({ ok: false, reason: 'MALFORMED_JSON' })
    // Workers load TypeScript through tsx first: seconds on a busy machine.
  }, 60_000)
})

describe('packPayloads / unpackPayloads', () => {
  it('round-trips views into larger buffers, empty payloads included, without keeping the rest', () => {
    const socketRead = Buffer.from('..first..second....')
    const payloads = [socketRead.subarray(2, 7), Buffer.alloc(0), socketRead.subarray(9, 15)]
    const packed = packPayloads(payloads)
    expect(packed.payloads.byteLength).toBe(11)
    expect(unpackPayloads(packed).map((v) => Buffer.from(v).toString())).toEqual(['first', '', 'second'])
  })
})
