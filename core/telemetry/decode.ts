/**
 * Structural validation of a telemetry message: bytes → typed message, or a rejection with a
 * stable reason and a detail naming the field. It checks everything that can be checked without
 * context; the topic, the registry and the signature are checked by `checkMessage`
 * (./check.ts). Strict: unknown fields are rejected, since every field is covered by the
 * signature and would otherwise travel unvalidated.
 */
import { type Decoded, type Rejection, reject } from './reasons.ts'
import { DEVICE_ID_PATTERN } from './topic.ts'
import {
  assetClassOfReadingType,
  CONNECTOR_STATUSES,
  INVERTER_STATUSES,
  type Reading,
  type ReadingType,
  SLOT_STATES,
  STOP_REASONS,
  TELEMETRY_SCHEMA_VERSION,
  type TelemetryMessage,
} from './types.ts'

export interface DecodeLimits {
  readonly maxMessageBytes: number
  readonly maxReadingsPerMessage: number
}

export const DEFAULT_DECODE_LIMITS: DecodeLimits = {
  maxMessageBytes: 256 * 1024,
  maxReadingsPerMessage: 1000,
}

/** 2000-01-01 and 2100-01-01: device times outside are a broken clock, not a reading. */
const MIN_DEVICE_TIME_MS = 946_684_800_000
const MAX_DEVICE_TIME_MS = 4_102_444_800_000
/** Registers are capped so that sums of many of them stay exact in a double. */
const MAX_REGISTER_WH = 2 ** 50

type FieldCheck = (value: unknown) => string | undefined

const int =
  (min: number, max: number): FieldCheck =>
  (v) =>
    typeof v !== 'number' || !Number.isInteger(v)
      ? 'an integer'
      : v < min || v > max
        ? `an integer in [${min}, ${max}]`
        : undefined
const text =
  (maxLength: number): FieldCheck =>
  (v) =>
    typeof v !== 'string' || v.length === 0 || v.length > maxLength
      ? `a string of 1..${maxLength} characters`
      : undefined
const oneOf =
  (values: readonly string[]): FieldCheck =>
  (v) =>
    typeof v !== 'string' || !values.includes(v) ? `one of ${values.join('|')}` : undefined
const arrayOf =
  (maxLength: number, item: FieldCheck): FieldCheck =>
  (v) => {
    if (!Array.isArray(v) || v.length > maxLength) return `an array of at most ${maxLength} items`
    for (const x of v) {
      const problem = item(x)
      if (problem) return `an array of ${problem}`
    }
    return undefined
  }

const COMMON: Record<string, FieldCheck> = {
  type: () => undefined,
  seq: int(0, Number.MAX_SAFE_INTEGER),
  ts: int(MIN_DEVICE_TIME_MS, MAX_DEVICE_TIME_MS),
  registerWh: int(0, MAX_REGISTER_WH),
}
const CONNECTOR = int(1, 64)
const SESSION_ID = text(64)
const POWER_W = int(0, 100_000_000)
const PERMILLE = int(0, 1000)

