/**
 * What the oracle commits per pool and epoch, independent of how it travels (EIP-712 on-chain,
 * JSON on Kafka). Two signers agree exactly when their proposals have the same key: every field
 * is part of it, so a signer that computed the same root but another archive hash disagrees.
 */
import { GridrootError } from '../../../core/errors/base.ts'

export type Hex = `0x${string}`

export interface Proposal {
  /** The registry's pool id (the chain sees it as bytes32, see the chain adapter). */
  readonly poolId: string
  readonly epoch: number
  /**
   * RevenueOracle's attempt number for the pool epoch: 0, then +1 per guardian rejection. It is
   * signed, so a signature of a rejected attempt never counts again.
   */
  readonly attempt: number
  /** Root of the device tree; 0x00…00 for an epoch in which the pool earned nothing. */
  readonly root: Hex
  readonly revenueUnits: bigint
  readonly energyWh: bigint
  readonly leafCount: number
  /** keccak256 of the published tree file (its content address). */
  readonly treeHash: Hex
  /** keccak256 of the published readings archive. */
  readonly archiveHash: Hex
}

export const ZERO_HASH: Hex = `0x${'0'.repeat(64)}`

/** A canonical string of every field: equal keys, equal proposals. */
export function proposalKey(p: Proposal): string {
  return [
    p.poolId,
    p.epoch,
    p.attempt,
    p.root.toLowerCase(),
    p.revenueUnits,
    p.energyWh,
    p.leafCount,
    p.treeHash.toLowerCase(),
    p.archiveHash.toLowerCase(),
  ].join('|')
}

const PROPOSAL_FIELDS = [
  'poolId',
  'epoch',
  'attempt',
  'root',
  'revenueUnits',
  'energyWh',
  'leafCount',
  'treeHash',
  'archiveHash',
] as const satisfies readonly (keyof Proposal)[]

/** The fields in which two proposals differ (hex compared case-insensitively), for messages. */
export function differingFields(a: Proposal, b: Proposal): (keyof Proposal)[] {
  const norm = (v: unknown) => (typeof v === 'string' ? v.toLowerCase() : v)
  return PROPOSAL_FIELDS.filter((k) => norm(a[k]) !== norm(b[k]))
}

/** The JSON form used on Kafka and in logs: bigints as decimal strings. */
export interface ProposalJson {
  readonly poolId: string
  readonly epoch: number
  readonly attempt: number
  readonly root: string
  readonly revenueUnits: string
  readonly energyWh: string
  readonly leafCount: number
  readonly treeHash: string
  readonly archiveHash: string
}

export function proposalToJson(p: Proposal): ProposalJson {
  return { ...p, revenueUnits: p.revenueUnits.toString(), energyWh: p.energyWh.toString() }
}

const HEX32 = /^0x[0-9a-fA-F]{64}$/

export class ProposalInvalidError extends GridrootError<'PROPOSAL_INVALID'> {
  override readonly name = 'ProposalInvalidError'
  constructor(detail: string) {
    super('PROPOSAL_INVALID', `a proposal is malformed: ${detail}`, {
      metaMessages: ['The record is skipped; it did not come from a gridroot oracle signer of this version.'],
    })
  }
}

export function proposalFromJson(j: ProposalJson): Proposal {
  for (const k of ['root', 'treeHash', 'archiveHash'] as const) {
    if (typeof j[k] !== 'string' || !HEX32.test(j[k]))
      throw new ProposalInvalidError(`${k} is not 32 bytes hex`)
  }
  if (typeof j.poolId !== 'string' || j.poolId.length === 0) throw new ProposalInvalidError('poolId missing')
  if (!Number.isSafeInteger(j.epoch) || j.epoch < 0) throw new ProposalInvalidError('epoch is not an integer')
  if (!Number.isSafeInteger(j.attempt) || j.attempt < 0)
    throw new ProposalInvalidError('attempt is not an integer')
  if (!Number.isSafeInteger(j.leafCount) || j.leafCount < 0)
    throw new ProposalInvalidError('leafCount is not an integer')
  if (!/^\d+$/.test(j.revenueUnits) || !/^\d+$/.test(j.energyWh))
    throw new ProposalInvalidError('totals are not decimal integers')
  return {
    poolId: j.poolId,
    epoch: j.epoch,
    attempt: j.attempt,
    root: j.root.toLowerCase() as Hex,
    revenueUnits: BigInt(j.revenueUnits),
    energyWh: BigInt(j.energyWh),
    leafCount: j.leafCount,
    treeHash: j.treeHash.toLowerCase() as Hex,
    archiveHash: j.archiveHash.toLowerCase() as Hex,
  }
}
