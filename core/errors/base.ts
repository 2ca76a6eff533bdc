/**
 * One base error for the whole project (after viem's BaseError): a stable `code` a caller can
 * switch on, a short message, extra lines that tell the person what to do, and the `cause` kept.
 */
export interface GridrootErrorOptions {
  readonly metaMessages?: readonly string[]
  readonly cause?: unknown
  readonly details?: Readonly<Record<string, unknown>>
}

export class GridrootError<TCode extends string = string> extends Error {
  override readonly name: string = 'GridrootError'
  readonly code: TCode
  readonly shortMessage: string
  readonly metaMessages: readonly string[]
  readonly details: Readonly<Record<string, unknown>>

  constructor(code: TCode, shortMessage: string, options: GridrootErrorOptions = {}) {
    const meta = options.metaMessages ?? []
    super([`[${code}] ${shortMessage}`, ...meta].join('\n'), { cause: options.cause })
    this.code = code
    this.shortMessage = shortMessage
    this.metaMessages = meta
    this.details = options.details ?? {}
  }
}

/** The caller may try the same thing again later (a server was down, a timeout). */
export class RetryableError<TCode extends string = string> extends GridrootError<TCode> {
  override readonly name: string = 'RetryableError'
}

/** Configuration is wrong: the process should stop and say which setting to fix. */
export class ConfigError extends GridrootError<'CONFIG_INVALID'> {
  override readonly name: string = 'ConfigError'
  constructor(shortMessage: string, options: GridrootErrorOptions = {}) {
    super('CONFIG_INVALID', shortMessage, options)
  }
}
