/**
 * Device keys: ed25519 (computation only, no IO). Public keys travel as hex of the raw 32
 * bytes; signatures as base64 of the raw 64 bytes.
 *
 * Keys are made and messages signed with node:crypto. Verification, the dominant cost of
 * ingest, uses libsodium (sodium-native, prebuilt for the usual platforms) when it loads:
 * on this project's machines it verifies ~2.5 times faster than node:crypto's OpenSSL
 * (about 49 µs against 122 µs per signature). Both implement RFC 8032; libsodium is the
 * stricter of the two (it also refuses small-order keys and non-canonical encodings), so it
 * never accepts what node:crypto would refuse. Where it does not load, node:crypto verifies.
 */

import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto'
import { createRequire } from 'node:module'

// DER prefixes that wrap a raw ed25519 key as PKCS#8 (private) or SPKI (public).
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

export interface DeviceKeyPair {
  readonly privateKey: KeyObject
  readonly publicKey: KeyObject
  /** Hex of the raw 32-byte public key, as written in the device registry. */
  readonly publicKeyHex: string
  /** The raw 32-byte public key, what `verifyBytes` takes. */
  readonly publicKeyRaw: Buffer
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
  const publicKeyRaw = Buffer.from(spki.subarray(SPKI_ED25519_PREFIX.length))
  return { privateKey, publicKey, publicKeyHex: publicKeyRaw.toString('hex'), publicKeyRaw }
}

/** Derives a device's key seed from a fleet seed, so simulated fleets are reproducible. */
export function deriveDeviceSeed(fleetSeed: string, deviceId: string): Uint8Array {
  return createHash('sha256').update(`gridroot.device-key\n${fleetSeed}\n${deviceId}`).digest()
}

/** The raw 32-byte public key of a registry entry. */
export function publicKeyFromHex(publicKeyHex: string): Buffer {
  if (!/^[0-9a-f]{64}$/.test(publicKeyHex))
    throw new RangeError('an ed25519 public key is 64 lowercase hex characters')
  return Buffer.from(publicKeyHex, 'hex')
}

export function signBytes(privateKey: KeyObject, bytes: Uint8Array): string {
  return sign(null, bytes, privateKey).toString('base64')
}

/** The subset of sodium-native this module uses. */
interface Sodium {
  crypto_sign_verify_detached(signature: Buffer, message: Buffer, publicKey: Buffer): boolean
}

function loadSodium(): Sodium | undefined {
  if (process.env.GRIDROOT_ED25519_VERIFIER === 'node') return undefined
  try {
    return createRequire(import.meta.url)('sodium-native') as Sodium
  } catch {
    return undefined
  }
}

const sodium = loadSodium()

/**
 * Which implementation verifies signatures in this process (logged by services; benchmarks
 * report it). `GRIDROOT_ED25519_VERIFIER=node` forces node:crypto, for comparisons.
 */
export const ED25519_VERIFIER: 'libsodium' | 'node:crypto' = sodium ? 'libsodium' : 'node:crypto'

/** node:crypto needs a KeyObject: made once per key, only on the fallback path. */
const keyObjects = new WeakMap<Buffer, KeyObject>()

function keyObjectOf(publicKeyRaw: Buffer): KeyObject {
  let key = keyObjects.get(publicKeyRaw)
  if (!key) {
    key = createPublicKey({
      key: Buffer.concat([SPKI_ED25519_PREFIX, publicKeyRaw]),
      format: 'der',
      type: 'spki',
    })
    keyObjects.set(publicKeyRaw, key)
  }
  return key
}

export function verifyBytes(publicKeyRaw: Buffer, bytes: Uint8Array, signatureBase64: string): boolean {
  const signature = Buffer.from(signatureBase64, 'base64')
  if (signature.byteLength !== 64 || publicKeyRaw.byteLength !== 32) return false
  if (sodium) {
    const message = Buffer.isBuffer(bytes)
      ? bytes
      : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    return sodium.crypto_sign_verify_detached(signature, message, publicKeyRaw)
  }
  return verify(null, bytes, keyObjectOf(publicKeyRaw), signature)
}
