import { execFileSync } from 'node:child_process'
import { createPublicKey, verify } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import {
  deriveDeviceSeed,
  ED25519_VERIFIER,
  edwardsKeyProblem,
  keyPairFromSeed,
  publicKeyFromHex,
  publicKeyProblem,
  signBytes,
  verifyBytes,
} from './keys.ts'
import { indexRegistry } from './registry.ts'

const device = keyPairFromSeed(deriveDeviceSeed('keys-test', 'pv-000001'))
const other = keyPairFromSeed(deriveDeviceSeed('keys-test', 'pv-000002'))

describe('ed25519 verification', () => {
  it('uses libsodium here, where sodium-native is installed (unless told otherwise)', () => {
    expect(ED25519_VERIFIER).toBe(
      process.env.GRIDROOT_ED25519_VERIFIER === 'node' ? 'node:crypto' : 'libsodium',
    )
  })

  it('refuses a signature whose S is not reduced (S + L), as node:crypto does', () => {
    const bytes = Buffer.from('m')
    const signature = Buffer.from(signBytes(device.privateKey, bytes), 'base64')
    let s = 0n
    for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(signature.readUInt8(i))
    s += 2n ** 252n + 27742317777372353535851937790883648493n
    const malleated = Buffer.from(signature)
    for (let i = 32; i < 64; i++) {
      malleated.writeUInt8(Number(s & 0xffn), i)
      s >>= 8n
    }
    expect(verifyBytes(device.publicKeyRaw, bytes, malleated.toString('base64'))).toBe(false)
    expect(verify(null, bytes, createPublicKey(device.privateKey), malleated)).toBe(false)
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
      cwd: fileURLToPath(new URL('../../', import.meta.url)),
      encoding: 'utf8',
    })
    expect(JSON.parse(out)).toEqual(['node:crypto', true, false])
  })

  describe('registry keys', () => {
    const hex = (h: string) => Buffer.from(h, 'hex')
    const p = 2n ** 255n - 19n
    const le = (n: bigint, signBit = false) => {
      const out = Buffer.alloc(32)
      for (let i = 0; i < 32; i++) out.writeUInt8(Number((n >> BigInt(8 * i)) & 0xffn), i)
      if (signBit) out.writeUInt8(out.readUInt8(31) | 0x80, 31)
      return out
    }
    // Small-order points: identity (order 1), (0, −1) (order 2), (±√−1, 0) (order 4).
    const smallOrder = [le(1n), le(p - 1n), le(0n), le(0n, true)]
    // Non-canonical: y ≥ p, and x = 0 with the sign bit set.
    const nonCanonical = [le(p + 1n), le(p), le(1n, true)]

    it('accepts the keys an honest key generator makes, with either check', () => {
      for (let i = 0; i < 50; i++) {
        const key = keyPairFromSeed(deriveDeviceSeed('keys-test', `dev-${i}`)).publicKeyRaw
        expect(publicKeyProblem(key)).toBeUndefined()
        expect(edwardsKeyProblem(key)).toBeUndefined()
      }
    })

    it('refuses small-order and non-canonical keys, with either check', () => {
      for (const key of [...smallOrder, ...nonCanonical]) {
        expect(publicKeyProblem(key), key.toString('hex')).toBeDefined()
        expect(edwardsKeyProblem(key), key.toString('hex')).toBeDefined()
      }
      expect(edwardsKeyProblem(le(1n))).toMatch(/small order/)
      expect(edwardsKeyProblem(le(p + 1n))).toMatch(/canonical/)
    })

    it('keeps out a key under which node:crypto accepts a forgery for any message', () => {
      const identity = le(1n)
      const forged = Buffer.concat([identity, Buffer.alloc(32)]) // R = identity, S = 0
      const nodeKey = createPublicKey({
        key: Buffer.concat([hex('302a300506032b6570032100'), identity]),
        format: 'der',
        type: 'spki',
      })
      expect(verify(null, Buffer.from('any message at all'), nodeKey, forged)).toBe(true)
      const record = {
        deviceId: 'pv-000001',
        assetClass: 'pv' as const,
        poolId: 'gcl-pv',
        ratedPowerW: 50_000,
        tariffId: 'fit',
        publicKey: identity.toString('hex'),
      }
      expect(() => indexRegistry([record])).toThrow(
        /pv-000001: its public key has small order|pv-000001: its public key is not/,
      )
    })
  })
})
