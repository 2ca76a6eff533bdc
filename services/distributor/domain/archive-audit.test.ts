import { describe, expect, it } from 'vitest'
import { epochStartMs } from '../../../core/epochs/grid.ts'
import { deriveDeviceSeed, keyPairFromSeed } from '../../../core/identity/keys.ts'
import type { DeviceRecord } from '../../../core/identity/registry.ts'
import {
  buildDeviceTree,
  type DeviceLeaf,
  type DeviceTree,
  deviceLeafLayout,
  parseTreeDump,
} from '../../../core/merkle/index.ts'
import { decodeAcceptedRecord } from '../../../core/telemetry/decode.ts'
import { encodeV2 } from '../../../core/telemetry/sign.ts'
import { type ArchiveEntry, decodeArchive, encodeArchive } from '../../oracle/domain/archive.ts'
import { grid, runFleet } from '../../oracle/domain/fleet-replay.fixture.ts'
import { contentHash, type PoolEpochBuild } from '../../oracle/domain/pool-epoch.ts'
import type { OracleCommitment } from '../ports.ts'
import { type ArchiveAuditInput, auditArchive, describeAuditProblem } from './archive-audit.ts'
import { replayedPoolEpoch } from './audit.fixture.ts'

// By day, with late, offline, reordered and duplicated readings and a 10-minute grace (the
// oracle's verify tests' fleet): leaves depend on context, watermarks and releases.
const FIRST = 10
const fleet = runFleet(
  { late: 0.08, offline: 0.03, reorder: 0.05, duplicate: 0.02 },
  undefined,
  4,
  { graceMs: 600_000, reorderWindowMs: 3_600_000 },
  epochStartMs(grid, FIRST),
)
const EPOCH = FIRST + 1
const POOL = fleet.replay.epochResults(EPOCH).find((t) => t.revenueUnits > 0n)!.poolId
const poolDevices = replayedPoolEpoch(fleet, POOL, EPOCH).devices
const genuine = (): PoolEpochBuild => replayedPoolEpoch(fleet, POOL, EPOCH).built

/** What the chain commits for a tree and an archive: totals that match the leaves (self-consistent). */
function committed(tree: DeviceTree, archiveBytes: Uint8Array, treeBytes?: Uint8Array): OracleCommitment {
  return {
    epoch: EPOCH,
    attempt: 0,
    root: tree.root.toLowerCase() as `0x${string}`,
    revenueUnits: tree.leaves.reduce((s, l) => s + l.revenueUnits, 0n),
    energyWh: tree.leaves.reduce((s, l) => s + BigInt(l.energyWh), 0n),
    leafCount: tree.leafCount,
    treeHash: treeBytes ? contentHash(treeBytes) : `0x${'22'.repeat(32)}`,
    archiveHash: contentHash(archiveBytes),
  }
}

function input(
  leaves: readonly DeviceLeaf[],
  archiveBytes: Uint8Array,
  devices = poolDevices,
): ArchiveAuditInput {
  const tree = buildDeviceTree(leaves)
  return {
    poolId: POOL,
    commitment: committed(tree, archiveBytes),
    tree,
    archiveBytes,
    devices,
    rules: fleet.replay,
  }
}

/** The genuine archive with its records changed (re-encoded canonically: a forger commits its own hash). */
function reArchived(built: PoolEpochBuild, change: (records: readonly ArchiveEntry[]) => ArchiveEntry[]) {
  const a = decodeArchive(built.archiveBytes)
  return encodeArchive(a.poolId, a.epoch, change(a.records), a.releases)
}

const earner = (built: PoolEpochBuild) =>
  built.leaves.filter((l) => l.revenueUnits > 0n).sort((a, b) => (a.deviceId < b.deviceId ? -1 : 1))[0]!

