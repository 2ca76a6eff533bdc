/** Asserting custom-error reverts by name, decoded by runtime/chain/revert.ts (the one decoder). */
import { BaseError } from 'viem'
import { decodeRevert, revertDataOf } from '../../../runtime/chain/revert.ts'

/**
 * The custom error a failed call or transaction reverted with (a `require` string as its
 * reason), the raw revert data when no known error matches, or `undefined` for a non-viem error.
 */
export function revertName(error: unknown): string | undefined {
  if (!(error instanceof BaseError)) return undefined
  const revert = decodeRevert(error)
  if (revert) return revert.errorName === 'Error' ? String(revert.args.reason) : revert.errorName
  return revertDataOf(error) ?? error.shortMessage
}

/** Runs `action`, expects it to revert, and returns the custom error's name. */
export async function revertOf(action: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await action()
  } catch (error) {
    return revertName(error)
  }
  throw new Error('expected a revert, but the call succeeded')
}
