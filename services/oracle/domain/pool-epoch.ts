/**
 * One pool epoch, from per-device totals and the readings they pay for, to what a signer signs
 * and publishes: the device leaves, the tree (StandardMerkleTree dump bytes), the readings
 * archive bytes and the proposal that commits to all three. Pure and deterministic: the same
 * inputs give the same bytes, so independent signers reach the same hashes.
 */

import type { DeviceRecord } from '../../../core/identity/registry.ts'
import {
  buildDeviceTree,
  type DeviceLeaf,
  keccak256Bytes,
  messageHash,
  readingsDigest,
  serializeTree,
} from '../../../core/merkle/index.ts'
import type { ArchivedRecord } from '../ports.ts'
import { type ArchiveEntry, type ArchiveRelease, encodeArchive } from './archive.ts'
import { type LeafRules, selectSteps } from './leaf-recompute.ts'
import type { Hex, Proposal } from './proposal.ts'
import type { DeviceStep, PaidReading } from './replay.ts'

/**
 * What the archive's context comes from: the rules, the registry and every device's steps
 * (TelemetryReplay is one).
 */
export interface ArchiveContextSource extends LeafRules {
  readonly registry: { get(deviceId: string): DeviceRecord | undefined }
  historyOf(deviceId: string): readonly DeviceStep[]
}

/** A device's booked totals for the epoch (from InfluxDB or from the replay). */
export interface DeviceTotals {
  readonly deviceId: string
  readonly poolId: string
  readonly energyWh: number
  readonly revenueUnits: bigint
  readonly readings: number
}

export interface PoolEpochBuild {
  readonly proposal: Proposal
  readonly leaves: readonly DeviceLeaf[]
  readonly treeBytes: Uint8Array
  readonly archiveBytes: Uint8Array
}

export type PoolEpochProblem = {
  readonly code: 'READINGS_MISMATCH'
  readonly detail: string
}

const hex = (bytes: Uint8Array): Hex => `0x${Buffer.from(bytes).toString('hex')}`

/** keccak256 of published bytes: their content address. */
export const contentHash = (bytes: Uint8Array): Hex => hex(keccak256Bytes(bytes))

/**
 * Builds the pool epoch. `paidOf(deviceId)` gives the readings the device's leaf pays for; their
 * number must be the totals' `readings` (otherwise the source and the replay disagree on what
 * was paid, and nothing is signed). `context` gives each device's steps, of which the archive
 * carries those a recomputation of the leaf needs (domain/leaf-recompute.ts `selectSteps`).
 */
export function buildPoolEpoch(
  poolId: string,
  epoch: number,
  attempt: number,
  totals: readonly DeviceTotals[],
  paidOf: (deviceId: string) => readonly PaidReading[],
  context: ArchiveContextSource,
): PoolEpochBuild | PoolEpochProblem {
  const leaves: DeviceLeaf[] = []
  const records: ArchiveEntry[] = []
  const releases: ArchiveRelease[] = []
  for (const t of totals) {
    if (t.poolId !== poolId) continue
    const paid = paidOf(t.deviceId)
    if (paid.length !== t.readings) {
      return {
        code: 'READINGS_MISMATCH',
        detail: `${t.deviceId}: the totals count ${t.readings} readings, the replay pays ${paid.length}`,
      }
    }
    const byRecord = new Map<ArchivedRecord, { hash: Hex; paid: number[] }>()
    const digest = readingsDigest(
      paid.map((p) => {
        let r = byRecord.get(p.record)
        if (r === undefined) {
          r = { hash: messageHash(Buffer.from(p.record.valueBase64, 'base64')), paid: [] }
          byRecord.set(p.record, r)
        }
        r.paid.push(p.indexInMessage)
        return { boot: p.boot, seq: p.seq, messageHash: r.hash, indexInMessage: p.indexInMessage }
      }),
    )
    const history = context.historyOf(t.deviceId)
    const device = context.registry.get(t.deviceId)
    const steps = device
      ? selectSteps(context, device, epoch, history, {
          energyWh: t.energyWh,
          revenueUnits: t.revenueUnits,
          readings: t.readings,
          paid: [...paid].sort((a, b) => a.boot - b.boot || a.seq - b.seq),
        })
      : []
    const stepOf = new Map<ArchivedRecord, DeviceStep>()
    for (const step of history) if (step.record) stepOf.set(step.record, step)
    for (const step of steps) {
      if (step.record)
        records.push({
          ...step.record,
          watermarkMs: step.watermarkMs,
          clock: step.clock,
          paid: byRecord.get(step.record)?.paid ?? [],
        })
      else
        releases.push({
          deviceId: t.deviceId,
          partition: step.partition,
          afterOffset: step.offset,
          watermarkMs: step.watermarkMs,
          clock: step.clock,
        })
    }
    // Paid records are always archived (encodeArchive merges them with the steps).
    for (const [record, r] of byRecord) {
      const step = stepOf.get(record)
      records.push({ ...record, watermarkMs: step?.watermarkMs, clock: step?.clock, paid: r.paid })
    }
    leaves.push({
      poolId,
      epoch,
      deviceId: t.deviceId,
      energyWh: BigInt(t.energyWh),
      revenueUnits: t.revenueUnits,
      readings: t.readings,
      readingsDigest: digest,
    })
  }
  const tree = buildDeviceTree(leaves)
  const treeBytes = serializeTree(tree)
  const archiveBytes = encodeArchive(poolId, epoch, records, releases)
  let revenueUnits = 0n
  let energyWh = 0n
  for (const leaf of leaves) {
    revenueUnits += leaf.revenueUnits
    energyWh += BigInt(leaf.energyWh)
  }
  return {
    proposal: {
      poolId,
      epoch,
      attempt,
      root: tree.root.toLowerCase() as Hex,
      revenueUnits,
      energyWh,
      leafCount: tree.leafCount,
      treeHash: contentHash(treeBytes),
      archiveHash: contentHash(archiveBytes),
    },
    leaves: tree.leaves,
    treeBytes,
    archiveBytes,
  }
}

export function isProblem(result: PoolEpochBuild | PoolEpochProblem): result is PoolEpochProblem {
  return 'code' in result
}
