/** A replayed fleet's pool epoch as the signers publish it, and the pool's registry entries (the audit's tests). */
import type { DeviceRecord } from '../../../core/identity/registry.ts'
import type { runFleet } from '../../oracle/domain/fleet-replay.fixture.ts'
import { buildPoolEpoch, isProblem, type PoolEpochBuild } from '../../oracle/domain/pool-epoch.ts'

export function replayedPoolEpoch(
  fleet: ReturnType<typeof runFleet>,
  poolId: string,
  epoch: number,
): { readonly built: PoolEpochBuild; readonly devices: Map<string, DeviceRecord> } {
  const totals = fleet.replay.epochResults(epoch)
  const built = buildPoolEpoch(
    poolId,
    epoch,
    0,
    totals,
    (d) => fleet.replay.paidReadings(epoch, d),
    fleet.replay,
  )
  if (isProblem(built)) throw new Error(built.detail)
  const devices = new Map(
    [...fleet.registry.values()].filter((d) => d.poolId === poolId).map((d) => [d.deviceId, d]),
  )
  return { built, devices }
}
