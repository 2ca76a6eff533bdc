/**
 * The ingest decision for one MQTT message: decode, check the topic against the message, look
 * the device up, check its class and verify the signature. Ingest runs this on worker threads:
 * verifying costs far more than anything else on its path.
 *
 * v2 is verified before its body is parsed: the envelope gives the signature and the signed
 * bytes by position, the topic names the device whose key must have signed them, and only
 * signed bodies are parsed (strictly) and checked against the topic. Nothing is re-encoded.
 * v1 (migration only) is parsed, re-encoded canonically and then verified.
 */
import { verifyBytes } from '../../../core/identity/keys.ts'
import type { DeviceRegistry, RegisteredDevice } from '../../../core/identity/registry.ts'
import {
  type DecodeLimits,
  decodeMessage,
  decodeV2Envelope,
  envelopeMemberAfterBody,
  isV2Payload,
  notJson,
  parseV2Body,
} from '../../../core/telemetry/decode.ts'
import { type Decoded, type Rejection, reject } from '../../../core/telemetry/reasons.ts'
import { signedBytesFor, signedBytesOf } from '../../../core/telemetry/signed.ts'
import { type ParsedTopic, parseTelemetryTopic } from '../../../core/telemetry/topic.ts'
import { assetClassOfReadingType, type Reading } from '../../../core/telemetry/types.ts'
import type { AdmissionFailure } from '../ports.ts'

/** What ingest needs to know of an accepted message to produce it. */
export interface Verified {
  readonly deviceId: string
  readonly readings: number
}

function registered(
  parsedTopic: ParsedTopic,
  registry: DeviceRegistry,
): ({ ok: true; device: RegisteredDevice } & Partial<Rejection>) | ({ ok: false } & Rejection) {
  const device = registry.get(parsedTopic.deviceId)
  if (!device) return reject('UNKNOWN_DEVICE', `deviceId ${parsedTopic.deviceId} is not registered`)
  if (parsedTopic.assetClass !== device.assetClass) {
    return reject(
      'CLASS_MISMATCH',
      `topic class ${parsedTopic.assetClass}, registered class ${device.assetClass}`,
    )
  }
  return { ok: true, device }
}

function checkBodyAgainstTopic(
  deviceId: string,
  readings: readonly Reading[],
  parsedTopic: ParsedTopic,
  device: RegisteredDevice,
): Decoded<Verified> {
  if (deviceId !== parsedTopic.deviceId) {
    return reject('TOPIC_MISMATCH', `topic names ${parsedTopic.deviceId}, message names ${deviceId}`)
  }
  const first = readings[0]
  if (first && assetClassOfReadingType(first.type) !== device.assetClass) {
    return reject(
      'CLASS_MISMATCH',
      `readings are ${assetClassOfReadingType(first.type)}, device is ${device.assetClass}`,
    )
  }
  return { ok: true, value: { deviceId, readings: readings.length } }
}

function admitV2(
  parsedTopic: ParsedTopic,
  payload: Uint8Array,
  registry: DeviceRegistry,
  limits: DecodeLimits,
): Decoded<Verified> {
  const envelope = decodeV2Envelope(payload, limits)
  if (!envelope.ok) return envelope
  const found = registered(parsedTopic, registry)
  if (!found.ok) return found
  const { sig, body } = envelope.value
  if (!verifyBytes(found.device.publicKeyRaw, signedBytesFor(2, body), sig)) {
    return (
      notJson(payload) ??
      envelopeMemberAfterBody(body) ??
      reject(
        'BAD_SIGNATURE',
        `the signature over the ${body.byteLength}-byte body does not verify with ${parsedTopic.deviceId}'s key`,
      )
    )
  }
  const parsed = parseV2Body(body, limits)
  if (!parsed.ok) return parsed
  return checkBodyAgainstTopic(parsed.value.deviceId, parsed.value.readings, parsedTopic, found.device)
}

function admitV1(
  parsedTopic: ParsedTopic,
  payload: Uint8Array,
  registry: DeviceRegistry,
  limits: DecodeLimits,
): Decoded<Verified> {
  const decoded = decodeMessage(payload, limits)
  if (!decoded.ok) return decoded
  const message = decoded.value
  if (message.deviceId !== parsedTopic.deviceId) {
    return reject('TOPIC_MISMATCH', `topic names ${parsedTopic.deviceId}, message names ${message.deviceId}`)
  }
  const found = registered(parsedTopic, registry)
  if (!found.ok) return found
  const checked = checkBodyAgainstTopic(message.deviceId, message.readings, parsedTopic, found.device)
  if (!checked.ok) return checked
  if (!verifyBytes(found.device.publicKeyRaw, signedBytesOf(message), message.sig)) {
    const first = message.readings[0]?.seq
    return reject(
      'BAD_SIGNATURE',
      `signature of ${message.readings.length} reading(s) from seq ${first} does not verify`,
    )
  }
  return checked
}

/** The whole ingest decision for one message, of either version. */
export function admitAndVerify(
  topic: string,
  payload: Uint8Array,
  registry: DeviceRegistry,
  limits: DecodeLimits,
): Decoded<Verified> {
  const parsedTopic = parseTelemetryTopic(topic)
  if (!parsedTopic) return reject('TOPIC_INVALID', `topic ${JSON.stringify(topic.slice(0, 200))}`)
  return isV2Payload(payload)
    ? admitV2(parsedTopic, payload, registry, limits)
    : admitV1(parsedTopic, payload, registry, limits)
}

/** What admission gives for a message: the decision, or admission's own failure on it. */
export type Admitted = Decoded<Verified> | AdmissionFailure

/**
 * `admitAndVerify` that never throws: an exception (a bug a message's bytes expose) becomes the
 * message's ADMISSION_ERROR, so one message cannot take the worker, and every message handed
 * over with it, down (services/ingest/adapters/admit-pool.ts bounds what still crashes or hangs).
 */
export function admitSafely(
  topic: string,
  payload: Uint8Array,
  registry: DeviceRegistry,
  limits: DecodeLimits,
): Admitted {
  try {
    return admitAndVerify(topic, payload, registry, limits)
  } catch (error) {
    const why = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
    return { ok: false, reason: 'ADMISSION_ERROR', detail: why.slice(0, 400) }
  }
}
