import { execFileSync } from 'node:child_process'
import { createPublicKey, verify } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  deriveDeviceSeed,
  ED25519_VERIFIER,
  keyPairFromSeed,
  publicKeyFromHex,
  signBytes,
  verifyBytes,
} from './keys.ts'

const device = keyPairFromSeed(deriveDeviceSeed('keys-test', 'pv-000001'))
const other = keyPairFromSeed(deriveDeviceSeed('keys-test', 'pv-000002'))

describe('ed25519 verification', () => {
  it('uses libsodium here, where sodium-native is installed', () => {
    expect(ED25519_VERIFIER).toBe('libsodium')
  })

  it('accepts exactly what node:crypto accepts, over valid, tampered and foreign signatures', () => {
    const nodeKey = createPublicKey(device.privateKey)
    for (let i = 0; i < 200; i++) {
      const bytes = Buffer.from(`gridroot.telemetry.v1\n{"n":${i}}`)
      const signature = signBytes(device.privateKey, bytes)
      const tampered = Buffer.from(bytes)
      const at = i % tampered.length
      tampered.writeUInt8(tampered.readUInt8(at) ^ (1 + (i % 7)), at)
      const foreign = signBytes(other.privateKey, bytes)
      for (const [b, s] of [
        [bytes, signature],
        [tampered, signature],
        [bytes, foreign],
      ] as const) {
        expect(verifyBytes(device.publicKeyRaw, b, s)).toBe(
          verify(null, b, nodeKey, Buffer.from(s, 'base64')),
        )
      }
    }
  })

  it('takes a Uint8Array view into a larger buffer', () => {
    const whole = Buffer.from('xxgridroot.telemetry.v1\n{}yy')
    const view = new Uint8Array(whole.buffer, whole.byteOffset + 2, whole.byteLength - 4)
    expect(verifyBytes(device.publicKeyRaw, view, signBytes(device.privateKey, Buffer.from(view)))).toBe(true)
  })

  it('refuses signatures and keys of the wrong length', () => {
    const bytes = Buffer.from('m')
    const signature = Buffer.from(signBytes(device.privateKey, bytes), 'base64')
    expect(verifyBytes(device.publicKeyRaw, bytes, signature.subarray(0, 63).toString('base64'))).toBe(false)
    expect(verifyBytes(device.publicKeyRaw, bytes, '')).toBe(false)
    expect(verifyBytes(device.publicKeyRaw.subarray(0, 31), bytes, signature.toString('base64'))).toBe(false)
  })

  it('reads registry keys from hex and refuses malformed ones', () => {
    expect(publicKeyFromHex(device.publicKeyHex).equals(device.publicKeyRaw)).toBe(true)
    expect(() => publicKeyFromHex('ab')).toThrow(RangeError)
  })

  it('falls back to node:crypto when told to, with the same answers', () => {
    const script = `
      import { deriveDeviceSeed, ED25519_VERIFIER, keyPairFromSeed, signBytes, verifyBytes } from './core/identity/keys.ts'
      const k = keyPairFromSeed(deriveDeviceSeed('keys-test', 'pv-000001'))
      const m = Buffer.from('m')
      const s = signBytes(k.privateKey, m)
      console.log(JSON.stringify([ED25519_VERIFIER, verifyBytes(k.publicKeyRaw, m, s), verifyBytes(k.publicKeyRaw, Buffer.from('n'), s)]))
    `
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env: { ...process.env, GRIDROOT_ED25519_VERIFIER: 'node' },
      encoding: 'utf8',
    })
    expect(JSON.parse(out)).toEqual(['node:crypto', true, false])
  })
})
