/**
 * The interfaces the oracle's domain and its services need from the world. `domain/` imports
 * only these (and core); `adapters/` implement them against Kafka, InfluxDB, the artifact store
 * and the chain.
 */
import type { DeviceLeaf } from '../../core/merkle/index.ts'
import type { Hex, Proposal } from './domain/proposal.ts'
import type { BlockMark } from './domain/reorg.ts'
import type { Refusal, SignedProposal } from './domain/signature-book.ts'

/** One device's totals in a closed epoch, as the aggregator books them (epoch_device). */
export interface DeviceEpochTotals {
  readonly deviceId: string
  readonly poolId: string
  readonly assetClass: string
  readonly energyWh: number
  readonly revenueUnits: bigint
  readonly swaps: number
  readonly readings: number
  readonly quarantined: number
}

/** An epochs.v1 announcement (docs/architecture.md, "epochs.v1"), decoded. */
export interface EpochAnnouncement {
  readonly epoch: number
  readonly startMs: number
  readonly endMs: number
  readonly pools: readonly {
    readonly poolId: string
    readonly devices: number
    readonly energyWh: number
    readonly revenueUnits: bigint
    readonly readings: number
  }[]
  /** sha256 hex over the aggregator's per-device totals of the epoch (all pools). */
  readonly digest: string
}

/** The aggregator's booked totals of a closed epoch (InfluxDB `epoch_device`). */
export interface EpochTotalsStore {
  epochTotals(epoch: number): Promise<DeviceEpochTotals[]>
}

/** One telemetry.v1 record as the readings archive keeps it. */
export interface ArchivedRecord {
  readonly deviceId: string
  readonly partition: number
  readonly offset: string
  /** Kafka record timestamp: ingest's receive time, ms. */
  readonly receivedAtMs: number
  /** The record value: the exact bytes the device signed and sent, base64. */
  readonly valueBase64: string
}

/** Content-addressed artifacts (published trees and readings archives). */
export interface ArtifactStore {
  /** Stores bytes under keccak256(bytes); idempotent. Returns the hash. */
  put(bytes: Uint8Array): Promise<Hex>
  /** The bytes stored under a hash; undefined when absent. */
  get(hash: Hex): Promise<Uint8Array | undefined>
}

export interface ProposalSigner {
  readonly address: Hex
  /** The EIP-712 signature of the proposal (at its attempt) for the configured chain and RevenueOracle. */
  sign(proposal: Proposal): Promise<Hex>
}

/** What travels on `oracle.signatures.v1`. */
export type SignerMessage =
  | ({ readonly kind: 'signature'; readonly instance: string; readonly source: string } & SignedProposal)
  | ({ readonly kind: 'refusal'; readonly instance: string; readonly source: string } & Refusal)

export interface SignatureChannel {
  publish(message: SignerMessage): Promise<void>
}

export type EpochStatus = 'none' | 'pending' | 'rejected' | 'final'

/** RevenueOracle's stored record of a pool epoch. */
export interface EpochRecord {
  readonly status: EpochStatus
  /** 0, then +1 per guardian rejection: what the next signatures must be made for. */
  readonly attempt: number
  readonly root: Hex
  readonly finalizesAtSec: bigint
  /** What the record stores of the proposal besides its root (the chain adapter always reads them). */
  readonly revenueUnits?: bigint
  readonly leafCount?: number
}

/** RevenueOracle as the signers, the submitter and the verifier see it. */
export interface OracleChain {
  signerSet(): Promise<{ readonly signers: readonly Hex[]; readonly threshold: number }>
  /** undefined when the pool is not registered on-chain. */
  pool(poolId: string): Promise<{ readonly firstEpoch: number; readonly nextEpoch: number } | undefined>
  epochRecord(poolId: string, epoch: number): Promise<EpochRecord>
  /**
   * What was proposed for a pool epoch attempt, every signed field, as its EpochProposed event
   * carries it (the record stores only root, totals and leaf count); undefined when never proposed.
   */
  proposalOf(poolId: string, epoch: number, attempt: number): Promise<Proposal | undefined>
  /** Roots the guardian rejected for a pool epoch (from EpochRejected events). */
  rejectedRoots(poolId: string, epoch: number): Promise<readonly Hex[]>
  /** The latest block's number and hash (domain/reorg.ts). */
  headBlock(): Promise<BlockMark>
  /** The block at a number; undefined when the chain does not reach it. */
  blockAt(number: bigint): Promise<BlockMark | undefined>
  /** Chain time (latest block), seconds. */
  nowSec(): Promise<bigint>
  /** Sends propose with the signatures (the adapter orders them as the contract wants). */
  propose(
    proposal: Proposal,
    signatures: readonly { readonly signer: Hex; readonly signature: Hex }[],
  ): Promise<Hex>
  finalize(poolId: string, epoch: number): Promise<Hex>
  /** A finalized epoch's commitment (tree and archive hashes from its EpochProposed event). */
  finalized(poolId: string, epoch: number): Promise<FinalizedEpoch | undefined>
  /**
   * RevenueOracle.verifyDeviceLeaf: the contract folds the proof to the finalized root itself
   * (OpenZeppelin MerkleProof). Rejects (NotFinalized) unless the leaf's epoch is final.
   */
  verifyDeviceLeaf(leaf: DeviceLeaf, proof: readonly Hex[]): Promise<boolean>
}

export interface FinalizedEpoch {
  readonly root: Hex
  readonly revenueUnits: bigint
  readonly energyWh: bigint
  readonly leafCount: number
  readonly treeHash: Hex
  readonly archiveHash: Hex
}
