/**
 * The ingest decision for one MQTT message: decode, check the topic against the message, look
 * the device up, check its class (`admit`), then verify the signature (`admitAndVerify`).
 * Ingest runs this on worker threads: verifying costs far more than anything else on its path.
 */
import { verifyBytes } from '../../../core/identity/keys.ts'
import type { DeviceRegistry, RegisteredDevice } from '../../../core/identity/registry.ts'
import { signingBytes } from '../../../core/telemetry/canonical.ts'
import { type DecodeLimits, decodeMessage } from '../../../core/telemetry/decode.ts'
import { type Decoded, reject } from '../../../core/telemetry/reasons.ts'
import { parseTelemetryTopic } from '../../../core/telemetry/topic.ts'
import { assetClassOfReadingType, type TelemetryMessage } from '../../../core/telemetry/types.ts'

export interface Admitted {
  readonly message: TelemetryMessage
  readonly device: RegisteredDevice
  /** What the signature must cover. */
  readonly signingBytes: Uint8Array
}

export function admit(
  topic: string,
  payload: Uint8Array,
  registry: DeviceRegistry,
  limits: DecodeLimits,
): Decoded<Admitted> {
  const parsedTopic = parseTelemetryTopic(topic)
  if (!parsedTopic) return reject('TOPIC_INVALID', `topic ${JSON.stringify(topic.slice(0, 200))}`)
  const decoded = decodeMessage(payload, limits)
  if (!decoded.ok) return decoded
  const message = decoded.value
  if (message.deviceId !== parsedTopic.deviceId) {
    return reject('TOPIC_MISMATCH', `topic names ${parsedTopic.deviceId}, message names ${message.deviceId}`)
  }
  const device = registry.get(message.deviceId)
  if (!device) return reject('UNKNOWN_DEVICE', `deviceId ${message.deviceId} is not registered`)
  if (parsedTopic.assetClass !== device.assetClass) {
    return reject(
      'CLASS_MISMATCH',
      `topic class ${parsedTopic.assetClass}, registered class ${device.assetClass}`,
    )
  }
  const first = message.readings[0]
  if (first && assetClassOfReadingType(first.type) !== device.assetClass) {
    return reject(
      'CLASS_MISMATCH',
      `readings are ${assetClassOfReadingType(first.type)}, device is ${device.assetClass}`,
    )
  }
  return {
    ok: true,
    value: { message, device, signingBytes: signingBytes(message.deviceId, message.readings) },
  }
}

/** What ingest needs to know of an accepted message to produce it. */
export interface Verified {
  readonly deviceId: string
  readonly readings: number
}

/** The whole ingest decision for one message: admit, then check the device's signature. */
export function admitAndVerify(
  topic: string,
  payload: Uint8Array,
  registry: DeviceRegistry,
  limits: DecodeLimits,
): Decoded<Verified> {
  const admitted = admit(topic, payload, registry, limits)
  if (!admitted.ok) return admitted
  const { message, device, signingBytes } = admitted.value
  if (!verifyBytes(device.publicKeyRaw, signingBytes, message.sig)) {
    const first = message.readings[0]?.seq
    return reject(
      'BAD_SIGNATURE',
      `signature of ${message.readings.length} reading(s) from seq ${first} does not verify`,
    )
  }
  return { ok: true, value: { deviceId: message.deviceId, readings: message.readings.length } }
}
