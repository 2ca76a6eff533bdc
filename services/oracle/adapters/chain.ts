/**
 * RevenueOracle through viem: the `OracleChain` port, EIP-712 signing for a signer key and
 * signature recovery for the submitter. Typed data and signature packing come from
 * core/chain/epoch-root-typed-data.ts, the ABI from contracts/abi, the addresses from the
 * contracts file.
 */
import {
  type Account,
  type Address,
  BlockNotFoundError,
  type Chain,
  createWalletClient,
  type PublicClient,
  recoverTypedDataAddress,
  type Transport,
  type WalletClient,
} from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { revenueOracleAbi } from '../../../contracts/abi/index.ts'
import {
  type EpochRootProposal,
  epochRootTypedData,
  packSignatures,
} from '../../../core/chain/epoch-root-typed-data.ts'
import { GridrootError, RetryableError } from '../../../core/errors/base.ts'
import { type DeviceLeaf, poolIdToBytes32 } from '../../../core/merkle/index.ts'
import {
  explainMinedRevert,
  type MinedRevert,
  minedRevertDetails,
} from '../../../runtime/chain/mined-revert.ts'
import type { DecodedRevert } from '../../../runtime/chain/revert.ts'
import { submitInTurn } from '../../../runtime/chain/send-queue.ts'
import { createChainClients } from '../../../runtime/clients/chain.ts'
import type { Endpoints } from '../../../runtime/endpoints.ts'
import type { Hex, Proposal } from '../domain/proposal.ts'
import type { EpochRecord, EpochStatus, FinalizedEpoch, OracleChain, ProposalSigner } from '../ports.ts'

const STATUS: readonly EpochStatus[] = ['none', 'pending', 'rejected', 'final']

export function toContractProposal(p: Proposal): EpochRootProposal {
  return {
    poolId: poolIdToBytes32(p.poolId),
    epoch: BigInt(p.epoch),
    root: p.root,
    revenueUnits: p.revenueUnits,
    energyWh: p.energyWh,
    leafCount: p.leafCount,
    treeHash: p.treeHash,
    archiveHash: p.archiveHash,
  }
}

/** A device leaf as RevenueOracle's `DeviceLeaf` struct takes it. */
export function toContractDeviceLeaf(leaf: DeviceLeaf) {
  return {
    poolId: poolIdToBytes32(leaf.poolId),
    epoch: BigInt(leaf.epoch),
    deviceId: leaf.deviceId,
    energyWh: BigInt(leaf.energyWh),
    revenueUnits: leaf.revenueUnits,
    readings: leaf.readings,
    readingsDigest: leaf.readingsDigest,
  }
}

/** A transaction was mined but reverted; the message says why (the replayed revert, or out of gas). */
export class TransactionRevertedError extends RetryableError<'ORACLE_TX_REVERTED'> {
  override readonly name = 'TransactionRevertedError'
  readonly revert: DecodedRevert | undefined
  constructor(what: string, mined: MinedRevert) {
    super('ORACLE_TX_REVERTED', `${what} was mined but reverted (${mined.hash}): ${mined.why}`, {
      metaMessages: ['The chain state moved between reading and sending; the next tick reads it again.'],
      details: minedRevertDetails(mined),
      cause: mined.replayError,
    })
    this.revert = mined.revert
  }
}

export interface OracleChainOptions {
  readonly endpoint: Endpoints['chain']
  readonly oracle: Address
  /** Where the oracle's events start (the deployment block). */
  readonly fromBlock: bigint
  /** The submitter's key; without it the adapter is read-only. */
  readonly senderKey?: Hex
  /** Per RPC request (runtime/clients/chain.ts default: 10 s). */
  readonly timeoutMs?: number
}

