/**
 * JSON for values that hold money as bigint (base units): a bigint is written as its decimal
 * string, exactly (JSON.stringify throws on bigint, and a Number would lose units above 2^53).
 */
export function stringifyWithBigints(value: unknown, space?: number): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), space)
}
