import { GridrootError, type GridrootErrorOptions } from '../core/errors/base.ts'

/**
 * Stable codes of the local stack. Each says which step failed; the meta messages of the error
 * say what to do about it.
 */
export const STACK_ERROR_CODES = {
  /** A tool the stack needs (java, mvn, go, mosquitto) is missing and could not be installed. */
  toolMissing: 'STACK_TOOL_MISSING',
  /** Downloading or building a server failed (Maven, Go module proxy, apt). */
  provisionFailed: 'STACK_PROVISION_FAILED',
  /** A server process exited or never opened its port. */
  startFailed: 'STACK_START_FAILED',
  /** A server runs but is not usable (round trip through it failed before the deadline). */
  probeFailed: 'STACK_PROBE_FAILED',
  /** `<runDir>/state.json` is unreadable or not a stack state file. */
  stateInvalid: 'STACK_STATE_INVALID',
  /** Another `stack up` holds the run directory. */
  runDirBusy: 'STACK_RUN_DIR_BUSY',
  /** A process did not end after SIGKILL. */
  stopFailed: 'STACK_STOP_FAILED',
  /** Wrong command-line usage. */
  usage: 'STACK_USAGE',
} as const

export type StackErrorCode = (typeof STACK_ERROR_CODES)[keyof typeof STACK_ERROR_CODES]

export interface StackErrorOptions extends GridrootErrorOptions {
  /** Which server the failure belongs to, when it belongs to one. */
  readonly server?: string
}

export class StackError extends GridrootError<StackErrorCode> {
  override readonly name: string = 'StackError'
  readonly server: string | undefined

  constructor(code: StackErrorCode, shortMessage: string, options: StackErrorOptions = {}) {
    super(code, options.server === undefined ? shortMessage : `${options.server}: ${shortMessage}`, options)
    this.server = options.server
  }
}
