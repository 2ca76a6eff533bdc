/**
 * Device keys: ed25519 through node:crypto (computation only, no IO). Public keys travel as hex
 * of the raw 32 bytes; signatures as base64 of the raw 64 bytes.
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto'

// DER prefixes that wrap a raw ed25519 key as PKCS#8 (private) or SPKI (public).
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

export interface DeviceKeyPair {
  readonly privateKey: KeyObject
  readonly publicKey: KeyObject
  /** Hex of the raw 32-byte public key, as written in the device registry. */
  readonly publicKeyHex: string
}

/** A key pair from a 32-byte seed: the same seed always gives the same key. */
export function keyPairFromSeed(seed: Uint8Array): DeviceKeyPair {
  if (seed.byteLength !== 32) throw new RangeError(`an ed25519 seed has 32 bytes, got ${seed.byteLength}`)
  const privateKey = createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]),
    format: 'der',
    type: 'pkcs8',
  })
  const publicKey = createPublicKey(privateKey)
  const spki = publicKey.export({ format: 'der', type: 'spki' })
  return { privateKey, publicKey, publicKeyHex: spki.subarray(SPKI_ED25519_PREFIX.length).toString('hex') }
}

/** Derives a device's key seed from a fleet seed, so simulated fleets are reproducible. */
export function deriveDeviceSeed(fleetSeed: string, deviceId: string): Uint8Array {
  return createHash('sha256').update(`gridroot.device-key\n${fleetSeed}\n${deviceId}`).digest()
}

export function publicKeyFromHex(publicKeyHex: string): KeyObject {
  if (!/^[0-9a-f]{64}$/.test(publicKeyHex))
    throw new RangeError('an ed25519 public key is 64 lowercase hex characters')
  return createPublicKey({
    key: Buffer.concat([SPKI_ED25519_PREFIX, Buffer.from(publicKeyHex, 'hex')]),
    format: 'der',
    type: 'spki',
  })
}

export function signBytes(privateKey: KeyObject, bytes: Uint8Array): string {
  return sign(null, bytes, privateKey).toString('base64')
}

export function verifyBytes(publicKey: KeyObject, bytes: Uint8Array, signatureBase64: string): boolean {
  const signature = Buffer.from(signatureBase64, 'base64')
  if (signature.byteLength !== 64) return false
  return verify(null, bytes, publicKey, signature)
}
