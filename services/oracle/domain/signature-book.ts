/**
 * The submitter's view of what the signers said, per pool and epoch. Pure: the adapter checks
 * that a signature recovers to the signer it names before it is added here, and the chain says
 * which signers count and how many are needed.
 *
 * Signers agree when they signed the same proposal (every field, see `proposalKey`). Two
 * proposals for one pool and epoch are a disagreement: reported once per new proposal, with both
 * roots, so it can be logged and counted. Nothing reaches the threshold by mixing proposals.
 *
 * Bounded, whatever the signers publish (a hostile or buggy one may sign any number of roots and
 * epochs, and anyone can make keys whose signatures recover): only the book's pools; per pool
 * only epochs from the chain's next epoch to `epochsAhead` beyond it, and at that next epoch only
 * its current attempt (`sync`); once the signer set is known (`setSigners`) only its members;
 * per signer and epoch its latest `proposalsPerSigner` proposals; per epoch at most
 * `proposalsPerEpoch` distinct proposals, `signaturesPerProposal` signatures on one, and
 * `refusalsPerEpoch` refusals. What is final is kept until it is final at a safe depth
 * (domain/final-retention.ts, at most `finalEpochsKept` epochs behind the chain's next one): a
 * reorg can make it pending or open again, and the submitter then finalizes or proposes it again
 * with these signatures (attack10 F8: dropped at once, its own root looked "unsigned").
 */
import { FinalRetention } from './final-retention.ts'
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

export interface SignatureBookLimits {
  /** Epochs kept beyond the chain's next epoch: how far the signers may run ahead of the chain. */
  readonly epochsAhead: number
  /** Distinct proposals kept per pool epoch (raised to members × proposalsPerSigner). */
  readonly proposalsPerEpoch: number
  /** Proposals one signer counts on per pool epoch; a newer one drops its oldest. */
  readonly proposalsPerSigner: number
  /** Signatures kept on one proposal (binds only while the signer set is not known yet). */
  readonly signaturesPerProposal: number
  /** Refusals kept per pool epoch (the latest per signer). */
  readonly refusalsPerEpoch: number
  /** Blocks past the head at which an epoch was first seen final before its signatures go. */
  readonly finalDepthBlocks: bigint
  /** Final epochs kept at most behind the chain's next epoch. */
  readonly finalEpochsKept: number
}

export const DEFAULT_SIGNATURE_BOOK_LIMITS: SignatureBookLimits = {
  epochsAhead: 64,
  proposalsPerEpoch: 8,
  proposalsPerSigner: 2,
  signaturesPerProposal: 16,
  refusalsPerEpoch: 16,
  finalDepthBlocks: 64n,
  finalEpochsKept: 16,
}

/**
 * Why a signature was not kept. `EPOCH_DONE` and `STALE_ATTEMPT` are the normal fate of history
 * re-read on start; the others mean a signer published what no submitter can use.
 */
export type BookRefusal =
  | 'UNKNOWN_POOL'
  | 'EPOCH_DONE'
  | 'STALE_ATTEMPT'
  | 'EPOCH_TOO_FAR'
  | 'NOT_A_SIGNER'
  | 'TOO_MANY_PROPOSALS'
  | 'TOO_MANY_SIGNATURES'

export type AddResult =
  | { readonly kind: 'added'; readonly disagreement: Disagreement | undefined }
  | { readonly kind: 'refused'; readonly reason: BookRefusal }

interface Candidate {
  readonly proposal: Proposal
  readonly key: string
  /** signer (lower-case) → signature */
  readonly signatures: Map<string, Hex>
}

interface EpochEntry {
  readonly candidates: Map<string, Candidate>
  /** signer (lower-case) → keys of the candidates it signed, oldest first */
  readonly bySigner: Map<string, string[]>
  /** signer (lower-case) → its latest refusal, oldest first */
  readonly refusals: Map<string, Refusal>
}

interface PoolEntry {
  readonly poolId: string
  /** The chain's next epoch and its attempt, once known. */
  floor: { epoch: number; attempt: number } | undefined
  readonly epochs: Map<number, EpochEntry>
}

