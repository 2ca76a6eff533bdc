/**
 * `verify` with its IO: fetch the finalized commitment of a pool epoch from RevenueOracle, the
 * published tree and readings archive from the artifact store by the hashes the chain holds,
 * and the device's registry entry; check them (domain/verify.ts), and ask RevenueOracle itself
 * whether the leaf and its proof verify against the finalized root (CHAIN_PROOF, right after
 * PROOF). This is the function the API serves; `verify-cli.ts` is the command.
 */

import type { TimeGrid } from '../../core/epochs/grid.ts'
import { RetryableError } from '../../core/errors/base.ts'
import type { DeviceRegistry } from '../../core/identity/registry.ts'
import { ArtifactCorruptError } from '../../runtime/artifact-store.ts'
import { chainFailure } from '../../runtime/chain/node-answer.ts'
import type { LeafRules } from './domain/leaf-recompute.ts'
import type { Hex } from './domain/proposal.ts'
import {
  artifactsFromBytes,
  type PreparedArtifacts,
  type VerifyResult,
  verifyPreparedEpoch,
} from './domain/verify.ts'
import type { ArtifactStore, EpochRecord, OracleChain } from './ports.ts'

/** The tree and archive a commitment names, ready for the checks, or why there are none. */
export type ArtifactsLoad =
  | { readonly status: 'loaded'; readonly artifacts: PreparedArtifacts }
  | { readonly status: 'artifact-missing'; readonly hash: string }
  | { readonly status: 'artifact-corrupt'; readonly detail: string }

export type ArtifactsLoader = (treeHash: Hex, archiveHash: Hex) => Promise<ArtifactsLoad>

export interface VerifyDeps {
  readonly chain: Pick<OracleChain, 'finalized' | 'epochRecord' | 'pool' | 'verifyDeviceLeaf'>
  readonly store: Pick<ArtifactStore, 'get'>
  readonly registry: Pick<DeviceRegistry, 'get' | 'devices'>
  /** The aggregation settings and tariffs the leaf is recomputed under (`verifyRulesFromEnv`). */
  readonly rules: LeafRules
  /**
   * Where the artifacts come from instead of the store's bytes on every call: the API keeps
   * them hashed and parsed by hash (services/api/adapters/artifact-cache.ts).
   */
  readonly artifacts?: ArtifactsLoader
  /**
   * The pool's epoch grid as the chain holds it (its RevenueDistributor's `epochClock()`), or
   * undefined when the pool has none known. A leaf recomputed on another grid than the one its
   * epoch was built on gives zeros, not a verdict (attack10a F5), so a mismatch is refused.
   */
  readonly epochGrid?: (poolId: string) => Promise<EpochGrid | undefined>
}

export type EpochGrid = Pick<TimeGrid, 'genesisMs' | 'epochLengthMs'>

const showGrid = (g: EpochGrid) =>
  `epochs of ${g.epochLengthMs} ms from ${new Date(g.genesisMs).toISOString()}`

export type VerifyOutcome =
  | ({ readonly status: 'checked' } & VerifyResult)
  | {
      readonly status: 'not-final'
      readonly epochStatus: string
      /** What RevenueOracle holds for the epoch and its pool (domain/not-final.ts explains it). */
      readonly record: EpochRecord
      readonly pool: { readonly firstEpoch: number; readonly nextEpoch: number } | undefined
      readonly ok: false
    }
  | {
      readonly status: 'unknown-device'
      /** The API's code for it, so the command and the route say the same. */
      readonly code: 'UNKNOWN_AUDIT_DEVICE'
      /** The pool the registry puts the device in, when it is in another pool than asked. */
      readonly devicePoolId?: string
      readonly detail: string
      readonly ok: false
    }
  | { readonly status: 'artifact-missing'; readonly hash: string; readonly ok: false }
  | { readonly status: 'artifact-corrupt'; readonly detail: string; readonly ok: false }
  | {
      /** Not checked: the rules' epoch grid is not the chain's (no verdict; the command exits 3). */
      readonly status: 'grid-mismatch'
      readonly code: 'EPOCH_GRID_MISMATCH'
      readonly chainGrid: EpochGrid
      readonly rulesGrid: EpochGrid
      readonly detail: string
      readonly ok: false
    }

/**
 * CHAIN_PROOF could not be asked: the node did not answer RevenueOracle.verifyDeviceLeaf (or the
 * read failed without a revert). No verdict: the API answers 503 UPSTREAM_UNAVAILABLE, the
 * command exits 3, never "does not verify" (attack12d F2).
 */
export class ChainProofUncheckedError extends RetryableError<'CHAIN_PROOF_UNCHECKED'> {
  override readonly name = 'ChainProofUncheckedError'
  constructor(cause: unknown) {
    super(
      'CHAIN_PROOF_UNCHECKED',
      chainFailure(cause) === 'unreachable'
        ? 'the chain node did not answer RevenueOracle.verifyDeviceLeaf: CHAIN_PROOF was not checked'
        : 'RevenueOracle.verifyDeviceLeaf could not be read: CHAIN_PROOF was not checked',
      {
        metaMessages: ['Is the node at GRIDROOT_RPC_URL up, and the contracts file from this chain? Retry.'],
        cause,
      },
    )
  }
}