const FIELDS: Record<ReadingType, Record<string, FieldCheck>> = {
  'charger.session_start': { ...COMMON, connectorId: CONNECTOR, sessionId: SESSION_ID },
  'charger.meter': { ...COMMON, connectorId: CONNECTOR, sessionId: SESSION_ID, powerW: POWER_W },
  'charger.session_stop': {
    ...COMMON,
    connectorId: CONNECTOR,
    sessionId: SESSION_ID,
    reason: oneOf(STOP_REASONS),
  },
  'charger.status': {
    ...COMMON,
    connectorId: CONNECTOR,
    status: oneOf(CONNECTOR_STATUSES),
    errorCode: text(50),
  },
  'pv.inverter': {
    ...COMMON,
    acPowerW: POWER_W,
    irradianceWm2: int(0, 2000),
    status: oneOf(INVERTER_STATUSES),
  },
  'swap.event': {
    ...COMMON,
    swapCount: int(0, MAX_REGISTER_WH),
    swapId: text(64),
    slotOut: int(0, 255),
    slotIn: int(0, 255),
    batteryOutId: text(64),
    batteryInId: text(64),
    socOutPermille: PERMILLE,
    socInPermille: PERMILLE,
    energyWh: int(0, 1_000_000),
  },
  'swap.slots': { ...COMMON, swapCount: int(0, MAX_REGISTER_WH), slots: arrayOf(256, oneOf(SLOT_STATES)) },
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function checkReading(raw: unknown, path: string): Rejection | undefined {
  if (!isRecord(raw)) return { reason: 'SCHEMA_VIOLATION', detail: `${path} must be an object` }
  const type = raw.type
  if (typeof type !== 'string' || !Object.hasOwn(FIELDS, type)) {
    return { reason: 'UNKNOWN_READING_TYPE', detail: `${path}.type is ${JSON.stringify(type)}` }
  }
  const spec = FIELDS[type as ReadingType]
  for (const [field, check] of Object.entries(spec)) {
    if (!(field in raw)) return { reason: 'SCHEMA_VIOLATION', detail: `${path}.${field} is missing` }
    const problem = check(raw[field])
    if (problem) return { reason: 'SCHEMA_VIOLATION', detail: `${path}.${field} must be ${problem}` }
  }
  for (const field of Object.keys(raw)) {
    if (!Object.hasOwn(spec, field))
      return { reason: 'SCHEMA_VIOLATION', detail: `${path}.${field} is not a field of ${type}` }
  }
  return undefined
}

/**
 * Canonical base64 of 64 bytes: 86 characters carry 516 bits, so the last one's 4 spare bits must
 * be zero ([AQgw]). Otherwise 16 different strings would decode to one signature, and a relay
 * could alter a signed message without breaking its signature.
 */
const SIGNATURE_BASE64 = /^[A-Za-z0-9+/]{85}[AQgw]==$/
const decoder = new TextDecoder('utf-8', { fatal: true })

/** Decodes and validates one message; never throws on bad input. */
export function decodeMessage(
  bytes: Uint8Array,
  limits: DecodeLimits = DEFAULT_DECODE_LIMITS,
): Decoded<TelemetryMessage> {
  if (bytes.byteLength > limits.maxMessageBytes) {
    return reject('PAYLOAD_TOO_LARGE', `${bytes.byteLength} bytes > maximum ${limits.maxMessageBytes}`)
  }
  let raw: unknown
  try {
    raw = JSON.parse(decoder.decode(bytes))
  } catch (error) {
    return reject('MALFORMED_JSON', error instanceof Error ? error.message : String(error))
  }
  if (!isRecord(raw)) return reject('MALFORMED_JSON', 'the top level must be a JSON object')
  if (raw.v !== TELEMETRY_SCHEMA_VERSION)
    return reject('UNSUPPORTED_VERSION', `v is ${JSON.stringify(raw.v)}, expected 1`)
  for (const field of Object.keys(raw)) {
    if (!['v', 'deviceId', 'readings', 'sig'].includes(field)) {
      return reject('SCHEMA_VIOLATION', `${field} is not a field of a telemetry message`)
    }
  }
  if (typeof raw.deviceId !== 'string' || !DEVICE_ID_PATTERN.test(raw.deviceId)) {
    return reject('SCHEMA_VIOLATION', `deviceId must match ${DEVICE_ID_PATTERN}`)
  }
  if (typeof raw.sig !== 'string' || !SIGNATURE_BASE64.test(raw.sig)) {
    return reject('SIGNATURE_MALFORMED', 'sig must be canonical base64 of a 64-byte ed25519 signature')
  }
  const readings = raw.readings
  if (!Array.isArray(readings)) return reject('SCHEMA_VIOLATION', 'readings must be an array')
  if (readings.length === 0) return reject('EMPTY_BATCH', 'readings is empty')
  if (readings.length > limits.maxReadingsPerMessage) {
    return reject('BATCH_TOO_LARGE', `${readings.length} readings > maximum ${limits.maxReadingsPerMessage}`)
  }
  let previousSeq = -1
  let assetClass: string | undefined
  for (let i = 0; i < readings.length; i++) {
    const problem = checkReading(readings[i], `readings[${i}]`)
    if (problem) return { ok: false, ...problem }
    const reading = readings[i] as Reading
    if (reading.seq <= previousSeq) {
      return reject('SEQ_NOT_INCREASING', `readings[${i}].seq ${reading.seq} follows ${previousSeq}`)
    }
    previousSeq = reading.seq
    const readingClass = assetClassOfReadingType(reading.type)
    if (assetClass !== undefined && readingClass !== assetClass) {
      return reject(
        'MIXED_ASSET_CLASSES',
        `readings[${i}] is ${readingClass}, earlier readings are ${assetClass}`,
      )
    }
    assetClass = readingClass
  }
  return { ok: true, value: raw as unknown as TelemetryMessage }
}
