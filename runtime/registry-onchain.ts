/**
 * The start-up check of ingest and the aggregator: the registry file they load must hash to the
 * registry root committed on-chain for every pool they serve. Otherwise they would accept
 * signatures under keys nobody can check against the chain; the error names each pool that
 * differs and what to do.
 */
import type { Address, Hex, PublicClient } from 'viem'
import { deviceRegistryAbi } from '../contracts/abi/DeviceRegistry.ts'
import { poolIdBytes32, type RegistryCommitment, registryCommitment } from '../core/chain/registry-root.ts'
import { GridrootError } from '../core/errors/base.ts'
import type { DeviceRegistry } from '../core/identity/registry.ts'
import { createChainClients } from './clients/chain.ts'
import { loadContractsFile } from './contracts-file.ts'
import type { Endpoints } from './endpoints.ts'
import type { Logger } from './log.ts'

export interface PoolRegistryMismatch {
  readonly poolId: string
  readonly file: RegistryCommitment
  readonly onChain: { readonly root: Hex; readonly version: bigint; readonly deviceCount: number }
}

/**
 * What fixes each kind of mismatch. `npm run pools -- apply` commits roots only for the pools of
 * its pools file and refuses a registry with a device of another pool, so a pool without a root
 * on-chain is fixed in a file first; pointing at the command alone would loop back here.
 */
function registryMismatchHints(mismatches: readonly PoolRegistryMismatch[], registryFile: string): string[] {
  const apply = `npm run pools -- apply --file config/pools.json --registry ${registryFile}`
  const neverApplied = mismatches.filter((m) => m.onChain.version === 0n).map((m) => m.poolId)
  const differ = mismatches.filter((m) => m.onChain.version !== 0n).map((m) => m.poolId)
  const hints: string[] = []
  if (neverApplied.length > 0)
    hints.push(
      `${neverApplied.join(', ')}: no pools apply ever committed a root for ${neverApplied.length > 1 ? 'these pools' : 'this pool'}. If it is a typo, correct the devices' poolId in ${registryFile}; if it is a new pool, add it to the pools file (config/pools.json); then run \`${apply}\` (it refuses a registry whose devices name a pool the pools file does not have).`,
    )
  if (differ.length > 0)
    hints.push(
      `${differ.join(', ')}: load the registry file that was committed, or commit this one: \`${apply}\`.`,
    )
  return hints
}

export class RegistryRootMismatchError extends GridrootError<'REGISTRY_ROOT_MISMATCH'> {
  override readonly name = 'RegistryRootMismatchError'
  readonly mismatches: readonly PoolRegistryMismatch[]
  constructor(mismatches: readonly PoolRegistryMismatch[], registryFile: string) {
    super(
      'REGISTRY_ROOT_MISMATCH',
      `the device registry ${registryFile} does not match the chain for pool${mismatches.length > 1 ? 's' : ''} ${mismatches.map((m) => m.poolId).join(', ')}`,
      {
        metaMessages: [
          ...mismatches.map((m) =>
            m.onChain.version === 0n
              ? `  ${m.poolId}: no registry root on-chain yet (the file has ${m.file.deviceCount} devices, root ${m.file.root})`
              : `  ${m.poolId}: file root ${m.file.root} (${m.file.deviceCount} devices) ≠ on-chain root ${m.onChain.root} (version ${m.onChain.version}, ${m.onChain.deviceCount} devices)`,
          ),
          ...registryMismatchHints(mismatches, registryFile),
        ],
        details: { pools: mismatches.map((m) => m.poolId) },
      },
    )
    this.mismatches = mismatches
  }
}

export interface CheckRegistryOnChainParameters {
  readonly publicClient: PublicClient
  readonly deviceRegistry: Address
  readonly registry: DeviceRegistry
  /** Path of the registry file, for the message. */
  readonly registryFile: string
  /** The pools this service serves; default every pool in the registry file. */
  readonly poolIds?: readonly string[]
}

/**
 * Resolves with each pool's commitment when every pool matches; otherwise throws
 * RegistryRootMismatchError naming the pools that differ.
 *
 * @example
 * await checkRegistryOnChain({ publicClient, deviceRegistry: contracts.contracts.deviceRegistry, registry, registryFile })
 */
export async function checkRegistryOnChain(p: CheckRegistryOnChainParameters): Promise<RegistryCommitment[]> {
  const devices = [...p.registry.devices()]
  const poolIds = p.poolIds ?? [...new Set(devices.map((d) => d.poolId))].sort()
  const mismatches: PoolRegistryMismatch[] = []
  const commitments: RegistryCommitment[] = []
  for (const poolId of poolIds) {
    const file = registryCommitment(devices, poolId)
    const onChain = await p.publicClient.readContract({
      address: p.deviceRegistry,
      abi: deviceRegistryAbi,
      functionName: 'registryOf',
      args: [poolIdBytes32(poolId)],
    })
    commitments.push(file)
    if (onChain.version === 0n || onChain.root !== file.root || onChain.deviceCount !== file.deviceCount) {
      mismatches.push({ poolId, file, onChain })
    }
  }
  if (mismatches.length > 0) throw new RegistryRootMismatchError(mismatches, p.registryFile)
  return commitments
}

/**
 * What ingest and the aggregator run at start: with a contracts file configured, the registry
 * file must match the chain for every pool it holds (RegistryRootMismatchError otherwise, which
 * stops the service with the pools named); without one, a warning says the check was skipped
 * (a deployment without the on-chain half, or tests of the data half alone).
 */
export async function checkRegistryAtStart(p: {
  readonly contractsFile: string | undefined
  readonly chain: Endpoints['chain']
  readonly registry: DeviceRegistry
  readonly registryFile: string
  readonly logger: Logger
}): Promise<void> {
  if (p.contractsFile === undefined) {
    p.logger.warn(
      { registryFile: p.registryFile },
      'registry not checked against the chain: GRIDROOT_CONTRACTS_FILE is not set',
    )
    return
  }
  const file = loadContractsFile(p.contractsFile)
  const { publicClient } = createChainClients(p.chain, { timeoutMs: 30_000 })
  const commitments = await checkRegistryOnChain({
    publicClient,
    deviceRegistry: file.contracts.deviceRegistry,
    registry: p.registry,
    registryFile: p.registryFile,
  })
  p.logger.info(
    { pools: commitments.map((c) => ({ poolId: c.poolId, root: c.root, devices: c.deviceCount })) },
    'registry matches the on-chain roots',
  )
}
