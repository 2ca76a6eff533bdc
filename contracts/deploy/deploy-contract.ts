import type { Abi, Account, Address, Chain, Hex, PublicClient, Transport, WalletClient } from 'viem'
import { GridrootError } from '../../core/errors/base.ts'
import { explainMinedRevert, minedRevertDetails } from '../../runtime/chain/mined-revert.ts'
import { decodeRevert } from '../../runtime/chain/revert.ts'
import type { CompileOutput } from '../build/compile.ts'
import { compiledContract } from '../build/compile.ts'
import { ContractRevertedError } from './contract-revert.ts'

/** The clients a deployment sends through: a wallet with an account, and a reader. */
export interface DeployClients {
  readonly walletClient: WalletClient<Transport, Chain, Account>
  readonly publicClient: PublicClient
}

export class DeployFailedError extends GridrootError<'CONTRACT_DEPLOY_FAILED'> {
  override readonly name = 'DeployFailedError'
  constructor(contract: string, detail: string, cause?: unknown) {
    super('CONTRACT_DEPLOY_FAILED', `deploying ${contract} failed: ${detail}`, {
      metaMessages: ['Check GRIDROOT_RPC_URL and that the deployer account has ether.'],
      cause,
    })
  }
}

/** A revert from sending `what` as a ContractRevertedError naming its custom error; other errors as they are. */
function asRevert(error: unknown, what: string, sender: Address): unknown {
  const revert = decodeRevert(error)
  return revert ? new ContractRevertedError(what, revert, sender, error) : error
}

/**
 * Deploys the compiled contract `name` with constructor `args` and waits for its receipt.
 * `nonce` pins the deployment's address (resumable deployments record it before sending).
 */
export async function deployContract(
  clients: DeployClients,
  compiled: CompileOutput,
  name: string,
  args: readonly unknown[],
  options: { readonly nonce?: number } = {},
): Promise<{ address: Address; blockNumber: bigint; transactionHash: Hex }> {
  const { abi, bytecode } = compiledContract(compiled, name)
  const sender = clients.walletClient.account.address
  let hash: Hex
  try {
    hash = await clients.walletClient.deployContract({
      abi: abi as Abi,
      bytecode,
      args: args as never,
      ...(options.nonce === undefined ? {} : { nonce: options.nonce }),
    } as never)
  } catch (error) {
    throw asRevert(error, `deploying ${name}`, sender)
  }
  const receipt = await clients.publicClient.waitForTransactionReceipt({ hash })
  if (receipt.status !== 'success' || !receipt.contractAddress)
    throw new DeployFailedError(name, `transaction ${hash} ${receipt.status}`)
  return { address: receipt.contractAddress, blockNumber: receipt.blockNumber, transactionHash: hash }
}

/** Gas limit sent, in percent of the estimate. */
const GAS_HEADROOM_PERCENT = 150n

/**
 * Sends a contract write and waits until it is mined successfully. A revert, at the gas estimate
 * or when mined (replayed on the block it was mined in, runtime/chain/mined-revert.ts), is a
 * ContractRevertedError that names the custom error and its arguments.
 */
export async function send(
  clients: DeployClients,
  request: { address: Address; abi: Abi; functionName: string; args?: readonly unknown[] },
): Promise<Hex> {
  const sender = clients.walletClient.account.address
  const what = `${request.functionName} on ${request.address}`
  let hash: Hex
  let gas: bigint
  try {
    // Headroom over the estimate: the estimate runs on the latest block, the transaction in the
    // next, and a call whose gas depends on the block (the distributor's time-weighted hook
    // crossing an epoch boundary on a mint) ran out of gas there: "mint … reverted" in CI, the
    // replay on the mined block passing.
    const estimate = await clients.publicClient.estimateContractGas({
      ...request,
      account: clients.walletClient.account,
    } as never)
    gas = (estimate * GAS_HEADROOM_PERCENT) / 100n
    hash = await clients.walletClient.writeContract({ ...request, gas } as never)
  } catch (error) {
    throw asRevert(error, what, sender)
  }
  const receipt = await clients.publicClient.waitForTransactionReceipt({ hash })
  if (receipt.status === 'success') return hash
  const mined = await explainMinedRevert(clients.publicClient, receipt)
  if (mined.outOfGas)
    throw new GridrootError(
      'CONTRACT_CALL_FAILED',
      `${what} ran out of gas (transaction ${hash}, ${gas} gas)`,
      {
        metaMessages: ['Run the command again; it resumes where it stopped.'],
        details: minedRevertDetails(mined),
      },
    )
  if (mined.revert)
    throw new ContractRevertedError(`${what} (transaction ${hash})`, mined.revert, sender, mined.replayError)
  throw new GridrootError('CONTRACT_CALL_FAILED', `${what} reverted (transaction ${hash}): ${mined.why}`, {
    metaMessages: ['Run the command again; it resumes where it stopped.'],
    details: minedRevertDetails(mined),
  })
}
