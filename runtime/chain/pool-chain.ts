/**
 * One pool's contracts through viem: the RevenueDistributor, its share token, the RevenueOracle
 * and the IdentityRegistry. Logs are read in block ranges of `logRangeBlocks` (public RPCs cap
 * the range of eth_getLogs) and their blocks' timestamps cached, since entitlement is weighed in
 * chain seconds. Shared IO: the distributor publishes and reads through it, the API and the claim
 * CLI read through it.
 */
import type { Account, Address, Chain, Hex, PublicClient, Transport, WalletClient } from 'viem'
import {
  hkdStablecoinAbi,
  identityRegistryAbi,
  revenueDistributorAbi,
  revenueOracleAbi,
  revenueShareTokenAbi,
} from '../../contracts/abi/index.ts'
import { type EpochClock, epochClockFromChain, type TokenTransfer } from '../../core/entitlement/index.ts'
import { RetryableError } from '../../core/errors/base.ts'
import type { PoolContracts } from '../contracts-file.ts'
import { explainMinedRevert, type MinedRevert, minedRevertDetails } from './mined-revert.ts'
import type { DecodedRevert } from './revert.ts'
import { submitInTurn } from './send-queue.ts'

/** A RootPublished event: the cumulative root after `epoch`. */
export interface PublishedRoot {
  readonly epoch: number
  readonly root: Hex
  readonly cumulativeTotal: bigint
  readonly fundedUnits: bigint
  readonly treeHash: Hex
  readonly blockNumber: bigint
  readonly transactionHash: Hex
}

/** A Claimed event. */
export interface ClaimEvent {
  readonly account: string
  readonly paidUnits: bigint
  readonly cumulativeAmount: bigint
  readonly blockNumber: bigint
  readonly timestampS: number
  readonly transactionHash: Hex
}

/** One pool's RevenueDistributor, its share token, the oracle and the identity registry. */
export interface PoolChain {
  readonly poolId: string
  readonly distributor: Hex
  state(): Promise<DistributorState>
  terms(): Promise<DistributionTerms>
  /** Whether the oracle epoch is final, and its committed revenue (0 while not final). */
  oracleEpoch(epoch: number): Promise<{ readonly final: boolean; readonly revenueUnits: bigint }>
  /**
   * A finalized oracle epoch's commitment: the stored record (root, revenue, leaf count) and the
   * energy and tree hash of its final attempt's EpochProposed event; undefined unless final.
   */
  oracleCommitment(epoch: number): Promise<OracleCommitment | undefined>
  /**
   * The latest block and the pool's epoch clock as of that block (RevenueDistributor
   * `epochClock()`: fixed once a block at or after its chain genesis exists, so a window whose end
   * the latest block has passed was computed with the clock that stays on-chain).
   */
  clockNow(): Promise<{ readonly latestBlockTimestampS: number; readonly clock: EpochClock }>
  /** Every Transfer log of the share token since its deployment, with block timestamps. */
  transfers(): Promise<readonly TokenTransfer[]>
  /** Every Verified/Unverified event of the identity registry, with block timestamps. */
  identityEvents(): Promise<readonly IdentityEvent[]>
  publishedRoots(): Promise<readonly PublishedRoot[]>
  claims(account?: string): Promise<readonly ClaimEvent[]>
  treasuryFunds(): Promise<{ readonly address: string; readonly balance: bigint; readonly allowance: bigint }>
  /** The current root (also while paused) and what `account` has claimed. */
  currentRoot(): Promise<Hex>
  claimed(account: string): Promise<bigint>
  /** Whether the identity registry holds `account` as verified (a claim reverts NotVerified otherwise). */
  isVerified(account: string): Promise<boolean>
  /** Sends `publish` and waits for its receipt; resolves with the transaction hash. */
  publish(epoch: number, root: Hex, cumulativeTotal: bigint, treeHash: Hex): Promise<Hex>
  /** Sends `claim` for `account` and waits; resolves with what it paid. */
  claim(
    account: string,
    cumulativeAmount: bigint,
    proof: readonly Hex[],
  ): Promise<{ hash: Hex; paidUnits: bigint }>
}

