/**
 * A revert an operator command met, with what the operator should do about it. Decoding is
 * runtime/chain/revert.ts's, the one decoder of every contract write.
 */
import { BaseError } from 'viem'
import { GridrootError } from '../../core/errors/base.ts'
import { type DecodedRevert, formatRevert } from '../../runtime/chain/revert.ts'

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
