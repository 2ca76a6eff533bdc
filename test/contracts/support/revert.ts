/** Asserting custom-error reverts by name, decoded with every contract's ABI. */
import { type Abi, BaseError, ContractFunctionRevertedError, decodeErrorResult, type Hex } from 'viem'
import * as abis from '../../../contracts/abi/index.ts'

const ALL_ERRORS = Object.values(abis)
  .flat()
  .filter((item) => item.type === 'error') as unknown as Abi

/** The custom error a failed call or transaction reverted with, or `undefined`. */
export function revertName(error: unknown): string | undefined {
  if (!(error instanceof BaseError)) return undefined
  const reverted = error.walk((e) => e instanceof ContractFunctionRevertedError)
  if (reverted instanceof ContractFunctionRevertedError) {
    if (reverted.data?.errorName) return reverted.data.errorName
    const raw = (reverted as { raw?: Hex }).raw
    if (raw) {
      try {
        return decodeErrorResult({ abi: ALL_ERRORS, data: raw }).errorName
      } catch {
        return raw
      }
    }
    return reverted.reason ?? reverted.shortMessage
  }
  const withData = error.walk((e) => typeof (e as { data?: unknown }).data === 'string') as {
    data?: Hex
  } | null
  if (withData?.data) {
    try {
      return decodeErrorResult({ abi: ALL_ERRORS, data: withData.data }).errorName
    } catch {
      return withData.data
    }
  }
  return error.shortMessage
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
