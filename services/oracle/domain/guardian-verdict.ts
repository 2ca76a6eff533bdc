/**
 * The guardian's verdict on a proposal RevenueOracle holds as pending: is it what the telemetry
 * says the pool epoch is? Pure: the guardian (services/oracle/guardian.ts) hands in the proposal
 * from its `EpochProposed` event, its own build of the pool epoch and the two artifacts the
 * proposal commits to, as read from the artifact store.
 *
 * The guardian's own build is a signer's: `buildPoolEpoch` (domain/pool-epoch.ts) over the
 * totals and paid readings of its own replay of telemetry.v1 through the aggregator's rules
 * (domain/replay.ts), which is what a `replay` signer signs. An honest threshold always signs
 * exactly that: either two replay signers, or the influx signer and a replay signer whose totals
 * agree. So every field of the proposal (root, the three totals, both artifact hashes) must be
 * the guardian's; the first that is not names the reason, in the order below (the root first:
 * the leaves are what holders and auditors check, then the money, then the artifacts). A
 * self-consistent forgery (its own tree and archive in the store, every hash and sum matching
 * them) still differs from the telemetry, and is rejected ROOT_MISMATCH.
 *
 * When its own build is not possible the verdict falls back to the artifacts: a proposal whose
 * tree or archive is missing, or does not back it (checkTreeCommitment, archive scope), is
 * rejected; one whose artifacts hold together is left undecided (an alarm, not a rejection: the
 * guardian cannot tell). A proposal for an epoch that telemetry.v1 has not closed (the replay has
 * read every partition to its end and a watermark is still short of end + grace) cannot have been
 * signed by an honest signer, which signs only past that point.
 *
 * A proposal equal to the guardian's build in every field is accepted; if the store lacks (or
 * holds altered) artifacts under its hashes, the guardian's own bytes hash to exactly those, so
 * they are put back (`restore`) rather than the root rejected: a rejected root is never proposed
 * again (domain/submit-step.ts), so rejecting a correct one would halt the pool.
 */
import { checkTreeCommitment } from '../../../core/merkle/index.ts'
import { decodeArchive } from './archive.ts'
import { contentHash, type PoolEpochBuild, type PoolEpochProblem } from './pool-epoch.ts'
import type { Hex, Proposal } from './proposal.ts'

/** The reason codes the guardian writes on-chain (bytes32, `reasonCode`), with what each means. */
export const GUARDIAN_REASONS = {
  ROOT_MISMATCH: 'the root is not the one the guardian recomputed from telemetry.v1 (the leaves differ)',
  TOTALS_MISMATCH:
    "the root is the recomputed one, but revenueUnits, energyWh or leafCount are not its leaves' totals",
  TREE_HASH_MISMATCH: 'root and totals are the recomputed ones, but treeHash names another tree file',
  ARCHIVE_HASH_MISMATCH:
    'root, totals and tree are the recomputed ones, but archiveHash names another readings archive',
  EPOCH_NOT_CLOSED:
    'the epoch is not closed in telemetry.v1 (read to its end, a partition watermark is short of end + grace): no honest signer signs it yet',
  ARTIFACT_MISSING:
    'the committed tree or readings archive is not in the artifact store (the guardian could not build the epoch itself)',
  ARTIFACT_FORGED:
    'the committed tree does not back the proposal, or the committed readings archive is not canonical or of another pool epoch (the fast path, or the guardian could not build the epoch itself)',
  ARCHIVE_AUDIT_FAILED:
    "the committed readings archive does not recompute a leaf of the committed tree from the devices' signed readings (the fast path, domain/guardian-fast-path.ts)",
  READING_PAID_TWICE:
    'the committed readings archive pays a reading an earlier final epoch of the pool paid, or pays one twice (the fast path)',
} as const
export type GuardianReason = keyof typeof GUARDIAN_REASONS

/** An artifact as the store gave it back. */
export type ArtifactRead =
  | { readonly kind: 'bytes'; readonly bytes: Uint8Array }
  | { readonly kind: 'missing' }
  /** Present, but its bytes do not hash to its name (the store refused it). */
  | { readonly kind: 'corrupt'; readonly detail: string }

