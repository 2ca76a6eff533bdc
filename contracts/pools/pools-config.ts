/**
 * config/pools.json: the pools, their terms and (in the local stack) their investors. Parsed
 * once by the pool command, and checked whole before any transaction: a refusal names the file,
 * the pool (by index and id), the field and what is wrong, for every problem at once.
 * Accounts are addresses or `dev:N` (anvil dev account N, local only).
 */
import { readFileSync, statSync } from 'node:fs'
import { type Address, getAddress, parseUnits } from 'viem'
import { z } from 'zod'
import { ConfigError } from '../../core/errors/base.ts'
import type { DeviceRecord } from '../../core/identity/registry.ts'
import { SPLIT_MODES } from '../deploy/deploy-pool-contracts.ts'
import { devAccount } from '../deploy/dev-accounts.ts'

/** A pools file names a few pools and their investors; anything near this size is a mistake. */
export const MAX_POOLS_FILE_BYTES = 1024 * 1024
/** RevenueShareToken checkpoints balances and supply as uint208 (contracts/src/RevenueShareToken.sol). */
const MAX_TOKEN_SUPPLY = 2n ** 208n - 1n
const MAX_UINT256 = 2n ** 256n - 1n
export const TOKEN_DECIMALS = 18
const MAX_REPORTED_PROBLEMS = 20

/**
 * EIP-55: a mixed-case address carries a checksum, which is what catches a mistyped hex digit;
 * all lower case (or all upper case) carries none and is taken as written, as wallets do.
 */
function checksumProblem(value: string): string | undefined {
  const hex = value.slice(2)
  if (hex === hex.toLowerCase() || hex === hex.toUpperCase()) return undefined
  const checksummed = getAddress(value.toLowerCase())
  if (checksummed === value) return undefined
  return `${value} has a wrong EIP-55 checksum (a mistyped hex digit?): check it against its source; if the digits are right, its checksummed form is ${checksummed}`
}
const checksummed = (value: string, ctx: z.RefinementCtx) => {
  const problem = /^0x[0-9a-fA-F]{40}$/.test(value) ? checksumProblem(value) : undefined
  if (problem) ctx.addIssue({ code: 'custom', message: problem })
}
const account = z
  .string({ error: 'must be a string: an address (0x + 40 hex digits) or dev:N' })
  .regex(/^(dev:\d{1,3}|0x[0-9a-fA-F]{40})$/, 'must be an address (0x + 40 hex digits) or dev:N')
  .superRefine(checksummed)
const units = (what: string) =>
  z
    .string({ error: `must be a string of a whole number of ${what}, e.g. "1000" (not a JSON number)` })
    .regex(/^\d{1,78}$/, `must be a whole, non-negative number of ${what} in a string, e.g. "1000"`)

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
    paymentToken: z.union([
      z.literal('local-hkd'),
      z
        .string()
        .regex(/^0x[0-9a-fA-F]{40}$/)
        .superRefine(checksummed),
    ]),
    treasury: account,
  }),
  /** Local stack: the treasury is topped up to this balance (payment-token units) of local-hkd. */
  treasuryFundingUnits: units('payment-token units').optional(),
  /** Token amounts in whole tokens (18 decimals). */
  investors: z.array(z.strictObject({ account, tokens: units('tokens') })).default([]),
})
export type PoolConfig = z.infer<typeof PoolConfigSchema>

export const PoolsFileSchema = z.strictObject({
  version: z.literal(1),
  pools: z.array(PoolConfigSchema),
})
export type PoolsFile = z.infer<typeof PoolsFileSchema>

export class PoolsFileError extends ConfigError {
  override readonly name = 'PoolsFileError'
}

/** `pools[1] (gcl-pv).terms.holdersBps`: where in the file, with the pool's id when it has one. */
function placeOf(document: unknown, path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(the whole file)'
  let place = ''
  for (const [i, key] of path.entries()) {
    if (typeof key === 'number') place += `[${key}]`
    else place += place === '' ? String(key) : `.${String(key)}`
    if (i === 1 && path[0] === 'pools') {
      const pools = (document as { pools?: unknown })?.pools
      const id = Array.isArray(pools) ? (pools[key as number] as { poolId?: unknown })?.poolId : undefined
      if (typeof id === 'string') place += ` (${id})`
    }
  }
  return place
}

function refuse(
  path: string,
  problems: readonly string[],
  heading = `the pools file ${path} is invalid`,
): never {
  const shown = problems.slice(0, MAX_REPORTED_PROBLEMS).map((p) => `  ${p}`)
  if (problems.length > MAX_REPORTED_PROBLEMS)
    shown.push(`  … and ${problems.length - MAX_REPORTED_PROBLEMS} more`)
  throw new PoolsFileError(
    `${heading} (${problems.length} problem${problems.length === 1 ? '' : 's'}); nothing was sent`,
    {
      metaMessages: [...shown, 'Fix the named entries (README.md, "On-chain") and run the command again.'],
    },
  )
}

/** The account a pools-file entry names, for comparing entries (`dev:7` and its address are one). */
function accountKey(value: string): string {
  return (value.startsWith('dev:') ? devAccount(Number(value.slice(4))).address : value).toLowerCase()
}

