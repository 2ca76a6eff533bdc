/**
 * The submitter's view of what the signers said, per pool and epoch. Pure: the adapter checks
 * that a signature recovers to the signer it names before it is added here, and the chain says
 * which signers count and how many are needed.
 *
 * Signers agree when they signed the same proposal (every field, see `proposalKey`). Two
 * proposals for one pool and epoch are a disagreement: reported once per new proposal, with both
 * roots, so it can be logged and counted. Nothing reaches the threshold by mixing proposals.
 */
import { getOrCreate } from '../../../core/collections.ts'
import { type Hex, type Proposal, proposalKey } from './proposal.ts'

export interface SignedProposal {
  readonly proposal: Proposal
  readonly signer: Hex
  readonly signature: Hex
}

export interface Refusal {
  readonly poolId: string
  readonly epoch: number
  readonly signer: Hex
  readonly reason: string
  readonly detail: string
  /** The root the refusing signer computed, when it got that far. */
  readonly ownRoot: Hex | undefined
}

export interface Disagreement {
  readonly poolId: string
  readonly epoch: number
  /** The roots (and signers) of the proposals already seen and of the new one, new one last. */
  readonly proposals: readonly {
    readonly root: Hex
    readonly key: string
    readonly signers: readonly Hex[]
  }[]
}

export interface ReadyProposal {
  readonly proposal: Proposal
  /** Exactly `threshold` signatures, signers in ascending address order (what the contract wants). */
  readonly signers: readonly Hex[]
  readonly signatures: readonly Hex[]
}

interface Candidate {
  readonly proposal: Proposal
  readonly key: string
  /** signer (lower-case) → signature */
  readonly signatures: Map<string, Hex>
}

const epochKey = (poolId: string, epoch: number) => `${poolId}\u0000${epoch}`

export class SignatureBook {
  private readonly candidates = new Map<string, Map<string, Candidate>>()
  private readonly refusals = new Map<string, Refusal[]>()

  /** Adds a verified signature; returns the disagreement it reveals, if it is a new proposal. */
  add(signed: SignedProposal): Disagreement | undefined {
    const { proposal } = signed
    const byKey = getOrCreate(this.candidates, epochKey(proposal.poolId, proposal.epoch), () => new Map())
    const key = proposalKey(proposal)
    const isNew = !byKey.has(key)
    const candidate = getOrCreate(byKey, key, () => ({ proposal, key, signatures: new Map() }))
    candidate.signatures.set(signed.signer.toLowerCase(), signed.signature)
    if (!isNew || byKey.size < 2) return undefined
    return {
      poolId: proposal.poolId,
      epoch: proposal.epoch,
      proposals: [...byKey.values()].map((c) => ({
        root: c.proposal.root,
        key: c.key,
        signers: [...c.signatures.keys()] as Hex[],
      })),
    }
  }

  addRefusal(refusal: Refusal): void {
    getOrCreate(this.refusals, epochKey(refusal.poolId, refusal.epoch), () => []).push(refusal)
  }

  refusalsFor(poolId: string, epoch: number): readonly Refusal[] {
    return this.refusals.get(epochKey(poolId, epoch)) ?? []
  }

  /** Distinct proposals seen for a pool and epoch. */
  proposalsFor(poolId: string, epoch: number): readonly Proposal[] {
    return [...(this.candidates.get(epochKey(poolId, epoch))?.values() ?? [])].map((c) => c.proposal)
  }

  /**
   * A proposal for the chain's current attempt that `threshold` of the current signers signed, whose root is not excluded (a
   * root the guardian rejected for this epoch). When several qualify (signers equivocated), the one with the most
   * current signatures wins, ties by key, so every submitter picks the same.
   */
  ready(
    poolId: string,
    epoch: number,
    attempt: number,
    currentSigners: readonly Hex[],
    threshold: number,
    excludedRoots: ReadonlySet<string> = new Set(),
  ): ReadyProposal | undefined {
    if (threshold < 1) return undefined
    const allowed = new Set(currentSigners.map((s) => s.toLowerCase()))
    let best: { candidate: Candidate; signers: string[] } | undefined
    for (const candidate of this.candidates.get(epochKey(poolId, epoch))?.values() ?? []) {
      if (candidate.proposal.attempt !== attempt) continue
      if (excludedRoots.has(candidate.proposal.root.toLowerCase())) continue
      const signers = [...candidate.signatures.keys()].filter((s) => allowed.has(s))
      if (signers.length < threshold) continue
      if (
        !best ||
        signers.length > best.signers.length ||
        (signers.length === best.signers.length && candidate.key < best.candidate.key)
      ) {
        best = { candidate, signers }
      }
    }
    if (!best) return undefined
    const chosen = best.signers.sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1)).slice(0, threshold)
    return {
      proposal: best.candidate.proposal,
      signers: chosen as Hex[],
      signatures: chosen.map((s) => best.candidate.signatures.get(s) as Hex),
    }
  }

  /** Forgets everything of epochs before `epoch` of a pool (they are final). */
  forgetBefore(poolId: string, epoch: number): void {
    for (const map of [this.candidates, this.refusals] as Map<string, unknown>[]) {
      for (const key of map.keys()) {
        const [pool, e] = key.split('\u0000')
        if (pool === poolId && Number(e) < epoch) map.delete(key)
      }
    }
  }
}