export function createOracleChain(options: OracleChainOptions): OracleChain & { publicClient: PublicClient } {
  const { publicClient, chain, transport } = createChainClients(
    options.endpoint,
    options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs },
  )
  const address = options.oracle
  const wallet: WalletClient<Transport, Chain, Account> | undefined = options.senderKey
    ? createWalletClient({ account: privateKeyToAccount(options.senderKey), chain, transport })
    : undefined
  const read = <T>(functionName: string, args: readonly unknown[] = []) =>
    publicClient.readContract({ address, abi: revenueOracleAbi, functionName, args } as never) as Promise<T>

  const epochRecord = async (poolId: string, epoch: number): Promise<EpochRecord> => {
    const r = await read<{
      root: Hex
      status: number
      attempt: number
      finalizesAt: bigint
      leafCount: number
      revenueUnits: bigint
    }>('epochRecord', [poolIdToBytes32(poolId), BigInt(epoch)])
    return {
      status: STATUS[r.status] ?? 'none',
      attempt: Number(r.attempt),
      root: r.root,
      finalizesAtSec: BigInt(r.finalizesAt),
      revenueUnits: BigInt(r.revenueUnits),
      leafCount: Number(r.leafCount),
    }
  }

  const proposalOf = async (
    poolId: string,
    epoch: number,
    attempt: number,
  ): Promise<Proposal | undefined> => {
    const logs = await publicClient.getContractEvents({
      address,
      abi: revenueOracleAbi,
      eventName: 'EpochProposed',
      args: { poolId: poolIdToBytes32(poolId), epoch: BigInt(epoch) },
      fromBlock: options.fromBlock,
    } as never)
    // One per attempt on the canonical chain (a second propose of a pending epoch reverts).
    const proposed = (logs as unknown as { args: { attempt: number; proposal: EpochRootProposal } }[])
      .filter((l) => Number(l.args.attempt) === attempt)
      .at(-1)
    if (!proposed) return undefined
    const p = proposed.args.proposal
    return {
      poolId,
      epoch,
      attempt,
      root: p.root.toLowerCase() as Hex,
      revenueUnits: BigInt(p.revenueUnits),
      energyWh: BigInt(p.energyWh),
      leafCount: Number(p.leafCount),
      treeHash: p.treeHash.toLowerCase() as Hex,
      archiveHash: p.archiveHash.toLowerCase() as Hex,
    }
  }

  const send = async (what: string, functionName: string, args: readonly unknown[]): Promise<Hex> => {
    if (!wallet) throw new Error('this chain adapter has no sender key')
    const hash = await submitInTurn(wallet.account.address, () =>
      wallet.writeContract({ address, abi: revenueOracleAbi, functionName, args } as never),
    )
    const receipt = await publicClient.waitForTransactionReceipt({ hash })
    if (receipt.status !== 'success')
      throw new TransactionRevertedError(what, await explainMinedRevert(publicClient, receipt))
    return hash
  }

  return {
    publicClient,
    async signerSet() {
      const config = await read<{ threshold: number }>('config')
      const logs = await publicClient.getContractEvents({
        address,
        abi: revenueOracleAbi,
        fromBlock: options.fromBlock,
        eventName: undefined,
      } as never)
      const signers = new Set<string>()
      for (const log of logs as unknown as { eventName: string; args: { signer?: Address } }[]) {
        const s = log.args.signer?.toLowerCase()
        if (!s) continue
        if (log.eventName === 'SignerAdded') signers.add(s)
        if (log.eventName === 'SignerRemoved') signers.delete(s)
      }
      return { signers: [...signers] as Hex[], threshold: Number(config.threshold) }
    },
    async pool(poolId) {
      const p = await read<{ registered: boolean; firstEpoch: bigint; nextEpoch: bigint }>('poolOf', [
        poolIdToBytes32(poolId),
      ])
      return p.registered ? { firstEpoch: Number(p.firstEpoch), nextEpoch: Number(p.nextEpoch) } : undefined
    },
    epochRecord,
    async rejectedRoots(poolId, epoch) {
      const logs = await publicClient.getContractEvents({
        address,
        abi: revenueOracleAbi,
        eventName: 'EpochRejected',
        args: { poolId: poolIdToBytes32(poolId), epoch: BigInt(epoch) },
        fromBlock: options.fromBlock,
      } as never)
      return (logs as unknown as { args: { root: Hex } }[]).map((l) => l.args.root.toLowerCase() as Hex)
    },
    async headBlock() {
      const block = await publicClient.getBlock({ blockTag: 'latest' })
      return { number: block.number, hash: block.hash }
    },
    async blockAt(number) {
      try {
        const block = await publicClient.getBlock({ blockNumber: number })
        return { number: block.number, hash: block.hash }
      } catch (error) {
        if (error instanceof BlockNotFoundError) return undefined
        throw error
      }
    },
    async nowSec() {
      // A quiet local chain mines no blocks, so its latest timestamp stands still; the next
      // transaction is mined at the wall clock. Taking the later of the two lets finalize go out
      // once the window has passed (a few seconds early on a real chain just reverts and retries).
      const latest = (await publicClient.getBlock({ blockTag: 'latest' })).timestamp
      const wall = BigInt(Math.floor(Date.now() / 1000))
      return latest > wall ? latest : wall
    },
    propose: (proposal, signatures) =>
      send(`propose ${proposal.poolId}/${proposal.epoch}`, 'propose', [
        toContractProposal(proposal),
        packSignatures(signatures.map((s) => ({ signer: s.signer as Address, signature: s.signature }))),
      ]),
    finalize: (poolId, epoch) =>
      send(`finalize ${poolId}/${epoch}`, 'finalize', [poolIdToBytes32(poolId), BigInt(epoch)]),
    proposalOf,
    async finalized(poolId, epoch): Promise<FinalizedEpoch | undefined> {
      const record = await epochRecord(poolId, epoch)
      if (record.status !== 'final') return undefined
      const p = await proposalOf(poolId, epoch, record.attempt)
      if (!p) return undefined
      return {
        root: record.root.toLowerCase() as Hex,
        revenueUnits: p.revenueUnits,
        energyWh: p.energyWh,
        leafCount: p.leafCount,
        treeHash: p.treeHash,
        archiveHash: p.archiveHash,
      }
    },
    verifyDeviceLeaf: (leaf, proof) =>
      read<boolean>('verifyDeviceLeaf', [toContractDeviceLeaf(leaf), [...proof]]),
  }
}

