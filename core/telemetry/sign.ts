import type { KeyObject } from 'node:crypto'
import { signBytes, verifyBytes } from '../identity/keys.ts'
import { signingBytes } from './canonical.ts'
import { type Reading, TELEMETRY_SCHEMA_VERSION, type TelemetryMessage } from './types.ts'

/** Builds the signed message a device publishes for a batch of its readings. */
export function signMessage(
  deviceId: string,
  readings: readonly Reading[],
  privateKey: KeyObject,
): TelemetryMessage {
  return {
    v: TELEMETRY_SCHEMA_VERSION,
    deviceId,
    readings,
    sig: signBytes(privateKey, signingBytes(deviceId, readings)),
  }
}

export function encodeMessage(message: TelemetryMessage): Buffer {
  return Buffer.from(JSON.stringify(message))
}

export function verifyMessage(message: TelemetryMessage, publicKeyRaw: Buffer): boolean {
  return verifyBytes(publicKeyRaw, signingBytes(message.deviceId, message.readings), message.sig)
}
