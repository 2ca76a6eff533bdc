/**
 * What a signer sends again for the epoch the chain waits on. Pure.
 *
 * A signature travels once on oracle.signatures.v1, and the submitter may lose it: refused as
 * too far ahead of the chain (its book keeps only `epochsAhead` epochs, so a submitter that
 * fell behind drops what the signers already moved past), dropped by an eviction, or never read
 * by a submitter that starts late. Before this, nobody sent it again and the pool waited for
 * good. The chain says which epoch is needed (each pool's `nextEpoch`, while it is neither
 * pending nor final), so each signer re-publishes its signature for exactly that epoch, at most
 * once per `intervalMs`: a lost signature costs one interval, the book stays bounded, and a
 * duplicate is harmless (the book keeps one signature per signer and proposal).
 */
import type { Proposal } from './proposal.ts'

export interface KeptSignature {
  readonly proposal: Proposal
  readonly signature: `0x${string}`
  /** When it was last published (wall clock, ms). */
  readonly publishedAtMs: number
}

export type ResignAction =
  | { readonly kind: 'none' }
  /**
   * The chain waits on another attempt than the one signed: the guardian rejected the root (a
   * higher one), or a reorg undid a rejection (a lower one). Sign the same proposal for it.
   */
  | { readonly kind: 'sign-attempt'; readonly attempt: number }
  /** The chain still waits for it: publish the kept signature again. */
  | { readonly kind: 'republish' }

export function resignAction(
  kept: KeptSignature,
  record: { readonly status: 'none' | 'pending' | 'rejected' | 'final'; readonly attempt: number },
  nowMs: number,
  intervalMs: number,
): ResignAction {
  if (record.status === 'pending' || record.status === 'final') return { kind: 'none' }
  if (record.attempt !== kept.proposal.attempt) return { kind: 'sign-attempt', attempt: record.attempt }
  if (record.attempt === kept.proposal.attempt && nowMs - kept.publishedAtMs >= intervalMs)
    return { kind: 'republish' }
  return { kind: 'none' }
}
