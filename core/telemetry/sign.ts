/**
 * What a device does: sign a batch of its readings and encode the payload it publishes. v2 signs
 * the exact body bytes it sends (./signed.ts); v1 (migration only) signs a canonical re-encoding.
 */
import type { KeyObject } from 'node:crypto'
import { signBytes, verifyBytes } from '../identity/keys.ts'
import { signingBytes } from './canonical.ts'
import { signedBytesFor, signedBytesOf, V2_BODY_MARKER, V2_PREFIX } from './signed.ts'
import type { Reading, TelemetryMessage, TelemetryMessageV1Wire, TelemetryVersion } from './types.ts'

/** The body of a v2 message as a device writes it: deviceId, boot, readings, in that order. */
export function v2BodyText(deviceId: string, boot: number, readings: readonly Reading[]): string {
  return JSON.stringify({ deviceId, boot, readings })
}

/**
 * Wraps body bytes (exactly as they are to be sent) in a signed v2 payload. The body is copied in
 * verbatim: whatever bytes a device chose are the bytes that are signed and archived.
 */
export function signV2Body(body: Uint8Array, privateKey: KeyObject): Buffer {
  const sig = signBytes(privateKey, signedBytesFor(2, body))
  return Buffer.concat([Buffer.from(`${V2_PREFIX}${sig}${V2_BODY_MARKER}`), body, Buffer.from('}')])
}

/** The v2 payload a device publishes for a batch of its readings. */
export function encodeV2(
  deviceId: string,
  boot: number,
  readings: readonly Reading[],
  privateKey: KeyObject,
): Buffer {
  return signV2Body(Buffer.from(v2BodyText(deviceId, boot, readings)), privateKey)
}

/** Builds the signed v1 message (migration only: v1 has no boot, its seq can never restart). */
export function signV1Message(
  deviceId: string,
  readings: readonly Reading[],
  privateKey: KeyObject,
): TelemetryMessageV1Wire {
  return { v: 1, deviceId, readings, sig: signBytes(privateKey, signingBytes(deviceId, readings)) }
}

export function encodeV1(deviceId: string, readings: readonly Reading[], privateKey: KeyObject): Buffer {
  return Buffer.from(JSON.stringify(signV1Message(deviceId, readings, privateKey)))
}

/** The payload of `version` for a batch; v1 ignores `boot` (it must be 0). */
export function encodeTelemetry(
  version: TelemetryVersion,
  deviceId: string,
  boot: number,
  readings: readonly Reading[],
  privateKey: KeyObject,
): Buffer {
  if (version === 2) return encodeV2(deviceId, boot, readings, privateKey)
  if (boot !== 0) throw new RangeError(`telemetry v1 cannot carry boot ${boot}: publish v2`)
  return encodeV1(deviceId, readings, privateKey)
}

/** Whether a decoded message's signature verifies under a raw 32-byte public key. */
export function verifyMessage(
  message: Pick<TelemetryMessage, 'v' | 'body' | 'sig'>,
  publicKeyRaw: Buffer,
): boolean {
  return verifyBytes(publicKeyRaw, signedBytesOf(message), message.sig)
}
