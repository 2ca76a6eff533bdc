/**
 * Oracle epochs backed by a real device tree, for tests of what the distributor and the
 * submitter accept: a small registry committed on-chain, the tree in an artifact store, and a
 * proposal whose figures are the tree's (or forged ones, as a broken signer threshold would sign).
 */
import { writeFileSync } from 'node:fs'
import { type Hex, keccak256 } from 'viem'
import { deviceRegistryAbi } from '../../../contracts/abi/index.ts'
import type { EpochRootProposal } from '../../../core/chain/epoch-root-typed-data.ts'
import { poolIdBytes32, registryCommitment } from '../../../core/chain/registry-root.ts'
import { deriveDeviceSeed, keyPairFromSeed } from '../../../core/identity/keys.ts'
import type { DeviceRecord } from '../../../core/identity/registry.ts'
import { buildDeviceTree, type DeviceLeaf, serializeTree } from '../../../core/merkle/index.ts'
import { createFileArtifactStore } from '../../../runtime/artifact-store.ts'
import { proposal } from './oracle.ts'
import { exec, type System } from './system.ts'

/** `count` charger records of `poolId` (ids `<prefix>-000001`…), with keys derived from their ids. */
export function testDevices(poolId: string, prefix: string, count: number): DeviceRecord[] {
  return Array.from({ length: count }, (_, i) => {
    const deviceId = `${prefix}-${String(i + 1).padStart(6, '0')}`
    return {
      deviceId,
      assetClass: 'charger' as const,
      poolId,
      ratedPowerW: 7_000,
      tariffId: 'flat',
      publicKey: keyPairFromSeed(deriveDeviceSeed('device-epoch', deviceId)).publicKeyHex,
    }
  })
}

/** Writes the registry file and commits its root for `poolId` in DeviceRegistry. */
export async function commitRegistry(
  system: System,
  file: string,
  devices: readonly DeviceRecord[],
  poolId: string,
) {
  writeFileSync(file, JSON.stringify({ version: 1, devices }))
  await commitRegistryRoots(system, devices, [poolId])
}

/**
 * Commits in DeviceRegistry the root of each pool of `devices` (or of `poolIds`), as `npm run
 * pools -- apply` does: the services that load a registry (ingest, the aggregator, the oracle's
 * signers and guardian, the distributor) refuse one the chain does not commit.
 */
export async function commitRegistryRoots(
  system: System,
  devices: Iterable<DeviceRecord>,
  poolIds?: readonly string[],
) {
  const all = [...devices]
  for (const poolId of poolIds ?? [...new Set(all.map((d) => d.poolId))].sort()) {
    const c = registryCommitment(all, poolId)
    await exec(system, system.deployer.walletClient, {
      address: system.contracts.deviceRegistry,
      abi: deviceRegistryAbi,
      functionName: 'setRoot',
      args: [poolIdBytes32(poolId), c.root, c.deviceCount],
    })
  }
}

/** A leaf of `deviceId` in pool epoch (`poolId`, `epoch`) paying `revenueUnits` for `energyWh`. */
export function deviceLeaf(
  poolId: string,
  epoch: bigint,
  deviceId: string,
  revenueUnits: bigint,
  energyWh = 1_000n,
): DeviceLeaf {
  return {
    poolId,
    epoch,
    deviceId,
    energyWh,
    revenueUnits,
    readings: 12,
    readingsDigest: `0x${'44'.repeat(32)}`,
  }
}

/**
 * Stores the tree of `leaves` in the artifact store at `artifactDir` (unless `store: false`) and
 * returns the proposal that commits it; `forge` overrides committed figures after the fact.
 */
export async function deviceEpochProposal(p: {
  readonly poolIdHex: Hex
  readonly epoch: bigint
  readonly leaves: readonly DeviceLeaf[]
  readonly artifactDir: string
  readonly store?: boolean
  readonly forge?: Partial<EpochRootProposal>
}): Promise<EpochRootProposal> {
  const tree = buildDeviceTree(p.leaves)
  const bytes = serializeTree(tree)
  // unstored: the hash the tree would have, in no store (what a forger proposes without publishing)
  const treeHash =
    p.store === false ? keccak256(bytes) : await createFileArtifactStore({ dir: p.artifactDir }).put(bytes)
  return proposal({
    poolId: p.poolIdHex,
    epoch: p.epoch,
    root: tree.root,
    revenueUnits: p.leaves.reduce((s, l) => s + l.revenueUnits, 0n),
    energyWh: p.leaves.reduce((s, l) => s + BigInt(l.energyWh), 0n),
    leafCount: p.leaves.length,
    treeHash,
    ...p.forge,
  })
}
