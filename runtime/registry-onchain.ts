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
import { type DeploymentProblem, startDeploymentWatch } from './chain/deployment-watch.ts'
import { errorFields } from './chain/log-error.ts'
import { chainFailure } from './chain/node-answer.ts'
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
  const commitments = fileCommitments(p.registry, p.poolIds)
  const mismatches = await registryMismatches(p.publicClient, p.deviceRegistry, commitments)
  if (mismatches.length > 0) throw new RegistryRootMismatchError(mismatches, p.registryFile)
  return commitments
}

/** Each served pool's commitment of the file (default: every pool the registry names). */
function fileCommitments(registry: DeviceRegistry, poolIds?: readonly string[]): RegistryCommitment[] {
  const devices = [...registry.devices()]
  return (poolIds ?? [...new Set(devices.map((d) => d.poolId))].sort()).map((poolId) =>
    registryCommitment(devices, poolId),
  )
}

async function registryMismatches(
  publicClient: PublicClient,
  deviceRegistry: Address,
  commitments: readonly RegistryCommitment[],
): Promise<PoolRegistryMismatch[]> {
  const mismatches: PoolRegistryMismatch[] = []
  for (const file of commitments) {
    const onChain = await publicClient.readContract({
      address: deviceRegistry,
      abi: deviceRegistryAbi,
      functionName: 'registryOf',
      args: [poolIdBytes32(file.poolId)],
    })
    if (onChain.version === 0n || onChain.root !== file.root || onChain.deviceCount !== file.deviceCount) {
      mismatches.push({ poolId: file.poolId, file, onChain })
    }
  }
  return mismatches
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

/** How often a running ingest, aggregator or distributor compares its registry with the chain (attack10b F7). */
export const REGISTRY_WATCH_INTERVAL_MS = 10_000

/** A registry that no longer hashes to a pool's on-chain root, for /healthz. */
export interface RegistryMismatchProblem {
  readonly code: 'REGISTRY_ROOT_MISMATCH'
  readonly message: string
  readonly hint: string
  readonly pools: readonly {
    readonly poolId: string
    readonly fileRoot: Hex
    readonly fileDevices: number
    readonly onChainRoot: Hex
    readonly onChainVersion: string
    readonly onChainDevices: number
  }[]
}

export interface RegistryWatch {
  /** What is wrong now: the registry against the chain, and the chain itself; empty when fine. */
  problems(): readonly (RegistryMismatchProblem | DeploymentProblem)[]
  stop(): void
}

/**
 * The running half of the start-up check (attack10b F7: a registry root committed on-chain under
 * a running ingest or aggregator went unnoticed): every `intervalMs` the registry in use (the
 * aggregator reloads its file) is compared with DeviceRegistry's roots, and DeviceRegistry's code
 * and the chain's identity are watched (runtime/chain/deployment-watch.ts). A mismatch is logged
 * at error once per distinct set of roots, naming each pool and both roots; a match again at
 * info. Undefined without a contracts file (nothing was checked at start either).
 *
 * @example
 * const watch = startRegistryWatch({ contractsFile, chain, registry: () => registry, registryFile, logger })
 * health: ok = ... && (watch?.problems().length ?? 0) === 0
 */
export function startRegistryWatch(p: {
  readonly contractsFile: string | undefined
  readonly chain: Endpoints['chain']
  /** The registry the service uses now. */
  readonly registry: () => DeviceRegistry
  readonly registryFile: string
  readonly logger: Logger
  /** The pools compared; default every pool of the registry. */
  readonly poolIds?: readonly string[]
  readonly intervalMs?: number
}): RegistryWatch | undefined {
  if (p.contractsFile === undefined) return undefined
  const deviceRegistry = loadContractsFile(p.contractsFile).contracts.deviceRegistry
  const deployment = startDeploymentWatch({
    chain: p.chain,
    contracts: { DeviceRegistry: deviceRegistry },
    contractsFile: p.contractsFile,
    logger: p.logger,
    intervalMs: p.intervalMs ?? REGISTRY_WATCH_INTERVAL_MS,
  })
  const { publicClient } = createChainClients(p.chain, { timeoutMs: 5_000, retryCount: 0 })
  let cached: { registry: DeviceRegistry; commitments: RegistryCommitment[] } | undefined
  let mismatch: RegistryMismatchProblem | undefined
  let failing = false
  let running = false
  const check = async () => {
    if (running || deployment.problem !== undefined) return
    running = true
    try {
      const registry = p.registry()
      // A registry's roots cost a tree per pool: computed once per loaded registry.
      if (cached?.registry !== registry)
        cached = { registry, commitments: fileCommitments(registry, p.poolIds) }
      const found = await registryMismatches(publicClient, deviceRegistry, cached.commitments)
      failing = false
      const next = found.length === 0 ? undefined : mismatchProblem(found, p.registryFile)
      if (next !== undefined && next.message !== mismatch?.message)
        p.logger.error({ code: next.code, pools: next.pools, hint: next.hint }, next.message)
      if (next === undefined && mismatch !== undefined)
        p.logger.info({ registryFile: p.registryFile }, 'registry matches the on-chain roots again')
      mismatch = next
    } catch (error) {
      if (!failing && chainFailure(error) !== 'unreachable')
        p.logger.warn({ error: errorFields(error) }, 'registry not compared with the chain; trying again')
      failing = true
    } finally {
      running = false
    }
  }
  const timer = setInterval(() => void check(), p.intervalMs ?? REGISTRY_WATCH_INTERVAL_MS)
  timer.unref()
  void deployment.check()
  return {
    problems: () => [
      ...(deployment.problem === undefined ? [] : [deployment.problem]),
      ...(deployment.problem === undefined && mismatch !== undefined ? [mismatch] : []),
    ],
    stop() {
      clearInterval(timer)
      deployment.stop()
    },
  }
}

/**
 * What every service that loads a registry file runs at start: the check (refusing a registry the
 * chain does not commit) and then the watch of it while running.
 *
 * @example
 * const registryWatch = await checkAndWatchRegistry({ contractsFile, chain, registry: () => registry, registryFile, logger })
 */
export async function checkAndWatchRegistry(
  p: Parameters<typeof startRegistryWatch>[0],
): Promise<RegistryWatch | undefined> {
  await checkRegistryAtStart({ ...p, registry: p.registry() })
  return startRegistryWatch(p)
}

function mismatchProblem(
  mismatches: readonly PoolRegistryMismatch[],
  registryFile: string,
): RegistryMismatchProblem {
  return {
    code: 'REGISTRY_ROOT_MISMATCH',
    message: `the device registry ${registryFile} no longer matches the on-chain registry root of ${mismatches
      .map(
        (m) =>
          `pool ${m.poolId} (file root ${m.file.root}, ${m.file.deviceCount} devices; on-chain root ${m.onChain.root}, version ${m.onChain.version}, ${m.onChain.deviceCount} devices)`,
      )
      .join(', ')}`,
    hint: 'The registry was changed on-chain (or the file) under this running service: load the registry file that was committed and restart this service, or commit this one: `npm run pools -- apply --file config/pools.json`.',
    pools: mismatches.map((m) => ({
      poolId: m.poolId,
      fileRoot: m.file.root,
      fileDevices: m.file.deviceCount,
      onChainRoot: m.onChain.root,
      onChainVersion: String(m.onChain.version),
      onChainDevices: m.onChain.deviceCount,
    })),
  }
}
