/**
 * The one revert decoder of every contract write and test: the custom error a call, gas
 * estimate, simulation or replayed transaction reverted with, and its arguments by name (roles by
 * name). The errors of every gridroot ABI are tried, plus OpenZeppelin 5's ERC-20, AccessControl,
 * Pausable, SafeERC20, ECDSA and ReentrancyGuard errors, so an error raised by a contract the call
 * went through (an IdentityRegistry hook, a payment token that is not ours) is named too.
 */
import {
  type Abi,
  BaseError,
  ContractFunctionRevertedError,
  decodeErrorResult,
  type Hex,
  keccak256,
  parseAbi,
  toHex,
} from 'viem'
import * as abis from '../../contracts/abi/index.ts'

/** OpenZeppelin 5 errors a gridroot transaction can meet in a contract whose ABI is not ours. */
const OPENZEPPELIN_ERRORS = parseAbi([
  'error ERC20InsufficientBalance(address sender, uint256 balance, uint256 needed)',
  'error ERC20InvalidSender(address sender)',
  'error ERC20InvalidReceiver(address receiver)',
  'error ERC20InsufficientAllowance(address spender, uint256 allowance, uint256 needed)',
  'error ERC20InvalidApprover(address approver)',
  'error ERC20InvalidSpender(address spender)',
  'error AccessControlUnauthorizedAccount(address account, bytes32 neededRole)',
  'error AccessControlBadConfirmation()',
  'error EnforcedPause()',
  'error ExpectedPause()',
  'error SafeERC20FailedOperation(address token)',
  'error ReentrancyGuardReentrantCall()',
  'error ECDSAInvalidSignature()',
  'error ECDSAInvalidSignatureLength(uint256 length)',
  'error ECDSAInvalidSignatureS(bytes32 s)',
])

/** Every error item the decoder knows (duplicates across ABIs are harmless: same selector, same shape). */
export const KNOWN_ERRORS_ABI = [
  ...Object.values(abis)
    .flat()
    .filter((item) => item.type === 'error'),
  ...OPENZEPPELIN_ERRORS,
] as unknown as Abi

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
  /** The custom error's name; `Error` for a `require` string, `Panic` for an assert or overflow. */
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

/** Revert data decoded with every known error (and `Error(string)`, `Panic(uint256)`), if it matches one. */
export function decodeRevertData(data: Hex): DecodedRevert | undefined {
  try {
    const decoded = decodeErrorResult({ abi: KNOWN_ERRORS_ABI, data })
    return { errorName: decoded.errorName, args: named(decoded.abiItem as ErrorItem, decoded.args) }
  } catch {
    return undefined
  }
}

/** The revert data a viem error carries (raw, undecoded), if any. */
export function revertDataOf(error: unknown): Hex | undefined {
  if (!(error instanceof BaseError)) return undefined
  const reverted = error.walk((e) => e instanceof ContractFunctionRevertedError)
  if (reverted instanceof ContractFunctionRevertedError && reverted.raw) return reverted.raw
  const withData = error.walk((e) => typeof (e as { data?: unknown }).data === 'string') as {
    data?: Hex
  } | null
  return withData?.data
}

/**
 * The custom error in a viem error (a simulation, gas estimate, call or replay that reverted), if
 * any.
 *
 * @example
 * try { await publicClient.simulateContract(request) }
 * catch (error) { const revert = decodeRevert(error); if (revert) console.log(formatRevert(revert)) }
 */
export function decodeRevert(error: unknown): DecodedRevert | undefined {
  if (!(error instanceof BaseError)) return undefined
  const reverted = error.walk((e) => e instanceof ContractFunctionRevertedError)
  if (reverted instanceof ContractFunctionRevertedError) {
    if (reverted.data?.abiItem && reverted.data.abiItem.type === 'error')
      return {
        errorName: reverted.data.errorName,
        args: named(reverted.data.abiItem, reverted.data.args),
      }
    if (reverted.raw) {
      const decoded = decodeRevertData(reverted.raw)
      if (decoded) return decoded
    }
    if (reverted.reason) return { errorName: 'Error', args: { reason: reverted.reason } }
  }
  const data = revertDataOf(error)
  return data ? decodeRevertData(data) : undefined
}

/** Characters of one argument `formatRevert` writes (a bytes32 is 66). */
const FORMAT_ARG_CHARS = 200

/** `Name(arg=value, …)`: a decoded revert in one line. */
export function formatRevert(revert: DecodedRevert): string {
  const args = Object.entries(revert.args).map(([k, v]) => {
    const text = String(v)
    return `${k}=${text.length > FORMAT_ARG_CHARS ? `${text.slice(0, FORMAT_ARG_CHARS)}…` : text}`
  })
  return `${revert.errorName}(${args.join(', ')})`
}
