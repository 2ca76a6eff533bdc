/**
 * How long what was signed for a final epoch is kept: until the epoch is final at a safe depth.
 * Pure.
 *
 * A final epoch is not final for good while the blocks that made it so can still be replaced:
 * a reorg (or `evm_revert` on a local chain) can make it pending again (its finalize undone) or
 * open again (its propose undone). The submitter then needs the signatures to finalize or
 * propose it again, and a signer must publish its signature again; dropped at the first sight of
 * finality (attack10 F8), they were gone, and the submitter called its own root "unsigned".
 *
 * An epoch counts as settled once the chain's head is `depthBlocks` past the head at which it
 * was first seen final, or once it is `epochsKept` epochs behind the chain's next epoch (the
 * memory bound: one entry per kept epoch; a quiet chain that mines no blocks would otherwise keep
 * everything). Both rules are monotonic in the epoch (epochs finalize in order), so one number
 * per pool, the highest settled epoch, says what may be forgotten. A reorg deeper than either
 * bound is beyond this: the signatures of a settled epoch are gone (the signers re-sign what the
 * chain waits on after a restart, which re-reads epochs.v1).
 */

export interface FinalRetentionLimits {
  /** Blocks past the head at which an epoch was first seen final before it is settled. */
  readonly depthBlocks: bigint
  /** Final epochs kept at most behind the chain's next epoch (per pool). */
  readonly epochsKept: number
}

export const DEFAULT_FINAL_RETENTION: FinalRetentionLimits = { depthBlocks: 64n, epochsKept: 16 }

interface PoolRetention {
  /** epoch → the head block when it was first seen final (only unsettled final epochs). */
  readonly finalAt: Map<number, bigint>
  /** Every epoch up to this one is settled. */
  settledThrough: number
}

export class FinalRetention {
  private readonly pools = new Map<string, PoolRetention>()
  readonly limits: FinalRetentionLimits

  constructor(limits: Partial<FinalRetentionLimits> = {}) {
    this.limits = { ...DEFAULT_FINAL_RETENTION, ...limits }
  }

  /**
   * The chain says every epoch of the pool below `nextEpoch` is final, at `headBlock` (unknown:
   * only the count bound applies). Epochs at or above `nextEpoch` are not final (any more).
   * Returns the highest settled epoch (-1: none).
   */
  observe(poolId: string, nextEpoch: number, headBlock: bigint | undefined): number {
    const pool = this.pool(poolId)
    for (const epoch of pool.finalAt.keys()) if (epoch >= nextEpoch) pool.finalAt.delete(epoch)
    let settled = Math.max(pool.settledThrough, nextEpoch - 1 - this.limits.epochsKept)
    let contiguous = true
    for (let epoch = settled + 1; epoch < nextEpoch; epoch++) {
      const at = pool.finalAt.get(epoch)
      if (at === undefined) {
        if (headBlock !== undefined) pool.finalAt.set(epoch, headBlock)
        contiguous = false
      } else if (contiguous && headBlock !== undefined && headBlock - at >= this.limits.depthBlocks) {
        settled = epoch
      } else {
        contiguous = false
      }
    }
    for (const epoch of pool.finalAt.keys()) if (epoch <= settled) pool.finalAt.delete(epoch)
    pool.settledThrough = settled
    return settled
  }

  /** Whether an epoch is settled: what was signed for it can be forgotten. */
  isSettled(poolId: string, epoch: number): boolean {
    return epoch <= this.pool(poolId).settledThrough
  }

  private pool(poolId: string): PoolRetention {
    let pool = this.pools.get(poolId)
    if (!pool) {
      pool = { finalAt: new Map(), settledThrough: -1 }
      this.pools.set(poolId, pool)
    }
    return pool
  }
}