/** What the guardian's own replay says of the pool epoch. */
export type OwnView =
  | { readonly kind: 'built'; readonly build: PoolEpochBuild }
  | { readonly kind: 'problem'; readonly problem: PoolEpochProblem }
  /** The replay has not passed the epoch yet, but has records left to read: wait. */
  | { readonly kind: 'behind'; readonly detail: string }
  /** The replay read every partition to its end and has not passed the epoch. */
  | { readonly kind: 'not-closed'; readonly detail: string }

export type ProposalField = 'root' | 'revenueUnits' | 'energyWh' | 'leafCount' | 'treeHash' | 'archiveHash'

export interface FieldDifference {
  readonly field: ProposalField
  readonly proposed: string
  readonly recomputed: string
}

export interface ArtifactFindings {
  /** `ok`, `missing`, or what is wrong with it. */
  readonly tree: string
  readonly archive: string
}

export type GuardianVerdict =
  | {
      readonly kind: 'accept'
      readonly detail: string
      /** Artifacts missing or altered in the store: put the guardian's own bytes back. */
      readonly restore: readonly ('tree' | 'archive')[]
      readonly artifacts: ArtifactFindings
    }
  | {
      readonly kind: 'reject'
      readonly reason: GuardianReason
      readonly detail: string
      readonly differences: readonly FieldDifference[]
      readonly artifacts: ArtifactFindings
      /** The guardian's own root, when it built the epoch. */
      readonly recomputedRoot?: Hex
    }
  | {
      readonly kind: 'undecided'
      readonly code: 'REPLAY_BEHIND' | 'OWN_BUILD_FAILED'
      readonly detail: string
      readonly artifacts: ArtifactFindings
    }

export interface GuardianVerdictInput {
  /** The pending proposal, from its EpochProposed event (attempt included). */
  readonly pending: Proposal
  readonly own: OwnView
  readonly tree: ArtifactRead
  readonly archive: ArtifactRead
  /** The device ids the registry puts in the pool (a leaf of any other device is forged). */
  readonly poolDeviceIds: ReadonlySet<string>
}

const FIELDS: readonly ProposalField[] = [
  'root',
  'revenueUnits',
  'energyWh',
  'leafCount',
  'treeHash',
  'archiveHash',
]
const text = (p: Proposal, field: ProposalField) => String(p[field]).toLowerCase()

/** The fields in which two proposals differ, in the order of FIELDS. */
export function proposalDifferences(pending: Proposal, recomputed: Proposal): FieldDifference[] {
  return FIELDS.filter((f) => text(pending, f) !== text(recomputed, f)).map((field) => ({
    field,
    proposed: text(pending, field),
    recomputed: text(recomputed, field),
  }))
}

function reasonOf(differences: readonly FieldDifference[]): GuardianReason {
  const fields = new Set(differences.map((d) => d.field))
  if (fields.has('root')) return 'ROOT_MISMATCH'
  if (fields.has('revenueUnits') || fields.has('energyWh') || fields.has('leafCount'))
    return 'TOTALS_MISMATCH'
  if (fields.has('treeHash')) return 'TREE_HASH_MISMATCH'
  return 'ARCHIVE_HASH_MISMATCH'
}

/** What is wrong with each committed artifact as the store holds it ('ok' when nothing). */
export function artifactFindings(input: Omit<GuardianVerdictInput, 'own'>): ArtifactFindings {
  const { pending } = input
  const tree = ((): string => {
    if (input.tree.kind === 'missing') return 'missing'
    if (input.tree.kind === 'corrupt') return `corrupt: ${input.tree.detail}`
    const hash = contentHash(input.tree.bytes)
    if (hash !== pending.treeHash.toLowerCase()) return `corrupt: the bytes hash to ${hash}`
    const problems = checkTreeCommitment({
      tree: input.tree.bytes,
      commitment: pending,
      registeredDeviceIds: input.poolDeviceIds,
    })
    return problems.length === 0 ? 'ok' : problems.map((p) => `${p.code}: ${p.message}`).join('; ')
  })()
  const archive = ((): string => {
    if (input.archive.kind === 'missing') return 'missing'
    if (input.archive.kind === 'corrupt') return `corrupt: ${input.archive.detail}`
    const hash = contentHash(input.archive.bytes)
    if (hash !== pending.archiveHash.toLowerCase()) return `corrupt: the bytes hash to ${hash}`
    try {
      const a = decodeArchive(input.archive.bytes)
      if (a.poolId !== pending.poolId || a.epoch !== pending.epoch)
        return `ARCHIVE_SCOPE: the archive is for ${a.poolId}/${a.epoch}`
      return 'ok'
    } catch (error) {
      return `ARCHIVE_SCOPE: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`
    }
  })()
  return { tree, archive }
}

