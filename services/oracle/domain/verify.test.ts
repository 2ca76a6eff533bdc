import { StandardMerkleTree } from '@openzeppelin/merkle-tree'
import { describe, expect, it } from 'vitest'
import { EMPTY_ROOT } from '../../../core/merkle/index.ts'
import type { FinalizedEpoch } from '../ports.ts'
import { decodeArchive, encodeArchive } from './archive.ts'
import { runFleet } from './fleet-replay.fixture.ts'
import { buildPoolEpoch, contentHash, isProblem, type PoolEpochBuild } from './pool-epoch.ts'
import { verifyDeviceEpoch } from './verify.ts'

const { replay, truth, registry } = runFleet({ duplicate: 0.05, reorder: 0.05 })
const epoch = 1
const results = replay.epochResults(epoch)
const pools = [...new Set(results.map((r) => r.poolId))]

function build(poolId: string): PoolEpochBuild {
  const built = buildPoolEpoch(poolId, epoch, 0, results, (d) => replay.paidReadings(epoch, d))
  if (isProblem(built)) throw new Error(built.detail)
  return built
}
const committed = (b: PoolEpochBuild): FinalizedEpoch => ({
  root: b.proposal.root,
  revenueUnits: b.proposal.revenueUnits,
  energyWh: b.proposal.energyWh,
  leafCount: b.proposal.leafCount,
  treeHash: b.proposal.treeHash,
  archiveHash: b.proposal.archiveHash,
})

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
        const device = registry.get(leaf.deviceId)
        if (!device) throw new Error('not registered')
        const result = verifyDeviceEpoch({
          poolId,
          epoch,
          deviceId: leaf.deviceId,
          finalized: committed(built),
          treeBytes: built.treeBytes,
          archiveBytes: built.archiveBytes,
          device,
        })
        expect(result.checks.filter((c) => !c.ok)).toEqual([])
        expect(result.ok).toBe(true)
      }
    }
  })

  it('is deterministic: the same inputs in another order give the same bytes', () => {
    const poolId = pools[0] as string
    const again = buildPoolEpoch(poolId, epoch, 0, [...results].reverse(), (d) =>
      replay.paidReadings(epoch, d),
    )
    expect(isProblem(again) ? undefined : again.proposal).toEqual(build(poolId).proposal)
  })

  it('commits an empty pool epoch as root 0 with no leaves', () => {
    const built = buildPoolEpoch('pool-empty', epoch, 0, results, () => [])
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
    const leaf = built.leaves[0]
    if (!leaf) throw new Error('no leaf')
    const device = registry.get(leaf.deviceId)
    if (!device) throw new Error('not registered')
    const base = {
      poolId,
      epoch,
      deviceId: leaf.deviceId,
      finalized: committed(built),
      treeBytes: built.treeBytes,
      archiveBytes: built.archiveBytes,
      device,
    }
    const failed = (r: ReturnType<typeof verifyDeviceEpoch>) => r.checks.find((c) => !c.ok)?.check

    const tree = Buffer.from(built.treeBytes)
    tree[tree.length - 10] = tree[tree.length - 10] === 0x31 ? 0x32 : 0x31
    expect(failed(verifyDeviceEpoch({ ...base, treeBytes: tree }))).toBe('TREE_HASH')

    // An archive that drops one paid reading of the device: its hash no longer matches, and even
    // when committed as such (dishonest signers), the digest does not.
    const archive = decodeArchive(built.archiveBytes)
    const records = archive.records.map((r) =>
      r.deviceId === leaf.deviceId && r.paid.length > 0 ? { ...r, paid: r.paid.slice(1) } : r,
    )
    const altered = encodeArchive(poolId, epoch, records)
    expect(failed(verifyDeviceEpoch({ ...base, archiveBytes: altered }))).toBe('ARCHIVE_HASH')
    const recommitted = { ...committed(built), archiveHash: contentHash(altered) }
    expect(failed(verifyDeviceEpoch({ ...base, archiveBytes: altered, finalized: recommitted }))).toBe(
      'READINGS_DIGEST',
    )

    // Another device's key in the registry entry: the signatures do not verify.
    const other = [...registry.values()].find((d) => d.deviceId !== leaf.deviceId)
    if (!other) throw new Error('one device only')
    expect(failed(verifyDeviceEpoch({ ...base, device: { ...device, publicKey: other.publicKey } }))).toBe(
      'SIGNATURES',
    )
  })
})
