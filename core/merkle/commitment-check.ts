/**
 * Does a published device tree back what the chain committed for its epoch? The money follows
 * the commitment (`revenueUnits` funds the holders), the audit follows the tree (one leaf per
 * device), so a root proposed by a broken signer threshold can pass every per-device check while
 * the committed total is 10× the leaves, or while a leaf pays a device the pool never registered
 * (attack10a F1). This check ties the two together; it is pure and reads no store or chain.
 *
 * Rules, each a stable code: the tree's root is the committed root (ROOT_MISMATCH), its leaves
 * number `leafCount` (LEAF_COUNT_MISMATCH) and sum exactly to `revenueUnits` and `energyWh`
 * (TOTALS_MISMATCH), every leaf is of this pool and epoch (FOREIGN_LEAF), its device registered
 * in this pool (UNREGISTERED_DEVICE) and no device has two leaves (DUPLICATE_DEVICE). A dump that
 * does not parse as a device tree is TREE_INVALID.
 */
import type { Hex } from 'viem'
import { parseTreeDump } from './dump.ts'
import { MerkleDuplicateLeafError, MerkleLeafInvalidError } from './errors.ts'
import { type DeviceLeaf, deviceLeafLayout } from './leaves.ts'
import type { MerkleTree } from './tree.ts'

/** What `EpochProposed` commits for one pool epoch (the fields this check compares). */
export interface EpochCommitment {
  readonly poolId: string
  readonly epoch: number | bigint
  readonly root: Hex
  readonly revenueUnits: bigint
  readonly energyWh: bigint
  readonly leafCount: number | bigint
}

export type CommitmentProblemCode =
  | 'TREE_INVALID'
  | 'ROOT_MISMATCH'
  | 'LEAF_COUNT_MISMATCH'
  | 'TOTALS_MISMATCH'
  | 'FOREIGN_LEAF'
  | 'UNREGISTERED_DEVICE'
  | 'DUPLICATE_DEVICE'

export interface CommitmentProblem {
  readonly code: CommitmentProblemCode
  /** Names the values on both sides, e.g. `leaves sum to revenueUnits 20862900, the chain committed 208629001`. */
  readonly message: string
  /** The device the problem is about, when it is about one. */
  readonly deviceId?: string
}

export interface CheckTreeCommitmentParameters {
  /** The published dump (bytes or text), or a tree already parsed from one. */
  readonly tree: Uint8Array | string | MerkleTree<DeviceLeaf>
  readonly commitment: EpochCommitment
  /** The device ids registered in `commitment.poolId` (the registry the chain's root commits). */
  readonly registeredDeviceIds: ReadonlySet<string> | readonly string[]
}

/** At most this many per-leaf problems of one code are listed; the rest are counted in one line. */
const PER_CODE_LIMIT = 20

/**
 * Checks a device tree against its epoch's on-chain commitment and the pool's registry.
 * Returns the problems found; an empty list means the tree backs the commitment.
 *
 * @example
 * const problems = checkTreeCommitment({ tree: bytes, commitment, registeredDeviceIds: ids })
 * if (problems.length > 0) halt(problems.map((p) => `${p.code}: ${p.message}`))
 */
