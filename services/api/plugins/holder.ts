/**
 * Holder routes under /api/v1/holder (public, under the global per-address rate limit): per
 * pool, what an address can claim now with the proof `claim(account, cumulativeAmount, proof)`
 * takes, what it has claimed, and its payouts (Claimed events). Read from the chain and the
 * artifact store through the HolderReader port; nothing here trusts the caller beyond the
 * schema-checked address and pool id.
 */
import type { FastifyInstance } from 'fastify'
import { getAddress, isAddress } from 'viem'
import { GridrootError } from '../../../core/errors/base.ts'
import { ApiError } from '../errors.ts'
import type { HolderPosition, HolderReader } from '../ports.ts'
import { errorResponses, POOL_ID, UNITS } from '../schemas.ts'

export const ADDRESS = { type: 'string', pattern: '^0x[0-9a-fA-F]{40}$' } as const
const HASH = { type: 'string', pattern: '^0x[0-9a-f]{64}$' } as const

const POSITION = {
  type: 'object',
  required: [
    'poolId',
    'epoch',
    'root',
    'treeHash',
    'cumulativeAmount',
    'claimedUnits',
    'owedUnits',
    'claimableUnits',
    'blockedBy',
    'verified',
    'proof',
    'inTree',
    'payouts',
  ],
  additionalProperties: false,
  properties: {
    poolId: POOL_ID,
    epoch: { type: 'integer', nullable: true, description: 'epoch of the latest published root' },
    root: { ...HASH, nullable: true },
    treeHash: { ...HASH, nullable: true, description: 'artifact hash of the cumulative holder tree' },
    cumulativeAmount: UNITS,
    claimedUnits: UNITS,
    owedUnits: { ...UNITS, description: 'cumulative minus claimed, whether or not a claim can pay it now' },
    claimableUnits: {
      ...UNITS,
      description: 'what a claim pays now: owedUnits, or 0 while blockedBy is set',
    },
    blockedBy: {
      type: 'string',
      enum: ['NOT_VERIFIED', 'PAUSED', null],
      nullable: true,
      description:
        'why a claim would revert although something is owed: NOT_VERIFIED (the identity registry must verify the address first) or PAUSED (the distributor is paused)',
    },
    verified: { type: 'boolean', description: 'the identity registry holds the address as verified' },
    proof: { type: 'array', items: HASH },
    inTree: { type: 'boolean' },
    payouts: {
      type: 'array',
      items: {
        type: 'object',
        required: ['paidUnits', 'cumulativeAmount', 'blockNumber', 'timestampS', 'transactionHash'],
        additionalProperties: false,
        properties: {
          paidUnits: UNITS,
          cumulativeAmount: UNITS,
          blockNumber: { type: 'string', pattern: '^[0-9]+$' },
          timestampS: { type: 'integer' },
          transactionHash: HASH,
        },
      },
    },
  },
} as const

const toJson = (p: HolderPosition) => ({
  poolId: p.poolId,
  epoch: p.epoch ?? null,
  root: p.root?.toLowerCase() ?? null,
  treeHash: p.treeHash?.toLowerCase() ?? null,
  cumulativeAmount: p.cumulativeAmount.toString(),
  claimedUnits: p.claimedUnits.toString(),
  owedUnits: p.owedUnits.toString(),
  claimableUnits: p.claimableUnits.toString(),
  blockedBy: p.blockedBy ?? null,
  verified: p.verified,
  proof: [...p.proof],
  inTree: p.inTree,
  payouts: p.payouts.map((e) => ({
    paidUnits: e.paidUnits.toString(),
    cumulativeAmount: e.cumulativeAmount.toString(),
    blockNumber: e.blockNumber.toString(),
    timestampS: e.timestampS,
    transactionHash: e.transactionHash,
  })),
})

async function positionOf(holders: HolderReader, poolId: string, account: string) {
  try {
    return toJson(await holders.position(poolId, account))
  } catch (error) {
    if (error instanceof GridrootError && error.code === 'HOLDER_TREE_UNAVAILABLE')
      throw new ApiError('ARTIFACT_UNAVAILABLE', error.shortMessage, { cause: error })
    throw error
  }
}

