/**
 * The oracle's part of `npm start`'s status line, per pool and from chain state: RevenueOracle's
 * `poolOf(pool).nextEpoch` advances only on finalize, so `nextEpoch - firstEpoch` epochs of the
 * pool are final. A submitter's counter (`gridroot_oracle_finalized_total`) counts only what that
 * process sent since it started: it starts again at 0 after a restart and sums all pools.
 */

/** RevenueOracle's `poolOf`: undefined when the pool is not registered. */
export interface OraclePools {
  pool(poolId: string): Promise<{ readonly firstEpoch: number; readonly nextEpoch: number } | undefined>
  /**
   * Whether RevenueOracle's address holds code. Asked only after a failed read: a node that answers
   * but no longer has the contracts (anvil restarted or reset under a running `npm start`) fails
   * every read too, and is not "not answering" (attack10c F5).
   */
  deployed(): Promise<boolean>
}

/** One pool's oracle progress as the chain holds it, or why it is not known. */
export type PoolOracleProgress =
  | {
      readonly poolId: string
      readonly state: 'registered'
      readonly firstEpoch: number
      readonly nextEpoch: number
    }
  | { readonly poolId: string; readonly state: 'not-registered' }
  | { readonly poolId: string; readonly state: 'unreachable'; readonly reason: string }
  | { readonly poolId: string; readonly state: 'contracts-missing' }

/** Reads every pool's `poolOf` from RevenueOracle; a failed read is that pool's `unreachable`. */
export async function readOracleProgress(
  chain: OraclePools,
  poolIds: readonly string[],
): Promise<PoolOracleProgress[]> {
  return Promise.all(
    poolIds.map(async (poolId): Promise<PoolOracleProgress> => {
      try {
        const pool = await chain.pool(poolId)
        return pool === undefined
          ? { poolId, state: 'not-registered' }
          : { poolId, state: 'registered', ...pool }
      } catch (error) {
        if ((await chain.deployed().catch(() => true)) === false)
          return { poolId, state: 'contracts-missing' }
        const reason = (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? ''
        return { poolId, state: 'unreachable', reason: reason.slice(0, 120) }
      }
    }),
  )
}

/**
 * `oracle: longshine-ev 3 final (0-2), gcl-pv none final yet (next 0), xunying-swap not on-chain`.
 * A chain that did not answer is said once, not per pool.
 */
export function formatOracleProgress(pools: readonly PoolOracleProgress[]): string {
  if (pools.length === 0) return 'oracle: no pools'
  const parts = pools.map((p) => {
    if (p.state === 'not-registered') return `${p.poolId} not on-chain`
    if (p.state === 'unreachable' || p.state === 'contracts-missing') return `${p.poolId} …`
    const final = p.nextEpoch - p.firstEpoch
    return final === 0
      ? `${p.poolId} none final yet (next ${p.nextEpoch})`
      : `${p.poolId} ${final} final (${p.firstEpoch === p.nextEpoch - 1 ? p.firstEpoch : `${p.firstEpoch}-${p.nextEpoch - 1}`})`
  })
  const unreachable = pools.find((p) => p.state === 'unreachable')
  const missing = pools.some((p) => p.state === 'contracts-missing')
  const why = missing
    ? ' (the chain answers but RevenueOracle is gone from it: the chain was reset or restarted; stop with Ctrl-C and run npm start again to redeploy)'
    : unreachable?.state === 'unreachable'
      ? ` (chain not answering: ${unreachable.reason})`
      : ''
  return `oracle: ${parts.join(', ')}${why}`
}
