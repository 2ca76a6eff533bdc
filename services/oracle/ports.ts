/**
 * The interfaces the oracle's domain needs from the world. `domain/` imports only these (and
 * core); `adapters/` implement them against Kafka, InfluxDB, the artifact store and the chain.
 */
import type { Hex, Proposal } from './domain/proposal.ts'
import type { Refusal, SignedProposal } from './domain/signature-book.ts'
import type { PoolChainState } from './domain/submit-step.ts'

/** One device's leaf values for a pool and epoch (the fields of core/merkle's device leaf). */
export interface DeviceLeafValues {
  readonly poolId: string
  readonly epoch: number
  readonly deviceId: string
  readonly energyWh: bigint
  readonly revenueUnits: bigint
  readonly readings: number
  readonly readingsDigest: Hex
}

/** What an epoch's close announcement says about one pool. */
export interface AnnouncedPool {
  readonly poolId: string
  readonly devices: number
  readonly energyWh: bigint
  readonly revenueUnits: bigint
  readonly readings: number
}

export interface EpochAnnouncement {
  readonly epoch: number
  readonly pools: readonly AnnouncedPool[]
  /** The aggregator's digest over the epoch's per-device totals. */
  readonly digest: Hex
  /** Kafka record the announcement came in, for logs. */
  readonly source: { readonly partition: number; readonly offset: string }
}

/** Where a signer's per-device totals come from: the aggregator's InfluxDB, or its own replay. */
export interface LeafSource {
  readonly kind: 'influx' | 'replay'
  /** Every device of every pool with totals in the epoch; waits until the source has them. */
  leaves(announcement: EpochAnnouncement): Promise<readonly DeviceLeafValues[]>
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

/** The original signed records whose readings the leaves of a pool and epoch pay for. */
export interface ArchiveSource {
  recordsFor(poolId: string, epoch: number, deviceIds: readonly string[]): Promise<readonly ArchivedRecord[]>
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
  /** The EIP-712 signature of the proposal for the configured chain and RevenueOracle. */
  sign(proposal: Proposal): Promise<Hex>
}

/** What travels on `oracle.signatures.v1`. */
export type SignerMessage =
  | ({ readonly kind: 'signature'; readonly instance: string; readonly source: string } & SignedProposal)
  | ({ readonly kind: 'refusal'; readonly instance: string; readonly source: string } & Refusal)

export interface SignatureChannel {
  publish(message: SignerMessage): Promise<void>
}

/** RevenueOracle as the submitter and the verifier see it. */
export interface OracleChain {
  signerSet(): Promise<{ readonly signers: readonly Hex[]; readonly threshold: number }>
  poolState(poolId: string): Promise<PoolChainState>
  /** Chain time (latest block), seconds. */
  nowSec(): Promise<bigint>
  propose(proposal: Proposal, signatures: readonly Hex[]): Promise<Hex>
  finalize(poolId: string, epoch: number): Promise<Hex>
  /** A finalized epoch's commitment; undefined while not final. */
  finalized(poolId: string, epoch: number): Promise<FinalizedEpoch | undefined>
}

export interface FinalizedEpoch {
  readonly root: Hex
  readonly revenueUnits: bigint
  readonly energyWh: bigint
  readonly leafCount: number
  readonly treeHash: Hex
  readonly archiveHash: Hex
}
