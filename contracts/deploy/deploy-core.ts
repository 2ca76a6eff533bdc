/**
 * Deploys the shared contracts (one set per chain): DeviceRegistry, RevenueOracle,
 * IdentityRegistry and, for the local stack, the HKD stablecoin stand-in. Per-pool contracts
 * (RevenueShareToken, RevenueDistributor) are deployed by the pool command (contracts/pools).
 */
import type { Address, Hex } from 'viem'
import { keccak256, toHex } from 'viem'
import { deviceRegistryAbi, identityRegistryAbi, revenueOracleAbi } from '../abi/index.ts'
import type { CompileOutput } from '../build/compile.ts'
import { type DeployClients, deployContract, send } from './deploy-contract.ts'

export interface DeployCoreParameters {
  readonly compiled: CompileOutput
  readonly oracleSigners: readonly Address[]
  readonly threshold: number
  readonly challengeWindowSec: number
  readonly guardian: Address
  /** Deploy the stablecoin stand-in (local stack); otherwise pools name an existing token. */
  readonly deployStablecoin: boolean
}

export interface CoreAddresses {
  readonly deviceRegistry: Address
  readonly revenueOracle: Address
  readonly identityRegistry: Address
  readonly hkdStablecoin?: Address
}

export interface DeployCoreResult {
  readonly contracts: CoreAddresses
  readonly deployedAtBlock: bigint
  readonly transactions: readonly Hex[]
}

export const ROLE = {
  defaultAdmin: `0x${'0'.repeat(64)}` as Hex,
  registrar: keccak256(toHex('REGISTRAR_ROLE')),
  agent: keccak256(toHex('AGENT_ROLE')),
  guardian: keccak256(toHex('GUARDIAN_ROLE')),
  issuer: keccak256(toHex('ISSUER_ROLE')),
  minter: keccak256(toHex('MINTER_ROLE')),
  publisher: keccak256(toHex('PUBLISHER_ROLE')),
  pauser: keccak256(toHex('PAUSER_ROLE')),
} as const

/**
 * The deployer becomes admin of every contract, and also registrar and identity agent (the pool
 * command runs with its key); `guardian` gets the oracle's guardian role.
 */
export async function deployCore(clients: DeployClients, p: DeployCoreParameters): Promise<DeployCoreResult> {
  const admin = clients.walletClient.account.address
  const transactions: Hex[] = []
  const registry = await deployContract(clients, p.compiled, 'DeviceRegistry', [admin])
  const oracle = await deployContract(clients, p.compiled, 'RevenueOracle', [
    admin,
    p.oracleSigners,
    p.threshold,
    p.challengeWindowSec,
  ])
  const identity = await deployContract(clients, p.compiled, 'IdentityRegistry', [admin])
  transactions.push(registry.transactionHash, oracle.transactionHash, identity.transactionHash)
  let hkdStablecoin: Address | undefined
  if (p.deployStablecoin) {
    const coin = await deployContract(clients, p.compiled, 'HkdStablecoin', [admin])
    hkdStablecoin = coin.address
    transactions.push(coin.transactionHash)
  }
  transactions.push(
    await send(clients, {
      address: registry.address,
      abi: deviceRegistryAbi,
      functionName: 'grantRole',
      args: [ROLE.registrar, admin],
    }),
    await send(clients, {
      address: identity.address,
      abi: identityRegistryAbi,
      functionName: 'grantRole',
      args: [ROLE.agent, admin],
    }),
    await send(clients, {
      address: oracle.address,
      abi: revenueOracleAbi,
      functionName: 'grantRole',
      args: [ROLE.guardian, p.guardian],
    }),
  )
  return {
    contracts: {
      deviceRegistry: registry.address,
      revenueOracle: oracle.address,
      identityRegistry: identity.address,
      ...(hkdStablecoin === undefined ? {} : { hkdStablecoin }),
    },
    deployedAtBlock: registry.blockNumber,
    transactions,
  }
}
