/**
 * Integer parameters in a query string or a path, held to plain decimal digits. Pure.
 *
 * ajv's type coercion (`coerceTypes`, which the API needs for repeatable parameters) turns a
 * string into a number with `Number()`: it takes `1e400` (Infinity), `0x10` (16), ` 1`, `1.0`,
 * `-0`, `+5` and the empty string (0) as integers, so a caller could reach a route with a value
 * no client meant, or one past 2^53 that is no longer exact. Every integer parameter is
 * therefore checked here, on the raw string, before ajv sees it (app.ts wraps the validator
 * compiler, so no route can forget it): digits only, no sign unless the range has negative
 * numbers, no leading zero, and within the schema's minimum and maximum, compared exactly.
 */

/** An integer parameter of an object schema (querystring or params). */
export interface IntegerParameter {
  readonly name: string
  readonly minimum: bigint
  readonly maximum: bigint
  /** An array of integers (`?n=1&n=2`): each item is held to the rule. */
  readonly repeated: boolean
}

export interface IntegerIssue {
  /** The JSON pointer of the value in the query or the params, as ajv names it (`/limit`). */
  readonly instancePath: string
  readonly message: string
}

export class UnboundedIntegerParameterError extends Error {
  override readonly name = 'UnboundedIntegerParameterError'
}

const DECIMAL = /^-?(0|[1-9][0-9]*)$/

type JsonSchema = { readonly [key: string]: unknown }

const isObject = (v: unknown): v is JsonSchema => typeof v === 'object' && v !== null && !Array.isArray(v)
const isIntegerSchema = (s: unknown): s is JsonSchema =>
  isObject(s) && (s.type === 'integer' || (Array.isArray(s.type) && s.type.includes('integer')))

function bound(name: string, schema: JsonSchema, key: 'minimum' | 'maximum'): bigint {
  const value = schema[key]
  if (typeof value !== 'number' || !Number.isSafeInteger(value))
    throw new UnboundedIntegerParameterError(
      `integer parameter ${name} needs an integer ${key} within ±(2^53 - 1): a caller may send only a range the API can hold exactly`,
    )
  return BigInt(value)
}

/**
 * The integer parameters of a querystring or params schema (its top-level properties, and
 * arrays of integers). Throws for one without a safe minimum and maximum: every integer a caller
 * sends has a range, stated in the schema (and so in the OpenAPI document).
 */
export function integerParameters(schema: unknown): IntegerParameter[] {
  if (!isObject(schema) || !isObject(schema.properties)) return []
  const out: IntegerParameter[] = []
  for (const [name, property] of Object.entries(schema.properties)) {
    if (!isObject(property)) continue
    const repeated = property.type === 'array' && isIntegerSchema(property.items)
    const integer = repeated ? (property.items as JsonSchema) : property
    if (!isIntegerSchema(integer)) continue
    out.push({
      name,
      minimum: bound(name, integer, 'minimum'),
      maximum: bound(name, integer, 'maximum'),
      repeated,
    })
  }
  return out
}

/** What to send instead: the message of every refusal of this parameter. */
export function integerRule(p: IntegerParameter): string {
  const sign = p.minimum < 0n ? 'an optional leading -' : 'no sign'
  return `must be a whole number from ${p.minimum} to ${p.maximum} in plain decimal digits (${sign}, no spaces, exponent, fraction, hex or leading zeros), e.g. ${p.minimum < 0n && p.maximum >= 0n ? 0n : p.minimum}`
}

/** Undefined when `raw` is a plain decimal integer within the parameter's range. */
export function decimalIntegerIssue(p: IntegerParameter, raw: string): string | undefined {
  // The length check keeps BigInt from parsing megabytes of digits.
  if (!DECIMAL.test(raw) || raw === '-0' || raw.length > 20) return integerRule(p)
  const value = BigInt(raw)
  if (value < p.minimum || value > p.maximum) return integerRule(p)
  return undefined
}

/**
 * The issues of a parsed query string or params object (values are strings, or arrays of
 * strings for a repeated parameter). Absent parameters are ajv's to default or require; values
 * that are not strings did not come from a URL and are left to the schema.
 */
export function strictIntegerIssues(parameters: readonly IntegerParameter[], data: unknown): IntegerIssue[] {
  if (!isObject(data)) return []
  const issues: IntegerIssue[] = []
  for (const p of parameters) {
    const value = data[p.name]
    if (value === undefined) continue
    const values = Array.isArray(value) ? value : [value]
    values.forEach((v, i) => {
      if (typeof v !== 'string') return
      const message = decimalIntegerIssue(p, v)
      if (message === undefined) return
      const at = Array.isArray(value) && p.repeated ? `/${p.name}/${i}` : `/${p.name}`
      issues.push({ instancePath: at, message })
    })
  }
  return issues
}
