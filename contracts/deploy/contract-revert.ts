/**
 * A revert, decoded: the custom error a contract call or deployment reverted with, its named
 * arguments (roles by name), and what the operator should do about it. The errors of every
 * gridroot ABI are tried, so an error raised by a contract the call went through (an
 * IdentityRegistry hook, a token) is named too.
 */
import {
  type Abi,
  BaseError,
  ContractFunctionRevertedError,
  decodeErrorResult,
  type Hex,
  keccak256,
  toHex,
} from 'viem'
import { GridrootError } from '../../core/errors/base.ts'
import * as abis from '../abi/index.ts'

const ALL_ERRORS = Object.values(abis)
  .flat()
  .filter((item) => item.type === 'error') as unknown as Abi

const ROLE_NAMES = new Map<string, string>([
  [`0x${'0'.repeat(64)}`, 'DEFAULT_ADMIN_ROLE'],
  ...[
    'REGISTRAR_ROLE',
    'AGENT_ROLE',
    'GUARDIAN_ROLE',
    'ISSUER_ROLE',
    'MINTER_ROLE',
    'PUBLISHER_ROLE',
    'PAUSER_ROLE',
  ].map((name) => [keccak256(toHex(name)), name] as [string, string]),
])

export interface DecodedRevert {
  readonly errorName: string
  /** The error's arguments by name (by position when unnamed), roles replaced by their names. */
  readonly args: Readonly<Record<string, unknown>>
}

/** The part of an ABI error item that names its arguments. */
interface ErrorItem {
  readonly inputs: readonly { readonly name?: string | undefined }[]
}

function named(abiItem: ErrorItem, args: readonly unknown[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  abiItem.inputs.forEach((input, i) => {
    const value = args?.[i]
    const role = typeof value === 'string' ? ROLE_NAMES.get(value.toLowerCase()) : undefined
    out[input.name || String(i)] = role ?? value
  })
  return out
}

function decodeData(data: Hex): DecodedRevert | undefined {
  try {
    const decoded = decodeErrorResult({ abi: ALL_ERRORS, data })
    return { errorName: decoded.errorName, args: named(decoded.abiItem as ErrorItem, decoded.args) }
  } catch {
    return undefined
  }
}

/** The custom error in a viem error (a simulation, gas estimate or call that reverted), if any. */
export function decodeRevert(error: unknown): DecodedRevert | undefined {
  if (!(error instanceof BaseError)) return undefined
  const reverted = error.walk((e) => e instanceof ContractFunctionRevertedError)
  if (reverted instanceof ContractFunctionRevertedError) {
    if (reverted.data?.abiItem && reverted.data.abiItem.type === 'error')
      return {
        errorName: reverted.data.errorName,
        args: named(reverted.data.abiItem, reverted.data.args),
      }
    if (reverted.raw) return decodeData(reverted.raw)
    if (reverted.reason) return { errorName: 'Error', args: { reason: reverted.reason } }
  }
  const withData = error.walk((e) => typeof (e as { data?: unknown }).data === 'string') as {
    data?: Hex
  } | null
  return withData?.data ? decodeData(withData.data) : undefined
}

export function formatRevert(revert: DecodedRevert): string {
  const args = Object.entries(revert.args).map(([k, v]) => `${k}=${String(v)}`)
  return `${revert.errorName}(${args.join(', ')})`
}

/** What to do about a revert, for the errors an operator command can meet. */
export function revertHint(revert: DecodedRevert, sender: string): string {
  const a = revert.args as Record<string, string>
  switch (revert.errorName) {
    case 'AccessControlUnauthorizedAccount':
      return `${a.account} lacks ${a.neededRole} on this contract: grant it from an account with its admin role (grantRole), or send with the key of an account that has it (GRIDROOT_DEPLOYER_KEY).`
    case 'HolderNotVerified':
    case 'NotVerified':
      return `${a.account} is not verified in IdentityRegistry: verify it first (npm run pools -- apply verifies the investors of the pools file).`
    case 'EnforcedPause':
      return 'The contract is paused: unpause it (PAUSER_ROLE) and run the command again.'
    case 'ERC20InsufficientBalance':
    case 'ERC20InsufficientAllowance':
      return `${sender} has too little balance or allowance for this transfer: fund or approve it, then run the command again.`
    default:
      return `The contract refused the call (see ${revert.errorName} in contracts/src). Nothing of this call was applied: fix its cause and run the command again; it resumes where it stopped.`
  }
}

/** A contract call or deployment reverted; the message names the custom error and its arguments. */
export class ContractRevertedError extends GridrootError<'CONTRACT_REVERTED'> {
  override readonly name = 'ContractRevertedError'
  readonly revert: DecodedRevert | undefined
  constructor(what: string, revert: DecodedRevert | undefined, sender: string, cause?: unknown) {
    super(
      'CONTRACT_REVERTED',
      revert
        ? `${what} reverted with ${formatRevert(revert)}`
        : `${what} reverted without a custom error (${cause instanceof BaseError ? cause.shortMessage : String(cause)})`,
      {
        metaMessages: [
          revert
            ? revertHint(revert, sender)
            : 'Check that the contracts file points at this chain (GRIDROOT_RPC_URL, GRIDROOT_CONTRACTS_FILE), then run again.',
        ],
        cause,
        details: revert ? { errorName: revert.errorName } : {},
      },
    )
    this.revert = revert
  }
}
