/**
 * Structural validation of a telemetry message: bytes → typed message, or a rejection with a
 * stable reason and a detail naming the field. It checks everything that can be checked without
 * context; ingest checks the topic, the registry and the signature
 * (services/ingest/domain/admit.ts). Strict: unknown fields are rejected, since every field is
 * covered by the signature and would otherwise travel unvalidated.
 *
 * v2 (./signed.ts) is read in two steps, so that ingest can verify before it parses:
 * `decodeV2Envelope` takes the signature and the body out by position, `parseV2Body` parses the
 * body strictly. Strict means every JSON parser reads the same values from the signed bytes:
 * duplicate keys (which parsers resolve differently) and numbers that are not plain non-negative
 * decimal integers (`1.0`, `1e3`, `-0`) are rejected rather than normalised.
 */
import { GridrootError } from '../errors/base.ts'
import { v1Body } from './canonical.ts'
import { type Decoded, type Rejection, reject } from './reasons.ts'
import { V2_BODY_MARKER, V2_BODY_OFFSET, V2_PREFIX, V2_SIGNATURE_CHARS } from './signed.ts'
import { DEVICE_ID_PATTERN } from './topic.ts'
import {
  assetClassOfReadingType,
  CONNECTOR_STATUSES,
  INVERTER_STATUSES,
  MAX_BOOT,
  type Reading,
  type ReadingType,
  SLOT_STATES,
  STOP_REASONS,
  type TelemetryMessage,
} from './types.ts'

export interface DecodeLimits {
  readonly maxMessageBytes: number
  readonly maxReadingsPerMessage: number
  /**
   * Whether v1 messages (signature over a canonical re-encoding) are still accepted: true during
   * the migration window; false rejects them as UNSUPPORTED_VERSION. Absent means true.
   */
  readonly acceptV1?: boolean
}

export const DEFAULT_DECODE_LIMITS: DecodeLimits = {
  maxMessageBytes: 256 * 1024,
  maxReadingsPerMessage: 1000,
  acceptV1: true,
}

/** 2000-01-01 and 2100-01-01: device times outside are a broken clock, not a reading. */
export const MIN_DEVICE_TIME_MS = 946_684_800_000
export const MAX_DEVICE_TIME_MS = 4_102_444_800_000
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
const BOOT = int(0, MAX_BOOT)

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
/** The same as (field, check) lists, walked on the hot path without allocating. */
const FIELD_LISTS = Object.fromEntries(
  Object.entries(FIELDS).map(([type, spec]) => [type, Object.entries(spec)]),
) as Record<ReadingType, [string, FieldCheck][]>

/**
 * A value from a message, shown in a rejection's detail. Never JSON.stringify a parsed value:
 * JSON.parse reads 100,000 nested brackets iteratively, JSON.stringify recurses and throws a
 * RangeError (stack overflow) on them, which a 200 KB `{"v":[[[…]]]}` turned into an admission
 * worker crashing on every message it was handed, forever.
 */
function shown(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 100 ? `${v.slice(0, 100)}…` : v)
  if (Array.isArray(v)) return `an array of ${v.length}`
  if (v !== null && typeof v === 'object') return 'an object'
  return String(v)
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Checks one reading; on success returns its number of keys. */
function checkReading(raw: unknown, path: string): Rejection | number {
  if (!isRecord(raw)) return { reason: 'SCHEMA_VIOLATION', detail: `${path} must be an object` }
  const type = raw.type
  if (typeof type !== 'string' || !Object.hasOwn(FIELDS, type)) {
    return { reason: 'UNKNOWN_READING_TYPE', detail: `${path}.type is ${shown(type)}` }
  }
  const fields = FIELD_LISTS[type as ReadingType]
  for (const [field, check] of fields) {
    if (!Object.hasOwn(raw, field))
      return { reason: 'SCHEMA_VIOLATION', detail: `${path}.${field} is missing` }
    const problem = check(raw[field])
    if (problem) return { reason: 'SCHEMA_VIOLATION', detail: `${path}.${field} must be ${problem}` }
  }
  // Every field of the type is present, so any further key is one that is not a field.
  const keys = Object.keys(raw)
  if (keys.length !== fields.length) {
    const spec = FIELDS[type as ReadingType]
    const extra = keys.find((field) => !Object.hasOwn(spec, field))
    return { reason: 'SCHEMA_VIOLATION', detail: `${path}.${extra} is not a field of ${type}` }
  }
  return keys.length
}

