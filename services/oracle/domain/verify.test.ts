import { StandardMerkleTree } from '@openzeppelin/merkle-tree'
import { describe, expect, it } from 'vitest'
import { epochEndMs, epochStartMs } from '../../../core/epochs/grid.ts'
import { buildDeviceTree, type DeviceLeaf, EMPTY_ROOT, serializeTree } from '../../../core/merkle/index.ts'
import { decodeAcceptedRecord } from '../../../core/telemetry/decode.ts'
import type { FinalizedEpoch } from '../ports.ts'
import { type ArchiveEntry, decodeArchive, encodeArchive } from './archive.ts'
import { grid, runFleet } from './fleet-replay.fixture.ts'
import { buildPoolEpoch, contentHash, isProblem, type PoolEpochBuild } from './pool-epoch.ts'
import type { TelemetryReplay } from './replay.ts'
import { verifyDeviceEpoch } from './verify.ts'

const fleet = runFleet({ duplicate: 0.05, reorder: 0.05 })
const { replay, truth, registry } = fleet

/** The device ids the registry puts in a pool (verify's COMMITMENT check). */
const poolDevices = (poolId: string, of: ReadonlyMap<string, { poolId: string }> = registry) =>
  new Set([...of.entries()].filter(([, d]) => d.poolId === poolId).map(([id]) => id))
const epoch = 1
const results = replay.epochResults(epoch)
const pools = [...new Set(results.map((r) => r.poolId))]
// By day (10:00 to 14:00 local), with late and offline devices and a 10-minute grace: readings
// held back 30 minutes wait for their gap (reorder window 1 h) and are then late, booked into a
// later epoch as adjustments, so recomputing a leaf depends on the archived watermarks.
const GRACE_MS = 600_000
const FIRST_DAY_EPOCH = 10
const lateFleet = runFleet(
  { late: 0.08, offline: 0.03, reorder: 0.05, duplicate: 0.02 },
  undefined,
  4,
  { graceMs: GRACE_MS, reorderWindowMs: 3_600_000 },
  epochStartMs(grid, FIRST_DAY_EPOCH),
)
const dayEpoch = FIRST_DAY_EPOCH + 1

function buildWith(
  r: TelemetryReplay,
  poolId: string,
  e: number,
  totals = r.epochResults(e),
): PoolEpochBuild {
  const built = buildPoolEpoch(poolId, e, 0, totals, (d) => r.paidReadings(e, d), r)
  if (isProblem(built)) throw new Error(built.detail)
  return built
}
const build = (poolId: string) => buildWith(replay, poolId, epoch, results)
/** A day epoch's leaf that earned, its build, and verify's input for it. */
function earning() {
  const r = lateFleet.replay
  const totals = r.epochResults(dayEpoch)
  for (const poolId of new Set(totals.map((t) => t.poolId))) {
    const built = buildWith(r, poolId, dayEpoch, totals)
    const leaf = built.leaves.find((l) => BigInt(l.energyWh) > 0n && l.readings > 2)
    if (leaf) return { built, leaf, ...setup(r, built, leaf) }
  }
  throw new Error('nothing earned')
}
const committed = (b: PoolEpochBuild): FinalizedEpoch => ({
  root: b.proposal.root,
  revenueUnits: b.proposal.revenueUnits,
  energyWh: b.proposal.energyWh,
  leafCount: b.proposal.leafCount,
  treeHash: b.proposal.treeHash,
  archiveHash: b.proposal.archiveHash,
})
const failedChecks = (r: ReturnType<typeof verifyDeviceEpoch>) =>
  r.checks.filter((c) => !c.ok).map((c) => c.check)

