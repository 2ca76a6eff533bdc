/** Deploys one pool's RevenueShareToken and RevenueDistributor and grants their roles. */
import type { Address, Hex } from 'viem'
import { type EpochClock, epochClockToChain } from '../../core/entitlement/index.ts'
import { revenueDistributorAbi, revenueShareTokenAbi } from '../abi/index.ts'
import type { CompileOutput } from '../build/compile.ts'
import { type DeployClients, deployContract, send } from './deploy-contract.ts'
import { ROLE } from './deploy-core.ts'

export const SPLIT_MODES = ['time-weighted', 'snapshot'] as const
export type SplitMode = (typeof SPLIT_MODES)[number]

export interface PoolTerms {
  readonly treasury: Address
  readonly holdersBps: number
  readonly splitMode: SplitMode
}

export function termsToChain(terms: PoolTerms) {
  return {
    treasury: terms.treasury,
    holdersBps: terms.holdersBps,
    splitMode: SPLIT_MODES.indexOf(terms.splitMode),
  } as const
}

export async function deployPoolToken(
  clients: DeployClients,
  compiled: CompileOutput,
  p: { poolIdBytes32: Hex; name: string; symbol: string; identityRegistry: Address; issuer: Address },
): Promise<{ address: Address; blockNumber: bigint }> {
  const admin = clients.walletClient.account.address
  const token = await deployContract(clients, compiled, 'RevenueShareToken', [
    p.name,
    p.symbol,
    p.poolIdBytes32,
    p.identityRegistry,
    admin,
  ])
  await send(clients, {
    address: token.address,
    abi: revenueShareTokenAbi,
    functionName: 'grantRole',
    args: [ROLE.issuer, p.issuer],
  })
  return token
}

export async function deployPoolDistributor(
  clients: DeployClients,
  compiled: CompileOutput,
  p: {
    poolIdBytes32: Hex
    oracle: Address
    identityRegistry: Address
    paymentToken: Address
    firstEpoch: bigint
    terms: PoolTerms
    /** The epoch → chain-time map, on-chain for anyone who recomputes an epoch's balances. */
    clock: EpochClock
    publisher: Address
    pauser: Address
  },
): Promise<{ address: Address; blockNumber: bigint }> {
  const admin = clients.walletClient.account.address
  const distributor = await deployContract(clients, compiled, 'RevenueDistributor', [
    p.poolIdBytes32,
    p.oracle,
    p.identityRegistry,
    p.paymentToken,
    p.firstEpoch,
    admin,
    termsToChain(p.terms),
    epochClockToChain(p.clock),
  ])
  for (const [role, account] of [
    [ROLE.publisher, p.publisher],
    [ROLE.pauser, p.pauser],
  ] as const) {
    await send(clients, {
      address: distributor.address,
      abi: revenueDistributorAbi,
      functionName: 'grantRole',
      args: [role, account],
    })
  }
  return distributor
}
