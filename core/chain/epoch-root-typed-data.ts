/**
 * The EIP-712 typed data oracle signers sign for a pool epoch's root, exactly as
 * contracts/src/RevenueOracle.sol checks it (`EPOCH_ROOT_TYPEHASH`, domain "GridrootRevenueOracle"
 * version "1"). Pure: the oracle's signers and submitter import it, and so do the tests.
 *
 * `attempt` is the pool epoch's attempt number on-chain (`epochRecord(poolId, epoch).attempt`):
 * 0 at first, +1 after each guardian rejection, so signatures of a rejected root never replay.
 * Signatures travel to `propose` concatenated (65 bytes each, r ‖ s ‖ v), ordered by signer
 * address ascending.
 */
import type { Address, Hex } from 'viem'

export const EPOCH_ROOT_DOMAIN_NAME = 'GridrootRevenueOracle'
export const EPOCH_ROOT_DOMAIN_VERSION = '1'

export const EPOCH_ROOT_TYPES = {
  EpochRoot: [
    { name: 'poolId', type: 'bytes32' },
    { name: 'epoch', type: 'uint64' },
    { name: 'attempt', type: 'uint32' },
    { name: 'root', type: 'bytes32' },
    { name: 'revenueUnits', type: 'uint256' },
    { name: 'energyWh', type: 'uint256' },
    { name: 'leafCount', type: 'uint32' },
    { name: 'treeHash', type: 'bytes32' },
    { name: 'archiveHash', type: 'bytes32' },
  ],
} as const

/** What `RevenueOracle.propose` takes as its first argument (everything signed but `attempt`). */
export interface EpochRootProposal {
  /** bytes32 of the ASCII pool id, left-aligned, zero-padded. */
  readonly poolId: Hex
  readonly epoch: bigint
  /** Root over the device leaves; 0x00…00 for an epoch without leaves. */
  readonly root: Hex
  readonly revenueUnits: bigint
  readonly energyWh: bigint
  readonly leafCount: number
  /** Hash of the published device tree file. */
  readonly treeHash: Hex
  /** Hash of the readings archive. */
  readonly archiveHash: Hex
}

/** The root of an epoch without leaves: the empty tree. */
export const EMPTY_ROOT: Hex = `0x${'0'.repeat(64)}`

/**
 * The typed data for viem's `signTypedData` / `hashTypedData` / `recoverTypedDataAddress`.
 *
 * @example
 * const signature = await account.signTypedData(epochRootTypedData({ chainId, oracle, proposal, attempt: 0 }))
 */
export function epochRootTypedData(args: {
  readonly chainId: number
  readonly oracle: Address
  readonly proposal: EpochRootProposal
  readonly attempt: number
}) {
  return {
    domain: {
      name: EPOCH_ROOT_DOMAIN_NAME,
      version: EPOCH_ROOT_DOMAIN_VERSION,
      chainId: args.chainId,
      verifyingContract: args.oracle,
    },
    types: EPOCH_ROOT_TYPES,
    primaryType: 'EpochRoot',
    message: { ...args.proposal, attempt: args.attempt },
  } as const
}

/** Signatures as `propose` wants them: ordered by signer address, concatenated. */
export function packSignatures(
  signed: readonly { readonly signer: Address; readonly signature: Hex }[],
): Hex {
  const sorted = [...signed].sort((a, b) => {
    const x = BigInt(a.signer)
    const y = BigInt(b.signer)
    return x < y ? -1 : x > y ? 1 : 0
  })
  return `0x${sorted.map((s) => s.signature.slice(2)).join('')}`
}
