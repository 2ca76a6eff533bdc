import { describe, expect, it } from 'vitest'
import { epochEndMs } from '../../../core/epochs/grid.ts'
import { decodeArchive, deviceSteps } from './archive.ts'
import { grid, runFleet, START } from './fleet-replay.fixture.ts'
import { recomputeLeaf, sameLeaf } from './leaf-recompute.ts'
import { buildPoolEpoch, isProblem } from './pool-epoch.ts'

/**
 * Issue 10 F1: under `npm start` (600×) an honest leaf failed LEAF_RECOMPUTED (chg-000032, one
 * reading more and 950,400 units less from the archive), and the distributor's archive audit
 * halted its pool. A device silent for a while whose fleet ran a little faster than the set speed
 * looks leapt (its clock moved further than the receive times × 600 allow) and is booked at its
 * partition's clock, which other devices' readings anchor: replaying the device alone anchored
 * the clock at its own first reading and booked its readings into other intervals. The archive
 * now records the partition clock of every step, as it records the watermark.
 */
describe('leaf recomputation of an accelerated fleet (GRIDROOT_AGG_DEVICE_TIME_SPEED=600)', () => {
  const HOURS = 12
  const WALL_START = 1_796_410_000_000
  // The fleet publishes at 700× while the rules assume 600×; 5 % of the devices go offline 45 min.
  const { replay, registry } = runFleet(
    { offline: 0.05 },
    { chargers: 6, pv: 0, swap: 0 },
    HOURS,
    { clock: { deviceTimeSpeed: 600 }, graceMs: 3_600_000, reorderWindowMs: 900_000 },
    START,
    (t) => Math.round(WALL_START + (t - START) / 700),
  )

  it('every leaf of every epoch recomputes from its archive to what the replay booked', () => {
    const mismatches: string[] = []
    let leaves = 0
    let clamped = 0
    for (let epoch = 0; epochEndMs(grid, epoch) <= START + HOURS * 3_600_000; epoch++) {
      const totals = replay.epochResults(epoch)
      for (const poolId of new Set(totals.map((t) => t.poolId))) {
        const built = buildPoolEpoch(poolId, epoch, 0, totals, (d) => replay.paidReadings(epoch, d), replay)
        if (isProblem(built)) throw new Error(built.detail)
        const archive = decodeArchive(built.archiveBytes)
        for (const leaf of built.leaves) {
          const device = registry.get(leaf.deviceId)
          if (!device) throw new Error(`${leaf.deviceId} is not registered`)
          const booked = totals.find((t) => t.deviceId === leaf.deviceId)
          const again = recomputeLeaf(replay, device, epoch, deviceSteps(archive, leaf.deviceId))
          leaves += 1
          if (archive.records.some((r) => r.deviceId === leaf.deviceId && r.clock?.anchor)) clamped += 1
          if (!booked || !sameLeaf(again, { ...booked, paid: booked.paid }))
            mismatches.push(
              `${leaf.deviceId}/${epoch}: archive gives ${again.revenueUnits} units, ${again.readings} readings; the leaf ${leaf.revenueUnits}, ${leaf.readings}`,
            )
        }
      }
    }
    expect(leaves).toBeGreaterThan(20)
    expect(mismatches).toEqual([])
    // The partition clocks are in the archive (a speed-1 archive has none: `"clock":null`).
    expect(clamped).toBe(leaves)
  })
})