/** Checks a batch of readings; on success returns the number of keys of all readings together. */
function checkReadings(readings: unknown, limits: DecodeLimits, path: string): Rejection | number {
  if (!Array.isArray(readings)) return { reason: 'SCHEMA_VIOLATION', detail: `${path} must be an array` }
  if (readings.length === 0) return { reason: 'EMPTY_BATCH', detail: `${path} is empty` }
  if (readings.length > limits.maxReadingsPerMessage) {
    return {
      reason: 'BATCH_TOO_LARGE',
      detail: `${readings.length} readings > maximum ${limits.maxReadingsPerMessage}`,
    }
  }
  let keys = 0
  let previousSeq = -1
  let assetClass: string | undefined
  for (let i = 0; i < readings.length; i++) {
    const checked = checkReading(readings[i], `${path}[${i}]`)
    if (typeof checked !== 'number') return checked
    keys += checked
    const reading = readings[i] as Reading
    if (reading.seq <= previousSeq) {
      return {
        reason: 'SEQ_NOT_INCREASING',
        detail: `${path}[${i}].seq ${reading.seq} follows ${previousSeq}`,
      }
    }
    previousSeq = reading.seq
    const readingClass = assetClassOfReadingType(reading.type)
    if (assetClass !== undefined && readingClass !== assetClass) {
      return {
        reason: 'MIXED_ASSET_CLASSES',
        detail: `${path}[${i}] is ${readingClass}, earlier readings are ${assetClass}`,
      }
    }
    assetClass = readingClass
  }
  return keys
}

/**
 * Canonical base64 of 64 bytes: 86 characters carry 516 bits, so the last one's 4 spare bits must
 * be zero ([AQgw]). Otherwise 16 different strings would decode to one signature, and a relay
 * could alter a signed message without breaking its signature.
 */
const SIGNATURE_BASE64 = /^[A-Za-z0-9+/]{85}[AQgw]==$/
const decoder = new TextDecoder('utf-8', { fatal: true })
const encoder = new TextEncoder()
const V2_PREFIX_BYTES = encoder.encode(V2_PREFIX)
const V2_MARKER_BYTES = encoder.encode(V2_BODY_MARKER)
const V2_MARKER_OFFSET = V2_PREFIX.length + V2_SIGNATURE_CHARS
const CLOSE_BRACE = 0x7d

function startsWithAt(bytes: Uint8Array, at: number, expected: Uint8Array): boolean {
  if (bytes.byteLength < at + expected.byteLength) return false
  for (let i = 0; i < expected.byteLength; i++) if (bytes[at + i] !== expected[i]) return false
  return true
}

/** Whether a payload claims to be v2 (it starts with the v2 prefix). */
export function isV2Payload(bytes: Uint8Array): boolean {
  return startsWithAt(bytes, 0, V2_PREFIX_BYTES)
}

export interface V2Envelope {
  readonly sig: string
  /** The signed bytes: a view into the payload. */
  readonly body: Uint8Array
}

const V2_LAYOUT = `{"v":2,"sig":"<${V2_SIGNATURE_CHARS} characters>","body":{…}} with no whitespace`

/**
 * On a v2 error path only (never for a message that is fine): a payload that is not JSON at all
 * (truncated, binary) is MALFORMED_JSON, whatever else is wrong with it, as in every version.
 */
