/**
 * The AuditReader port: RevenueOracle read through the oracle's chain adapter (read-only), the
 * artifact store, the registry file, and `verifyDevice` (services/oracle/verify.ts), served as
 * it is. Verify's reads pass through here so the route can show what it checked (the finalized
 * commitment, the epoch record, the archive's readings) without reading any of it twice.
 */
import type { DeviceRegistry } from '../../../core/identity/registry.ts'
import type { ArtifactStore } from '../../../runtime/artifact-store.ts'
import type { EpochRecord, FinalizedEpoch, OracleChain } from '../../oracle/ports.ts'
import { verifyDevice } from '../../oracle/verify.ts'
import { type ArchiveIndex, indexArchive, paidReadings } from '../domain/archive-readings.ts'
import type { AuditEpochRecord, AuditReader } from '../ports.ts'
import { ChainUnavailableError } from './oracle-reader.ts'

export type AuditChain = Pick<OracleChain, 'pool' | 'epochRecord' | 'finalized'>

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
  readonly store: Pick<ArtifactStore, 'get'>
  readonly registry: Pick<DeviceRegistry, 'get'>
  /** Pools of the contracts file. */
  readonly pools: readonly string[]
  /**
   * Archive indexes kept in memory, newest used last. Archives are content-addressed, so a kept
   * index is never stale; a fleet's archive per pool epoch is tens of MB, hence few.
   */
  readonly keptArchives?: number
}): AuditReader {
  const { chain, store } = options
  const pools = [...options.pools].sort()
  const kept = new Map<string, ArchiveIndex>()
  const keep = options.keptArchives ?? 4
  const indexOf = (hash: string, bytes: Uint8Array): ArchiveIndex | undefined => {
    let index = kept.get(hash)
    if (index === undefined) {
      try {
        index = indexArchive(bytes)
      } catch {
        // verify reports an archive that does not load (ARCHIVE_SCOPE); there is nothing to list.
        return undefined
      }
      if (kept.size >= keep) kept.delete(kept.keys().next().value as string)
    } else kept.delete(hash)
    kept.set(hash, index)
    return index
  }
  return {
    pools: () => pools,
    pool: (poolId) => onChain(() => chain.pool(poolId)),
    records: (poolId, epochs) =>
      onChain(() => Promise.all(epochs.map(async (e) => toRecord(e, await chain.epochRecord(poolId, e))))),
    async audit(args) {
      let finalized: FinalizedEpoch | undefined
      let record: AuditEpochRecord | undefined
      const read = new Map<string, Uint8Array>()
      const outcome = await verifyDevice(
        {
          chain: {
            epochRecord: async (poolId, epoch) => {
              const r = await onChain(() => chain.epochRecord(poolId, epoch))
              record = toRecord(epoch, r)
              return r
            },
            finalized: async (poolId, epoch) => {
              finalized = await onChain(() => chain.finalized(poolId, epoch))
              return finalized
            },
          },
          store: {
            get: async (hash) => {
              const bytes = await store.get(hash)
              if (bytes !== undefined) read.set(hash.toLowerCase(), bytes)
              return bytes
            },
          },
          registry: options.registry,
        },
        args,
      )
      const archiveHash = finalized?.archiveHash.toLowerCase()
      const archive = archiveHash === undefined ? undefined : read.get(archiveHash)
      const index =
        archiveHash === undefined || archive === undefined ? undefined : indexOf(archiveHash, archive)
      return {
        outcome,
        finalized,
        record,
        readings: index === undefined ? undefined : paidReadings(index, args.deviceId),
      }
    },
    artifact: (hash) => store.get(hash),
  }
}
