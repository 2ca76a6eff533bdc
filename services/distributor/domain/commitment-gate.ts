/**
 * Whether the distributor may fund an oracle epoch: only when the device tree the chain committed
 * (by `treeHash`) is in the artifact store and backs the committed figures (core/merkle
 * commitment-check). The contract pays `revenueUnits` alone, so a signer threshold that is
 * compromised or buggy could otherwise move any amount out of the treasury: attack10a F1 took
 * 800,000 HKD against ~3,049 real, with a total ×10 the leaves, a leaf for an unregistered device,
 * or a tree that was never published. A tree that passes is then audited against the readings
 * archive (domain/archive-audit.ts): this gate checks the tree against the chain, not against the
 * readings. Pure.
 */
import type { Hex } from 'viem'
import {
  type CommitmentProblem,
  checkTreeCommitment,
  type DeviceTree,
  deviceLeafLayout,
  parseTreeDump,
} from '../../../core/merkle/index.ts'
import type { OracleCommitment } from '../ports.ts'

/** What the artifact store gave for a committed hash (it checks the content hash itself). */
export type StoredArtifact =
  | { readonly kind: 'found'; readonly bytes: Uint8Array }
  | { readonly kind: 'missing' }
  | { readonly kind: 'corrupt'; readonly detail: string }

/** The two artifacts a final epoch commits: the device tree (treeHash) and the readings archive (archiveHash). */
export type ArtifactKind = 'device tree' | 'readings archive'

/** Not paid yet, not refused: the artifact may still be published or restored. */
export interface ArtifactWait {
  readonly kind: 'wait'
  readonly artifact: ArtifactKind
  readonly hash: Hex
  readonly problem: string
}

export type CommitmentGate =
  /** The tree backs the commitment; the archive audit (domain/archive-audit.ts) comes next. */
  | { readonly kind: 'backed'; readonly tree: DeviceTree }
  | ArtifactWait
  /** The tree contradicts the commitment: never fund it; a guardian or an operator must act. */
  | { readonly kind: 'refuse'; readonly problems: readonly CommitmentProblem[] }

/** Why a final epoch waits for a committed artifact the store does not give; undefined when it does. */
export function artifactWait(
  poolId: string,
  epoch: number,
  artifact: ArtifactKind,
  hash: Hex,
  stored: StoredArtifact,
): ArtifactWait | undefined {
  const where = `epoch ${epoch} of pool ${poolId}`
  if (stored.kind === 'missing')
    return {
      kind: 'wait',
      artifact,
      hash,
      problem: `${where} is final, but its ${artifact} ${hash} is not in the artifact store: not funded until it is (publish or restore it into GRIDROOT_ARTIFACT_DIR)`,
    }
  if (stored.kind === 'corrupt')
    return {
      kind: 'wait',
      artifact,
      hash,
      problem: `${where} is final, but the artifact store's file for its ${artifact} ${hash} does not hash to it (${stored.detail}): not funded until the real one is restored`,
    }
  return undefined
}

export function commitmentGate(
  poolId: string,
  commitment: OracleCommitment,
  stored: StoredArtifact,
  registeredDeviceIds: ReadonlySet<string>,
): CommitmentGate {
  const wait = artifactWait(poolId, commitment.epoch, 'device tree', commitment.treeHash, stored)
  if (wait !== undefined || stored.kind !== 'found') return wait as ArtifactWait
  const check = (tree: DeviceTree | Uint8Array) =>
    checkTreeCommitment({ tree, commitment: { ...commitment, poolId }, registeredDeviceIds })
  let tree: DeviceTree
  try {
    tree = parseTreeDump(deviceLeafLayout, stored.bytes)
  } catch {
    // The check names why the dump does not load (TREE_INVALID, DUPLICATE_DEVICE, FOREIGN_LEAF).
    return { kind: 'refuse', problems: check(stored.bytes) }
  }
  const problems = check(tree)
  return problems.length === 0 ? { kind: 'backed', tree } : { kind: 'refuse', problems }
}
