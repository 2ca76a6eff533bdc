/**
 * What a telemetry signature covers, per version, and the fixed layout of a v2 payload.
 *
 * v2 payload, byte for byte (no other whitespace):
 *
 *     {"v":2,"sig":"<88 characters: canonical base64 of the 64-byte ed25519 signature>","body":BODY}
 *
 * BODY is the exact signed bytes, a JSON object {"deviceId":…,"boot":…,"readings":[…]}; the
 * signed message is `"gridroot.telemetry.v2\n"` ‖ BODY. BODY starts at byte 111 and ends one
 * byte before the end, so a reader takes it out by position: nothing is re-encoded to verify, and
 * the bytes archived in Kafka are exactly the bytes that were signed.
 */
import { createHash } from 'node:crypto'
import { TELEMETRY_SIGNING_DOMAIN } from './canonical.ts'
import type { TelemetryMessage, TelemetryVersion } from './types.ts'

export const TELEMETRY_V2_SIGNING_DOMAIN = 'gridroot.telemetry.v2\n'

export const V2_PREFIX = '{"v":2,"sig":"'
export const V2_SIGNATURE_CHARS = 88
export const V2_BODY_MARKER = '","body":'
/** Where BODY starts: the prefix (14), the signature (88), the marker (9). */
export const V2_BODY_OFFSET = V2_PREFIX.length + V2_SIGNATURE_CHARS + V2_BODY_MARKER.length

const encoder = new TextEncoder()
const DOMAIN_BYTES: Readonly<Record<TelemetryVersion, Uint8Array>> = {
  1: encoder.encode(TELEMETRY_SIGNING_DOMAIN),
  2: encoder.encode(TELEMETRY_V2_SIGNING_DOMAIN),
}

export function signingDomainBytes(version: TelemetryVersion): Uint8Array {
  return DOMAIN_BYTES[version]
}

/** The domain prefix of `version` followed by `body`: exactly what the signature covers. */
export function signedBytesFor(version: TelemetryVersion, body: Uint8Array): Buffer {
  const domain = DOMAIN_BYTES[version]
  const out = Buffer.allocUnsafe(domain.byteLength + body.byteLength)
  out.set(domain, 0)
  out.set(body, domain.byteLength)
  return out
}

/** What the signature of a decoded message covers. */
export function signedBytesOf(message: Pick<TelemetryMessage, 'v' | 'body'>): Buffer {
  return signedBytesFor(message.v, message.body)
}

/**
 * sha256 (hex) of the signed bytes (domain ‖ body): one message's identity for digests and the
 * archive. Two messages with the same digest carry the same signed content.
 */
export function signedDigestHex(message: Pick<TelemetryMessage, 'v' | 'body'>): string {
  return createHash('sha256').update(signedBytesOf(message)).digest('hex')
}
