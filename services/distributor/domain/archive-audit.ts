/**
 * Whether the readings archive the chain committed (by `archiveHash`) pays every leaf of the
 * epoch's device tree exactly: each device's archived records carry its registered signature,
 * the readings flagged as paid give the leaf's readings digest and count, and the device's steps
 * run through the aggregator's rules give the leaf's energyWh, revenueUnits, readings and
 * digest; and no device the tree left out was paid by the archive. The commitment gate alone
 * checks the tree against the chain, so a threshold of compromised signers with a tree that is
 * self-consistent (totals matching its leaves) was paid (attack F1: 180,000 HKD against ~37
 * real). Pure: the device checks are the oracle's `verify` (services/oracle/domain/verify.ts,
 * `verifyPreparedEpoch`), the same code an auditor runs, not a copy of it.
 *
 * Cost: a pool epoch is hashed and parsed once; each device then reads only its own records
 * (an index by device), so the audit is linear in the archive. `verifyPreparedEpoch` also runs
 * the epoch-level COMMITMENT check over the whole tree it is given, which per device would make a
 * pool quadratic (about 21 s of it alone at 10,000 leaves); the commitment gate ran that check
 * once already, so each device is verified on a view of the tree that holds its own leaf, with
 * the real root and proof (`deviceView`), and COMMITMENT then holds trivially for that view.
 */
import type { DeviceRecord } from '../../../core/identity/registry.ts'
import { bytesToHex, type DeviceLeaf, type DeviceTree, keccak256Bytes } from '../../../core/merkle/index.ts'
import {
  type ArchiveEntry,
  type ArchiveRelease,
  decodeArchive,
  type ReadingsArchive,
} from '../../oracle/domain/archive.ts'
import type { LeafRules } from '../../oracle/domain/leaf-recompute.ts'
import {
  type PreparedVerifyInput,
  type VerifyCheck,
  type VerifyResult,
  verifyPreparedEpoch,
} from '../../oracle/domain/verify.ts'
import type { OracleCommitment } from '../ports.ts'
import { type PaidReading, paidReadingsOf } from './paid-ledger.ts'

/** What about a device (or the whole archive) does not match. */
export type AuditField =
  /** The archive does not decode, is not canonical, or is of another pool or epoch. */
  | 'archive'
  /** The archive holds records of a device the pool's registry does not hold. */
  | 'registry'
  /** A record does not decode or does not carry the device's registered signature. */
  | 'signature'
  | 'readings'
  | 'readingsDigest'
  | 'energyWh'
  | 'revenueUnits'
  /** The archive pays a device the tree has no leaf for (left out). */
  | 'leaf'
  /** The leaf's proof does not fold to the committed root. */
  | 'proof'
  /** The rules refused the device's archived steps. */
  | 'rules'

export interface AuditProblem {
  /** The first device (in id order) whose leaf the archive does not back; undefined: the archive as a whole. */
  readonly deviceId: string | undefined
  readonly field: AuditField
  /** verify's check that failed (VerifyCheck), or ARCHIVE_INVALID / ARCHIVE_NOT_CANONICAL / UNREGISTERED_DEVICE. */
  readonly check: string
  readonly detail: string
}

export type ArchiveAuditResult =
  | { readonly ok: true; readonly devices: number; readonly records: number }
  | { readonly ok: false; readonly problem: AuditProblem }

export interface ArchiveAuditInput {
  readonly poolId: string
  /** The final attempt's commitment; the gate has checked the tree against it. */
  readonly commitment: OracleCommitment
  /** The committed device tree, parsed (and checked by the commitment gate). */
  readonly tree: DeviceTree
  /** The archive's bytes, fetched by the committed archiveHash (the store checked the hash). */
  readonly archiveBytes: Uint8Array
  /** The pool's devices of the registry (checked against DeviceRegistry's on-chain root). */
  readonly devices: ReadonlyMap<string, DeviceRecord>
  /** The aggregation settings and tariffs the services run (GRIDROOT_AGG_*, GRIDROOT_TARIFFS_FILE). */
  readonly rules: LeafRules
}

/** A prepared audit: the devices to check, in id order, and the check of one. */
export interface PreparedArchiveAudit {
  readonly deviceIds: readonly string[]
  readonly records: number
  /** The readings the archive flags as paid (once every device passed: the records decode). */
  paidReadings(): PaidReading[]
  /** The problem of one device's leaf (or missing leaf), or undefined when the archive backs it. */
  auditDevice(deviceId: string): AuditProblem | undefined
}

/**
 * Decodes and indexes the archive once. Returns a problem of the archive as a whole (it does not
 * decode, is not canonical, is another pool's or epoch's, or holds a device the pool does not
 * register), or the per-device audit, which the caller runs over `deviceIds` (in slices, so a
 * large pool does not hold the event loop: pool-distributor.ts).
 */
