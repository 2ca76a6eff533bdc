/**
 * The contracts file: where the deployed contracts of one chain are, written by
 * `npm run deploy` and `npm run pools -- apply`, read by the services and the API
 * (`GRIDROOT_CONTRACTS_FILE`, default `<run-dir>/contracts.json`). docs/architecture.md
 * ("On-chain") describes it.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import type { Address, Hex } from 'viem'
import { z } from 'zod'
import { GridrootError } from '../core/errors/base.ts'

const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/) as unknown as z.ZodType<Address>
const bytes32 = z.string().regex(/^0x[0-9a-f]{64}$/) as unknown as z.ZodType<Hex>
const blockNumber = z.string().regex(/^\d+$/)

export const PoolContractsSchema = z.strictObject({
  poolId: z.string(),
  /** bytes32 of the ASCII pool id, left-aligned, zero-padded. */
  poolIdBytes32: bytes32,
  token: address,
  distributor: address,
  paymentToken: address,
  treasury: address,
  firstEpoch: z.number().int().nonnegative(),
  /** Block of the token's deployment: where reading its transfers starts. */
  deployedAtBlock: blockNumber,
})
export type PoolContracts = z.infer<typeof PoolContractsSchema>

/**
 * A pool contract deployment recorded by `npm run pools -- apply` before it is sent: the address
 * follows from the deployer and the nonce, so a run killed before it saw the receipt finds the
 * contract there (or learns that the nonce went to something else) instead of deploying another.
 */
export const DeploymentSchema = z.strictObject({
  address,
  deployer: address,
  nonce: z.number().int().nonnegative(),
  /** The first block the deployment can be in (the latest block when it was sent, plus one). */
  notBeforeBlock: blockNumber,
  /** Set once the receipt was seen. */
  deployedAtBlock: blockNumber.optional(),
})
export type Deployment = z.infer<typeof DeploymentSchema>

/** A pool whose creation has begun and not finished: never read by the services. */
export const PoolInProgressSchema = z.strictObject({
  token: DeploymentSchema.optional(),
  distributor: DeploymentSchema.optional(),
})
export type PoolInProgress = z.infer<typeof PoolInProgressSchema>

export const ContractsFileSchema = z.strictObject({
  version: z.literal(1),
  chainId: z.number().int().positive(),
  rpcUrl: z.string().optional(),
  deployer: address,
  deployedAtBlock: blockNumber,
  /** sha-256 of the solc input the contracts were compiled from (contracts/build/compile.ts). */
  compilerInputHash: z.string(),
  contracts: z.strictObject({
    deviceRegistry: address,
    revenueOracle: address,
    identityRegistry: address,
    /** The local stack's stablecoin stand-in; absent when pools name an existing token. */
    hkdStablecoin: address.optional(),
  }),
  oracle: z.strictObject({
    signers: z.array(address),
    threshold: z.number().int().positive(),
    challengeWindowSec: z.number().int().nonnegative(),
    guardian: address,
  }),
  pools: z.record(z.string(), PoolContractsSchema),
  /** Pools `npm run pools -- apply` began to create; moved to `pools` when complete. */
  poolsInProgress: z.record(z.string(), PoolInProgressSchema).optional(),
})
export type ContractsFile = z.infer<typeof ContractsFileSchema>

export class ContractsFileError extends GridrootError<'CONTRACTS_FILE_INVALID' | 'CONTRACTS_FILE_MISSING'> {
  override readonly name = 'ContractsFileError'
}

/** Reads and validates the contracts file at `path`. */
export function loadContractsFile(path: string): ContractsFile {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (cause) {
    throw new ContractsFileError('CONTRACTS_FILE_MISSING', `cannot read the contracts file ${path}`, {
      metaMessages: [
        'Deploy first: `npm run deploy` (the local stack does it on `npm start`), or point GRIDROOT_CONTRACTS_FILE at the file.',
      ],
      cause,
    })
  }
  let document: unknown
  try {
    document = JSON.parse(text)
  } catch (cause) {
    throw new ContractsFileError('CONTRACTS_FILE_INVALID', `the contracts file ${path} is not JSON`, {
      cause,
    })
  }
  const parsed = ContractsFileSchema.safeParse(document)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new ContractsFileError(
      'CONTRACTS_FILE_INVALID',
      `the contracts file ${path} is invalid at ${issue?.path.join('.') ?? '?'}: ${issue?.message ?? ''}`,
      { metaMessages: ['Redeploy with `npm run deploy -- --fresh`.'], cause: parsed.error },
    )
  }
  return parsed.data
}

/** The contracts of pool `poolId`, or an error that names the pools the file has. */
export function poolContracts(file: ContractsFile, poolId: string): PoolContracts {
  const pool = file.pools[poolId]
  if (!pool)
    throw new ContractsFileError('CONTRACTS_FILE_INVALID', `the contracts file has no pool ${poolId}`, {
      metaMessages: [
        `It has: ${Object.keys(file.pools).join(', ') || 'none'}. Create it with \`npm run pools -- apply\`.`,
      ],
    })
  return pool
}

/**
 * Writes the contracts file atomically (a reader never sees half a file, a kill leaves the old
 * or the new one): a temporary file, flushed to disk, renamed over it.
 */
export function writeContractsFile(path: string, file: ContractsFile): void {
  const valid = ContractsFileSchema.parse(file)
  mkdirSync(dirname(path), { recursive: true })
  const temporary = `${path}.${process.pid}.tmp`
  const fd = openSync(temporary, 'w')
  try {
    writeFileSync(fd, `${JSON.stringify(valid, null, 2)}\n`)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(temporary, path)
}
