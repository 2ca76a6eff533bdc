/**
 * Why a telemetry message was rejected. Each code is stable: it is written into the DLQ record,
 * counted in metrics (`reason` label) and shown to device owners, so never rename one.
 */
export const REJECTION_REASONS = {
  PAYLOAD_TOO_LARGE: 'the message is larger than the configured maximum size',
  MALFORMED_JSON: 'the message is not valid UTF-8 JSON',
  UNSUPPORTED_VERSION:
    'the message has no `v`, a schema version this service does not know, or v1 after its migration window was closed',
  ENVELOPE_INVALID:
    'a v2 message is not exactly {"v":2,"sig":"<88 characters>","body":{…}} without whitespace',
  SCHEMA_VIOLATION: 'a field is missing, has the wrong type, is not an integer or is out of range',
  NUMBER_FORM:
    'a v2 body writes a number other than as a plain non-negative decimal integer (1.0, 1e3, -0, -1)',
  DUPLICATE_KEY: 'a v2 body gives the same key twice in one object',
  UNKNOWN_READING_TYPE: 'a reading has a `type` that is not part of the schema',
  EMPTY_BATCH: 'the message carries no readings',
  BATCH_TOO_LARGE: 'the message carries more readings than the configured maximum',
  SEQ_NOT_INCREASING: 'the readings of a batch are not in strictly increasing `seq` order',
  MIXED_ASSET_CLASSES: 'a batch mixes readings of different asset classes',
  SIGNATURE_MALFORMED: 'the signature is not base64 of 64 bytes',
  TOPIC_INVALID: 'the MQTT topic is not gridroot/v1/{charger|pv|swap}/{deviceId}/telemetry',
  TOPIC_MISMATCH: 'the deviceId in the topic differs from the deviceId in the message',
  UNKNOWN_DEVICE: 'the device is not in the registry',
  CLASS_MISMATCH: "the topic's or the readings' asset class differs from the registered class",
  BAD_SIGNATURE: "the signature does not verify with the device's registered public key",
} as const satisfies Record<string, string>

export type RejectionReason = keyof typeof REJECTION_REASONS

export const REJECTION_REASON_CODES = Object.keys(REJECTION_REASONS) as RejectionReason[]

export interface Rejection {
  readonly reason: RejectionReason
  /** What exactly was wrong, for a person: a field path and what was expected. */
  readonly detail: string
}

export type Decoded<T> = { readonly ok: true; readonly value: T } | ({ readonly ok: false } & Rejection)

export function reject(reason: RejectionReason, detail: string): { ok: false } & Rejection {
  return { ok: false, reason, detail }
}
