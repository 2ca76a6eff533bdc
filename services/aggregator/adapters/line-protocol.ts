/**
 * InfluxDB line protocol for the aggregator's points. Written by hand rather than through the
 * client's Point class: at tens of thousands of points a second the formatting is on the hot
 * path, and every value here is an integer, a boolean or a short string.
 */
import type { PointData } from '../domain/points.ts'

const TAG_SPECIAL = /[,= \\]/
const STRING_SPECIAL = /["\\]/
// Most values need no escaping: test first, replace only when needed (this is the hot path).
export const escapeTag = (v: string) => (TAG_SPECIAL.test(v) ? v.replace(/[,= \\]/g, (c) => `\\${c}`) : v)
export const escapeString = (v: string) => (STRING_SPECIAL.test(v) ? v.replace(/["\\]/g, (c) => `\\${c}`) : v)

export function toLineProtocol(point: PointData): string {
  let line = point.measurement
  for (const key of Object.keys(point.tags).sort()) {
    const value = point.tags[key]
    if (value !== undefined && value !== '') line += `,${key}=${escapeTag(value)}`
  }
  const fields: string[] = []
  for (const [key, value] of Object.entries(point.fields)) {
    if ('int' in value) fields.push(`${key}=${value.int}i`)
    else if ('str' in value) fields.push(`${key}="${escapeString(value.str)}"`)
    else fields.push(`${key}=${value.bool}`)
  }
  return `${line} ${fields.join(',')} ${point.timeNs}`
}
