/**
 * The interfaces the distributor's domain and loop need from the world; `adapters/` implement
 * them against the chain (viem) and the artifact store.
 */
import type { Hex } from 'viem'

export type {
  ClaimEvent,
  DistributionTerms,
  DistributorState,
  IdentityEvent,
  OracleCommitment,
  PoolChain,
  PublishedRoot,
  SplitMode,
} from '../../runtime/chain/pool-chain.ts'

/** Content-addressed artifacts (runtime/artifact-store.ts). */
export interface ArtifactStore {
  put(bytes: Uint8Array): Promise<Hex>
  get(hash: Hex): Promise<Uint8Array | undefined>
}
