/**
 * The guardian's fast path (attack10 F3): what it can judge of a proposal from the proposal's own
 * artifacts, without its replay of telemetry.v1. A restarted guardian re-reads telemetry.v1 from
 * the beginning before its own build is possible, which took 43 s on npm start's stack (and grows
 * with the topic) while the challenge window is 20 s: a forged root proposed at a restart went
 * final unrejected. The fast path runs on every proposal before the replay is asked: the tree the
 * proposal commits by `treeHash` must back its figures (the distributor's commitment gate), the
 * readings archive it commits by `archiveHash` must recompute every leaf from the devices' signed
 * readings (the distributor's archive audit, i.e. `verify`), and none of the readings it pays may
 * have been paid by an earlier final epoch of the pool, or twice by itself (the distributor's paid
 * ledger). These are the checks that make the distributor refuse to fund a final epoch, so a
 * proposal failing one can only halt its pool once final: the guardian rejects it at once.
 *
 * Passing is not acceptance: a self-consistent archive of genuine readings can still leave
 * readings out, and only the replay comparison (domain/guardian-verdict.ts) tells. A committed
 * artifact the store lacks (or holds altered) decides nothing here: the guardian treats it as it
 * did before (its own build puts it back, or the replay's verdict decides). Pure; the guardian
 * runs `auditDevice` in slices so its event loop stays free.
 */
import type { DeviceRecord } from '../../../core/identity/registry.ts'
import {
  type AuditProblem,
  describeAuditProblem,
  prepareArchiveAudit,
} from '../../distributor/domain/archive-audit.ts'
import { commitmentGate, type StoredArtifact } from '../../distributor/domain/commitment-gate.ts'
import type { PaidLedger, PaidReading, PaidTwice } from '../../distributor/domain/paid-ledger.ts'
import type { ArtifactRead, GuardianReason } from './guardian-verdict.ts'
import type { LeafRules } from './leaf-recompute.ts'
import type { Proposal } from './proposal.ts'

/** The reasons the fast path rejects with (GUARDIAN_REASONS describes each). */
export type FastPathReason = Extract<
  GuardianReason,
  'ARTIFACT_FORGED' | 'ARCHIVE_AUDIT_FAILED' | 'READING_PAID_TWICE'
>

export type FastPathResult =
  | { readonly kind: 'reject'; readonly reason: FastPathReason; readonly detail: string }
  /** Every check it can make passed; `paid` are the readings the archive pays. */
  | { readonly kind: 'passed'; readonly detail: string; readonly paid: readonly PaidReading[] }
  /** A committed artifact is not in the store, or the store's file is altered: nothing decided. */
  | { readonly kind: 'missing'; readonly detail: string }

export interface FastPathInput {
  /** The proposal from its EpochProposed event. */
  readonly pending: Proposal
  readonly tree: ArtifactRead
  readonly archive: ArtifactRead
  /** The pool's devices of the registry. */
  readonly devices: ReadonlyMap<string, DeviceRecord>
  /** The aggregation settings and tariffs the replay runs (GRIDROOT_AGG_*, GRIDROOT_TARIFFS_FILE). */
  readonly rules: LeafRules
}

/** The audit of a proposal whose tree backs it: each device, then the paid readings. */
export interface PreparedFastPath {
  readonly kind: 'audit'
  readonly deviceIds: readonly string[]
  /** A rejection when the archive does not back this device's leaf (or missing leaf). */
  auditDevice(deviceId: string): FastPathResult | undefined
  /**
   * Once every device passed: the paid readings against `ledger`, the pool's final epochs
   * before the proposal's (`ledger.through` up to the epoch; `readFrom` says from which epoch it
   * holds them, for the detail).
   */
  finish(ledger: PaidLedger, readFrom: number): FastPathResult
}

const where = (p: Proposal) => `${p.poolId} epoch ${p.epoch} attempt ${p.attempt}`

const stored = (read: ArtifactRead): StoredArtifact =>
  read.kind === 'bytes' ? { kind: 'found', bytes: read.bytes } : read

