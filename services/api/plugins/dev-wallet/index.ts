/**
 * The local stack's dev wallet, registered only with GRIDROOT_API_DEV_WALLET=anvil: the browser
 * provider (/dev-wallet/provider.js, an EIP-1193 object the holder view uses when the page has
 * no injected wallet), the dev accounts, and a JSON-RPC endpoint that passes reads to the node
 * and signs transactions to the pools' distributors with the chosen dev account's key. Nothing
 * here exists in any other configuration: the routes are not registered at all.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { toFunctionSelector } from 'viem'
import { revenueDistributorAbi } from '../../../../contracts/abi/index.ts'
import { ApiError } from '../../errors.ts'
import type { DevWallet } from '../../ports.ts'
import { errorResponses } from '../../schemas.ts'
import { ADDRESS } from '../holder.ts'

/** Methods passed to the node as they are: reads only, nothing that changes chain state. */
export const FORWARDED_METHODS: ReadonlySet<string> = new Set([
  'eth_blockNumber',
  'eth_call',
  'eth_chainId',
  'eth_estimateGas',
  'eth_feeHistory',
  'eth_gasPrice',
  'eth_getBalance',
  'eth_getBlockByHash',
  'eth_getBlockByNumber',
  'eth_getCode',
  'eth_getLogs',
  'eth_getTransactionByHash',
  'eth_getTransactionCount',
  'eth_getTransactionReceipt',
  'eth_maxPriorityFeePerGas',
  'net_version',
])

/**
 * The one call the dev wallet signs: a distributor's `claim`. Its keys are anvil's well-known
 * ones, and dev:0 holds the admin and pauser roles, so anything wider (pause, grantRole,
 * setTerms) would let any page on loopback act as the deployer.
 */
const CLAIM_SELECTOR = toFunctionSelector(
  revenueDistributorAbi.find((item) => item.type === 'function' && item.name === 'claim') as never,
).toLowerCase()

const PROVIDER_JS = readFileSync(join(import.meta.dirname, 'provider.js'), 'utf8')
const HEX_DATA = /^0x([0-9a-fA-F]{2})*$/
const QUANTITY = /^0x[0-9a-fA-F]{1,64}$/

const RPC_ANSWER = {
  type: 'object',
  required: ['jsonrpc', 'id'],
  additionalProperties: false,
  properties: {
    jsonrpc: { type: 'string', enum: ['2.0'] },
    id: { type: ['integer', 'string'] },
    result: {},
    error: {
      type: 'object',
      required: ['code', 'message'],
      additionalProperties: false,
      properties: { code: { type: 'integer' }, message: { type: 'string' }, data: {} },
    },
  },
} as const

interface RpcRequest {
  readonly jsonrpc: '2.0'
  readonly id: number | string
  readonly method: string
  readonly params?: readonly unknown[]
}

export async function devWalletPlugin(
  app: FastifyInstance,
  opts: { readonly wallet: DevWallet; readonly distributors: readonly string[] },
): Promise<void> {
  const { wallet } = opts
  const targets = new Set(opts.distributors.map((a) => a.toLowerCase()))
  const byAddress = new Map(wallet.accounts().map((a) => [a.address.toLowerCase(), a]))

  app.get('/dev-wallet/provider.js', { schema: { hide: true } }, async (_request, reply) =>
    reply.type('text/javascript; charset=utf-8').header('cache-control', 'no-cache').send(PROVIDER_JS),
  )

  app.get(
    '/api/v1/dev-wallet/accounts',
    {
      schema: {
        tags: ['dev-wallet'],
        summary:
          "The local stack's dev accounts (anvil's well-known keys); only with GRIDROOT_API_DEV_WALLET=anvil",
        response: {
          200: {
            type: 'object',
            required: ['chainId', 'accounts'],
            additionalProperties: false,
            properties: {
              chainId: { type: 'integer' },
              accounts: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['index', 'address', 'role'],
                  additionalProperties: false,
                  properties: { index: { type: 'integer' }, address: ADDRESS, role: { type: 'string' } },
                },
              },
            },
          },
          ...errorResponses,
        },
      },
    },
    async () => ({ chainId: wallet.chainId, accounts: [...wallet.accounts()] }),
  )

  app.post<{ Body: RpcRequest }>(
    '/api/v1/dev-wallet/rpc',
    {
      schema: {
        tags: ['dev-wallet'],
        summary: 'JSON-RPC for the dev wallet: reads pass to the node, eth_sendTransaction is signed here',
        body: {
          type: 'object',
          required: ['jsonrpc', 'id', 'method'],
          additionalProperties: false,
          properties: {
            jsonrpc: { type: 'string', enum: ['2.0'] },
            id: { type: ['integer', 'string'], maxLength: 64 },
            method: { type: 'string', pattern: '^[a-z]+_[A-Za-z]+$', maxLength: 64 },
            params: { type: 'array', maxItems: 4 },
          },
        },
        response: { 200: RPC_ANSWER, ...errorResponses },
      },
    },
    async (request) => {
      const { id, method, params = [] } = request.body
      if (method === 'eth_sendTransaction') {
        const tx = params[0] as Record<string, unknown> | undefined
        const from = typeof tx?.from === 'string' ? byAddress.get(tx.from.toLowerCase()) : undefined
        if (from === undefined)
          throw new ApiError('DEV_WALLET_UNKNOWN_ACCOUNT', `from ${String(tx?.from)} is not a dev account`)
        const to = typeof tx?.to === 'string' ? tx.to.toLowerCase() : ''
        if (!targets.has(to))
          throw new ApiError('DEV_WALLET_TARGET_REFUSED', `to ${String(tx?.to)} is not a distributor`)
        const data = tx?.data ?? tx?.input
        if (typeof data !== 'string' || !HEX_DATA.test(data))
          throw new ApiError('INVALID_PARAMETER', 'eth_sendTransaction needs data as 0x-prefixed hex bytes')
        if (!data.toLowerCase().startsWith(CLAIM_SELECTOR))
          throw new ApiError(
            'DEV_WALLET_TARGET_REFUSED',
            `the dev wallet signs only claim(account, cumulativeAmount, proof) on a distributor, not selector ${data.slice(0, 10)}`,
          )
        const value = tx?.value
        if (value !== undefined && (typeof value !== 'string' || !QUANTITY.test(value)))
          throw new ApiError('INVALID_PARAMETER', 'value must be a 0x-prefixed hex quantity')
        if (value !== undefined && BigInt(value) !== 0n)
          throw new ApiError('INVALID_PARAMETER', 'claim is not payable: send no value')
        const answer = await wallet.sendTransaction(from, {
          to,
          data,
          ...(value === undefined ? {} : { value }),
        })
        return { jsonrpc: '2.0', id, ...answer }
      }
      if (!FORWARDED_METHODS.has(method))
        throw new ApiError('DEV_WALLET_METHOD_REFUSED', `the dev wallet does not pass on ${method}`, {
          details: { allowed: [...FORWARDED_METHODS, 'eth_sendTransaction'] },
        })
      return { jsonrpc: '2.0', id, ...(await wallet.forward(method, params)) }
    },
  )
}
