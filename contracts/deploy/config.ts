/**
 * Settings of `npm run deploy` and `npm run pools`, from the environment (read by the entry
 * points only). On the local anvil (chain id 31337) every key and role defaults to a dev account
 * (dev-accounts.ts); on any other chain the keys must be configured.
 */
import { join } from 'node:path'
import type { Address, Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { z } from 'zod'
import { type EpochClock, epochClockOf } from '../../core/entitlement/index.ts'
import { ConfigError } from '../../core/errors/base.ts'
import { ANVIL_CHAIN_ID } from '../../runtime/clients/chain.ts'
import {
  type Env,
  endpointsFromEnv,
  envDurationMs,
  envInt,
  gridFromEnv,
  parseConfig,
} from '../../runtime/config.ts'
import type { Endpoints } from '../../runtime/endpoints.ts'
import { DEV_ACCOUNT_ROLES, devAccount } from './dev-accounts.ts'

const key = z.string().regex(/^0x[0-9a-fA-F]{64}$/, 'must be a 0x-prefixed 32-byte private key')
const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x-prefixed address')

const Schema = z.object({
  GRIDROOT_CONTRACTS_FILE: z.string().optional(),
  GRIDROOT_DEPLOYER_KEY: key.optional(),
  GRIDROOT_ORACLE_SIGNERS: z
    .string()
    .optional()
    .transform((v) => (v ? v.split(',').map((s) => s.trim()) : undefined))
    .pipe(z.array(address).optional()),
  GRIDROOT_ORACLE_THRESHOLD: z.coerce.number().int().positive().default(2),
  GRIDROOT_ORACLE_CHALLENGE_WINDOW: envDurationMs.default(10_000),
  GRIDROOT_ORACLE_GUARDIAN: address.optional(),
  GRIDROOT_DISTRIBUTOR_PUBLISHER: address.optional(),
  GRIDROOT_TREASURY_KEY: key.optional(),
  GRIDROOT_REGISTRY_FILE: z.string().optional(),
  /**
   * The chain clock new pools get (docs/architecture.md, "Epoch → chain window"): the chain
   * second at which device time is the epoch genesis, and device seconds per chain second.
   * Production: the device genesis itself and 1 (the defaults). Read at pool creation only: the
   * distributor service reads the clock from the pool's RevenueDistributor.
   */
  GRIDROOT_CHAIN_CLOCK_GENESIS_S: envInt(0, 2 ** 40).optional(),
  GRIDROOT_CHAIN_CLOCK_SPEEDUP: envInt(1, 1_000_000).default(1),
})

export interface ChainToolsConfig {
  readonly endpoints: Endpoints
  readonly contractsFile: string
  readonly deployerKey: Hex | undefined
  readonly oracleSigners: readonly Address[]
  readonly threshold: number
  readonly challengeWindowSec: number
  readonly guardian: Address
  readonly publisher: Address
  /** Key of the treasury, used to approve the distributors (local stack: dev account 6). */
  readonly treasuryKey: Hex | undefined
  readonly registryFile: string | undefined
  readonly local: boolean
  /** The epoch grid (GRIDROOT_EPOCH_*) and chain clock (GRIDROOT_CHAIN_CLOCK_*) of new pools. */
  readonly epochClock: EpochClock
}

/** `runDir` is where the contracts file goes unless GRIDROOT_CONTRACTS_FILE names another. */
export function chainToolsConfig(env: Env, runDir: string): ChainToolsConfig {
  const c = parseConfig(Schema, env, 'deploy')
  const grid = gridFromEnv(env)
  const endpoints = endpointsFromEnv(env)
  const local = endpoints.chain.chainId === ANVIL_CHAIN_ID
  const need = <T>(value: T | undefined, name: string, dev: () => T): T => {
    if (value !== undefined) return value
    if (local) return dev()
    throw new ConfigError(`${name} is required on chain ${endpoints.chain.chainId}`, {
      metaMessages: ['Dev accounts are used only on the local anvil (chain id 31337).'],
    })
  }
  return {
    endpoints,
    contractsFile: c.GRIDROOT_CONTRACTS_FILE ?? join(runDir, 'contracts.json'),
    deployerKey: c.GRIDROOT_DEPLOYER_KEY as Hex | undefined,
    oracleSigners: need(c.GRIDROOT_ORACLE_SIGNERS as Address[] | undefined, 'GRIDROOT_ORACLE_SIGNERS', () =>
      DEV_ACCOUNT_ROLES.oracleSigners.map((i) => devAccount(i).address),
    ),
    threshold: c.GRIDROOT_ORACLE_THRESHOLD,
    challengeWindowSec: Math.ceil(c.GRIDROOT_ORACLE_CHALLENGE_WINDOW / 1000),
    guardian: need(
      c.GRIDROOT_ORACLE_GUARDIAN as Address | undefined,
      'GRIDROOT_ORACLE_GUARDIAN',
      () => devAccount(DEV_ACCOUNT_ROLES.guardian).address,
    ),
    publisher: need(
      c.GRIDROOT_DISTRIBUTOR_PUBLISHER as Address | undefined,
      'GRIDROOT_DISTRIBUTOR_PUBLISHER',
      () => devAccount(DEV_ACCOUNT_ROLES.publisher).address,
    ),
    treasuryKey: c.GRIDROOT_TREASURY_KEY as Hex | undefined,
    registryFile: c.GRIDROOT_REGISTRY_FILE,
    local,
    epochClock: epochClockOf(grid, {
      chainGenesisS: c.GRIDROOT_CHAIN_CLOCK_GENESIS_S ?? Math.floor(grid.genesisMs / 1000),
      speedup: c.GRIDROOT_CHAIN_CLOCK_SPEEDUP,
    }),
  }
}

/** The deployer account: GRIDROOT_DEPLOYER_KEY, or dev account 0 on the local anvil. */
export function deployerAccount(config: ChainToolsConfig) {
  if (config.deployerKey) return privateKeyToAccount(config.deployerKey)
  if (config.local) return devAccount(DEV_ACCOUNT_ROLES.deployer)
  throw new ConfigError('GRIDROOT_DEPLOYER_KEY is required off the local anvil')
}

/** The treasury account: GRIDROOT_TREASURY_KEY, or dev account 6 on the local anvil. */
export function treasuryAccount(config: ChainToolsConfig) {
  if (config.treasuryKey) return privateKeyToAccount(config.treasuryKey)
  if (config.local) return devAccount(DEV_ACCOUNT_ROLES.treasury)
  return undefined
}