/** verify's input for one leaf of a build, and ways to re-commit altered artifacts (dishonest signers). */
function setup(r: TelemetryReplay, built: PoolEpochBuild, leaf: DeviceLeaf) {
  const device = r.registry.get(leaf.deviceId)
  if (!device) throw new Error('not registered')
  const base = {
    poolId: leaf.poolId,
    epoch: Number(leaf.epoch),
    deviceId: leaf.deviceId,
    finalized: committed(built),
    treeBytes: built.treeBytes,
    archiveBytes: built.archiveBytes,
    device,
    poolDeviceIds: poolDevices(device.poolId, r === lateFleet.replay ? lateFleet.registry : registry),
    rules: r,
  }
  return {
    base,
    withArchive(records: (entries: readonly ArchiveEntry[]) => ArchiveEntry[]) {
      const archive = decodeArchive(built.archiveBytes)
      const bytes = encodeArchive(archive.poolId, archive.epoch, records(archive.records), archive.releases)
      return verifyDeviceEpoch({
        ...base,
        archiveBytes: bytes,
        finalized: { ...base.finalized, archiveHash: contentHash(bytes) },
      })
    },
    withLeaf(change: Partial<DeviceLeaf>) {
      const leaves = built.leaves.map((l) => (l.deviceId === leaf.deviceId ? { ...l, ...change } : l))
      const tree = buildDeviceTree(leaves)
      const treeBytes = serializeTree(tree)
      return verifyDeviceEpoch({
        ...base,
        treeBytes,
        finalized: {
          ...base.finalized,
          // Signers who alter a leaf commit totals that match it: COMMITMENT holds, the leaf's checks do not.
          revenueUnits: leaves.reduce((sum, l) => sum + l.revenueUnits, 0n),
          energyWh: leaves.reduce((sum, l) => sum + BigInt(l.energyWh), 0n),
          root: tree.root.toLowerCase() as `0x${string}`,
          treeHash: contentHash(treeBytes),
        },
      })
    },
  }
}

