/**
 * Why `verify` cannot check a pool epoch yet, in words a device owner can act on: the epoch's
 * on-chain state (not proposed, pending until its challenge window ends, rejected) and what to
 * do (wait until a time, or verify the pool's latest final epoch instead). Pure: the caller reads
 * the pool, the epoch record and chain time.
 *
 * RevenueOracle advances a pool's nextEpoch only on finalize, and epochs are final strictly in
 * order, so the latest final epoch is nextEpoch - 1 (none while nextEpoch is the first epoch).
 */
import type { EpochRecord } from '../ports.ts'

export interface NotFinalInput {
  readonly poolId: string
  readonly epoch: number
  /** The pool in RevenueOracle; undefined when it is not registered. */
  readonly pool: { readonly firstEpoch: number; readonly nextEpoch: number } | undefined
  readonly record: EpochRecord
  /** Chain time, seconds (the later of the latest block and the wall clock). */
  readonly nowSec: bigint
}

export type NotFinalState =
  | 'unknown-pool'
  | 'before-first-epoch'
  | 'not-proposed'
  | 'pending'
  | 'window-passed'
  | 'rejected'
  | 'final-without-event'

export interface NotFinalExplanation {
  readonly state: NotFinalState
  /** The pool's latest final epoch, if any. */
  readonly latestFinalEpoch: number | undefined
  /** The challenge window's end, ISO 8601 (pending epochs only). */
  readonly finalizesAt: string | undefined
  /** One line: what the chain says about the epoch. */
  readonly summary: string
  /** One line: what to do. */
  readonly hint: string
}

const iso = (sec: bigint) => new Date(Number(sec) * 1000).toISOString()

export function latestFinalEpoch(pool: NotFinalInput['pool']): number | undefined {
  return pool && pool.nextEpoch > pool.firstEpoch ? pool.nextEpoch - 1 : undefined
}

export function explainNotFinal(input: NotFinalInput): NotFinalExplanation {
  const { poolId, epoch, pool, record, nowSec } = input
  const where = `${poolId} epoch ${epoch}`
  const latest = latestFinalEpoch(pool)
  const orLatest =
    latest === undefined
      ? `no epoch of ${poolId} is final yet`
      : `the latest final epoch of ${poolId} is ${latest}: verify that one with --epoch ${latest}`
  const base = { latestFinalEpoch: latest, finalizesAt: undefined }
  if (!pool)
    return {
      ...base,
      state: 'unknown-pool',
      summary: `pool ${poolId} is not registered in RevenueOracle`,
      hint: 'Check --pool and GRIDROOT_CONTRACTS_FILE; pools are created with `npm run pools -- apply`.',
    }
  if (epoch < pool.firstEpoch)
    return {
      ...base,
      state: 'before-first-epoch',
      summary: `${where} is before the pool's first epoch ${pool.firstEpoch}; it never gets a root`,
      hint: `Use an epoch from ${pool.firstEpoch} on; ${orLatest}.`,
    }
  switch (record.status) {
    case 'pending': {
      const finalizesAt = iso(record.finalizesAtSec)
      const waitSec = record.finalizesAtSec - nowSec
      if (waitSec > 0n)
        return {
          ...base,
          finalizesAt,
          state: 'pending',
          summary: `${where} is pending (attempt ${record.attempt}): proposed, in its challenge window until ${finalizesAt}`,
          hint: `Wait until ${finalizesAt} (${waitSec} s from now), when the submitter finalizes it, then run verify again; meanwhile ${orLatest}.`,
        }
      return {
        ...base,
        finalizesAt,
        state: 'window-passed',
        summary: `${where} is pending (attempt ${record.attempt}): its challenge window ended at ${finalizesAt}, ${-waitSec} s ago, but it is not finalized yet`,
        hint: `The submitter (npm run oracle) sends finalize on its next tick: check that it runs, then run verify again; meanwhile ${orLatest}.`,
      }
    }
    case 'rejected':
      return {
        ...base,
        state: 'rejected',
        summary: `${where} was rejected by the guardian (attempt ${record.attempt - 1}); no root is pending`,
        hint: `Wait for a corrected root (attempt ${record.attempt}) to be proposed and its challenge window to pass; meanwhile ${orLatest}.`,
      }
    case 'final':
      return {
        ...base,
        state: 'final-without-event',
        summary: `${where} is final, but its EpochProposed event was not found`,
        hint: "Check that GRIDROOT_RPC_URL is the chain of GRIDROOT_CONTRACTS_FILE and that the file's deployedAtBlock is not after the oracle's deployment.",
      }
    case 'none': {
      const next =
        epoch === pool.nextEpoch
          ? 'it is the next epoch the oracle signers propose'
          : `the pool's next epoch to propose is ${pool.nextEpoch}`
      return {
        ...base,
        state: 'not-proposed',
        summary: `${where} is not proposed yet: ${next}`,
        hint: `Wait until the epoch is closed, proposed and past its challenge window; ${orLatest}.`,
      }
    }
  }
}