export class SignatureBook {
  private readonly pools = new Map<string, PoolEntry>()
  private readonly limits: SignatureBookLimits
  private members: Set<string> | undefined
  private readonly retention: FinalRetention
  /** The chain's head block as last told (`setHead`): what final depth is measured against. */
  private head: bigint | undefined
  /** Pools whose next sync may move the floor back (after a reorg, `rewind`). */
  private readonly rewound = new Set<string>()

  constructor(pools: readonly string[], limits: Partial<SignatureBookLimits> = {}) {
    this.limits = { ...DEFAULT_SIGNATURE_BOOK_LIMITS, ...limits }
    this.retention = new FinalRetention({
      depthBlocks: this.limits.finalDepthBlocks,
      epochsKept: this.limits.finalEpochsKept,
    })
    for (const poolId of pools) this.pools.set(poolId, { poolId, floor: undefined, epochs: new Map() })
  }

  /** The chain's head block now (each pass): final epochs settle by depth below it. */
  setHead(headBlock: bigint): void {
    this.head = headBlock
  }

  /**
   * The chain reorganized: the next sync of each pool takes the chain's next epoch and attempt
   * as they are, even if lower than before (an epoch final or pending again).
   */
  rewind(): void {
    for (const poolId of this.pools.keys()) this.rewound.add(poolId)
  }

  /** Whether the chain's next epoch of this pool is known (see `sync`). */
  /** The chain's next epoch of a pool as last synced; undefined before the first sync. */
  nextEpochOf(poolId: string): number | undefined {
    return this.pools.get(poolId)?.floor?.epoch
  }

  isSynced(poolId: string): boolean {
    return this.pools.get(poolId)?.floor !== undefined
  }

  hasSigners(): boolean {
    return this.members !== undefined
  }

  /** Whether a signer is in the on-chain set (false while the set is not known). */
  isMember(signer: Hex): boolean {
    return this.members?.has(signer.toLowerCase()) ?? false
  }

  /**
   * The chain state of a pool: its next epoch and that epoch's attempt. Drops final epochs once
   * settled (final at a safe depth, or too many behind), the next epoch's earlier attempts, and
   * epochs beyond the window. Never moves back (a stale read) unless `rewind` was called.
   */
  sync(poolId: string, nextEpoch: number, attempt: number): void {
    const pool = this.pools.get(poolId)
    if (!pool) return
    const floor = pool.floor
    if (
      floor &&
      !this.rewound.has(poolId) &&
      (nextEpoch < floor.epoch || (nextEpoch === floor.epoch && attempt < floor.attempt))
    )
      return
    this.rewound.delete(poolId)
    pool.floor = { epoch: nextEpoch, attempt }
    const settled = this.retention.observe(poolId, nextEpoch, this.head)
    for (const [epoch, entry] of pool.epochs) {
      if (epoch <= settled || epoch > nextEpoch + this.limits.epochsAhead) pool.epochs.delete(epoch)
      else if (epoch === nextEpoch)
        for (const candidate of [...entry.candidates.values()])
          if (candidate.proposal.attempt < attempt) dropCandidate(entry, candidate)
    }
  }

  /** The on-chain signer set: signatures of anyone else are dropped and refused from now on. */
  setSigners(signers: readonly Hex[]): void {
    this.members = new Set(signers.map((s) => s.toLowerCase()))
    for (const pool of this.pools.values())
      for (const entry of pool.epochs.values())
        for (const signer of [...entry.bySigner.keys()])
          if (!this.members.has(signer))
            for (const key of [...entry.bySigner.get(signer)!]) dropSignature(entry, key, signer)
  }