/** Checks the parsed file's entries against each other and the contracts' limits. */
function entryProblems(file: PoolsFile): string[] {
  const problems: string[] = []
  const firstIndex = new Map<string, number>()
  file.pools.forEach((pool, i) => {
    const at = `pools[${i}] (${pool.poolId})`
    const earlier = firstIndex.get(pool.poolId)
    if (earlier !== undefined) problems.push(`${at}.poolId: ${pool.poolId} is also pools[${earlier}]'s id`)
    else firstIndex.set(pool.poolId, i)
    const investorIndex = new Map<string, number>()
    let supply = 0n
    pool.investors.forEach((investor, j) => {
      const key = accountKey(investor.account)
      const before = investorIndex.get(key)
      if (before !== undefined)
        problems.push(
          `${at}.investors[${j}].account: ${investor.account} is also investors[${before}]; give each investor one entry with the sum`,
        )
      else investorIndex.set(key, j)
      supply += parseUnits(investor.tokens, TOKEN_DECIMALS)
    })
    if (supply > MAX_TOKEN_SUPPLY)
      problems.push(
        `${at}.investors: ${supply / 10n ** BigInt(TOKEN_DECIMALS)} tokens in all, more than a RevenueShareToken can hold (2^208 - 1 units of 18 decimals)`,
      )
    if (pool.treasuryFundingUnits !== undefined && BigInt(pool.treasuryFundingUnits) > MAX_UINT256)
      problems.push(`${at}.treasuryFundingUnits: more than a uint256 holds`)
  })
  return problems
}

export function loadPoolsFile(path: string): PoolsFile {
  let text: string
  try {
    const { size } = statSync(path)
    if (size > MAX_POOLS_FILE_BYTES)
      throw new PoolsFileError(
        `the pools file ${path} is ${size} bytes, more than the ${MAX_POOLS_FILE_BYTES} bytes a pools file may have; nothing was sent`,
        {
          metaMessages: ['Is it the right file? A pools file lists pools, their terms and their investors.'],
        },
      )
    text = readFileSync(path, 'utf8')
  } catch (cause) {
    if (cause instanceof PoolsFileError) throw cause
    throw new PoolsFileError(`cannot read the pools file ${path}`, { cause })
  }
  let document: unknown
  try {
    document = JSON.parse(text)
  } catch (cause) {
    throw new PoolsFileError(
      `the pools file ${path} is not JSON: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    )
  }
  const parsed = PoolsFileSchema.safeParse(document)
  if (!parsed.success)
    refuse(
      path,
      parsed.error.issues.map((issue) => `${placeOf(document, issue.path)}: ${issue.message}`),
    )
  const problems = entryProblems(parsed.data)
  if (problems.length > 0) refuse(path, problems)
  return parsed.data
}

/** Devices of one unknown pool named in a problem; the rest are counted. */
const MAX_NAMED_DEVICES = 5

/**
 * The registry's devices against the pools they name: a device must name a pool of the pools
 * file (a device of another pool would get no registry root: it would silently leave its pool
 * on-chain, and ingest would refuse the registry), and have its pool's asset class.
 * Returns the problems, each naming the devices, both files and both values.
 */
export function registryProblems(
  pools: readonly PoolConfig[],
  devices: readonly DeviceRecord[],
  files: { readonly pools: string; readonly registry: string },
): string[] {
  const byId = new Map(pools.map((p, i) => [p.poolId, { pool: p, index: i }]))
  const problems: string[] = []
  const unknown = new Map<string, string[]>()
  for (const device of devices) {
    const entry = byId.get(device.poolId)
    if (!entry) unknown.set(device.poolId, [...(unknown.get(device.poolId) ?? []), device.deviceId])
    else if (entry.pool.assetClass !== device.assetClass)
      problems.push(
        `device ${device.deviceId} (${files.registry}) is a ${device.assetClass}, but its pool ${device.poolId} (${files.pools} pools[${entry.index}].assetClass) is ${entry.pool.assetClass}`,
      )
  }
  const known = pools.length > 0 ? pools.map((p) => p.poolId).join(', ') : 'none'
  for (const [poolId, ids] of unknown) {
    const named = ids.slice(0, MAX_NAMED_DEVICES).join(', ')
    const more = ids.length > MAX_NAMED_DEVICES ? ` and ${ids.length - MAX_NAMED_DEVICES} more` : ''
    problems.push(
      `device${ids.length > 1 ? 's' : ''} ${named}${more} (${files.registry}) name${ids.length > 1 ? '' : 's'} pool ${poolId}, which ${files.pools} does not have (its pools: ${known}): correct the poolId in the registry, or add pool ${poolId} to the pools file`,
    )
  }
  return problems
}

/** Refuses a registry whose devices do not fit the pools of the file (registryProblems). */
export function checkRegistryAgainstPools(
  pools: readonly PoolConfig[],
  devices: readonly DeviceRecord[],
  files: { readonly pools: string; readonly registry: string },
): void {
  const problems = registryProblems(pools, devices, files)
  if (problems.length > 0)
    refuse(
      files.pools,
      problems,
      `the device registry ${files.registry} does not fit the pools file ${files.pools}`,
    )
}

/** `dev:N` → dev account N (only on the local anvil); an address → itself, checksummed. */
export function resolveAccount(value: string, local: boolean): Address {
  if (!value.startsWith('dev:')) return getAddress(value)
  if (!local) throw new ConfigError(`${value}: dev accounts exist only on the local anvil`)
  return devAccount(Number(value.slice(4))).address
}
