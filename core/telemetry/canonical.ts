/**
 * Canonical encoding: JSON with object keys sorted by code unit, no whitespace. Telemetry holds
 * only integers, strings, arrays and objects, for which JSON.stringify of each primitive is
 * already canonical, so this is RFC 8785 (JCS) for that subset.
 *
 * Only telemetry v1 signs a canonical re-encoding (the verifier must re-encode what it parsed);
 * v2 signs the bytes it sends (./envelope.ts), so nothing re-encodes on the v2 path.
 */
import type { Reading } from './types.ts'

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isSafeInteger(value)) {
      throw new TypeError(`canonical telemetry holds only safe integers, got ${value}`)
    }
    return JSON.stringify(value)
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  const record = value as Record<string, unknown>
  const keys = Object.keys(record)
  const shape = keys.join('\u0000')
  let sorted = SORTED_KEYS.get(shape)
  if (sorted === undefined) {
    sorted = [...keys].sort()
    if (SORTED_KEYS.size < MAX_SHAPES) SORTED_KEYS.set(shape, sorted)
  }
  let out = '{'
  for (const k of sorted) {
    const v = record[k]
    if (v === undefined) continue
    out += `${out.length > 1 ? ',' : ''}${JSON.stringify(k)}:${canonicalJson(v)}`
  }
  return `${out}}`
}

/**
 * Sorted key lists by the object's own key order: telemetry has a handful of shapes, so the
 * sort runs once per shape rather than once per object (this is on ingest's v1 path).
 */
const SORTED_KEYS = new Map<string, string[]>()
const MAX_SHAPES = 1024

/** Domain separation, so a telemetry signature can never be mistaken for any other signed thing. */
export const TELEMETRY_SIGNING_DOMAIN = 'gridroot.telemetry.v1\n'

const encoder = new TextEncoder()

/** The body a v1 device signs (after the domain prefix): the canonical (deviceId, readings). */
export function v1Body(deviceId: string, readings: readonly Reading[]): Uint8Array {
  return encoder.encode(canonicalJson({ deviceId, readings }))
}

/** The bytes a v1 device signs: the domain prefix and the canonical (deviceId, readings). */
export function signingBytes(deviceId: string, readings: readonly Reading[]): Uint8Array {
  return encoder.encode(TELEMETRY_SIGNING_DOMAIN + canonicalJson({ deviceId, readings }))
}
