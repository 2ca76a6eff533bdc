/**
 * What in the pools file the chain cannot take: a changed first epoch or payment token, an epoch
 * clock fixed since its chain genesis, a mint beyond the file's total supply (mint-plan.ts).
 * `findPoolConflicts` reads the chain only (no transaction) and is run for every pool before
 * `applyPools` sends anything, so a refused run leaves the chain as it was (attack10b F9: a
 * registry root used to be changed before a clock conflict of the same pool was found).
 * applyPools runs the same checks again at each step, against a chain changed in between.
 */
import { type Address, formatUnits, parseAbiItem, parseUnits, zeroAddress } from 'viem'
import { poolIdBytes32 } from '../../core/chain/registry-root.ts'
import { type EpochClock, epochClockFromChain } from '../../core/entitlement/index.ts'
import { GridrootError } from '../../core/errors/base.ts'
import type { ContractsFile } from '../../runtime/contracts-file.ts'
import { revenueDistributorAbi, revenueOracleAbi } from '../abi/index.ts'
import type { DeployClients } from '../deploy/deploy-contract.ts'
import { type MintPlan, type PlannedInvestor, planMints } from './mint-plan.ts'
import { type PoolConfig, resolveAccount, TOKEN_DECIMALS } from './pools-config.ts'

export interface PoolConflict {
  readonly poolId: string
  readonly message: string
  readonly hints: readonly string[]
}

export class PoolConfigConflictError extends GridrootError<'POOL_CONFIG_CONFLICT'> {
  override readonly name = 'PoolConfigConflictError'
  readonly conflicts: readonly PoolConflict[]
  /** @param nothingSent the refusal came before any transaction of this run */
  constructor(conflicts: readonly PoolConflict[], nothingSent: boolean) {
    const [first] = conflicts
    super(
      'POOL_CONFIG_CONFLICT',
      conflicts.length === 1 && first
        ? first.message
        : `${conflicts.length} conflicts between the pools file and the chain`,
      {
        metaMessages: [
          ...(conflicts.length === 1
            ? (first?.hints ?? [])
            : conflicts.flatMap((c) => [`- ${c.message}`, ...c.hints.map((h) => `  ${h}`)])),
          ...(nothingSent ? ['Nothing was sent: every pool was checked against the chain first.'] : []),
        ],
        details: { pools: [...new Set(conflicts.map((c) => c.poolId))] },
      },
    )
    this.conflicts = conflicts
  }
}

export function clockText(c: EpochClock): string {
  return `device genesis ${new Date(c.deviceGenesisMs).toISOString()}, epochs of ${c.epochLengthMs} ms, chain genesis ${c.chainGenesisS} s, speed-up ${c.speedup}`
}

export function firstEpochConflict(pool: PoolConfig, onChainFirstEpoch: bigint): PoolConflict | undefined {
  if (Number(onChainFirstEpoch) === pool.firstEpoch) return undefined
  return {
    poolId: pool.poolId,
    message: `pool ${pool.poolId} starts at epoch ${onChainFirstEpoch} on-chain`,
    hints: [`the pools file says ${pool.firstEpoch}; a pool's first epoch cannot change.`],
  }
}

export function missingPaymentToken(pool: PoolConfig): PoolConflict {
  return {
    poolId: pool.poolId,
    message: `pool ${pool.poolId} pays in local-hkd, which is not deployed here`,
    hints: ['Name an existing payment token address in the pools file (terms.paymentToken).'],
  }
}

export function paymentTokenConflict(
  pool: PoolConfig,
  live: Address,
  configured: Address,
): PoolConflict | undefined {
  if (live.toLowerCase() === configured.toLowerCase()) return undefined
  return {
    poolId: pool.poolId,
    message: `pool ${pool.poolId} pays in ${live} on-chain`,
    hints: ['The payment token of a distributor is fixed: create a new pool to change it.'],
  }
}

/**
 * `same`, `settable` (setEpochClock may still replace it: before its chain genesis and before
 * any root), or the conflict.
 */
export function clockCheck(
  pool: PoolConfig,
  live: EpochClock,
  configured: EpochClock,
  chain: { readonly latestTimestampS: bigint; readonly nextEpoch: bigint },
): 'same' | 'settable' | PoolConflict {
  if (clockText(live) === clockText(configured)) return 'same'
  if (chain.latestTimestampS < BigInt(live.chainGenesisS) && Number(chain.nextEpoch) === pool.firstEpoch)
    return 'settable'
  return {
    poolId: pool.poolId,
    message: `pool ${pool.poolId} maps its epochs with ${clockText(live)} on-chain, fixed since its chain genesis`,
    hints: [
      `The configuration (GRIDROOT_EPOCH_*, GRIDROOT_CHAIN_CLOCK_*) says ${clockText(configured)}.`,
      "A pool's clock cannot change once its chain genesis has passed: create a new pool.",
    ],
  }
}

const transferEvent = parseAbiItem('event Transfer(address indexed from, address indexed to, uint256 value)')

/** Units minted per account (lower-cased key), from the token's Transfer events from zero. */
export async function mintedByAccount(
  clients: DeployClients,
  token: Address,
  fromBlock: bigint,
): Promise<Map<string, { account: Address; units: bigint }>> {
  const logs = await clients.publicClient.getLogs({
    address: token,
    event: transferEvent,
    args: { from: zeroAddress },
    fromBlock,
  })
  const minted = new Map<string, { account: Address; units: bigint }>()
  for (const log of logs) {
    const to = log.args.to
    if (!to) continue
    const key = to.toLowerCase()
    minted.set(key, { account: to, units: (minted.get(key)?.units ?? 0n) + (log.args.value ?? 0n) })
  }
  return minted
}

