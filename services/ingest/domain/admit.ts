/**
 * The ingest decision for one MQTT message, except the signature: decode, check the topic against
 * the message, look the device up, and check its class. What passes goes on to signature
 * verification (which ingest runs on worker threads, being by far the most expensive step).
 */
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
