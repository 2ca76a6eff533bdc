/**
 * What a holder of a pool can claim and has been paid, from the chain and the artifact store:
 * the pool's latest RootPublished event names the cumulative tree (by its hash), the tree gives
 * the holder's cumulative amount and proof, the contract what it has claimed, and its Claimed
 * events the payout history. The claim CLI and the API's holder routes read through this.
 */
import type { Hex } from 'viem'
import { type ClaimQuote, quoteClaim } from '../../core/entitlement/claim-quote.ts'
import { GridrootError } from '../../core/errors/base.ts'
import { type HolderTree, holderLeafLayout, parseTreeDump } from '../../core/merkle/index.ts'
import type { ClaimEvent, PoolChain } from './pool-chain.ts'

export class HolderTreeUnavailableError extends GridrootError<'HOLDER_TREE_UNAVAILABLE'> {
  override readonly name = 'HolderTreeUnavailableError'
}

export interface HolderClaims extends ClaimQuote {
  readonly poolId: string
  /** The epoch of the current root; undefined before the first publication. */
  readonly epoch: number | undefined
  readonly root: Hex | undefined
  readonly treeHash: Hex | undefined
  readonly payouts: readonly ClaimEvent[]
}

export interface HolderClaimsReader {
  read(account: string): Promise<HolderClaims>
}

export function createHolderClaimsReader(
  chain: PoolChain,
  store: { get(hash: Hex): Promise<Uint8Array | undefined> },
): HolderClaimsReader {
  // The tree of the latest root, parsed once per root (a tree is checked in full when parsed).
  let cached: { treeHash: Hex; tree: HolderTree } | undefined
  const treeOf = async (treeHash: Hex, root: Hex): Promise<HolderTree> => {
    if (cached?.treeHash === treeHash) return cached.tree
    const bytes = await store.get(treeHash)
    if (bytes === undefined)
      throw new HolderTreeUnavailableError(
        'HOLDER_TREE_UNAVAILABLE',
        `the cumulative tree ${treeHash} of pool ${chain.poolId} is not in the artifact store`,
        { metaMessages: ["Point GRIDROOT_ARTIFACT_DIR at the distributor's artifact store."] },
      )
    const tree = parseTreeDump(holderLeafLayout, bytes)
    if (tree.root !== root)
      throw new HolderTreeUnavailableError(
        'HOLDER_TREE_UNAVAILABLE',
        `the stored tree ${treeHash} has root ${tree.root}, not the published ${root}`,
      )
    cached = { treeHash, tree }
    return tree
  }
  return {
    async read(account) {
      const roots = await chain.publishedRoots()
      const latest = roots.reduce<(typeof roots)[number] | undefined>(
        (best, r) => (best === undefined || r.epoch > best.epoch ? r : best),
        undefined,
      )
      const [claimed, payouts, verified, { paused }] = await Promise.all([
        chain.claimed(account),
        chain.claims(account),
        chain.isVerified(account),
        chain.state(),
      ])
      const tree = latest ? await treeOf(latest.treeHash.toLowerCase() as Hex, latest.root) : undefined
      return {
        poolId: chain.poolId,
        epoch: latest?.epoch,
        root: latest?.root,
        treeHash: latest?.treeHash,
        ...quoteClaim(tree, account, claimed, { verified, paused }),
        payouts,
      }
    },
  }
}