export type SplitMode = 'time-weighted' | 'snapshot'

/** What RevenueOracle committed for a finalized pool epoch (the device tree must back it). */
export interface OracleCommitment {
  readonly epoch: number
  readonly attempt: number
  readonly root: Hex
  readonly revenueUnits: bigint
  readonly energyWh: bigint
  readonly leafCount: number
  readonly treeHash: Hex
  readonly archiveHash: Hex
}

export interface DistributionTerms {
  readonly treasury: string
  readonly holdersBps: number
  readonly splitMode: SplitMode
}

/** An identity registry event: `account` became verified or unverified. */
export interface IdentityEvent {
  readonly account: string
  readonly verified: boolean
  readonly blockNumber: bigint
  readonly logIndex: number
  readonly timestampS: number
}

export interface DistributorState {
  readonly nextEpoch: number
  readonly totalFunded: bigint
  readonly paused: boolean
}

/** IRevenueOracle.EpochStatus: None, Pending, Rejected, Final. */
const ORACLE_STATUS_FINAL = 3

const SPLIT_MODES: readonly SplitMode[] = ['time-weighted', 'snapshot']

/** A transaction was mined but reverted; the message says why (the replayed revert, or out of gas). */
export class ChainTransactionError extends RetryableError<'CHAIN_TX_FAILED'> {
  override readonly name = 'ChainTransactionError'
  readonly revert: DecodedRevert | undefined
  constructor(what: string, mined: MinedRevert) {
    super('CHAIN_TX_FAILED', `${what} transaction ${mined.hash} reverted on-chain: ${mined.why}`, {
      metaMessages: ['The distributor derives its next step from chain state again and retries.'],
      details: minedRevertDetails(mined),
      cause: mined.replayError,
    })
    this.revert = mined.revert
  }
}

export interface PoolChainOptions {
  readonly publicClient: PublicClient
  /** Needed to publish or claim; reads work without it. */
  readonly walletClient?: WalletClient<Transport, Chain, Account> | undefined
  readonly pool: PoolContracts
  readonly oracle: Address
  readonly identityRegistry: Address
  /** Block of the identity registry's deployment. */
  readonly identityFromBlock: bigint
  readonly logRangeBlocks?: bigint
}