const missing = (p: Proposal, artifact: string, read: ArtifactRead): FastPathResult | undefined =>
  read.kind === 'bytes'
    ? undefined
    : {
        kind: 'missing',
        detail: `${where(p)}: its ${artifact} ${read.kind === 'missing' ? 'is not in the artifact store' : `is altered in the artifact store (${read.detail})`}; the fast path decides nothing`,
      }

/** An archive problem as the fast path's rejection: the archive as a whole is forged, a leaf is not backed. */
function auditRejection(p: Proposal, problem: AuditProblem): FastPathResult {
  return {
    kind: 'reject',
    reason: problem.deviceId === undefined ? 'ARTIFACT_FORGED' : 'ARCHIVE_AUDIT_FAILED',
    detail: `${where(p)}: its readings archive does not back its device tree: ${describeAuditProblem(problem)}`,
  }
}

export function paidTwiceDetail(p: Proposal, twice: PaidTwice): string {
  return `${where(p)}: its readings archive pays device ${twice.deviceId}'s reading boot ${twice.boot} seq ${twice.seq}, which ${twice.paidInEpoch === p.epoch ? 'it pays twice' : `epoch ${twice.paidInEpoch} paid already`}`
}

/**
 * The checks that need no device loop (artifacts present, the tree against the proposal, the
 * archive as a whole), then the per-device audit to run.
 */
export function prepareFastPath(input: FastPathInput): FastPathResult | PreparedFastPath {
  const p = input.pending
  const absent = missing(p, 'device tree', input.tree) ?? missing(p, 'readings archive', input.archive)
  if (absent !== undefined) return absent
  const gate = commitmentGate(p.poolId, p, stored(input.tree), new Set(input.devices.keys()))
  if (gate.kind === 'wait') return { kind: 'missing', detail: gate.problem }
  if (gate.kind === 'refuse')
    return {
      kind: 'reject',
      reason: 'ARTIFACT_FORGED',
      detail: `${where(p)}: its device tree does not back the proposal: ${gate.problems.map((x) => `${x.code}: ${x.message}`).join('; ')}`,
    }
  const prepared = prepareArchiveAudit({
    poolId: p.poolId,
    commitment: p,
    tree: gate.tree,
    archiveBytes: (input.archive as Extract<ArtifactRead, { kind: 'bytes' }>).bytes,
    devices: input.devices,
    rules: input.rules,
  })
  if (!('auditDevice' in prepared)) return auditRejection(p, prepared)
  return {
    kind: 'audit',
    deviceIds: prepared.deviceIds,
    auditDevice(deviceId) {
      const problem = prepared.auditDevice(deviceId)
      return problem === undefined ? undefined : auditRejection(p, problem)
    },
    finish(ledger, readFrom) {
      const paid = prepared.paidReadings()
      const twice = ledger.firstPaidTwice(p.epoch, paid)
      if (twice !== undefined)
        return { kind: 'reject', reason: 'READING_PAID_TWICE', detail: paidTwiceDetail(p, twice) }
      const earlier =
        ledger.through > readFrom
          ? `none paid by epochs ${readFrom}-${ledger.through - 1}`
          : 'no earlier final epoch to check against'
      const gap =
        ledger.through < p.epoch ? ` (epochs ${ledger.through}-${p.epoch - 1} not read: archive missing)` : ''
      return {
        kind: 'passed',
        detail: `${where(p)}: the tree backs the proposal, the archive recomputes all ${prepared.deviceIds.length} devices' leaves (${prepared.records} records), ${paid.length} paid readings, ${earlier}${gap}`,
        paid,
      }
    },
  }
}

/**
 * The whole fast path at once (tests); the guardian runs the device audit in slices.
 *
 * @example
 * const r = fastPathVerdict({ pending, tree, archive, devices, rules }, ledger, firstEpoch)
 * if (r.kind === 'reject') await chain.reject(pending.poolId, pending.epoch, reasonCode(r.reason))
 */
export function fastPathVerdict(input: FastPathInput, ledger: PaidLedger, readFrom: number): FastPathResult {
  const prepared = prepareFastPath(input)
  if (prepared.kind !== 'audit') return prepared
  for (const deviceId of prepared.deviceIds) {
    const rejected = prepared.auditDevice(deviceId)
    if (rejected !== undefined) return rejected
  }
  return prepared.finish(ledger, readFrom)
}
