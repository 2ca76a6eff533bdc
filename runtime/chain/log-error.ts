/**
 * Any error as a bounded, structured object for logs and health bodies. viem's errors carry the
 * whole ABI, the calldata and a "Request Arguments" dump in `message` (an outside attack found
 * log lines and `/healthz` `lastError` values of tens of kilobytes); these fields never include
 * `message`, `abi` or calldata, and every string is capped, so one error is at most a few KiB
 * whatever it carries.
 */
import { BaseError } from 'viem'
import { type DecodedRevert, decodeRevert, formatRevert } from './revert.ts'

/** Characters kept of each text field (`shortMessage`, `details`). */
const TEXT_CHARS = 300
/** Characters kept of each revert argument, and arguments kept. */
const ARG_CHARS = 120
const MAX_ARGS = 8
/** Call frames kept of the error itself. */
const MAX_FRAMES = 6
/** Causes followed below the error itself. */
const MAX_CAUSE_DEPTH = 2

export interface ErrorFields {
  readonly name: string
  /** A gridroot error's stable code, an RPC error's number, a Node system error's code. */
  readonly code?: string | number
  readonly shortMessage: string
  /** The custom error the call reverted with, found anywhere in the cause chain. */
  readonly revert?: { readonly errorName: string; readonly args: Readonly<Record<string, string>> }
  /** viem's `details` (the node's own words) or a gridroot error's details, capped. */
  readonly details?: string
  readonly cause?: ErrorFields
  /** The top call frames of the error itself (never its message, which the stack starts with). */
  readonly frames?: string
}

function cap(text: string, chars: number): string {
  return text.length <= chars ? text : `${text.slice(0, chars)}… (${text.length - chars} more characters)`
}

function jsonText(value: unknown): string {
  try {
    return (
      JSON.stringify(value, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? String(value)
    )
  } catch {
    return String(value)
  }
}

function boundedRevert(revert: DecodedRevert): NonNullable<ErrorFields['revert']> {
  const args: Record<string, string> = {}
  for (const [key, value] of Object.entries(revert.args).slice(0, MAX_ARGS))
    args[key] = cap(
      typeof value === 'string' || typeof value === 'bigint' || typeof value === 'number'
        ? String(value)
        : jsonText(value),
      ARG_CHARS,
    )
  return { errorName: revert.errorName, args }
}

function fields(error: unknown, depth: number): ErrorFields {
  if (!(error instanceof Error)) return { name: typeof error, shortMessage: cap(String(error), TEXT_CHARS) }
  const e = error as Error & { code?: unknown; shortMessage?: unknown; details?: unknown }
  const shortMessage = typeof e.shortMessage === 'string' ? e.shortMessage : (e.message.split('\n')[0] ?? '')
  const code = typeof e.code === 'string' || typeof e.code === 'number' ? e.code : undefined
  const revert = decodeRevert(error)
  const details =
    typeof e.details === 'string'
      ? e.details
      : e.details !== undefined && Object.keys(e.details as object).length > 0
        ? jsonText(e.details)
        : undefined
  // A viem error's own cause chain repeats its shortMessage level by level; the revert above is
  // what it adds. Other errors (a gridroot error wrapping a viem one) show their cause.
  const cause = !(error instanceof BaseError) && depth < MAX_CAUSE_DEPTH && e.cause !== undefined
  const frames = (e.stack ?? '')
    .split('\n')
    .filter((line) => line.startsWith('    at '))
    .slice(0, MAX_FRAMES)
    .map((line) => cap(line.trim(), TEXT_CHARS))
    .join('\n')
  return {
    name: error.name,
    ...(code === undefined ? {} : { code }),
    shortMessage: cap(shortMessage, TEXT_CHARS),
    ...(revert ? { revert: boundedRevert(revert) } : {}),
    ...(details === undefined || details === '' ? {} : { details: cap(details, TEXT_CHARS) }),
    ...(cause ? { cause: fields(e.cause, depth + 1) } : {}),
    ...(depth === 0 && frames ? { frames } : {}),
  }
}

/**
 * The bounded fields of any error (viem's, gridroot's, anything thrown).
 *
 * @example
 * logger.warn({ error: errorFields(error), poolId }, 'propose failed')
 */
export function errorFields(error: unknown): ErrorFields {
  return fields(error, 0)
}

/**
 * One bounded line for a health body's `lastError`: `name [code]: shortMessage — revert`.
 *
 * @example
 * state.lastError = errorSummary(error)
 */
export function errorSummary(error: unknown): string {
  const f = errorFields(error)
  let revert = f.revert
  let inner: ErrorFields | undefined = f.cause
  while (!revert && inner) {
    revert = inner.revert
    inner = inner.cause
  }
  const code = f.code === undefined ? '' : ` [${f.code}]`
  const why = revert
    ? ` — ${formatRevert(revert)}`
    : f.cause
      ? ` (${f.cause.name}: ${f.cause.shortMessage})`
      : ''
  return cap(`${f.name}${code}: ${f.shortMessage}${why}`, 2 * TEXT_CHARS)
}
