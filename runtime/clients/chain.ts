import { type Chain, createPublicClient, defineChain, http, type PublicClient, type Transport } from 'viem'
import { anvil } from 'viem/chains'
import type { Endpoints } from '../endpoints.ts'

/** The chain id anvil uses unless told otherwise; the local stack keeps it. */
export const ANVIL_CHAIN_ID = 31337

/**
 * The viem chain for the configured endpoint: viem's `anvil` definition on 31337, otherwise a
 * minimal definition carrying the configured id and RPC URL.
 */
export function chainFor(endpoint: Endpoints['chain']): Chain {
  const rpcUrls = { default: { http: [endpoint.rpcUrl] } }
  if (endpoint.chainId === ANVIL_CHAIN_ID) return { ...anvil, rpcUrls }
  return defineChain({
    id: endpoint.chainId,
    name: `chain ${endpoint.chainId}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls,
  })
}

export interface ChainClients {
  readonly chain: Chain
  readonly transport: Transport
  readonly publicClient: PublicClient
}

/**
 * Read access to the chain. Wallet clients are made by the services that sign, from their own
 * keys, with the same `chain` and `transport`.
 *
 * @example
 * const { publicClient } = createChainClients(endpoints.chain)
 * const blockNumber = await publicClient.getBlockNumber()
 */
export function createChainClients(
  endpoint: Endpoints['chain'],
  options: { readonly timeoutMs?: number; readonly retryCount?: number } = {},
): ChainClients {
  const chain = chainFor(endpoint)
  const transport = http(endpoint.rpcUrl, {
    timeout: options.timeoutMs ?? 10_000,
    retryCount: options.retryCount ?? 2,
  })
  const publicClient: PublicClient = createPublicClient({ chain, transport })
  return { chain, transport, publicClient }
}
