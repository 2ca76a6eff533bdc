/**
 * The HolderReader port on runtime/chain: one PoolChain and one HolderClaimsReader per pool of
 * the contracts file, all reading one artifact store (GRIDROOT_ARTIFACT_DIR); the addresses a
 * holder's wallet sends claims to.
 */
import type { Address, PublicClient } from 'viem'
import { hkdStablecoinAbi } from '../../../contracts/abi/index.ts'
import type { ArtifactStore } from '../../../runtime/artifact-store.ts'
import { createHolderClaimsReader, type HolderClaimsReader } from '../../../runtime/chain/holder-claims.ts'
import { chainFailure } from '../../../runtime/chain/node-answer.ts'
import { createPoolChain, type PoolChain } from '../../../runtime/chain/pool-chain.ts'
import type { ContractsFile } from '../../../runtime/contracts-file.ts'
import type { HolderReader } from '../ports.ts'
import { ChainUnavailableError } from './oracle-reader.ts'

/**
 * A read the node did not answer is UPSTREAM_UNAVAILABLE (503), like the oracle's reads; other
 * failures (a missing holder tree, a bug) pass as they are (attack12d F3: a frozen node was 500).
 */
async function onChain<T>(contract: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (error) {
    if (chainFailure(error) === 'unreachable') throw new ChainUnavailableError(error, contract)
    throw error
  }
}

export function createHolderReader(options: {
  readonly publicClient: PublicClient
  readonly contracts: ContractsFile
  readonly store: Pick<ArtifactStore, 'get'>
}): HolderReader {
  const pools = new Map<string, { chain: PoolChain; claims: HolderClaimsReader }>()
  for (const pool of Object.values(options.contracts.pools)) {
    const chain = createPoolChain({
      publicClient: options.publicClient,
      pool,
      oracle: options.contracts.contracts.revenueOracle as Address,
      identityRegistry: options.contracts.contracts.identityRegistry as Address,
      identityFromBlock: BigInt(options.contracts.deployedAtBlock),
    })
    pools.set(pool.poolId, { chain, claims: createHolderClaimsReader(chain, options.store) })
  }
  const ids = [...pools.keys()].sort()
  const get = (poolId: string) => {
    const pool = pools.get(poolId)
    if (pool === undefined) throw new Error(`pool ${poolId} is not in the contracts file`)
    return pool
  }
  const holderContracts = {
    chainId: options.contracts.chainId,
    pools: Object.values(options.contracts.pools)
      .map(({ poolId, distributor, paymentToken }) => ({ poolId, distributor, paymentToken }))
      .sort((x, y) => (x.poolId < y.poolId ? -1 : 1)),
  }
  const tokens = new Map<string, Promise<{ symbol: string; decimals: number }>>()
  const readToken = async (address: Address) => {
    const read = <F extends 'symbol' | 'decimals'>(functionName: F) =>
      options.publicClient.readContract({ address, abi: hkdStablecoinAbi, functionName })
    const [symbol, decimals] = await Promise.all([read('symbol'), read('decimals')])
    return { symbol, decimals: Number(decimals) }
  }
  return {
    pools: () => ids,
    contracts: () => holderContracts,
    paymentToken(address) {
      const key = address.toLowerCase()
      let token = tokens.get(key)
      if (token === undefined) {
        token = onChain('the payment token', () => readToken(address as Address))
        // A failed read (node down) is asked again next time, not remembered.
        token.catch(() => tokens.delete(key))
        tokens.set(key, token)
      }
      return token
    },
    position: (poolId, account) => {
      const pool = get(poolId)
      return onChain(`RevenueDistributor of ${poolId}`, () => pool.claims.read(account))
    },
    async distributedEpochs(poolId) {
      const pool = get(poolId)
      const roots = await onChain(`RevenueDistributor of ${poolId}`, () => pool.chain.publishedRoots())
      return new Set(roots.map((r) => r.epoch))
    },
  }
}
