/**
 * The whole on-chain system deployed on a chain of the test's own (see dedicated-anvil.ts), with
 * a wallet client per dev-account role, for the contract tests and the gas benchmarks.
 */
import {
  type Account,
  type Address,
  type Chain,
  createPublicClient,
  createTestClient,
  createWalletClient,
  type Hex,
  http,
  type PublicClient,
  stringToHex,
  type TestClient,
  type Transport,
  type WalletClient,
} from 'viem'
import { compileContracts } from '../../../contracts/build/compile.ts'
import type { DeployClients } from '../../../contracts/deploy/deploy-contract.ts'
import { type CoreAddresses, deployCore } from '../../../contracts/deploy/deploy-core.ts'
import { DEV_ACCOUNT_ROLES, devAccount } from '../../../contracts/deploy/dev-accounts.ts'
import { chainFor } from '../../../runtime/clients/chain.ts'
import type { ContractsFile, PoolContracts } from '../../../runtime/contracts-file.ts'
import type { Endpoints } from '../../../runtime/endpoints.ts'

export type Wallet = WalletClient<Transport, Chain, Account>

export interface System {
  readonly chain: Chain
  readonly publicClient: PublicClient
  readonly testClient: TestClient
  readonly compiled: ReturnType<typeof compileContracts>
  readonly contracts: Required<CoreAddresses>
  readonly deployer: DeployClients
  readonly signers: readonly Wallet[]
  readonly guardian: Wallet
  readonly publisher: Wallet
  readonly treasury: Wallet
  readonly investors: readonly Wallet[]
  wallet(index: number): Wallet
  clients(wallet: Wallet): DeployClients
}

/**
 * A production-like epoch clock for pools whose chain windows a test does not use: daily epochs
 * from the default device genesis, at speed-up 1 (its genesis is past, so it is fixed).
 */
export const FIXED_EPOCH_CLOCK = {
  deviceGenesisMs: Date.parse('2026-06-01T00:00:00+08:00'),
  epochLengthMs: 86_400_000,
  chainGenesisS: Date.parse('2026-06-01T00:00:00+08:00') / 1000,
  speedup: 1,
} as const

export const poolIdHex = (poolId: string): Hex => stringToHex(poolId, { size: 32 })

export async function deploySystem(
  endpoint: Endpoints['chain'],
  options: { readonly threshold?: number; readonly challengeWindowSec?: number } = {},
): Promise<System> {
  const chain = chainFor(endpoint)
  const transport = http(endpoint.rpcUrl, { timeout: 60_000 })
  const publicClient = createPublicClient({ chain, transport, pollingInterval: 50 }) as PublicClient
  const testClient = createTestClient({ chain, transport, mode: 'anvil' })
  const wallet = (index: number): Wallet =>
    createWalletClient({ chain, transport, account: devAccount(index), pollingInterval: 50 })
  const clients = (w: Wallet): DeployClients => ({ walletClient: w, publicClient })
  const deployer = clients(wallet(DEV_ACCOUNT_ROLES.deployer))
  const signers = DEV_ACCOUNT_ROLES.oracleSigners.map(wallet)
  const guardian = wallet(DEV_ACCOUNT_ROLES.guardian)
  const compiled = compileContracts()
  // Dev accounts beyond the ten anvil funds (relayers, outsiders) get ether too.
  for (let i = 10; i < 20; i++)
    await testClient.setBalance({ address: devAccount(i).address, value: 10n ** 24n })
  const { contracts } = await deployCore(deployer, {
    compiled,
    oracleSigners: signers.map((s) => s.account.address),
    threshold: options.threshold ?? 2,
    challengeWindowSec: options.challengeWindowSec ?? 60,
    guardian: guardian.account.address,
    deployStablecoin: true,
  })
  return {
    chain,
    publicClient,
    testClient,
    compiled,
    contracts: contracts as Required<CoreAddresses>,
    deployer,
    signers,
    guardian,
    publisher: wallet(DEV_ACCOUNT_ROLES.publisher),
    treasury: wallet(DEV_ACCOUNT_ROLES.treasury),
    investors: [0, 1, 2, 3, 4].map((i) => wallet(DEV_ACCOUNT_ROLES.firstInvestor + i)),
    wallet,
    clients,
  }
}

export type { Address }

/**
 * Simulates the call first (so a revert comes back with its decoded custom error), then sends it
 * and waits for a successful receipt.
 */
export async function exec(
  system: System,
  wallet: Wallet,
  request: { address: Address; abi: readonly unknown[]; functionName: string; args?: readonly unknown[] },
) {
  const { request: simulated, result } = await system.publicClient.simulateContract({
    ...(request as object),
    account: wallet.account,
  } as never)
  const hash = await wallet.writeContract(simulated as never)
  const receipt = await system.publicClient.waitForTransactionReceipt({ hash })
  if (receipt.status !== 'success') throw new Error(`${request.functionName} reverted on-chain`)
  return { receipt, result: result as unknown }
}

/** This system's contracts file (runtime/contracts-file.ts) with `pools`, as `npm run deploy` writes it. */
export function contractsFileOf(
  system: System,
  pools: readonly PoolContracts[],
  oracle: { readonly threshold: number; readonly challengeWindowSec: number } = {
    threshold: 2,
    challengeWindowSec: 60,
  },
): ContractsFile {
  return {
    version: 1,
    chainId: system.chain.id,
    deployer: system.deployer.walletClient.account.address,
    deployedAtBlock: '0',
    compilerInputHash: system.compiled.inputHash,
    contracts: {
      deviceRegistry: system.contracts.deviceRegistry,
      revenueOracle: system.contracts.revenueOracle,
      identityRegistry: system.contracts.identityRegistry,
      hkdStablecoin: system.contracts.hkdStablecoin,
    },
    oracle: {
      signers: system.signers.map((s) => s.account.address),
      threshold: oracle.threshold,
      challengeWindowSec: oracle.challengeWindowSec,
      guardian: system.guardian.account.address,
    },
    pools: Object.fromEntries(pools.map((p) => [p.poolId, p])),
  }
}