export async function holderPlugin(
  app: FastifyInstance,
  opts: { readonly holders: HolderReader; readonly devWallet: boolean },
): Promise<void> {
  const { holders } = opts
  app.get(
    '/chain',
    {
      schema: {
        tags: ['holder'],
        summary:
          "Where a wallet sends claims: the chain id, each pool's distributor and payment token (symbol, decimals)",
        description:
          'The dashboard checks the wallet is on chainId before a claim; devWallet says the local stack offers its dev accounts (/api/v1/dev-wallet).',
        response: {
          200: {
            type: 'object',
            required: ['chainId', 'devWallet', 'pools'],
            additionalProperties: false,
            properties: {
              chainId: { type: 'integer' },
              devWallet: { type: 'boolean' },
              pools: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['poolId', 'distributor', 'paymentToken', 'paymentSymbol', 'paymentDecimals'],
                  additionalProperties: false,
                  properties: {
                    poolId: POOL_ID,
                    distributor: ADDRESS,
                    paymentToken: ADDRESS,
                    paymentSymbol: { type: 'string' },
                    paymentDecimals: { type: 'integer', minimum: 0, maximum: 36 },
                  },
                },
              },
            },
          },
          ...errorResponses,
        },
      },
    },
    async () => {
      const { chainId, pools } = holders.contracts()
      const withTokens = await Promise.all(
        pools.map(async (pool) => {
          try {
            const token = await holders.paymentToken(pool.paymentToken)
            return { ...pool, paymentSymbol: token.symbol, paymentDecimals: token.decimals }
          } catch (error) {
            throw new ApiError(
              'UPSTREAM_UNAVAILABLE',
              `the chain node did not answer for ${pool.paymentToken}`,
              {
                cause: error,
              },
            )
          }
        }),
      )
      return { chainId, devWallet: opts.devWallet, pools: withTokens }
    },
  )
  app.get(
    '/pools',
    {
      schema: {
        tags: ['holder'],
        summary: 'Pools with a RevenueDistributor',
        response: {
          200: {
            type: 'object',
            required: ['pools'],
            additionalProperties: false,
            properties: { pools: { type: 'array', items: POOL_ID } },
          },
          ...errorResponses,
        },
      },
    },
    async () => ({ pools: [...holders.pools()] }),
  )

  app.get<{ Params: { address: string } }>(
    '/:address',
    {
      schema: {
        tags: ['holder'],
        summary: "An address's claimable amount with proof, claimed so far and payouts, per pool",
        params: {
          type: 'object',
          required: ['address'],
          additionalProperties: false,
          properties: { address: ADDRESS },
        },
        response: {
          200: {
            type: 'object',
            required: ['address', 'pools'],
            additionalProperties: false,
            properties: { address: ADDRESS, pools: { type: 'array', items: POSITION } },
          },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const account = accountOf(request.params.address)
      const pools = await Promise.all(holders.pools().map((p) => positionOf(holders, p, account)))
      return { address: account, pools }
    },
  )

  app.get<{ Params: { address: string; poolId: string } }>(
    '/:address/pools/:poolId',
    {
      schema: {
        tags: ['holder'],
        summary: "An address's position in one pool",
        params: {
          type: 'object',
          required: ['address', 'poolId'],
          additionalProperties: false,
          properties: { address: ADDRESS, poolId: POOL_ID },
        },
        response: { 200: POSITION, ...errorResponses },
      },
    },
    async (request) => {
      const { poolId } = request.params
      if (!holders.pools().includes(poolId))
        throw new ApiError('UNKNOWN_HOLDER_POOL', `pool ${poolId} has no RevenueDistributor here`)
      return positionOf(holders, poolId, accountOf(request.params.address))
    },
  )
}

/**
 * The account of an address parameter, lower-cased. Mixed case is an EIP-55 checksum and must be
 * right (a mistyped address is refused, not read as another account's empty position); all
 * lower or all upper case carries no checksum and is taken as it is.
 */
function accountOf(address: string): string {
  const hex = address.slice(2)
  if (hex !== hex.toLowerCase() && hex !== hex.toUpperCase() && !isAddress(address, { strict: true })) {
    throw new ApiError('INVALID_PARAMETER', `address ${address} has a wrong EIP-55 checksum`, {
      details: { parameter: 'address', checksummed: getAddress(address.toLowerCase()) },
    })
  }
  return address.toLowerCase()
}
