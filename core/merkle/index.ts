/**
 * The Merkle library: leaf encodings shared with contracts/, OpenZeppelin-compatible trees,
 * their published dump, and the readings digest. See docs/architecture.md (Merkle trees).
 */
import type { DeviceLeaf, HolderLeaf, RegistryLeaf } from './leaves.ts'
import { deviceLeafLayout, holderLeafLayout, registryLeafLayout } from './leaves.ts'
import { buildTree, leafHashOf, type MerkleTree } from './tree.ts'

export { bytesToHex } from './abi-words.ts'
export * from './commitment-check.ts'
export { parseTreeDump, type StandardTreeDump, serializeTree, treeDump } from './dump.ts'
export * from './errors.ts'
export { hashPairBytes, keccak256Bytes } from './keccak.ts'
export * from './leaves.ts'
export * from './pool-id.ts'
export * from './readings-digest.ts'
export * from './tree.ts'

export type DeviceTree = MerkleTree<DeviceLeaf>
export type HolderTree = MerkleTree<HolderLeaf>
export type RegistryTree = MerkleTree<RegistryLeaf>

/** The device tree of one pool epoch (all leaves share poolId and epoch). */
export const buildDeviceTree = (leaves: readonly DeviceLeaf[]): DeviceTree =>
  buildTree(deviceLeafLayout, leaves)
/** The cumulative holder tree of one pool (all leaves share poolId). */
export const buildHolderTree = (leaves: readonly HolderLeaf[]): HolderTree =>
  buildTree(holderLeafLayout, leaves)
/** The registry tree of one pool (all leaves share poolId). */
export const buildRegistryTree = (leaves: readonly RegistryLeaf[]): RegistryTree =>
  buildTree(registryLeafLayout, leaves)

export const deviceLeafHash = (leaf: DeviceLeaf) => leafHashOf(deviceLeafLayout, leaf)
export const holderLeafHash = (leaf: HolderLeaf) => leafHashOf(holderLeafLayout, leaf)
export const registryLeafHash = (leaf: RegistryLeaf) => leafHashOf(registryLeafLayout, leaf)