export function notJson(bytes: Uint8Array): ({ ok: false } & Rejection) | undefined {
  try {
    JSON.parse(decoder.decode(bytes))
    return undefined
  } catch (error) {
    return reject('MALFORMED_JSON', error instanceof Error ? error.message : String(error))
  }
}

/** Takes signature and body out of a v2 payload by position; parses nothing. */
export function decodeV2Envelope(
  bytes: Uint8Array,
  limits: DecodeLimits = DEFAULT_DECODE_LIMITS,
): Decoded<V2Envelope> {
  if (bytes.byteLength > limits.maxMessageBytes) {
    return reject('PAYLOAD_TOO_LARGE', `${bytes.byteLength} bytes > maximum ${limits.maxMessageBytes}`)
  }
  if (
    !isV2Payload(bytes) ||
    !startsWithAt(bytes, V2_MARKER_OFFSET, V2_MARKER_BYTES) ||
    bytes.byteLength < V2_BODY_OFFSET + 3 ||
    bytes[bytes.byteLength - 1] !== CLOSE_BRACE ||
    bytes[V2_BODY_OFFSET] !== 0x7b
  ) {
    return notJson(bytes) ?? reject('ENVELOPE_INVALID', `a v2 payload is exactly ${V2_LAYOUT}`)
  }
  const sig = Buffer.from(bytes.buffer, bytes.byteOffset + V2_PREFIX.length, V2_SIGNATURE_CHARS).toString(
    'latin1',
  )
  if (!SIGNATURE_BASE64.test(sig)) {
    return reject('SIGNATURE_MALFORMED', 'sig must be canonical base64 of a 64-byte ed25519 signature')
  }
  return { ok: true, value: { sig, body: bytes.subarray(V2_BODY_OFFSET, bytes.byteLength - 1) } }
}

export interface V2Body {
  readonly deviceId: string
  readonly boot: number
  readonly readings: readonly Reading[]
}

const BODY_FIELDS = ['deviceId', 'boot', 'readings'] as const

/**
 * One pass over a body that JSON.parse accepted: counts object members (colons outside strings)
 * and refuses anything outside strings that is not a plain decimal digit or structure. Quotes and
 * backslashes are ASCII and never part of a multi-byte UTF-8 sequence, so bytes can be scanned.
 */
function scanBody(b: Uint8Array): Rejection | number {
  let members = 0
  const n = b.length
  for (let i = 0; i < n; i++) {
    const c = b[i] as number
    if (c === 0x22) {
      for (i++; b[i] !== 0x22; i++) if (b[i] === 0x5c) i++
    } else if (c === 0x3a) {
      members++
    } else if (c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b || c === 0x2d) {
      return { reason: 'NUMBER_FORM', detail: `body byte ${i}: ${snippet(b, i)}` }
    } else if (c === 0x74 || c === 0x66 || c === 0x6e) {
      return {
        reason: 'SCHEMA_VIOLATION',
        detail: `body byte ${i}: true, false and null are not telemetry values`,
      }
    }
  }
  return members
}

function snippet(b: Uint8Array, at: number): string {
  const from = Math.max(0, at - 12)
  return JSON.stringify(
    Buffer.from(b.buffer, b.byteOffset + from, Math.min(b.length, at + 12) - from).toString('utf8'),
  )
}

/** Index just past the object or array that opens at b[0], or undefined if it never closes. */
function valueEnd(b: Uint8Array): number | undefined {
  let depth = 0
  for (let i = 0; i < b.length; i++) {
    const c = b[i] as number
    if (c === 0x22) {
      for (i++; i < b.length && b[i] !== 0x22; i++) if (b[i] === 0x5c) i++
    } else if (c === 0x7b || c === 0x5b) {
      depth++
    } else if (c === 0x7d || c === 0x5d) {
      depth--
      if (depth === 0) return i + 1
    }
  }
  return undefined
}

const TRAILING_KEY = /^,("(?:[^"\\]|\\.)*")/

