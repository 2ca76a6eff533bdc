import { describe, expect, it } from 'vitest'
import { formatOracleProgress, type OraclePools, readOracleProgress } from './oracle-progress.ts'

/** A chain whose pools are at the given (firstEpoch, nextEpoch); a pool of `down` fails to read. */
function chainOf(
  pools: Record<string, { firstEpoch: number; nextEpoch: number }>,
  down: readonly string[] = [],
  deployed = true,
): OraclePools {
  return {
    deployed: async () => deployed,
    pool: async (poolId) => {
      if (down.includes(poolId)) throw new Error('HTTP request failed.\nURL: http://127.0.0.1:8545')
      return pools[poolId]
    },
  }
}

describe('the oracle status line of npm start (attack F4)', () => {
  it('counts each pool from the chain, not one submitter counter summed over pools', async () => {
    const chain = chainOf({
      'longshine-ev': { firstEpoch: 0, nextEpoch: 3 },
      'gcl-pv': { firstEpoch: 0, nextEpoch: 0 },
      'xunying-swap': { firstEpoch: 5, nextEpoch: 6 },
    })
    const progress = await readOracleProgress(chain, ['longshine-ev', 'gcl-pv', 'xunying-swap', 'new-pool'])
    expect(formatOracleProgress(progress)).toBe(
      'oracle: longshine-ev 3 final (0-2), gcl-pv none final yet (next 0), xunying-swap 1 final (5), new-pool not on-chain',
    )
  })

  it('is the same after a submitter restart: the chain, not the process, holds the count', async () => {
    const chain = chainOf({ 'longshine-ev': { firstEpoch: 0, nextEpoch: 7 } })
    const before = formatOracleProgress(await readOracleProgress(chain, ['longshine-ev']))
    const after = formatOracleProgress(await readOracleProgress(chain, ['longshine-ev']))
    expect(after).toBe(before)
    expect(after).toBe('oracle: longshine-ev 7 final (0-6)')
  })

  it('says the chain does not answer, once, with the first line of the reason', async () => {
    const chain = chainOf({ 'gcl-pv': { firstEpoch: 0, nextEpoch: 2 } }, ['longshine-ev'])
    expect(formatOracleProgress(await readOracleProgress(chain, ['longshine-ev', 'gcl-pv']))).toBe(
      'oracle: longshine-ev …, gcl-pv 2 final (0-1) (chain not answering: HTTP request failed.)',
    )
  })

  it('says the contracts are gone, not that the chain is down, when the node answers without them (attack10c F5)', async () => {
    const chain = chainOf({}, ['longshine-ev', 'gcl-pv'], false)
    expect(formatOracleProgress(await readOracleProgress(chain, ['longshine-ev', 'gcl-pv']))).toBe(
      'oracle: longshine-ev …, gcl-pv … (the chain answers but RevenueOracle is gone from it: the chain was reset or restarted; stop with Ctrl-C and run npm start again to redeploy)',
    )
  })
})
