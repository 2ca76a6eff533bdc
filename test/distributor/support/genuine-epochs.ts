/**
 * Genuine pool epochs for the distributor's tests: PV devices whose signed readings (a constant
 * power each, one reading per interval, by day) are replayed through the aggregator's rules and
 * built into the device tree and readings archive exactly as the oracle's signers build them
 * (services/oracle/domain/pool-epoch.ts), so the distributor's archive audit recomputes every
 * leaf from them. The revenue of an epoch follows a tariff book with one price per epoch, so the
 * figures stay the round numbers a test works out by hand: a device's epoch earns
 * `whPerInterval × intervals × price / 1000` base units.
 */
import type { KeyObject } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import type { Hex } from 'viem'
import { epochStartMs, type TimeGrid } from '../../../core/epochs/grid.ts'
import { deriveDeviceSeed, keyPairFromSeed } from '../../../core/identity/keys.ts'
import type { DeviceRecord } from '../../../core/identity/registry.ts'
import type { TariffBookInput } from '../../../core/revenue/tariffs.ts'
import { decodeAcceptedRecord } from '../../../core/telemetry/decode.ts'
import { encodeV2 } from '../../../core/telemetry/sign.ts'
import type { PvInverter } from '../../../core/telemetry/types.ts'
import { createFileArtifactStore } from '../../../runtime/artifact-store.ts'
import type { LeafRules } from '../../../services/oracle/domain/leaf-recompute.ts'
import { buildPoolEpoch, isProblem, type PoolEpochBuild } from '../../../services/oracle/domain/pool-epoch.ts'
import { TelemetryReplay } from '../../../services/oracle/domain/replay.ts'
import { testDevices } from '../../contracts/support/device-epoch.ts'
import { proposal } from '../../contracts/support/oracle.ts'

export const GENUINE_TARIFF_ID = 'test-fit'
/** testDevices' key seed: the keys of the registry's public keys. */
const FLEET_SEED = 'device-epoch'

/** `count` PV plants of `poolId` (ids `<prefix>-000001`…) on the test's tariff, keys derived from their ids. */
export const pvDevices = (poolId: string, prefix: string, count: number): DeviceRecord[] =>
  testDevices(poolId, prefix, count).map((d) => ({
    ...d,
    assetClass: 'pv' as const,
    ratedPowerW: 100_000,
    tariffId: GENUINE_TARIFF_ID,
  }))

/** The device's signing key (what only the device holds), or the key a forger derives from its own seed. */
const signingKey = (deviceId: string, seed = FLEET_SEED): KeyObject =>
  keyPairFromSeed(deriveDeviceSeed(seed, deviceId)).privateKey

/** Writes a tariff book whose feed-in price in epoch n is `pricesPerKWh[n]` base units per kWh. */
export function writeTariffBook(file: string, grid: TimeGrid, pricesPerKWh: readonly bigint[]) {
  const book: TariffBookInput = {
    utcOffsetHours: 8,
    tariffs: {
      [GENUINE_TARIFF_ID]: pricesPerKWh.map((price, epoch) => ({
        effectiveFrom: new Date(epochStartMs(grid, epoch)).toISOString(),
        kind: 'pv' as const,
        feedInPerKWhUnits: String(price),
      })),
    },
  }
  writeFileSync(file, JSON.stringify(book))
}

/**
 * The devices' telemetry over `epochs` epochs, replayed under `rules`: `build(epoch)` is the
 * pool epoch as the signers publish it. A device reports at every interval boundary from the
 * first epoch's start, its register rising `whPerInterval` each time.
 */
export function genuineFleet(p: {
  readonly devices: readonly DeviceRecord[]
  readonly whPerInterval: ReadonlyMap<string, number>
  readonly grid: TimeGrid
  readonly rules: LeafRules
  readonly epochs: number
  /** Signs with keys from this seed instead of the devices' own (a forger's). */
  readonly signingSeed?: string
  /**
   * A forger's replay (attack10 F2): this device's genuine signed readings are withheld until the
   * other devices' reach `untilMs` of device time, then applied all at once, received then: the
   * replay books the ones of closed epochs as late adjustments of the epoch open at that time.
   */
  readonly late?: { readonly deviceId: string; readonly untilMs: number }
}) {
  const registry = new Map(p.devices.map((d) => [d.deviceId, d]))
  const replay = new TelemetryReplay(p.rules.settings, p.rules.tariffs, registry)
  const intervals = (p.epochs * p.grid.epochLengthMs) / p.grid.intervalMs
  let offset = 0
  const withheld: Buffer[] = []
  const apply = (payload: Buffer, receivedAtMs: number) => {
    const message = decodeAcceptedRecord(payload)
    const record = {
      deviceId: message.deviceId,
      partition: 0,
      offset: String(offset++),
      receivedAtMs: receivedAtMs + 200,
      valueBase64: payload.toString('base64'),
    }
    replay.apply(record, message)
  }
  for (let k = 0; k <= intervals; k++) {
    const ts = p.grid.genesisMs + k * p.grid.intervalMs
    for (const device of p.devices) {
      const wh = p.whPerInterval.get(device.deviceId) ?? 0
      const reading: PvInverter = {
        type: 'pv.inverter',
        seq: k + 1,
        ts,
        registerWh: k * wh,
        acPowerW: Math.round((wh * 3_600_000) / p.grid.intervalMs),
        irradianceWm2: 800,
        status: 'MPPT',
      }
      const payload = encodeV2(device.deviceId, 0, [reading], signingKey(device.deviceId, p.signingSeed))
      if (device.deviceId === p.late?.deviceId && ts < p.late.untilMs) {
        withheld.push(payload)
        continue
      }
      if (p.late !== undefined && ts >= p.late.untilMs) for (const late of withheld.splice(0)) apply(late, ts)
      apply(payload, ts)
    }
  }
  return {
    build(poolId: string, epoch: number): PoolEpochBuild {
      const built = buildPoolEpoch(
        poolId,
        epoch,
        0,
        replay.epochResults(epoch),
        (d) => replay.paidReadings(epoch, d),
        replay,
      )
      if (isProblem(built)) throw new Error(built.detail)
      return built
    },
  }
}

/** Stores a build's tree and archive (what a signer publishes before it signs). */
export async function storeBuild(artifactDir: string, built: PoolEpochBuild, what: 'both' | 'tree' = 'both') {
  const store = createFileArtifactStore({ dir: artifactDir })
  await store.put(built.treeBytes)
  if (what === 'both') await store.put(built.archiveBytes)
}

/** What the signers propose for a build: its own figures and hashes, or `forge`d ones. */
export const proposalOfBuild = (
  poolIdHex: Hex,
  built: PoolEpochBuild,
  forge: Partial<ReturnType<typeof proposal>> = {},
) =>
  proposal({
    poolId: poolIdHex,
    epoch: BigInt(built.proposal.epoch),
    root: built.proposal.root,
    revenueUnits: built.proposal.revenueUnits,
    energyWh: built.proposal.energyWh,
    leafCount: built.proposal.leafCount,
    treeHash: built.proposal.treeHash,
    archiveHash: built.proposal.archiveHash,
    ...forge,
  })