/**
 * On an error path only (a body whose signature or JSON failed): the body is taken by position up
 * to the payload's last brace, so an envelope member after the body (`"body":{…},"x":1}`) lands in
 * it. That is an envelope fault, not a forged signature or a broken body: name the member.
 */
export function envelopeMemberAfterBody(body: Uint8Array): ({ ok: false } & Rejection) | undefined {
  const end = valueEnd(body)
  if (end === undefined || end === body.byteLength) return undefined
  const after = Buffer.from(body.buffer, body.byteOffset + end, body.byteLength - end).toString('utf8')
  const quoted = TRAILING_KEY.exec(after)?.[1]
  let key: string | undefined
  try {
    key = quoted === undefined ? undefined : (JSON.parse(quoted) as string)
  } catch {
    key = undefined
  }
  const what =
    key === undefined
      ? `${body.byteLength - end} byte(s) follow the body object`
      : `the envelope has a member ${JSON.stringify(key).slice(0, 80)} after body`
  return reject('ENVELOPE_INVALID', `${what}; a v2 payload is exactly ${V2_LAYOUT}`)
}

/** Parses a v2 body strictly (see the module comment). */
export function parseV2Body(body: Uint8Array, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): Decoded<V2Body> {
  let raw: unknown
  try {
    raw = JSON.parse(decoder.decode(body))
  } catch (error) {
    return (
      envelopeMemberAfterBody(body) ??
      reject('MALFORMED_JSON', `body: ${error instanceof Error ? error.message : String(error)}`)
    )
  }
  if (!isRecord(raw)) return reject('MALFORMED_JSON', 'the body must be a JSON object')
  const members = scanBody(body)
  if (typeof members !== 'number') return { ok: false, ...members }
  for (const field of BODY_FIELDS) {
    if (!Object.hasOwn(raw, field)) return reject('SCHEMA_VIOLATION', `body.${field} is missing`)
  }
  const keys = Object.keys(raw)
  if (keys.length !== BODY_FIELDS.length) {
    const extra = keys.find((k) => !(BODY_FIELDS as readonly string[]).includes(k))
    return reject('SCHEMA_VIOLATION', `body.${extra} is not a field of a telemetry v2 body`)
  }
  if (typeof raw.deviceId !== 'string' || !DEVICE_ID_PATTERN.test(raw.deviceId)) {
    return reject('SCHEMA_VIOLATION', `body.deviceId must match ${DEVICE_ID_PATTERN}`)
  }
  const bootProblem = BOOT(raw.boot)
  if (bootProblem) return reject('SCHEMA_VIOLATION', `body.boot must be ${bootProblem}`)
  const readingKeys = checkReadings(raw.readings, limits, 'body.readings')
  if (typeof readingKeys !== 'number') return { ok: false, ...readingKeys }
  // Every object is the body or a reading, and each was checked to hold only its fields: if the
  // text has more members than the parsed objects have keys, a key was given twice.
  if (members !== BODY_FIELDS.length + readingKeys) {
    return reject(
      'DUPLICATE_KEY',
      `the body has ${members} members but ${BODY_FIELDS.length + readingKeys} distinct keys: a key appears twice in an object`,
    )
  }
  return { ok: true, value: raw as unknown as V2Body }
}

/** Decodes and validates a v2 payload (no signature check). */
function decodeV2(bytes: Uint8Array, limits: DecodeLimits): Decoded<TelemetryMessage> {
  const envelope = decodeV2Envelope(bytes, limits)
  if (!envelope.ok) return envelope
  const parsed = parseV2Body(envelope.value.body, limits)
  if (!parsed.ok) return parsed
  const { deviceId, boot, readings } = parsed.value
  return {
    ok: true,
    value: { v: 2, deviceId, boot, readings, sig: envelope.value.sig, body: envelope.value.body },
  }
}

const V1_FIELDS = ['v', 'deviceId', 'readings', 'sig']

