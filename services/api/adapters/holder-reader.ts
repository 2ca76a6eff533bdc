/**
 * The HolderReader port on runtime/chain: one PoolChain and one HolderClaimsReader per pool of
 * the contracts file, all reading one artifact store (GRIDROOT_ARTIFACT_DIR); the addresses a
 * holder's wallet sends claims to.
 */
import type { Address, PublicClient } from 'viem'
import { hkdStablecoinAbi } from '../../../contracts/abi/index.ts'
import type { ArtifactStore } from '../../../runtime/artifact-store.ts'
import { createHolderClaimsReader, type HolderClaimsReader } from '../../../runtime/chain/holder-claims.ts'
import { createPoolChain, type PoolChain } from '../../../runtime/chain/pool-chain.ts'
import type { ContractsFile } from '../../../runtime/contracts-file.ts'
import type { HolderReader } from '../ports.ts'

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
        token = readToken(address as Address)
        // A failed read (node down) is asked again next time, not remembered.
        token.catch(() => tokens.delete(key))
        tokens.set(key, token)
      }
      return token
    },
    position: (poolId, account) => get(poolId).claims.read(account),
    async distributedEpochs(poolId) {
      return new Set((await get(poolId).chain.publishedRoots()).map((r) => r.epoch))
    },
  }
}