export function createPoolChain(options: PoolChainOptions): PoolChain {
  const { publicClient, pool } = options
  const client = publicClient
  const distributor = pool.distributor as Address
  const range = options.logRangeBlocks ?? 50_000n
  const timestamps = new Map<bigint, number>()

  const timestampOf = async (blockNumber: bigint): Promise<number> => {
    const cached = timestamps.get(blockNumber)
    if (cached !== undefined) return cached
    const block = await client.getBlock({ blockNumber })
    const seconds = Number(block.timestamp)
    timestamps.set(blockNumber, seconds)
    return seconds
  }

  /** Logs of one event from `fromBlock` to the latest block, in ranges. */
  const logsOf = async <T>(
    fromBlock: bigint,
    read: (from: bigint, to: bigint) => Promise<T[]>,
  ): Promise<T[]> => {
    // Uncached: viem caches the block number for a polling interval, which would miss the newest logs.
    const latest = await client.getBlockNumber({ cacheTime: 0 })
    const out: T[] = []
    for (let from = fromBlock; from <= latest; from += range) {
      const to = from + range - 1n < latest ? from + range - 1n : latest
      out.push(...(await read(from, to)))
    }
    return out
  }

  const wallet = () => {
    if (!options.walletClient)
      throw new Error('this pool chain was made without a wallet: it can read, not send transactions')
    return options.walletClient
  }

  const send = async (
    what: string,
    request: { address: Address; abi: readonly unknown[]; functionName: string; args: readonly unknown[] },
  ) => {
    const w = wallet()
    // Simulate first: a revert comes back with its decoded custom error (TreasuryUnderfunded…).
    const { request: simulated, result } = await client.simulateContract({
      ...(request as object),
      account: w.account,
    } as never)
    const hash = await submitInTurn(w.account.address, () => w.writeContract(simulated as never))
    const receipt = await client.waitForTransactionReceipt({ hash })
    if (receipt.status !== 'success')
      throw new ChainTransactionError(what, await explainMinedRevert(client, receipt))
    return { hash, result: result as unknown }
  }

  return {
    poolId: pool.poolId,
    distributor,
    async state() {
      const s = await client.readContract({
        address: distributor,
        abi: revenueDistributorAbi,
        functionName: 'state',
      })
      return { nextEpoch: Number(s.nextEpoch), totalFunded: s.totalFunded, paused: s.paused }
    },
    async terms() {
      const t = await client.readContract({
        address: distributor,
        abi: revenueDistributorAbi,
        functionName: 'terms',
      })
      return {
        treasury: t.treasury.toLowerCase(),
        holdersBps: t.holdersBps,
        splitMode: SPLIT_MODES[t.splitMode] ?? 'time-weighted',
      }
    },
    async oracleEpoch(epoch) {
      const args = [pool.poolIdBytes32 as Hex, BigInt(epoch)] as const
      const final = await client.readContract({
        address: options.oracle,
        abi: revenueOracleAbi,
        functionName: 'isFinalized',
        args,
      })
      if (!final) return { final: false, revenueUnits: 0n }
      const revenueUnits = await client.readContract({
        address: options.oracle,
        abi: revenueOracleAbi,
        functionName: 'finalizedRevenue',
        args,
      })
      return { final: true, revenueUnits }
    },
    async oracleCommitment(epoch) {
      const args = [pool.poolIdBytes32 as Hex, BigInt(epoch)] as const
      const record = await client.readContract({
        address: options.oracle,
        abi: revenueOracleAbi,
        functionName: 'epochRecord',
        args,
      })
      if (record.status !== ORACLE_STATUS_FINAL) return undefined
      const logs = await logsOf(options.identityFromBlock, (fromBlock, toBlock) =>
        client.getContractEvents({
          address: options.oracle,
          abi: revenueOracleAbi,
          eventName: 'EpochProposed',
          args: { poolId: args[0], epoch: args[1] },
          fromBlock,
          toBlock,
        }),
      )
      // The final attempt's proposal: its root is the record's (the contract stores it from it).
      const proposed = logs.find(
        (l) => Number(l.args.attempt) === record.attempt && l.args.proposal?.root === record.root,
      )?.args.proposal
      if (proposed === undefined)
        throw new RetryableError(
          'ORACLE_PROPOSAL_NOT_FOUND',
          `no EpochProposed event of pool ${pool.poolId} epoch ${epoch} attempt ${record.attempt} with root ${record.root}`,
          { metaMessages: ['Is GRIDROOT_RPC_URL a node that serves logs since the deployment block?'] },
        )
      return {
        epoch,
        attempt: record.attempt,
        root: record.root.toLowerCase() as Hex,
        revenueUnits: record.revenueUnits,
        energyWh: proposed.energyWh,
        leafCount: Number(record.leafCount),
        treeHash: proposed.treeHash.toLowerCase() as Hex,
        archiveHash: proposed.archiveHash.toLowerCase() as Hex,
      }
    },
    async clockNow() {
      const block = await client.getBlock({ blockTag: 'latest' })
      timestamps.set(block.number, Number(block.timestamp))
      const clock = await client.readContract({
        address: distributor,
        abi: revenueDistributorAbi,
        functionName: 'epochClock',
        blockNumber: block.number,
      })
      return { latestBlockTimestampS: Number(block.timestamp), clock: epochClockFromChain(clock) }
    },
    async transfers() {
      const logs = await logsOf(BigInt(pool.deployedAtBlock), (fromBlock, toBlock) =>
        client.getContractEvents({
          address: pool.token as Address,
          abi: revenueShareTokenAbi,
          eventName: 'Transfer',
          fromBlock,
          toBlock,
        }),
      )
      const out: TokenTransfer[] = []
      for (const log of logs) {
        const { from, to, value } = log.args as { from: Address; to: Address; value: bigint }
        out.push({
          from: from.toLowerCase(),
          to: to.toLowerCase(),
          value,
          blockNumber: log.blockNumber,
          logIndex: log.logIndex,
          timestampS: await timestampOf(log.blockNumber),
        })
      }
      return out
    },
    async identityEvents() {
      const read = (eventName: 'Verified' | 'Unverified') =>
        logsOf(options.identityFromBlock, (fromBlock, toBlock) =>
          client.getContractEvents({
            address: options.identityRegistry,
            abi: identityRegistryAbi,
            eventName,
            fromBlock,
            toBlock,
          }),
        )
      const [verified, unverified] = await Promise.all([read('Verified'), read('Unverified')])
      const out = []
      for (const [logs, isVerified] of [
        [verified, true],
        [unverified, false],
      ] as const) {
        for (const log of logs) {
          const { account } = log.args as { account: Address }
          out.push({
            account: account.toLowerCase(),
            verified: isVerified,
            blockNumber: log.blockNumber,
            logIndex: log.logIndex,
            timestampS: await timestampOf(log.blockNumber),
          })
        }
      }
      return out
    },
    async publishedRoots() {
      const logs = await logsOf(BigInt(pool.deployedAtBlock), (fromBlock, toBlock) =>
        client.getContractEvents({
          address: distributor,
          abi: revenueDistributorAbi,
          eventName: 'RootPublished',
          fromBlock,
          toBlock,
        }),
      )
      return logs.map((log): PublishedRoot => {
        const a = log.args as {
          epoch: bigint
          root: Hex
          cumulativeTotal: bigint
          funded: bigint
          treeHash: Hex
        }
        return {
          epoch: Number(a.epoch),
          root: a.root,
          cumulativeTotal: a.cumulativeTotal,
          fundedUnits: a.funded,
          treeHash: a.treeHash,
          blockNumber: log.blockNumber,
          transactionHash: log.transactionHash,
        }
      })
    },
    async claims(account) {
      const logs = await logsOf(BigInt(pool.deployedAtBlock), (fromBlock, toBlock) =>
        client.getContractEvents({
          address: distributor,
          abi: revenueDistributorAbi,
          eventName: 'Claimed',
          fromBlock,
          toBlock,
          ...(account ? { args: { account: account as Address } } : {}),
        }),
      )
      const out: ClaimEvent[] = []
      for (const log of logs) {
        const a = log.args as { account: Address; amount: bigint; cumulativeAmount: bigint }
        out.push({
          account: a.account.toLowerCase(),
          paidUnits: a.amount,
          cumulativeAmount: a.cumulativeAmount,
          blockNumber: log.blockNumber,
          timestampS: await timestampOf(log.blockNumber),
          transactionHash: log.transactionHash,
        })
      }
      return out
    },
    async treasuryFunds() {
      const treasury = pool.treasury as Address
      const token = pool.paymentToken as Address
      const [balance, allowance] = await Promise.all([
        client.readContract({
          address: token,
          abi: hkdStablecoinAbi,
          functionName: 'balanceOf',
          args: [treasury],
        }),
        client.readContract({
          address: token,
          abi: hkdStablecoinAbi,
          functionName: 'allowance',
          args: [treasury, distributor],
        }),
      ])
      return { address: treasury.toLowerCase(), balance, allowance }
    },
    currentRoot: () =>
      client.readContract({ address: distributor, abi: revenueDistributorAbi, functionName: 'root' }),
    claimed: (account) =>
      client.readContract({
        address: distributor,
        abi: revenueDistributorAbi,
        functionName: 'claimed',
        args: [account as Address],
      }),
    isVerified: (account) =>
      client.readContract({
        address: options.identityRegistry,
        abi: identityRegistryAbi,
        functionName: 'isVerified',
        args: [account as Address],
      }),
    async publish(epoch, root, cumulativeTotal, treeHash) {
      const { hash } = await send('publish', {
        address: distributor,
        abi: revenueDistributorAbi,
        functionName: 'publish',
        args: [BigInt(epoch), root, cumulativeTotal, treeHash],
      })
      return hash
    },
    async claim(account, cumulativeAmount, proof) {
      const { hash, result } = await send('claim', {
        address: distributor,
        abi: revenueDistributorAbi,
        functionName: 'claim',
        args: [account as Address, cumulativeAmount, proof],
      })
      return { hash, paidUnits: result as bigint }
    },
  }
}
