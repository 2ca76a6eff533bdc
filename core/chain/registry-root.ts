/**
 * The on-chain commitment of a pool's device registry: the OpenZeppelin StandardMerkleTree root
 * (leaves sorted by hash, so the order of the file does not matter) over the pool's registry
 * leaves `abi.encode(string deviceId, string assetClass, bytes32 poolId, bytes32 publicKey,
 * uint256 ratedPowerW, string tariffId)`. A pool without devices has root 0 and count 0, as
 * DeviceRegistry.sol requires. Pure; used by the pool command and the services' start-up check.
 */
import { type Hex, stringToHex } from 'viem'
import type { DeviceRecord } from '../identity/registry.ts'
import { buildRegistryTree, REGISTRY_LEAF_ENCODING } from '../merkle/index.ts'

export const REGISTRY_LEAF_TYPES = REGISTRY_LEAF_ENCODING

export interface RegistryCommitment {
  readonly poolId: string
  readonly root: Hex
  readonly deviceCount: number
}

/** bytes32 of the ASCII pool id, left-aligned and zero-padded (the on-chain pool id). */
export function poolIdBytes32(poolId: string): Hex {
  return stringToHex(poolId, { size: 32 })
}

/** The registry leaf values of one device, in REGISTRY_LEAF_TYPES order. */
export function registryLeafValues(device: DeviceRecord): [string, string, Hex, Hex, bigint, string] {
  return [
    device.deviceId,
    device.assetClass,
    poolIdBytes32(device.poolId),
    `0x${device.publicKey}`,
    BigInt(device.ratedPowerW),
    device.tariffId,
  ]
}

/** The registry root of `poolId` over those of `devices` that belong to it. */
export function registryCommitment(devices: Iterable<DeviceRecord>, poolId: string): RegistryCommitment {
  const leaves = [...devices]
    .filter((d) => d.poolId === poolId)
    .map((d) => ({
      deviceId: d.deviceId,
      assetClass: d.assetClass,
      poolId: d.poolId,
      publicKey: `0x${d.publicKey}` as Hex,
      ratedPowerW: d.ratedPowerW,
      tariffId: d.tariffId,
    }))
  if (leaves.length === 0) return { poolId, root: `0x${'0'.repeat(64)}`, deviceCount: 0 }
  return { poolId, root: buildRegistryTree(leaves).root, deviceCount: leaves.length }
}
