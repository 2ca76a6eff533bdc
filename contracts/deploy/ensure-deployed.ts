/**
 * Deploys the shared contracts unless the contracts file already points at live ones compiled
 * from the same sources: idempotent, so `npm start` can run it every time.
 */
import { existsSync } from 'node:fs'
import type { Address } from 'viem'
import { type ContractsFile, loadContractsFile, writeContractsFile } from '../../runtime/contracts-file.ts'
import type { CompileOutput } from '../build/compile.ts'
import type { DeployClients } from './deploy-contract.ts'
import { deployCore } from './deploy-core.ts'

export interface EnsureDeployedParameters {
  readonly compiled: CompileOutput
  readonly contractsFile: string
  readonly chainId: number
  readonly oracleSigners: readonly Address[]
  readonly threshold: number
  readonly challengeWindowSec: number
  readonly guardian: Address
  readonly deployStablecoin: boolean
  /** Deploy even if the file points at live contracts. */
  readonly fresh?: boolean
}

export type EnsureDeployedResult =
  | { readonly action: 'unchanged'; readonly file: ContractsFile }
  | { readonly action: 'deployed'; readonly file: ContractsFile; readonly reason: string }

async function hasCode(clients: DeployClients, address: Address): Promise<boolean> {
  const code = await clients.publicClient.getCode({ address })
  return code !== undefined && code !== '0x'
}

/** Why the recorded deployment cannot be reused, or undefined when it can. */
async function staleReason(clients: DeployClients, file: ContractsFile, p: EnsureDeployedParameters) {
  if (file.chainId !== p.chainId) return `the file is for chain ${file.chainId}`
  if (file.compilerInputHash !== p.compiled.inputHash) return 'the Solidity sources changed since'
  for (const [name, address] of Object.entries(file.contracts)) {
    if (address && !(await hasCode(clients, address)))
      return `${name} has no code at ${address} (a fresh chain?)`
  }
  return undefined
}

export async function ensureDeployed(
  clients: DeployClients,
  p: EnsureDeployedParameters,
): Promise<EnsureDeployedResult> {
  let reason = p.fresh ? '--fresh' : 'no contracts file yet'
  if (!p.fresh && existsSync(p.contractsFile)) {
    const file = loadContractsFile(p.contractsFile)
    const stale = await staleReason(clients, file, p)
    if (stale === undefined) return { action: 'unchanged', file }
    reason = stale
  }
  const deployed = await deployCore(clients, p)
  const file: ContractsFile = {
    version: 1,
    chainId: p.chainId,
    deployer: clients.walletClient.account.address,
    deployedAtBlock: deployed.deployedAtBlock.toString(),
    compilerInputHash: p.compiled.inputHash,
    contracts: deployed.contracts,
    oracle: {
      signers: [...p.oracleSigners],
      threshold: p.threshold,
      challengeWindowSec: p.challengeWindowSec,
      guardian: p.guardian,
    },
    pools: {},
  }
  writeContractsFile(p.contractsFile, file)
  return { action: 'deployed', file, reason }
}