export function plannedInvestors(pool: PoolConfig, index: number, local: boolean): PlannedInvestor[] {
  return pool.investors.map((i, j) => ({
    account: resolveAccount(i.account, local),
    amount: parseUnits(i.tokens, TOKEN_DECIMALS),
    place: `pools[${index}] (${pool.poolId}).investors[${j}]`,
  }))
}

export function supplyConflict(pool: PoolConfig, plan: MintPlan): PoolConflict | undefined {
  if (!plan.exceedsFileTotal) return undefined
  const tokens = (units: bigint) => `${formatUnits(units, TOKEN_DECIMALS)} ${pool.token.symbol}`
  const toMint = plan.mint.reduce((sum, m) => sum + m.amount, 0n)
  return {
    poolId: pool.poolId,
    message: `pool ${pool.poolId}: minting ${plan.mint.map((m) => `${tokens(m.amount)} to ${m.investor.account} (${m.investor.place})`).join(', ')} would make the supply ${tokens(plan.mintedUnits + toMint)}, more than the ${tokens(plan.fileUnits)} the pools file gives its investors`,
    hints: [
      `Minted already and accounted for by no entry: ${plan.unaccounted.map((u) => `${tokens(u.units)} to ${u.account}`).join(', ')} (an address replaced or removed, or an amount lowered?).`,
      'A mint the file does not account for dilutes every holder of the pool, and cannot be undone (tokens are never burned; the token has no forced transfer). The investors of the pools file are its issuance: keep the entry of each address that was minted.',
      `To move a holding to a new address, its holder transfers it (${pool.token.symbol} transfer(new address, amount), sent by the old address; the new address must be verified in the IdentityRegistry first, IdentityRegistry.verify by its agent). To issue new tokens, raise the file's total: a new entry, or a larger amount.`,
    ],
  }
}

/** The pool's contracts on-chain: recorded in `pools`, or by a run that stopped (`poolsInProgress`). */
export async function existingPoolContracts(
  clients: DeployClients,
  contracts: ContractsFile,
  poolId: string,
): Promise<{ token?: { address: Address; fromBlock: bigint }; distributor?: Address }> {
  const hasCode = async (address: Address | undefined) => {
    if (!address) return false
    const code = await clients.publicClient.getCode({ address })
    return code !== undefined && code !== '0x'
  }
  const recorded = contracts.pools[poolId]
  const started = contracts.poolsInProgress?.[poolId]
  const found: { token?: { address: Address; fromBlock: bigint }; distributor?: Address } = {}
  if (recorded && (await hasCode(recorded.token)))
    found.token = { address: recorded.token, fromBlock: BigInt(recorded.deployedAtBlock) }
  else if (started?.token && (await hasCode(started.token.address)))
    found.token = {
      address: started.token.address,
      fromBlock: BigInt(started.token.deployedAtBlock ?? started.token.notBeforeBlock),
    }
  if (recorded && (await hasCode(recorded.distributor))) found.distributor = recorded.distributor
  else if (started?.distributor && (await hasCode(started.distributor.address)))
    found.distributor = started.distributor.address
  return found
}

export interface FindPoolConflictsParameters {
  readonly contracts: ContractsFile
  readonly pools: readonly PoolConfig[]
  readonly local: boolean
  readonly epochClock: EpochClock
}

/** Every conflict of every pool, from chain reads alone. */
export async function findPoolConflicts(
  clients: DeployClients,
  p: FindPoolConflictsParameters,
): Promise<PoolConflict[]> {
  const { publicClient } = clients
  const core = p.contracts.contracts
  const conflicts: PoolConflict[] = []
  const latest = await publicClient.getBlock({ blockTag: 'latest' })
  for (const [index, pool] of p.pools.entries()) {
    const oraclePool = await publicClient.readContract({
      address: core.revenueOracle,
      abi: revenueOracleAbi,
      functionName: 'poolOf',
      args: [poolIdBytes32(pool.poolId)],
    })
    const firstEpoch = oraclePool.registered ? firstEpochConflict(pool, oraclePool.firstEpoch) : undefined
    if (firstEpoch) conflicts.push(firstEpoch)
    const paymentToken =
      pool.terms.paymentToken === 'local-hkd' ? core.hkdStablecoin : (pool.terms.paymentToken as Address)
    if (!paymentToken) conflicts.push(missingPaymentToken(pool))
    const existing = await existingPoolContracts(clients, p.contracts, pool.poolId)
    if (existing.distributor) {
      const [liveClock, state, livePayment] = await Promise.all([
        publicClient.readContract({
          address: existing.distributor,
          abi: revenueDistributorAbi,
          functionName: 'epochClock',
        }),
        publicClient.readContract({
          address: existing.distributor,
          abi: revenueDistributorAbi,
          functionName: 'state',
        }),
        publicClient.readContract({
          address: existing.distributor,
          abi: revenueDistributorAbi,
          functionName: 'paymentToken',
        }),
      ])
      const clock = clockCheck(pool, epochClockFromChain(liveClock), p.epochClock, {
        latestTimestampS: latest.timestamp,
        nextEpoch: state.nextEpoch,
      })
      if (typeof clock === 'object') conflicts.push(clock)
      const payment = paymentToken ? paymentTokenConflict(pool, livePayment, paymentToken) : undefined
      if (payment) conflicts.push(payment)
    }
    if (existing.token) {
      const minted = await mintedByAccount(clients, existing.token.address, existing.token.fromBlock)
      const supply = supplyConflict(pool, planMints(plannedInvestors(pool, index, p.local), minted))
      if (supply) conflicts.push(supply)
    }
  }
  return conflicts
}