  /** Adds a verified signature; tells the disagreement it reveals, if it is a new proposal. */
  add(signed: SignedProposal): AddResult {
    const { proposal } = signed
    const signer = signed.signer.toLowerCase()
    const pool = this.pools.get(proposal.poolId)
    if (!pool) return refused('UNKNOWN_POOL')
    const placed = this.placeEpoch(pool, proposal.epoch, proposal.attempt)
    if (typeof placed === 'string') return refused(placed)
    if (this.members && !this.members.has(signer)) return refused('NOT_A_SIGNER')
    const entry = placed
    const key = proposalKey(proposal)
    const existing = entry.candidates.get(key)
    if (existing?.signatures.has(signer)) {
      existing.signatures.set(signer, signed.signature)
      return { kind: 'added', disagreement: undefined }
    }
    // The signer's latest proposals count; its oldest makes room.
    for (let mine = entry.bySigner.get(signer); mine && mine.length >= this.limits.proposalsPerSigner; ) {
      dropSignature(entry, mine[0]!, signer)
      mine = entry.bySigner.get(signer)
    }
    const candidate = entry.candidates.get(key)
    if (!candidate) {
      const cap = Math.max(
        this.limits.proposalsPerEpoch,
        (this.members?.size ?? 0) * this.limits.proposalsPerSigner,
      )
      if (entry.candidates.size >= cap) return refused('TOO_MANY_PROPOSALS')
    } else if (candidate.signatures.size >= this.limits.signaturesPerProposal) {
      return refused('TOO_MANY_SIGNATURES')
    }
    const isNew = !candidate
    const target = candidate ?? { proposal, key, signatures: new Map<string, Hex>() }
    if (isNew) entry.candidates.set(key, target)
    target.signatures.set(signer, signed.signature)
    entry.bySigner.set(signer, [...(entry.bySigner.get(signer) ?? []), key])
    // A signer that waited for its source (a refusal that is not final) has now spoken.
    entry.refusals.delete(signer)
    // Proposals of another attempt are no disagreement: after a guardian rejection the signers
    // sign attempt N+1, often with the same root, while attempt N's signatures are still here
    // until the next sync (attack10b F5: a false "signers disagree" error).
    const sameAttempt = [...entry.candidates.values()].filter((c) => c.proposal.attempt === proposal.attempt)
    if (!isNew || sameAttempt.length < 2) return { kind: 'added', disagreement: undefined }
    return {
      kind: 'added',
      disagreement: {
        poolId: proposal.poolId,
        epoch: proposal.epoch,
        proposals: sameAttempt.map((c) => ({
          root: c.proposal.root,
          key: c.key,
          signers: [...c.signatures.keys()] as Hex[],
        })),
      },
    }
  }

  /** Keeps a refusal (the latest per signer) under the same window; tells why not otherwise. */
  addRefusal(refusal: Refusal): BookRefusal | undefined {
    const pool = this.pools.get(refusal.poolId)
    if (!pool) return 'UNKNOWN_POOL'
    const placed = this.placeEpoch(pool, refusal.epoch, undefined)
    if (typeof placed === 'string') return placed
    const signer = refusal.signer.toLowerCase()
    if (this.members && !this.members.has(signer)) return 'NOT_A_SIGNER'
    placed.refusals.delete(signer)
    placed.refusals.set(signer, refusal)
    for (const oldest of placed.refusals.keys()) {
      if (placed.refusals.size <= this.limits.refusalsPerEpoch) break
      placed.refusals.delete(oldest)
    }
    return undefined
  }

  refusalsFor(poolId: string, epoch: number): readonly Refusal[] {
    return [...(this.pools.get(poolId)?.epochs.get(epoch)?.refusals.values() ?? [])]
  }

  /** Distinct proposals seen for a pool and epoch. */
  proposalsFor(poolId: string, epoch: number): readonly Proposal[] {
    return [...(this.pools.get(poolId)?.epochs.get(epoch)?.candidates.values() ?? [])].map((c) => c.proposal)
  }

  /** Each proposal kept for a pool epoch with its signers, for health. */
  signersFor(poolId: string, epoch: number): readonly { root: Hex; attempt: number; signers: Hex[] }[] {
    return [...(this.pools.get(poolId)?.epochs.get(epoch)?.candidates.values() ?? [])].map((c) => ({
      root: c.proposal.root,
      attempt: c.proposal.attempt,
      signers: [...c.signatures.keys()] as Hex[],
    }))
  }