/**
 * Decodes and validates one message of either version; never throws on bad input. The signature
 * is not checked here (it needs the registry).
 */
export function decodeMessage(
  bytes: Uint8Array,
  limits: DecodeLimits = DEFAULT_DECODE_LIMITS,
): Decoded<TelemetryMessage> {
  if (bytes.byteLength > limits.maxMessageBytes) {
    return reject('PAYLOAD_TOO_LARGE', `${bytes.byteLength} bytes > maximum ${limits.maxMessageBytes}`)
  }
  if (isV2Payload(bytes)) return decodeV2(bytes, limits)
  let raw: unknown
  try {
    raw = JSON.parse(decoder.decode(bytes))
  } catch (error) {
    return reject('MALFORMED_JSON', error instanceof Error ? error.message : String(error))
  }
  if (!isRecord(raw)) return reject('MALFORMED_JSON', 'the top level must be a JSON object')
  if (raw.v === 2) return reject('ENVELOPE_INVALID', `a v2 payload is exactly ${V2_LAYOUT}`)
  if (raw.v !== 1) return reject('UNSUPPORTED_VERSION', `v is ${shown(raw.v)}, expected 2 or 1`)
  if (limits.acceptV1 === false) {
    return reject(
      'UNSUPPORTED_VERSION',
      'v1 is no longer accepted here (its migration window is over): publish v2',
    )
  }
  for (const field of Object.keys(raw)) {
    if (!V1_FIELDS.includes(field)) {
      return reject('SCHEMA_VIOLATION', `${field} is not a field of a telemetry message`)
    }
  }
  if (typeof raw.deviceId !== 'string' || !DEVICE_ID_PATTERN.test(raw.deviceId)) {
    return reject('SCHEMA_VIOLATION', `deviceId must match ${DEVICE_ID_PATTERN}`)
  }
  if (typeof raw.sig !== 'string' || !SIGNATURE_BASE64.test(raw.sig)) {
    return reject('SIGNATURE_MALFORMED', 'sig must be canonical base64 of a 64-byte ed25519 signature')
  }
  const checked = checkReadings(raw.readings, limits, 'readings')
  if (typeof checked !== 'number') return { ok: false, ...checked }
  const readings = raw.readings as Reading[]
  return {
    ok: true,
    value: {
      v: 1,
      deviceId: raw.deviceId,
      boot: 0,
      readings,
      sig: raw.sig,
      body: v1Body(raw.deviceId, readings),
    },
  }
}

/** A record on telemetry.v1 that does not decode as telemetry (ingest should never produce one). */
export class TelemetryRecordInvalidError extends GridrootError<'TELEMETRY_RECORD_INVALID'> {
  override readonly name = 'TelemetryRecordInvalidError'
  readonly reason: Rejection['reason']
  constructor(rejection: Rejection) {
    super(
      'TELEMETRY_RECORD_INVALID',
      `the record is not valid telemetry: ${rejection.reason}: ${rejection.detail}`,
      {
        metaMessages: ['Only ingest writes telemetry.v1; find what else produced this record.'],
      },
    )
    this.reason = rejection.reason
  }
}

/** Limits for records ingest already accepted under its own limits: none are re-applied. */
const ACCEPTED_LIMITS: DecodeLimits = {
  maxMessageBytes: Number.MAX_SAFE_INTEGER,
  maxReadingsPerMessage: Number.MAX_SAFE_INTEGER,
  acceptV1: true,
}

/**
 * Decodes a record of telemetry.v1 (a message ingest accepted, either version) for consumers
 * such as the aggregator; the signature was verified by ingest and is not checked again.
 * Throws `TelemetryRecordInvalidError` on anything that is not telemetry.
 */
export function decodeAcceptedRecord(bytes: Uint8Array): TelemetryMessage {
  const decoded = decodeMessage(bytes, ACCEPTED_LIMITS)
  if (!decoded.ok) throw new TelemetryRecordInvalidError(decoded)
  return decoded.value
}