describe('auditArchive', () => {
  it('passes a genuine pool epoch: every leaf recomputed from the archive and the registry', () => {
    const built = genuine()
    expect(built.leaves.length).toBeGreaterThan(1)
    const tree = parseTreeDump(deviceLeafLayout, built.treeBytes)
    const result = auditArchive({ ...input(built.leaves, built.archiveBytes), tree })
    expect(result).toEqual({
      ok: true,
      devices: built.leaves.length,
      records: decodeArchive(built.archiveBytes).records.length,
    })
  })

  it('refuses a self-consistent tree that pays a device more than its readings earn (F1), naming the device and field', () => {
    const built = genuine()
    const target = earner(built)
    const forged = built.leaves.map((l) =>
      l.deviceId === target.deviceId ? { ...l, revenueUnits: l.revenueUnits * 1000n } : l,
    )
    const result = auditArchive(input(forged, built.archiveBytes))
    expect(result.ok).toBe(false)
    if (result.ok) return
    expect(result.problem).toMatchObject({
      deviceId: target.deviceId,
      field: 'revenueUnits',
      check: 'LEAF_RECOMPUTED',
    })
    expect(describeAuditProblem(result.problem)).toContain(`revenueUnits=${target.revenueUnits * 1000n}`)

    const moreEnergy = built.leaves.map((l) =>
      l.deviceId === target.deviceId ? { ...l, energyWh: BigInt(l.energyWh) + 1n } : l,
    )
    const energy = auditArchive(input(moreEnergy, built.archiveBytes))
    expect(!energy.ok && energy.problem).toMatchObject({ deviceId: target.deviceId, field: 'energyWh' })
  })

  it('refuses a forged archive whose readings were signed by another key than the registered one', () => {
    const built = genuine()
    const target = earner(built)
    const attacker = keyPairFromSeed(deriveDeviceSeed('attacker', target.deviceId))
    // The forger rewrites the device's readings (10× the register) and signs them with its own key.
    const archiveBytes = reArchived(built, (records) =>
      records.map((r) => {
        if (r.deviceId !== target.deviceId) return r
        const m = decodeAcceptedRecord(Buffer.from(r.valueBase64, 'base64'))
        const readings = m.readings.map((x) => ({ ...x, registerWh: x.registerWh * 10 }))
        return {
          ...r,
          valueBase64: encodeV2(m.deviceId, m.boot, readings, attacker.privateKey).toString('base64'),
        }
      }),
    )
    const result = auditArchive(input(built.leaves, archiveBytes))
    expect(!result.ok && result.problem).toMatchObject({
      deviceId: target.deviceId,
      field: 'signature',
      check: 'SIGNATURES',
    })
  })

  it('refuses a tree that leaves out a device the archive pays', () => {
    const built = genuine()
    const target = earner(built)
    const result = auditArchive(
      input(
        built.leaves.filter((l) => l.deviceId !== target.deviceId),
        built.archiveBytes,
      ),
    )
    expect(!result.ok && result.problem).toMatchObject({
      deviceId: target.deviceId,
      field: 'leaf',
      check: 'LEAF_MISSING',
    })
  })

  it('refuses a leaf whose readings the archive does not flag as paid', () => {
    const built = genuine()
    const target = earner(built)
    const archiveBytes = reArchived(built, (records) =>
      records.map((r) => (r.deviceId === target.deviceId ? { ...r, paid: r.paid.slice(1) } : r)),
    )
    const result = auditArchive(input(built.leaves, archiveBytes))
    expect(!result.ok && result.problem).toMatchObject({ deviceId: target.deviceId, field: 'readings' })
  })

  it('refuses an archive of another epoch, one that is not canonical, one that does not hash to the commitment, and one with an unregistered device', () => {
    const built = genuine()
    const a = decodeArchive(built.archiveBytes)
    const other = encodeArchive(a.poolId, EPOCH + 1, a.records, a.releases)
    expect(auditArchive(input(built.leaves, other))).toMatchObject({
      ok: false,
      problem: { deviceId: undefined, field: 'archive', check: 'ARCHIVE_SCOPE' },
    })

    const spaced = new TextEncoder().encode(`${Buffer.from(built.archiveBytes).toString()} `)
    expect(auditArchive(input(built.leaves, spaced))).toMatchObject({
      ok: false,
      problem: { field: 'archive', check: 'ARCHIVE_NOT_CANONICAL' },
    })

    const wrongHash = input(built.leaves, built.archiveBytes)
    const audited = auditArchive({
      ...wrongHash,
      commitment: { ...wrongHash.commitment, archiveHash: `0x${'33'.repeat(32)}` },
    })
    expect(audited).toMatchObject({ ok: false, problem: { field: 'archive', check: 'ARCHIVE_HASH' } })

    const target = earner(built)
    const registry = new Map<string, DeviceRecord>(poolDevices)
    registry.delete(target.deviceId)
    expect(auditArchive(input(built.leaves, built.archiveBytes, registry))).toMatchObject({
      ok: false,
      problem: { deviceId: target.deviceId, field: 'registry', check: 'UNREGISTERED_DEVICE' },
    })
  })
})
