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

export interface PoolTokenParameters {
  readonly poolIdBytes32: Hex
  readonly name: string
  readonly symbol: string
  readonly identityRegistry: Address
  readonly issuer: Address
}

/** RevenueShareToken's constructor arguments; `admin` is the deploying account. */
export function poolTokenArgs(p: PoolTokenParameters, admin: Address): readonly unknown[] {
  return [p.name, p.symbol, p.poolIdBytes32, p.identityRegistry, admin]
}

export async function deployPoolToken(
  clients: DeployClients,
  compiled: CompileOutput,
  p: PoolTokenParameters,
): Promise<{ address: Address; blockNumber: bigint }> {
  const admin = clients.walletClient.account.address
  const token = await deployContract(clients, compiled, 'RevenueShareToken', poolTokenArgs(p, admin))
  await send(clients, {
    address: token.address,
    abi: revenueShareTokenAbi,
    functionName: 'grantRole',
    args: [ROLE.issuer, p.issuer],
  })
  return token
}

export interface PoolDistributorParameters {
  readonly poolIdBytes32: Hex
  readonly oracle: Address
  readonly identityRegistry: Address
  readonly paymentToken: Address
  readonly firstEpoch: bigint
  readonly terms: PoolTerms
  /** The epoch → chain-time map, on-chain for anyone who recomputes an epoch's balances. */
  readonly clock: EpochClock
  readonly publisher: Address
  readonly pauser: Address
}

/** RevenueDistributor's constructor arguments; `admin` is the deploying account. */
export function poolDistributorArgs(p: PoolDistributorParameters, admin: Address): readonly unknown[] {
  return [
    p.poolIdBytes32,
    p.oracle,
    p.identityRegistry,
    p.paymentToken,
    p.firstEpoch,
    admin,
    termsToChain(p.terms),
    epochClockToChain(p.clock),
  ]
}

/** The roles a pool distributor grants after its deployment. */
export function poolDistributorRoles(p: PoolDistributorParameters) {
  return [
    { role: ROLE.publisher, name: 'PUBLISHER_ROLE', account: p.publisher },
    { role: ROLE.pauser, name: 'PAUSER_ROLE', account: p.pauser },
  ] as const
}

export async function deployPoolDistributor(
  clients: DeployClients,
  compiled: CompileOutput,
  p: PoolDistributorParameters,
): Promise<{ address: Address; blockNumber: bigint }> {
  const admin = clients.walletClient.account.address
  const distributor = await deployContract(
    clients,
    compiled,
    'RevenueDistributor',
    poolDistributorArgs(p, admin),
  )
  for (const { role, account } of poolDistributorRoles(p)) {
    await send(clients, {
      address: distributor.address,
      abi: revenueDistributorAbi,
      functionName: 'grantRole',
      args: [role, account],
    })
  }
  return distributor
}