describe('buildPoolEpoch and verifyDeviceEpoch', () => {
  it('builds trees OpenZeppelin loads, with the ground truth in the leaves, and every device verifies', () => {
    expect(pools.length).toBeGreaterThan(1)
    for (const poolId of pools) {
      const built = build(poolId)
      const oz = StandardMerkleTree.load(JSON.parse(Buffer.from(built.treeBytes).toString()))
      expect(oz.root).toBe(built.proposal.root)
      for (const leaf of built.leaves) {
        const t = truth.find((x) => x.deviceId === leaf.deviceId && x.epoch === epoch)
        expect(leaf.energyWh).toBe(BigInt(t?.energyWh ?? -1))
        expect(leaf.revenueUnits).toBe(t?.revenueUnits)
        expect(leaf.readings).toBe(t?.readings)
        const result = verifyDeviceEpoch(setup(replay, built, leaf).base)
        expect(failedChecks(result)).toEqual([])
        expect(result.ok).toBe(true)
        expect(result.leafRecomputed).toEqual({
          energyWh: leaf.energyWh,
          revenueUnits: leaf.revenueUnits,
          readings: leaf.readings,
          readingsDigest: leaf.readingsDigest,
        })
      }
    }
  })

  it('recomputes every leaf of every epoch when late readings are booked into later epochs', () => {
    let adjusted = 0
    let verified = 0
    for (let e = FIRST_DAY_EPOCH; e <= FIRST_DAY_EPOCH + 4; e++) {
      const totals = lateFleet.replay.epochResults(e)
      for (const poolId of new Set(totals.map((t) => t.poolId))) {
        const built = buildWith(lateFleet.replay, poolId, e, totals)
        for (const leaf of built.leaves) {
          const result = verifyDeviceEpoch(setup(lateFleet.replay, built, leaf).base)
          expect(failedChecks(result), `${leaf.deviceId}/${e}`).toEqual([])
          verified++
          // A paid reading accounted before the epoch began came in late: an adjustment.
          if (
            lateFleet.replay.paidReadings(e, leaf.deviceId).some((p) => readingTs(p) < epochStartMs(grid, e))
          )
            adjusted++
        }
      }
    }
    expect(verified).toBeGreaterThan(20)
    expect(adjusted).toBeGreaterThan(0)
  })

  it('archives context before the first paid reading: the preceding record, paying nothing here', () => {
    const poolId = pools[0] as string
    const built = build(poolId)
    const archive = decodeArchive(built.archiveBytes)
    expect(archive.format).toBe('gridroot.readings-archive.v3')
    for (const leaf of built.leaves) {
      const entries = archive.records.filter((r) => r.deviceId === leaf.deviceId)
      expect(entries[0]?.paid, leaf.deviceId).toEqual([])
      expect(entries.filter((r) => r.paid.length > 0).length).toBeGreaterThan(0)
      expect(entries.slice(1).every((r) => r.watermarkMs !== undefined)).toBe(true)
    }
  })

  it('is deterministic and canonical: the same inputs in another order give the same bytes', () => {
    const poolId = pools[0] as string
    const again = buildPoolEpoch(
      poolId,
      epoch,
      0,
      [...results].reverse(),
      (d) => replay.paidReadings(epoch, d),
      replay,
    )
    const built = build(poolId)
    expect(isProblem(again) ? undefined : again.proposal).toEqual(built.proposal)
    const archive = decodeArchive(built.archiveBytes)
    const reencoded = encodeArchive(
      poolId,
      epoch,
      [...archive.records].reverse(),
      [...archive.releases].reverse(),
    )
    expect(Buffer.from(reencoded).equals(Buffer.from(built.archiveBytes))).toBe(true)
  })

  it('commits an empty pool epoch as root 0 with no leaves', () => {
    const built = buildPoolEpoch('pool-empty', epoch, 0, results, () => [], replay)
    expect(isProblem(built) ? undefined : built.proposal).toMatchObject({
      root: EMPTY_ROOT,
      leafCount: 0,
      revenueUnits: 0n,
      energyWh: 0n,
    })
  })

  it('fails a tampered tree, a tampered archive and a leaf whose digest the archive does not give', () => {
    const poolId = pools[0] as string
    const built = build(poolId)
    const leaf = built.leaves[0] as DeviceLeaf
    const { base, withArchive } = setup(replay, built, leaf)
    const failed = (r: ReturnType<typeof verifyDeviceEpoch>) => r.checks.find((c) => !c.ok)?.check

    const tree = Buffer.from(built.treeBytes)
    tree[tree.length - 10] = tree[tree.length - 10] === 0x31 ? 0x32 : 0x31
    expect(failed(verifyDeviceEpoch({ ...base, treeBytes: tree }))).toBe('TREE_HASH')

    // An archive that drops one paid reading of the device: its hash no longer matches, and even
    // when committed as such (dishonest signers), the digest does not.
    const archive = decodeArchive(built.archiveBytes)
    const dropOne = (rs: readonly ArchiveEntry[]) =>
      rs.map((r) => (r.deviceId === leaf.deviceId && r.paid.length > 0 ? { ...r, paid: r.paid.slice(1) } : r))
    const altered = encodeArchive(poolId, epoch, dropOne(archive.records), archive.releases)
    expect(failed(verifyDeviceEpoch({ ...base, archiveBytes: altered }))).toBe('ARCHIVE_HASH')
    expect(failedChecks(withArchive(dropOne))).toEqual(['READINGS_DIGEST'])

    // Another device's key in the registry entry: the signatures do not verify.
    const other = [...registry.values()].find((d) => d.deviceId !== leaf.deviceId)
    if (!other) throw new Error('one device only')
    expect(
      failed(verifyDeviceEpoch({ ...base, device: { ...device(leaf), publicKey: other.publicKey } })),
    ).toBe('SIGNATURES')
  })

  it('COMMITMENT fails every device of an epoch whose committed totals are not its leaves (attack10a F1)', () => {
    const { built, base } = earning()
    const inflated = { ...base.finalized, revenueUnits: base.finalized.revenueUnits * 10n + 1n }
    for (const leaf of built.leaves) {
      const result = verifyDeviceEpoch({ ...setup(lateFleet.replay, built, leaf).base, finalized: inflated })
      expect(failedChecks(result), leaf.deviceId).toEqual(['COMMITMENT'])
      expect(result.ok).toBe(false)
      const detail = result.checks.find((c) => c.check === 'COMMITMENT')?.detail ?? ''
      expect(detail).toContain(`TOTALS_MISMATCH: `)
      expect(detail).toContain(`the chain committed revenueUnits ${inflated.revenueUnits}`)
    }
    const fewer = verifyDeviceEpoch({ ...base, finalized: { ...base.finalized, leafCount: 1 } })
    expect(fewer.checks.find((c) => c.check === 'COMMITMENT')?.detail).toContain('LEAF_COUNT_MISMATCH')
  })

  it('COMMITMENT fails every registered device of a tree that pays an unregistered one (attack10a F1)', () => {
    const { built, leaf, base } = earning()
    const phantom: DeviceLeaf = { ...leaf, deviceId: 'swp-999999', revenueUnits: 500_000_000n, energyWh: 0n }
    const tree = buildDeviceTree([...built.leaves, phantom])
    const treeBytes = serializeTree(tree)
    const finalized = {
      ...base.finalized,
      root: tree.root.toLowerCase() as `0x${string}`,
      treeHash: contentHash(treeBytes),
      leafCount: built.leaves.length + 1,
      revenueUnits: base.finalized.revenueUnits + phantom.revenueUnits,
    }
    for (const l of built.leaves) {
      const result = verifyDeviceEpoch({ ...setup(lateFleet.replay, built, l).base, treeBytes, finalized })
      expect(failedChecks(result), l.deviceId).toEqual(['COMMITMENT'])
      expect(result.checks.find((c) => c.check === 'COMMITMENT')?.detail).toContain('UNREGISTERED_DEVICE: ')
    }
  })

  it('LEAF_MISSING: a device the tree leaves out fails naming what the archive pays it; one without records is idle (attack10a F3)', () => {
    const { built, leaf, base } = earning()
    const rest = built.leaves.filter((l) => l.deviceId !== leaf.deviceId)
    const tree = buildDeviceTree(rest)
    const treeBytes = serializeTree(tree)
    const finalized = {
      ...base.finalized,
      root: tree.root.toLowerCase() as `0x${string}`,
      treeHash: contentHash(treeBytes),
      leafCount: rest.length,
      revenueUnits: rest.reduce((sum, l) => sum + l.revenueUnits, 0n),
      energyWh: rest.reduce((sum, l) => sum + BigInt(l.energyWh), 0n),
    }
    const leftOut = verifyDeviceEpoch({ ...base, treeBytes, finalized })
    expect(failedChecks(leftOut)).toEqual(['LEAF_MISSING'])
    const detail = leftOut.checks.find((c) => c.check === 'LEAF_MISSING')?.detail ?? ''
    expect(detail).toContain(`the archive flags ${leaf.readings} of its readings as paid`)
    expect(detail).toContain(`revenueUnits=${leaf.revenueUnits}`)
    // The archive without the device's records too: nothing shows it earned.
    const archive = decodeArchive(built.archiveBytes)
    const archiveBytes = encodeArchive(
      archive.poolId,
      archive.epoch,
      archive.records.filter((r) => r.deviceId !== leaf.deviceId),
      archive.releases.filter((r) => r.deviceId !== leaf.deviceId),
    )
    const idle = verifyDeviceEpoch({
      ...base,
      treeBytes,
      archiveBytes,
      finalized: { ...finalized, archiveHash: contentHash(archiveBytes) },
    })
    expect(idle.ok).toBe(true)
    expect(idle.checks.at(-1)).toEqual({
      check: 'LEAF_MISSING',
      ok: true,
      detail: `idle: nothing earned, nothing owed (${leaf.deviceId} has no leaf, and the archive has no record of it)`,
    })
  })

  it('LEAF_RECOMPUTED fails a re-signed tree whose leaf pays other energy or revenue, naming both values', () => {
    const { leaf, withLeaf } = earning()
    const energyWh = BigInt(leaf.energyWh)
    const more = withLeaf({ energyWh: energyWh + 1n })
    expect(failedChecks(more)).toEqual(['LEAF_RECOMPUTED'])
    const detail = more.checks.find((c) => c.check === 'LEAF_RECOMPUTED')?.detail ?? ''
    expect(detail).toContain(`the rules give energyWh=${energyWh} `)
    expect(detail).toContain(`the leaf says energyWh=${energyWh + 1n} `)
    expect(failedChecks(withLeaf({ revenueUnits: leaf.revenueUnits + 1n }))).toEqual(['LEAF_RECOMPUTED'])
    expect(failedChecks(withLeaf({ revenueUnits: leaf.revenueUnits - 1n }))).toEqual(['LEAF_RECOMPUTED'])
  })

  it('LEAF_RECOMPUTED fails a re-committed archive without a paid record, or without the context record', () => {
    const { leaf, withArchive } = earning()
    // The last paid record dropped: both the flags and the rules count fewer readings.
    const dropPaid = withArchive((rs) => {
      const last = rs.findLast((r) => r.deviceId === leaf.deviceId && r.paid.length > 0)
      return rs.filter((r) => r !== last)
    })
    expect(failedChecks(dropPaid)).toEqual(['READINGS_DIGEST', 'LEAF_RECOMPUTED'])
    // The context record dropped: the first paid reading becomes a baseline that pays nothing.
    const dropContext = withArchive((rs) => {
      const first = rs.find((r) => r.deviceId === leaf.deviceId)
      return rs.filter((r) => r !== first)
    })
    expect(failedChecks(dropContext)).toEqual(['LEAF_RECOMPUTED'])
  })

  it('ARCHIVE_SCOPE fails a committed archive whose records are valid but not in canonical order (attack10a F7)', () => {
    const { built, base } = earning()
    const json = JSON.parse(Buffer.from(built.archiveBytes).toString('utf8'))
    json.records.reverse()
    const reordered = new TextEncoder().encode(JSON.stringify(json))
    const result = verifyDeviceEpoch({
      ...base,
      archiveBytes: reordered,
      finalized: { ...base.finalized, archiveHash: contentHash(reordered) },
    })
    expect(failedChecks(result)).toEqual(['ARCHIVE_SCOPE'])
    expect(result.checks.at(-1)?.detail).toMatch(/^\[ARCHIVE_NOT_CANONICAL\] .*comes after record 0/)
  })

  it('fails a foreign record filed under the device', () => {
    const { leaf, withArchive } = earning()
    const foreign = withArchive((rs) => {
      const other = rs.find((r) => r.deviceId !== leaf.deviceId) as ArchiveEntry
      return [...rs, { ...other, deviceId: leaf.deviceId }]
    })
    expect(failedChecks(foreign)).toEqual(['SIGNATURES'])
  })

  it('LEAF_RECOMPUTED follows the archived receive time and watermark: changing either moves the energy', () => {
    const { leaf, withArchive } = earning()
    const firstPaid = (rs: readonly ArchiveEntry[]) =>
      rs.find((r) => r.deviceId === leaf.deviceId && r.paid.length > 0) as ArchiveEntry
    // A receive time an hour before the device time: its clock counts as ahead, and the reading
    // is booked at the preceding reading's time, in the epoch before.
    const early = withArchive((rs) => {
      const first = firstPaid(rs)
      const ts = decodeAcceptedRecord(Buffer.from(first.valueBase64, 'base64')).readings[0]?.ts as number
      return rs.map((r) => (r === first ? { ...r, receivedAtMs: ts - 3_600_000 } : r))
    })
    expect(failedChecks(early)).toEqual(['LEAF_RECOMPUTED'])
    // A watermark past the epoch's end + grace before the first paid record: lateness flips, its
    // energy is booked into a later epoch as an adjustment.
    const lateGrace = GRACE_MS
    const late = withArchive((rs) => {
      const first = firstPaid(rs)
      return rs.map((r) => (r === first ? { ...r, watermarkMs: epochEndMs(grid, dayEpoch) + lateGrace } : r))
    })
    expect(failedChecks(late)).toEqual(['LEAF_RECOMPUTED'])
  })
})

function device(leaf: DeviceLeaf) {
  const d = registry.get(leaf.deviceId)
  if (!d) throw new Error('not registered')
  return d
}

function readingTs(p: { record: { valueBase64: string }; indexInMessage: number }): number {
  return decodeAcceptedRecord(Buffer.from(p.record.valueBase64, 'base64')).readings[p.indexInMessage]
    ?.ts as number
}