export function checkTreeCommitment(args: CheckTreeCommitmentParameters): CommitmentProblem[] {
  const { commitment } = args
  const where = `pool ${commitment.poolId} epoch ${commitment.epoch}`
  let tree: MerkleTree<DeviceLeaf>
  if (typeof args.tree === 'string' || args.tree instanceof Uint8Array) {
    try {
      tree = parseTreeDump(deviceLeafLayout, args.tree)
    } catch (error) {
      return [parseProblem(error, where)]
    }
  } else tree = args.tree

  const problems: CommitmentProblem[] = []
  if (tree.root.toLowerCase() !== commitment.root.toLowerCase())
    problems.push({
      code: 'ROOT_MISMATCH',
      message: `${where}: the tree's root is ${tree.root}, the chain committed ${commitment.root}`,
    })
  if (BigInt(tree.leafCount) !== BigInt(commitment.leafCount))
    problems.push({
      code: 'LEAF_COUNT_MISMATCH',
      message: `${where}: the tree has ${tree.leafCount} leaves, the chain committed leafCount ${commitment.leafCount}`,
    })

  const registered =
    args.registeredDeviceIds instanceof Set
      ? (args.registeredDeviceIds as ReadonlySet<string>)
      : new Set(args.registeredDeviceIds as readonly string[])
  const epoch = BigInt(commitment.epoch)
  const seen = new Set<string>()
  const perLeaf: CommitmentProblem[] = []
  let revenueUnits = 0n
  let energyWh = 0n
  for (const leaf of tree.leaves) {
    revenueUnits += leaf.revenueUnits
    energyWh += BigInt(leaf.energyWh)
    const deviceId = leaf.deviceId
    if (leaf.poolId !== commitment.poolId || BigInt(leaf.epoch) !== epoch)
      perLeaf.push({
        code: 'FOREIGN_LEAF',
        deviceId,
        message: `${where}: the leaf of device ${deviceId} is for pool ${leaf.poolId} epoch ${leaf.epoch}`,
      })
    if (!registered.has(deviceId))
      perLeaf.push({
        code: 'UNREGISTERED_DEVICE',
        deviceId,
        message: `${where}: device ${deviceId} has a leaf (revenueUnits ${leaf.revenueUnits}) but is not registered in pool ${commitment.poolId}`,
      })
    if (seen.has(deviceId))
      perLeaf.push({
        code: 'DUPLICATE_DEVICE',
        deviceId,
        message: `${where}: device ${deviceId} has more than one leaf`,
      })
    seen.add(deviceId)
  }
  if (revenueUnits !== commitment.revenueUnits || energyWh !== commitment.energyWh)
    problems.push({
      code: 'TOTALS_MISMATCH',
      message:
        `${where}: the leaves sum to revenueUnits ${revenueUnits} and energyWh ${energyWh}, ` +
        `the chain committed revenueUnits ${commitment.revenueUnits} and energyWh ${commitment.energyWh}`,
    })
  return [...problems, ...capPerCode(perLeaf, where)]
}

/** Why a dump did not parse, as a problem: the parser refuses duplicates and mixed scopes itself. */
function parseProblem(error: unknown, where: string): CommitmentProblem {
  if (error instanceof MerkleDuplicateLeafError) {
    const deviceId = String(error.details.key)
    return {
      code: 'DUPLICATE_DEVICE',
      deviceId,
      message: `${where}: device ${deviceId} has more than one leaf`,
    }
  }
  if (error instanceof MerkleLeafInvalidError && error.details.field === 'scope')
    return {
      code: 'FOREIGN_LEAF',
      message: `${where}: the tree ${error.shortMessage.replace(/^leaf field scope /, '')}`,
    }
  const detail =
    error instanceof Error && 'shortMessage' in error ? String(error.shortMessage) : String(error)
  return {
    code: 'TREE_INVALID',
    message: `${where}: the published tree is not a valid device tree: ${detail}`,
  }
}

function capPerCode(problems: readonly CommitmentProblem[], where: string): CommitmentProblem[] {
  const kept: CommitmentProblem[] = []
  const dropped = new Map<CommitmentProblemCode, number>()
  const counts = new Map<CommitmentProblemCode, number>()
  for (const problem of problems) {
    const n = (counts.get(problem.code) ?? 0) + 1
    counts.set(problem.code, n)
    if (n <= PER_CODE_LIMIT) kept.push(problem)
    else dropped.set(problem.code, (dropped.get(problem.code) ?? 0) + 1)
  }
  for (const [code, n] of dropped)
    kept.push({
      code,
      message: `${where}: ${n} more leaves with ${code} (the first ${PER_CODE_LIMIT} are listed)`,
    })
  return kept
}