export async function verifyDevice(
  deps: VerifyDeps,
  args: { readonly poolId: string; readonly deviceId: string; readonly epoch: number },
): Promise<VerifyOutcome> {
  const device = deps.registry.get(args.deviceId)
  if (!device)
    return {
      status: 'unknown-device',
      code: 'UNKNOWN_AUDIT_DEVICE',
      detail: `device ${args.deviceId} is not in the registry`,
      ok: false,
    }
  // A device has a leaf only in its own pool's trees: checking it against another pool's epoch
  // would end in LEAF_FOUND failing (or a not-final explanation of the wrong pool).
  if (device.poolId !== args.poolId)
    return {
      status: 'unknown-device',
      code: 'UNKNOWN_AUDIT_DEVICE',
      devicePoolId: device.poolId,
      detail: `device ${args.deviceId} belongs to pool ${device.poolId}, not ${args.poolId}`,
      ok: false,
    }
  const finalized = await deps.chain.finalized(args.poolId, args.epoch)
  if (!finalized) {
    const [record, pool] = await Promise.all([
      deps.chain.epochRecord(args.poolId, args.epoch),
      deps.chain.pool(args.poolId),
    ])
    return { status: 'not-final', epochStatus: record.status, record, pool, ok: false }
  }
  const chainGrid = await deps.epochGrid?.(args.poolId)
  const rulesGrid = chainGrid === undefined ? undefined : deps.rules.settings.grid
  if (
    chainGrid !== undefined &&
    rulesGrid !== undefined &&
    (chainGrid.genesisMs !== rulesGrid.genesisMs || chainGrid.epochLengthMs !== rulesGrid.epochLengthMs)
  )
    return {
      status: 'grid-mismatch',
      code: 'EPOCH_GRID_MISMATCH',
      chainGrid,
      rulesGrid: { genesisMs: rulesGrid.genesisMs, epochLengthMs: rulesGrid.epochLengthMs },
      detail: `pool ${args.poolId} maps its epochs on-chain (RevenueDistributor.epochClock()) as ${showGrid(chainGrid)}; the rules verify recomputes leaves under use ${showGrid(rulesGrid)}`,
      ok: false,
    }
  const loaded = await (deps.artifacts ?? artifactsFromStore(deps.store))(
    finalized.treeHash,
    finalized.archiveHash,
  )
  if (loaded.status !== 'loaded') return { ...loaded, ok: false }
  const result = verifyPreparedEpoch({
    ...args,
    finalized,
    artifacts: loaded.artifacts,
    device,
    poolDeviceIds: new Set(
      [...deps.registry.devices()].filter((d) => d.poolId === args.poolId).map((d) => d.deviceId),
    ),
    rules: deps.rules,
  })
  const proofAt = result.checks.findIndex((c) => c.check === 'PROOF')
  if (proofAt < 0 || !result.checks[proofAt]?.ok || !result.leaf) return { status: 'checked', ...result }
  let onChain: { check: 'CHAIN_PROOF'; ok: boolean; detail: string }
  try {
    onChain = (await deps.chain.verifyDeviceLeaf(result.leaf, result.proof))
      ? { check: 'CHAIN_PROOF', ok: true, detail: 'RevenueOracle.verifyDeviceLeaf returned true' }
      : { check: 'CHAIN_PROOF', ok: false, detail: 'RevenueOracle.verifyDeviceLeaf returned false' }
  } catch (error) {
    // Only the contract's own answer is a verdict: a revert fails the check; a node that did
    // not answer leaves the device unchecked.
    if (chainFailure(error) !== 'reverted') throw new ChainProofUncheckedError(error)
    onChain = {
      check: 'CHAIN_PROOF',
      ok: false,
      detail: `RevenueOracle.verifyDeviceLeaf reverted: ${(error as { shortMessage?: string }).shortMessage ?? String(error)}`,
    }
  }
  const checks = [...result.checks.slice(0, proofAt + 1), onChain, ...result.checks.slice(proofAt + 1)]
  return { status: 'checked', ...result, checks, ok: result.ok && onChain.ok }
}

/** Both files' bytes from the store on every call, hashed and parsed by verify. */
export function artifactsFromStore(store: Pick<ArtifactStore, 'get'>): ArtifactsLoader {
  return async (treeHash, archiveHash) => {
    const fetch = async (hash: `0x${string}`) => {
      try {
        return await store.get(hash)
      } catch (error) {
        // The store refuses bytes that do not hash to their name (a tampered file): a verdict.
        // Any other failure (EISDIR, EACCES: ArtifactIoError) is no verdict: thrown, not checked
        // (attack10a F6: it was reported as a corrupt artifact, exit 1).
        if (error instanceof ArtifactCorruptError) return error
        throw error
      }
    }
    const tree = await fetch(treeHash)
    const archive = await fetch(archiveHash)
    for (const [hash, got] of [
      [treeHash, tree],
      [archiveHash, archive],
    ] as const) {
      if (got === undefined) return { status: 'artifact-missing', hash }
      if (got instanceof Error) return { status: 'artifact-corrupt', detail: got.message }
    }
    return {
      status: 'loaded',
      artifacts: artifactsFromBytes(tree as Uint8Array, archive as Uint8Array),
    }
  }
}
