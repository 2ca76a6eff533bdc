import type { Abi, Account, Address, Chain, Hex, PublicClient, Transport, WalletClient } from 'viem'
import { GridrootError } from '../../core/errors/base.ts'
import type { CompileOutput } from '../build/compile.ts'
import { compiledContract } from '../build/compile.ts'

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

/** Deploys the compiled contract `name` with constructor `args` and waits for its receipt. */
export async function deployContract(
  clients: DeployClients,
  compiled: CompileOutput,
  name: string,
  args: readonly unknown[],
): Promise<{ address: Address; blockNumber: bigint; transactionHash: Hex }> {
  const { abi, bytecode } = compiledContract(compiled, name)
  const hash = await clients.walletClient.deployContract({
    abi: abi as Abi,
    bytecode,
    args: args as never,
  } as never)
  const receipt = await clients.publicClient.waitForTransactionReceipt({ hash })
  if (receipt.status !== 'success' || !receipt.contractAddress)
    throw new DeployFailedError(name, `transaction ${hash} ${receipt.status}`)
  return { address: receipt.contractAddress, blockNumber: receipt.blockNumber, transactionHash: hash }
}

/** Sends a contract write and waits until it is mined successfully. */
export async function send(
  clients: DeployClients,
  request: { address: Address; abi: Abi; functionName: string; args?: readonly unknown[] },
): Promise<Hex> {
  const hash = await clients.walletClient.writeContract(request as never)
  const receipt = await clients.publicClient.waitForTransactionReceipt({ hash })
  if (receipt.status !== 'success')
    throw new GridrootError(
      'CONTRACT_CALL_FAILED',
      `${request.functionName} on ${request.address} reverted`,
      {
        details: { hash },
      },
    )
  return hash
}
