/**
 * Whether the distributor may fund an oracle epoch: only when the device tree the chain committed
 * (by `treeHash`) is in the artifact store and backs the committed figures (core/merkle
 * commitment-check). The contract pays `revenueUnits` alone, so a signer threshold that is
 * compromised or buggy could otherwise move any amount out of the treasury: attack10a F1 took
 * 800,000 HKD against ~3,049 real, with a total ×10 the leaves, a leaf for an unregistered device,
 * or a tree that was never published. Pure.
 */
import type { Hex } from 'viem'
import { type CommitmentProblem, checkTreeCommitment } from '../../../core/merkle/index.ts'
import type { OracleCommitment } from '../ports.ts'

/** What the artifact store gave for the committed treeHash (it checks the content hash itself). */
export type StoredTree =
  | { readonly kind: 'found'; readonly bytes: Uint8Array }
  | { readonly kind: 'missing' }
  | { readonly kind: 'corrupt'; readonly detail: string }

export type CommitmentGate =
  | { readonly kind: 'fund' }
  /** Not paid yet, not refused: the tree may still be published or restored. */
  | { readonly kind: 'wait'; readonly treeHash: Hex; readonly problem: string }
  /** The tree contradicts the commitment: never fund it; a guardian or an operator must act. */
  | { readonly kind: 'refuse'; readonly problems: readonly CommitmentProblem[] }

export function commitmentGate(
  poolId: string,
  commitment: OracleCommitment,
  stored: StoredTree,
  registeredDeviceIds: ReadonlySet<string>,
): CommitmentGate {
  const where = `epoch ${commitment.epoch} of pool ${poolId}`
  if (stored.kind === 'missing')
    return {
      kind: 'wait',
      treeHash: commitment.treeHash,
      problem: `${where} is final, but its device tree ${commitment.treeHash} is not in the artifact store: not funded until it is (publish or restore it into GRIDROOT_ARTIFACT_DIR)`,
    }
  if (stored.kind === 'corrupt')
    return {
      kind: 'wait',
      treeHash: commitment.treeHash,
      problem: `${where} is final, but the artifact store's file for its device tree ${commitment.treeHash} does not hash to it (${stored.detail}): not funded until the real tree is restored`,
    }
  const problems = checkTreeCommitment({
    tree: stored.bytes,
    commitment: { ...commitment, poolId },
    registeredDeviceIds,
  })
  return problems.length === 0 ? { kind: 'fund' } : { kind: 'refuse', problems }
}
