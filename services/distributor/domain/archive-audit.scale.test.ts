/**
 * What the archive audit costs for a large pool (10,000 devices and more). Opt-in, since the
 * fixture replays the whole fleet first (about a minute at 10,000):
 * `GRIDROOT_AUDIT_SCALE_DEVICES=10000 npx vitest run --project unit services/distributor/domain/archive-audit.scale.test.ts`
 * prints the audit's time, and the time of the one whole-tree check the commitment gate runs.
 */
import { performance } from 'node:perf_hooks'
import { describe, expect, it } from 'vitest'
import { epochStartMs } from '../../../core/epochs/grid.ts'
import { checkTreeCommitment, deviceLeafLayout, parseTreeDump } from '../../../core/merkle/index.ts'
import { grid, runFleet } from '../../oracle/domain/fleet-replay.fixture.ts'
import { auditArchive } from './archive-audit.ts'
import { replayedPoolEpoch } from './audit.fixture.ts'

const DEVICES = Number(process.env.GRIDROOT_AUDIT_SCALE_DEVICES ?? 0)
/** 10:00 local: every PV plant earns in every interval, so each device has a leaf. */
const EPOCH = 10

describe.skipIf(DEVICES === 0)('auditArchive at scale', () => {
  it(`audits a pool epoch of ${DEVICES} PV plants`, () => {
    const fleet = runFleet({}, { chargers: 0, pv: DEVICES, swap: 0 }, 1.25, {}, epochStartMs(grid, EPOCH))
    const poolId = fleet.replay.epochResults(EPOCH)[0]!.poolId
    const { built, devices } = replayedPoolEpoch(fleet, poolId, EPOCH)
    const commitment = { ...built.proposal, epoch: EPOCH, attempt: 0 }

    let t = performance.now()
    const tree = parseTreeDump(deviceLeafLayout, built.treeBytes)
    const problems = checkTreeCommitment({
      tree,
      commitment: { ...commitment, poolId },
      registeredDeviceIds: new Set(devices.keys()),
    })
    const gateMs = performance.now() - t
    expect(problems).toEqual([])
    t = performance.now()
    const result = auditArchive({
      poolId,
      commitment,
      tree,
      archiveBytes: built.archiveBytes,
      devices,
      rules: fleet.replay,
    })
    const auditMs = performance.now() - t
    expect(result.ok).toBe(true)
    const records = result.ok ? result.records : 0
    console.log(
      JSON.stringify({
        devices: tree.leafCount,
        archiveRecords: records,
        archiveBytes: built.archiveBytes.length,
        gateMs: Math.round(gateMs),
        auditMs: Math.round(auditMs),
        perDeviceMs: Number((auditMs / tree.leafCount).toFixed(3)),
        perRecordUs: Math.round((auditMs * 1000) / records),
      }),
    )
  }, 900_000)
})
