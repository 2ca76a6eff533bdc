/**
 * Device keys: ed25519 (computation only, no IO). Public keys travel as hex of the raw 32
 * bytes; signatures as base64 of the raw 64 bytes.
 *
 * Keys are made and messages signed with node:crypto. Verification, the dominant cost of
 * ingest, uses libsodium (sodium-native, prebuilt for the usual platforms) when it loads:
 * on this project's machines it verifies 2–2.5 times faster than node:crypto's OpenSSL
 * (49 µs against 122 µs on one thread; 36,800/s against 17,300/s on two). Both implement
 * RFC 8032; libsodium is the stricter of the two (it also refuses small-order keys and
 * non-canonical encodings), so it never accepts what node:crypto would refuse. Where it does not
 * load, node:crypto verifies, and `publicKeyProblem` keeps the keys node:crypto is weak against
 * (small order) out of the registry either way.
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
  crypto_core_ed25519_is_valid_point(point: Buffer): boolean
}

/**
 * `GRIDROOT_ED25519_VERIFIER`: `auto` (default: libsodium when it loads, else node:crypto),
 * `libsodium` (refuse to run without it), `node` (node:crypto, for comparisons).
 */
function loadSodium(): { sodium: Sodium | undefined; whyNot: string | undefined } {
  const wanted = process.env.GRIDROOT_ED25519_VERIFIER || 'auto'
  if (!['auto', 'libsodium', 'node'].includes(wanted)) {
    throw new Error(`GRIDROOT_ED25519_VERIFIER=${wanted}: use auto, libsodium or node`)
  }
  if (wanted === 'node') return { sodium: undefined, whyNot: 'GRIDROOT_ED25519_VERIFIER=node' }
  try {
    return { sodium: createRequire(import.meta.url)('sodium-native') as Sodium, whyNot: undefined }
  } catch (error) {
    if (wanted === 'libsodium') {
      throw new Error(
        `GRIDROOT_ED25519_VERIFIER=libsodium, but sodium-native does not load: ${String(error)}`,
      )
    }
    return { sodium: undefined, whyNot: `sodium-native does not load: ${String(error)}` }
  }
}

const { sodium, whyNot } = loadSodium()

/**
 * Which implementation verifies signatures in this process (services log it; benchmarks report
 * it), and why it is not libsodium when it is not (services warn: node:crypto is ~2–2.5× slower).
 */
export const ED25519_VERIFIER: 'libsodium' | 'node:crypto' = sodium ? 'libsodium' : 'node:crypto'
export const ED25519_VERIFIER_FALLBACK_REASON: string | undefined = whyNot

/**
 * Why a registry public key must not be accepted, or undefined when it is fine. A key of small
 * order makes forgery trivial (node:crypto accepts R = identity, S = 0 under the identity key
 * for any message), and a non-canonical encoding is malleable: both are refused when the registry
 * is loaded, whichever verifier runs. libsodium's check also refuses points outside the main
 * subgroup, which no honest key generator produces.
 */
export function publicKeyProblem(publicKeyRaw: Uint8Array): string | undefined {
  if (publicKeyRaw.byteLength !== 32) return `has ${publicKeyRaw.byteLength} bytes, not 32`
  if (sodium) {
    return sodium.crypto_core_ed25519_is_valid_point(Buffer.from(publicKeyRaw))
      ? undefined
      : 'is not a canonical ed25519 point of the main subgroup'
  }
  return edwardsKeyProblem(publicKeyRaw)
}

// ── the same check without libsodium: edwards25519 arithmetic on BigInt (registry load only) ──
const P = 2n ** 255n - 19n
const mod = (a: bigint) => ((a % P) + P) % P
const pow = (base: bigint, exponent: bigint) => {
  let result = 1n
  let b = mod(base)
  for (let e = exponent; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % P
    b = (b * b) % P
  }
  return result
}
const inv = (a: bigint) => pow(a, P - 2n)
const D = mod(-121665n * inv(121666n))
const SQRT_M1 = pow(2n, (P - 1n) / 4n)

/** Decodes a point (RFC 8032 5.1.3) or says why it is not one; refuses non-canonical encodings. */
function decodePoint(bytes: Uint8Array): { x: bigint; y: bigint } | string {
  let y = 0n
  for (let i = 31; i >= 0; i--) y = (y << 8n) | BigInt(bytes[i] as number)
  const sign = y >> 255n
  y &= (1n << 255n) - 1n
  if (y >= P) return 'is not canonical (y ≥ p)'
  const u = mod(y * y - 1n)
  const v = mod(D * y * y + 1n)
  let x = mod(u * pow(v, 3n) * pow(u * pow(v, 7n), (P - 5n) / 8n))
  if (mod(v * x * x) !== u) {
    if (mod(v * x * x) !== mod(-u)) return 'is not a point of edwards25519'
    x = mod(x * SQRT_M1)
  }
  if (x === 0n && sign === 1n) return 'is not canonical (negative zero x)'
  if ((x & 1n) !== sign) x = P - x
  return { x, y }
}

interface Projective {
  readonly X: bigint
  readonly Y: bigint
  readonly Z: bigint
}

/**
 * Projective twisted Edwards addition for a = −1 (Bernstein et al. 2008, add-2008-bbjlp): no
 * inversion, and complete on edwards25519 since d is not a square.
 */
function addPoints(p1: Projective, p2: Projective): Projective {
  const a = (p1.Z * p2.Z) % P
  const b = (a * a) % P
  const c = (p1.X * p2.X) % P
  const d = (p1.Y * p2.Y) % P
  const e = (D * c * d) % P
  const f = mod(b - e)
  const g = (b + e) % P
  return {
    X: mod(a * f * ((p1.X + p1.Y) * (p2.X + p2.Y) - c - d)),
    Y: (a * g * (d + c)) % P,
    Z: (f * g) % P,
  }
}

/** `publicKeyProblem` without libsodium: canonical encoding and not of small order. */
export function edwardsKeyProblem(bytes: Uint8Array): string | undefined {
  const point = decodePoint(bytes)
  if (typeof point === 'string') return point
  let eight: Projective = { X: point.x, Y: point.y, Z: 1n }
  for (let i = 0; i < 3; i++) eight = addPoints(eight, eight)
  return eight.X === 0n && eight.Y === eight.Z ? 'has small order (forgeable)' : undefined
}

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
