/**
 * The AuditReader port: RevenueOracle read through the oracle's chain adapter (read-only), the
 * artifact store, the registry file, and `verifyDevice` (services/oracle/verify.ts), served as
 * it is. Verify's reads pass through here so the route can show what it checked (the finalized
 * commitment, the epoch record, the archive's readings) without reading any of it twice.
 */
import type { DeviceRegistry } from '../../../core/identity/registry.ts'
import type { ArtifactStamp, ArtifactStore } from '../../../runtime/artifact-store.ts'
import type { LeafRules } from '../../oracle/domain/leaf-recompute.ts'
import type { PreparedArtifacts } from '../../oracle/domain/verify.ts'
import type { EpochRecord, FinalizedEpoch, OracleChain } from '../../oracle/ports.ts'
import { verifyDevice } from '../../oracle/verify.ts'
import { paidReadings } from '../domain/archive-readings.ts'
import type { AuditEpochRecord, AuditReader } from '../ports.ts'
import { createArtifactCache } from './artifact-cache.ts'
import { ChainUnavailableError } from './oracle-reader.ts'

export type AuditChain = Pick<OracleChain, 'pool' | 'epochRecord' | 'finalized' | 'verifyDeviceLeaf'>

const toRecord = (epoch: number, r: EpochRecord): AuditEpochRecord => ({
  epoch,
  status: r.status,
  attempt: r.attempt,
  root: r.root.toLowerCase(),
  finalizesAtMs: Number(r.finalizesAtSec) * 1000,
})

/** A chain call that failed is the node's fault (retry), never the caller's. */
async function onChain<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (error) {
    throw new ChainUnavailableError(error)
  }
}

export function createAuditReader(options: {
  readonly chain: AuditChain
  /** With `stamp` (the file store), a kept artifact whose file was rewritten is loaded again. */
  readonly store: Pick<ArtifactStore, 'get'> & Partial<ArtifactStamp>
  readonly registry: Pick<DeviceRegistry, 'get' | 'devices'>
  /** The aggregation rules and tariffs verify recomputes leaves under. */
  readonly rules: LeafRules
  /** Pools of the contracts file. */
  readonly pools: readonly string[]
  /** Most bytes of trees and archives kept parsed between audits (adapters/artifact-cache.ts). */
  readonly cacheBytes?: number
}): AuditReader {
  const { chain, store } = options
  const pools = [...options.pools].sort()
  const artifacts = createArtifactCache({
    store,
    ...(options.cacheBytes === undefined ? {} : { maxBytes: options.cacheBytes }),
  })
  // A final epoch's commitment never changes (RevenueOracle has no way back from final), so it
  // is read once; epochs not final yet are asked every time. Small records, bounded by count.
  const finalizedKept = new Map<string, FinalizedEpoch>()
  const finalizedOf = async (poolId: string, epoch: number) => {
    const key = `${poolId}/${epoch}`
    const kept = finalizedKept.get(key)
    if (kept !== undefined) return kept
    const finalized = await onChain(() => chain.finalized(poolId, epoch))
    if (finalized !== undefined) {
      if (finalizedKept.size >= MAX_KEPT_COMMITMENTS)
        finalizedKept.delete(finalizedKept.keys().next().value as string)
      finalizedKept.set(key, finalized)
    }
    return finalized
  }
  return {
    pools: () => pools,
    pool: (poolId) => onChain(() => chain.pool(poolId)),
    records: (poolId, epochs) =>
      onChain(() => Promise.all(epochs.map(async (e) => toRecord(e, await chain.epochRecord(poolId, e))))),
    async audit(args) {
      let finalized: FinalizedEpoch | undefined
      let record: AuditEpochRecord | undefined
      let prepared: PreparedArtifacts | undefined
      const outcome = await verifyDevice(
        {
          chain: {
            epochRecord: async (poolId, epoch) => {
              const r = await onChain(() => chain.epochRecord(poolId, epoch))
              record = toRecord(epoch, r)
              return r
            },
            finalized: async (poolId, epoch) => {
              finalized = await finalizedOf(poolId, epoch)
              return finalized
            },
            pool: (poolId) => onChain(() => chain.pool(poolId)),
            verifyDeviceLeaf: (leaf, proof) => chain.verifyDeviceLeaf(leaf, proof),
          },
          store,
          registry: options.registry,
          artifacts: async (treeHash, archiveHash) => {
            const loaded = await artifacts.load(treeHash, archiveHash)
            if (loaded.status === 'loaded') prepared = loaded.artifacts
            return loaded
          },
          rules: options.rules,
        },
        args,
      )
      return { outcome, finalized, record, readings: readingsOf(prepared, args.deviceId) }
    },
    artifact: (hash) => store.get(hash),
  }
}

/** Final commitments kept (a pool epoch each: root, totals, two hashes). */
const MAX_KEPT_COMMITMENTS = 100_000

/** The device's paid readings from the archive verify read; undefined when it does not load. */
function readingsOf(prepared: PreparedArtifacts | undefined, deviceId: string) {
  if (prepared === undefined) return undefined
  try {
    return paidReadings(prepared.archive(deviceId).archive.records, deviceId)
  } catch {
    // verify reports an archive that does not load (ARCHIVE_SCOPE); there is nothing to list.
    return undefined
  }
}
