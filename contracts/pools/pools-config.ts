/**
 * config/pools.json: the pools, their terms and (in the local stack) their investors. Parsed
 * once by the pool command. Accounts are addresses or `dev:N` (anvil dev account N, local only).
 */
import { readFileSync } from 'node:fs'
import { type Address, getAddress } from 'viem'
import { z } from 'zod'
import { ConfigError } from '../../core/errors/base.ts'
import { parseConfig } from '../../runtime/config.ts'
import { SPLIT_MODES } from '../deploy/deploy-pool-contracts.ts'
import { devAccount } from '../deploy/dev-accounts.ts'

const account = z.string().regex(/^(dev:\d{1,3}|0x[0-9a-fA-F]{40})$/, 'must be an address or dev:N')
const units = z.string().regex(/^\d+$/, 'must be a non-negative integer in a string')

export const PoolConfigSchema = z.strictObject({
  poolId: z.string().regex(/^[a-z0-9][a-z0-9-]{0,30}$/, 'must match ^[a-z0-9-]{1,31}$'),
  name: z.string().min(1),
  assetClass: z.enum(['charger', 'pv', 'swap']),
  /** The first oracle epoch of the pool (epoch numbers on the shared epoch grid). */
  firstEpoch: z.number().int().nonnegative().default(0),
  token: z.strictObject({ name: z.string().min(1), symbol: z.string().min(1).max(11) }),
  terms: z.strictObject({
    /** Holders' share of each epoch's revenue, basis points. */
    holdersBps: z.number().int().min(0).max(10_000),
    splitMode: z.enum(SPLIT_MODES),
    /** `local-hkd` (the stack's stand-in) or the address of an existing token. */
    paymentToken: z.union([z.literal('local-hkd'), z.string().regex(/^0x[0-9a-fA-F]{40}$/)]),
    treasury: account,
  }),
  /** Local stack: the treasury is topped up to this balance (payment-token units) of local-hkd. */
  treasuryFundingUnits: units.optional(),
  /** Token amounts in whole tokens (18 decimals). */
  investors: z.array(z.strictObject({ account, tokens: units })).default([]),
})
export type PoolConfig = z.infer<typeof PoolConfigSchema>

export const PoolsFileSchema = z.strictObject({
  version: z.literal(1),
  pools: z.array(PoolConfigSchema),
})
export type PoolsFile = z.infer<typeof PoolsFileSchema>

export function loadPoolsFile(path: string): PoolsFile {
  let document: unknown
  try {
    document = JSON.parse(readFileSync(path, 'utf8'))
  } catch (cause) {
    throw new ConfigError(`cannot read the pools file ${path}`, { cause })
  }
  const file = parseConfig(PoolsFileSchema, document, `pools file ${path}`)
  const ids = file.pools.map((p) => p.poolId)
  const duplicate = ids.find((id, i) => ids.indexOf(id) !== i)
  if (duplicate) throw new ConfigError(`pool ${duplicate} appears twice in ${path}`)
  return file
}

/** `dev:N` → dev account N (only on the local anvil); an address → itself, checksummed. */
export function resolveAccount(value: string, local: boolean): Address {
  if (!value.startsWith('dev:')) return getAddress(value)
  if (!local) throw new ConfigError(`${value}: dev accounts exist only on the local anvil`)
  return devAccount(Number(value.slice(4))).address
}