/**
 * The verdict on one pending proposal.
 *
 * @example
 * const v = guardianVerdict({ pending, own: { kind: 'built', build }, tree, archive, poolDeviceIds })
 * if (v.kind === 'reject') await chain.reject(pending.poolId, pending.epoch, reasonCode(v.reason))
 */
export function guardianVerdict(input: GuardianVerdictInput): GuardianVerdict {
  const artifacts = artifactFindings(input)
  const { own, pending } = input
  const where = `${pending.poolId} epoch ${pending.epoch} attempt ${pending.attempt}`
  if (own.kind === 'behind')
    return { kind: 'undecided', code: 'REPLAY_BEHIND', detail: own.detail, artifacts }
  if (own.kind === 'not-closed')
    return {
      kind: 'reject',
      reason: 'EPOCH_NOT_CLOSED',
      detail: `${where}: ${own.detail}`,
      differences: [],
      artifacts,
    }
  if (own.kind === 'problem') {
    const shown = `tree ${artifacts.tree}, archive ${artifacts.archive}`
    const detail = `${where}: the guardian could not build the epoch (${own.problem.code}: ${own.problem.detail}); ${shown}`
    if (artifacts.tree === 'missing' || artifacts.archive === 'missing')
      return { kind: 'reject', reason: 'ARTIFACT_MISSING', detail, differences: [], artifacts }
    if (artifacts.tree !== 'ok' || artifacts.archive !== 'ok')
      return { kind: 'reject', reason: 'ARTIFACT_FORGED', detail, differences: [], artifacts }
    return { kind: 'undecided', code: 'OWN_BUILD_FAILED', detail, artifacts }
  }
  const recomputed = own.build.proposal
  const differences = proposalDifferences(pending, recomputed)
  if (differences.length > 0)
    return {
      kind: 'reject',
      reason: reasonOf(differences),
      detail: `${where}: ${differences.map((d) => `${d.field} ${d.proposed}, recomputed ${d.recomputed}`).join('; ')} (artifacts: tree ${artifacts.tree}, archive ${artifacts.archive})`,
      differences,
      artifacts,
      recomputedRoot: recomputed.root,
    }
  const restore: ('tree' | 'archive')[] = []
  if (artifacts.tree !== 'ok') restore.push('tree')
  if (artifacts.archive !== 'ok') restore.push('archive')
  return {
    kind: 'accept',
    detail: `${where}: every field is the recomputed one (root ${recomputed.root}, ${recomputed.leafCount} leaves, revenueUnits ${recomputed.revenueUnits})`,
    restore,
    artifacts,
  }
}

/** A reason code as RevenueOracle.reject takes it: ASCII, right-padded with zeros to 32 bytes. */
export function reasonCode(reason: GuardianReason): Hex {
  return `0x${Buffer.from(reason, 'ascii').toString('hex').padEnd(64, '0')}`
}

/** The reason code back from an EpochRejected event's bytes32 (trailing zeros dropped). */
export function reasonFromCode(code: Hex): string {
  return Buffer.from(code.slice(2), 'hex').toString('ascii').replace(/\0+$/, '')
}

/**
 * The fast path's rejection against the replay's verdict (services/oracle/guardian.ts `judge`).
 * A rejection stands while the replay cannot judge (behind, after a restart: what the fast path
 * is for) or when it rejects too; when the replay builds exactly the proposal (root, totals, tree
 * and archive hashes), the archive audit is what is wrong (a false negative of the
 * recomputation, as attack10 F1's was) and rejecting would only make the signers sign the same
 * root again and be rejected again, for good: the replay's acceptance stands, and the
 * disagreement is reported.
 */
export function combineFastPath(
  fast: Extract<GuardianVerdict, { kind: 'reject' }> | undefined,
  replayed: GuardianVerdict,
): { readonly verdict: GuardianVerdict; readonly auditDisagrees: boolean } {
  if (fast === undefined) return { verdict: replayed, auditDisagrees: false }
  if (replayed.kind === 'accept') return { verdict: replayed, auditDisagrees: true }
  return { verdict: fast, auditDisagrees: false }
}
