/**
 * A pool contract deployment that a killed run can resume. The address of a contract created by
 * an account is fixed by the account and its nonce, so the deployment is recorded (address,
 * deployer, nonce, first possible block) before it is sent; a later run finds code there (the
 * contract, resumed), waits for it while the nonce is still pending, or learns that the nonce
 * went to another transaction (nothing was created: deploy again). A kill between sending and
 * the receipt can therefore never give a pool a second token or distributor.
 */
import { type Address, getContractAddress } from 'viem'
import { GridrootError } from '../../core/errors/base.ts'
import type { Deployment } from '../../runtime/contracts-file.ts'
import type { CompileOutput } from '../build/compile.ts'
import { type DeployClients, deployContract } from '../deploy/deploy-contract.ts'

export interface ResumableDeployParameters {
  readonly compiled: CompileOutput
  readonly contract: string
  readonly args: readonly unknown[]
  /** What an earlier run recorded for this deployment. */
  readonly recorded: Deployment | undefined
  /** Persists the deployment: before it is sent, and again with its block once mined. */
  readonly record: (deployment: Deployment) => void
  /** How long a recorded deployment still pending in the node's pool is waited for. */
  readonly pendingTimeoutMs?: number
}

export interface ResumableDeployResult {
  readonly address: Address
  /** The deployment's block, or a block at or before it (where reading its events may start). */
  readonly fromBlock: bigint
  /** `resumed`: found on-chain where an earlier run recorded it; `redeployed`: that one never came to be. */
  readonly how: 'deployed' | 'resumed' | 'redeployed'
  readonly nonce: number
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function hasCode(clients: DeployClients, address: Address): Promise<boolean> {
  const code = await clients.publicClient.getCode({ address })
  return code !== undefined && code !== '0x'
}

export async function resumableDeploy(
  clients: DeployClients,
  p: ResumableDeployParameters,
): Promise<ResumableDeployResult> {
  const { publicClient } = clients
  const recorded = p.recorded
  if (recorded) {
    const resumed = {
      address: recorded.address,
      fromBlock: BigInt(recorded.deployedAtBlock ?? recorded.notBeforeBlock),
      how: 'resumed',
      nonce: recorded.nonce,
    } as const
    if (await hasCode(clients, recorded.address)) return resumed
    const nonceOf = (blockTag: 'latest' | 'pending') =>
      publicClient.getTransactionCount({ address: recorded.deployer, blockTag })
    if ((await nonceOf('latest')) <= recorded.nonce && (await nonceOf('pending')) > recorded.nonce) {
      // Sent, not mined yet: wait for it rather than race it with a second deployment.
      const deadline = Date.now() + (p.pendingTimeoutMs ?? 120_000)
      while ((await nonceOf('latest')) <= recorded.nonce) {
        if (Date.now() > deadline)
          throw new GridrootError(
            'DEPLOYMENT_PENDING',
            `the ${p.contract} deployment of an earlier run (nonce ${recorded.nonce} of ${recorded.deployer}) is still pending`,
            {
              metaMessages: [
                `Wait until it is mined (or replace nonce ${recorded.nonce}), then run the command again.`,
              ],
            },
          )
        await sleep(1_000)
      }
      if (await hasCode(clients, recorded.address)) return resumed
    }
  }
  const me = clients.walletClient.account.address
  const nonce = await publicClient.getTransactionCount({ address: me, blockTag: 'pending' })
  const deployment: Deployment = {
    address: getContractAddress({ from: me, nonce: BigInt(nonce) }),
    deployer: me,
    nonce,
    notBeforeBlock: String((await publicClient.getBlockNumber()) + 1n),
  }
  p.record(deployment)
  const deployed = await deployContract(clients, p.compiled, p.contract, p.args, { nonce })
  if (deployed.address.toLowerCase() !== deployment.address.toLowerCase())
    throw new GridrootError(
      'CONTRACT_DEPLOY_FAILED',
      `${p.contract} was deployed at ${deployed.address}, not at ${deployment.address} (nonce ${nonce})`,
      { metaMessages: ['Another transaction of this account took the nonce: run the command again.'] },
    )
  p.record({ ...deployment, deployedAtBlock: String(deployed.blockNumber) })
  return {
    address: deployed.address,
    fromBlock: deployed.blockNumber,
    how: recorded ? 'redeployed' : 'deployed',
    nonce,
  }
}