export function createProposalSigner(key: Hex, chainId: number, oracle: Address): ProposalSigner {
  const account = privateKeyToAccount(key)
  return {
    address: account.address.toLowerCase() as Hex,
    sign: (proposal) =>
      account.signTypedData(
        epochRootTypedData({
          chainId,
          oracle,
          proposal: toContractProposal(proposal),
          attempt: proposal.attempt,
        }),
      ),
  }
}

/** secp256k1's group order halved: OpenZeppelin's ECDSA refuses any s above it. */
const SECP256K1_HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n

/** A signature in its malleable high-s form: the contract would refuse it. */
export class MalleableSignatureError extends GridrootError<'ORACLE_SIGNATURE_HIGH_S'> {
  override readonly name = 'MalleableSignatureError'
  constructor() {
    super('ORACLE_SIGNATURE_HIGH_S', 'the signature has a high-s value (malleable form)', {
      metaMessages: [
        "RevenueOracle (ECDSA.tryRecover) refuses it; the record is skipped so it cannot replace the signer's low-s signature.",
      ],
    })
  }
}

/**
 * Recovers the signer of a proposal signature, refusing high-s signatures like the contract:
 * anyone who can write to the signatures topic could otherwise republish a signer's signature
 * as (r, n - s), which recovers to the same signer here, replaces the good one in the book, and
 * makes every propose revert.
 */
export function signatureRecoverer(chainId: number, oracle: Address) {
  return async (proposal: Proposal, signature: Hex): Promise<Hex> => {
    if (signature.length === 132 && BigInt(`0x${signature.slice(66, 130)}`) > SECP256K1_HALF_N)
      throw new MalleableSignatureError()
    return (
      await recoverTypedDataAddress({
        ...epochRootTypedData({
          chainId,
          oracle,
          proposal: toContractProposal(proposal),
          attempt: proposal.attempt,
        }),
        signature,
      })
    ).toLowerCase() as Hex
  }
}