  /**
   * The current signers that signed exactly this proposal (every field, attempt included, see
   * `proposalKey`): the pending proposal is one they signed.
   */
  signedBy(poolId: string, proposal: Proposal, currentSigners: readonly Hex[]): Hex[] {
    const allowed = new Set(currentSigners.map((s) => s.toLowerCase()))
    const candidate = this.pools
      .get(poolId)
      ?.epochs.get(proposal.epoch)
      ?.candidates.get(proposalKey(proposal))
    return [...(candidate?.signatures.keys() ?? [])].filter((s) => allowed.has(s)) as Hex[]
  }

  /** The proposals kept for a pool epoch attempt with their current signers, for messages. */
  signedProposals(
    poolId: string,
    epoch: number,
    attempt: number,
    currentSigners: readonly Hex[],
  ): readonly { readonly proposal: Proposal; readonly signers: readonly Hex[] }[] {
    const allowed = new Set(currentSigners.map((s) => s.toLowerCase()))
    return [...(this.pools.get(poolId)?.epochs.get(epoch)?.candidates.values() ?? [])]
      .filter((c) => c.proposal.attempt === attempt)
      .map((c) => ({
        proposal: c.proposal,
        signers: [...c.signatures.keys()].filter((s) => allowed.has(s)) as Hex[],
      }))
  }

  /** What the book holds, for health and tests. */
  size(): { epochs: number; proposals: number; signatures: number; refusals: number } {
    const out = { epochs: 0, proposals: 0, signatures: 0, refusals: 0 }
    for (const pool of this.pools.values())
      for (const entry of pool.epochs.values()) {
        out.epochs++
        out.proposals += entry.candidates.size
        out.refusals += entry.refusals.size
        for (const c of entry.candidates.values()) out.signatures += c.signatures.size
      }
    return out
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
    for (const candidate of this.pools.get(poolId)?.epochs.get(epoch)?.candidates.values() ?? []) {
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
    const floor = this.pools.get(poolId)?.floor
    if (!floor || epoch > floor.epoch) this.sync(poolId, epoch, 0)
  }

  /**
   * The entry of a pool epoch, made if needed, or why it may not be. Before the chain's next
   * epoch is known, the highest `epochsAhead + 1` epochs are kept (the chain moves forward, and
   * `sync` trims the rest as soon as it is known).
   */
  private placeEpoch(pool: PoolEntry, epoch: number, attempt: number | undefined): EpochEntry | BookRefusal {
    const { floor } = pool
    if (floor) {
      // Final but not settled: kept for a reorg (see the header).
      if (
        epoch < floor.epoch &&
        (this.retention.isSettled(pool.poolId, epoch) || epoch < floor.epoch - this.limits.finalEpochsKept)
      )
        return 'EPOCH_DONE'
      if (epoch === floor.epoch && attempt !== undefined && attempt < floor.attempt) return 'STALE_ATTEMPT'
      if (epoch > floor.epoch + this.limits.epochsAhead) return 'EPOCH_TOO_FAR'
    }
    let entry = pool.epochs.get(epoch)
    if (entry) return entry
    if (!floor && pool.epochs.size > this.limits.epochsAhead) {
      const lowest = Math.min(...pool.epochs.keys())
      if (epoch < lowest) return 'EPOCH_TOO_FAR'
      pool.epochs.delete(lowest)
    }
    entry = { candidates: new Map(), bySigner: new Map(), refusals: new Map() }
    pool.epochs.set(epoch, entry)
    return entry
  }
}

const refused = (reason: BookRefusal): AddResult => ({ kind: 'refused', reason })

function dropSignature(entry: EpochEntry, key: string, signer: string): void {
  const candidate = entry.candidates.get(key)
  candidate?.signatures.delete(signer)
  if (candidate && candidate.signatures.size === 0) entry.candidates.delete(key)
  const keys = entry.bySigner.get(signer)?.filter((k) => k !== key) ?? []
  if (keys.length === 0) entry.bySigner.delete(signer)
  else entry.bySigner.set(signer, keys)
}

function dropCandidate(entry: EpochEntry, candidate: Candidate): void {
  for (const signer of [...candidate.signatures.keys()]) dropSignature(entry, candidate.key, signer)
}