export function prepareArchiveAudit(input: ArchiveAuditInput): PreparedArchiveAudit | AuditProblem {
  const { poolId, commitment, tree } = input
  // verify's ARCHIVE_HASH: the bytes, not the store's word for them.
  const archiveHash = bytesToHex(keccak256Bytes(input.archiveBytes))
  if (archiveHash !== commitment.archiveHash.toLowerCase())
    return {
      deviceId: undefined,
      field: 'archive',
      check: 'ARCHIVE_HASH',
      detail: `the archive hashes to ${archiveHash}, the chain committed ${commitment.archiveHash}`,
    }
  let archive: ReadingsArchive
  try {
    archive = decodeArchive(input.archiveBytes)
  } catch (error) {
    return {
      deviceId: undefined,
      field: 'archive',
      check: (error as { code?: string }).code ?? 'ARCHIVE_INVALID',
      detail: error instanceof Error ? error.message.split('\n')[0]! : String(error),
    }
  }
  if (archive.poolId !== poolId || archive.epoch !== commitment.epoch)
    return {
      deviceId: undefined,
      field: 'archive',
      check: 'ARCHIVE_SCOPE',
      detail: `the archive is for pool ${archive.poolId} epoch ${archive.epoch}, not pool ${poolId} epoch ${commitment.epoch}`,
    }
  const records = new Map<string, ArchiveEntry[]>()
  for (const r of archive.records) push(records, r.deviceId, r)
  const releases = new Map<string, ArchiveRelease[]>()
  for (const r of archive.releases) push(releases, r.deviceId, r)
  for (const deviceId of [...records.keys(), ...releases.keys()].sort())
    if (!input.devices.has(deviceId))
      return {
        deviceId,
        field: 'registry',
        check: 'UNREGISTERED_DEVICE',
        detail: `the archive holds records of ${deviceId}, which the registry does not put in pool ${poolId}`,
      }
  const slice = (deviceId: string): ReadingsArchive => ({
    ...archive,
    records: records.get(deviceId) ?? [],
    releases: releases.get(deviceId) ?? [],
  })
  const deviceIds = [
    ...new Set([...tree.leaves.map((l) => l.deviceId), ...records.keys(), ...releases.keys()]),
  ].sort()
  return {
    deviceIds,
    records: archive.records.length,
    paidReadings: () => paidReadingsOf(archive),
    auditDevice(deviceId) {
      const device = input.devices.get(deviceId)
      // The gate refuses leaves of unregistered devices, and the archive's were checked above.
      if (device === undefined)
        return {
          deviceId,
          field: 'registry',
          check: 'UNREGISTERED_DEVICE',
          detail: `${deviceId} is not registered in pool ${poolId}`,
        }
      const view = deviceView(tree, deviceId)
      const leaf = view.leaves[0]
      const result = verifyPreparedEpoch({
        poolId,
        epoch: commitment.epoch,
        deviceId,
        finalized: {
          root: commitment.root,
          treeHash: commitment.treeHash,
          archiveHash: commitment.archiveHash,
          revenueUnits: leaf?.revenueUnits ?? 0n,
          energyWh: leaf === undefined ? 0n : BigInt(leaf.energyWh),
          leafCount: view.leafCount,
        },
        artifacts: {
          treeHash: commitment.treeHash,
          tree: () => view,
          archiveHash,
          archive: (id) => ({ archive: slice(id), recordCount: archive.records.length }),
        },
        device,
        poolDeviceIds: new Set([deviceId]),
        rules: input.rules,
      } satisfies PreparedVerifyInput)
      return result.ok ? undefined : problemOf(deviceId, result, leaf)
    },
  }
}

/** The whole audit at once (tests, benchmarks); the service runs it in slices. */
export function auditArchive(input: ArchiveAuditInput): ArchiveAuditResult {
  const prepared = prepareArchiveAudit(input)
  if (!('auditDevice' in prepared)) return { ok: false, problem: prepared }
  for (const deviceId of prepared.deviceIds) {
    const problem = prepared.auditDevice(deviceId)
    if (problem !== undefined) return { ok: false, problem }
  }
  return { ok: true, devices: prepared.deviceIds.length, records: prepared.records }
}

/** The audit problem as one line: the device, the field and verify's detail. */
export function describeAuditProblem(p: AuditProblem): string {
  return `${p.deviceId === undefined ? 'the archive' : `device ${p.deviceId}`}, ${p.field} (${p.check}): ${p.detail}`
}

function push<T>(map: Map<string, T[]>, key: string, value: T) {
  const list = map.get(key)
  if (list === undefined) map.set(key, [value])
  else list.push(value)
}

/**
 * The tree as verify reads it for one device: only the device's leaf (or none), at the tree's
 * real root and with the leaf's real proof, so PROOF still folds the leaf to the committed root
 * while COMMITMENT reads one leaf instead of the whole tree.
 */
function deviceView(tree: DeviceTree, deviceId: string): DeviceTree {
  const rank = tree.rankOf(deviceId)
  const leaves = rank === undefined ? [] : [tree.leaves[rank] as DeviceLeaf]
  return Object.create(tree, {
    leafCount: { value: leaves.length },
    leaves: { value: leaves },
    rankOf: { value: (key: string) => (key === deviceId && rank !== undefined ? 0 : undefined) },
    proof: { value: () => (rank === undefined ? [] : tree.proof(rank)) },
  }) as DeviceTree
}

/** verify's first failed check, as the field of the leaf it is about. */
function problemOf(deviceId: string, result: VerifyResult, leaf: DeviceLeaf | undefined): AuditProblem {
  const failed = result.checks.find((c) => !c.ok) as { check: VerifyCheck; detail: string }
  const at = (field: AuditField): AuditProblem => ({
    deviceId,
    field,
    check: failed.check,
    detail: failed.detail,
  })
  switch (failed.check) {
    case 'SIGNATURES':
      return at('signature')
    case 'READINGS_DIGEST':
      return at(result.recomputed?.readings !== leaf?.readings ? 'readings' : 'readingsDigest')
    case 'LEAF_RECOMPUTED': {
      const again = result.leafRecomputed
      if (again === undefined || leaf === undefined) return at('rules')
      if (again.energyWh !== BigInt(leaf.energyWh)) return at('energyWh')
      if (again.revenueUnits !== leaf.revenueUnits) return at('revenueUnits')
      if (again.readings !== leaf.readings) return at('readings')
      return at('readingsDigest')
    }
    case 'LEAF_MISSING':
      return at('leaf')
    case 'PROOF':
    case 'TREE_ROOT':
    case 'TREE_HASH':
      return at('proof')
    default:
      return at('archive')
  }
}
