/**
 * The DevWallet port on the local anvil: the ten accounts anvil funds (its well-known mnemonic,
 * contracts/deploy/dev-accounts.ts), signed for with viem. Reads go to the node as they are, so
 * a revert comes back with the node's error data and the browser decodes the custom error.
 * Built only for GRIDROOT_API_DEV_WALLET=anvil (config.ts refuses it off loopback or off anvil).
 */
import { createWalletClient, type Hex, http } from 'viem'
import { DEV_ACCOUNT_ROLES, devAccount } from '../../../contracts/deploy/dev-accounts.ts'
import { RetryableError } from '../../../core/errors/base.ts'
import { submitInTurn } from '../../../runtime/chain/send-queue.ts'
import { chainFor } from '../../../runtime/clients/chain.ts'
import type { Endpoints } from '../../../runtime/endpoints.ts'
import type { DevAccount, DevWallet, JsonRpcAnswer } from '../ports.ts'

/** anvil funds the first ten accounts of its mnemonic; later ones could not pay for gas. */
const FUNDED_DEV_ACCOUNTS = 10
const RPC_TIMEOUT_MS = 10_000

function roleOf(index: number): string {
  if (index === DEV_ACCOUNT_ROLES.deployer) return 'deployer'
  const signer = DEV_ACCOUNT_ROLES.oracleSigners.indexOf(index as 1 | 2 | 3)
  if (signer >= 0) return `oracle signer ${signer + 1}`
  if (index === DEV_ACCOUNT_ROLES.guardian) return 'guardian'
  if (index === DEV_ACCOUNT_ROLES.publisher) return 'publisher'
  if (index === DEV_ACCOUNT_ROLES.treasury) return 'treasury'
  return 'investor'
}

export function createDevWallet(endpoint: Endpoints['chain']): DevWallet {
  const chain = chainFor(endpoint)
  const accounts: DevAccount[] = Array.from({ length: FUNDED_DEV_ACCOUNTS }, (_, index) => ({
    index,
    address: devAccount(index).address,
    role: roleOf(index),
  }))
  let nextId = 1
  async function rpc(method: string, params: readonly unknown[]): Promise<JsonRpcAnswer> {
    let body: { result?: unknown; error?: JsonRpcAnswer['error'] }
    try {
      const response = await fetch(endpoint.rpcUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, params }),
        signal: AbortSignal.timeout(RPC_TIMEOUT_MS),
      })
      body = (await response.json()) as typeof body
    } catch (error) {
      throw new RetryableError(
        'CHAIN_UNAVAILABLE',
        `the chain node at ${endpoint.rpcUrl} did not answer ${method}`,
        {
          cause: error,
        },
      )
    }
    return body.error === undefined ? { result: body.result ?? null } : { error: body.error }
  }
  return {
    chainId: endpoint.chainId,
    accounts: () => accounts,
    forward: rpc,
    async sendTransaction(from, transaction) {
      const call = {
        from: from.address,
        to: transaction.to,
        data: transaction.data,
        value: transaction.value,
      }
      // Estimated through the node first: a revert answers with the node's own error and data.
      const estimate = await rpc('eth_estimateGas', [call])
      if (estimate.error !== undefined) return estimate
      const wallet = createWalletClient({
        chain,
        account: devAccount(from.index),
        transport: http(endpoint.rpcUrl, { timeout: RPC_TIMEOUT_MS }),
      })
      try {
        const hash = await submitInTurn(from.address as Hex, () =>
          wallet.sendTransaction({
            to: transaction.to as Hex,
            data: transaction.data as Hex,
            gas: BigInt(estimate.result as string),
            ...(transaction.value === undefined ? {} : { value: BigInt(transaction.value) }),
          }),
        )
        return { result: hash }
      } catch (error) {
        const shortMessage = (error as { shortMessage?: string }).shortMessage ?? String(error)
        return { error: { code: -32000, message: shortMessage } }
      }
    },
  }
}
