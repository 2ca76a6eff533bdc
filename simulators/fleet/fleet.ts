/**
 * A simulated fleet: N chargers, PV plants and swap cabinets, each with a key pair, a registry
 * record and a behaviour model, all derived from one seed.
 */
import type { KeyObject } from 'node:crypto'
import { deriveDeviceSeed, keyPairFromSeed } from '../../core/identity/keys.ts'
import type { DeviceRecord, DeviceRegistryFile } from '../../core/identity/registry.ts'
import { createRng } from '../../core/random/prng.ts'
import type { AssetClass } from '../../core/telemetry/types.ts'
import { ChargerModel } from '../models/charger.ts'
import type { DeviceModel } from '../models/device-model.ts'
import { PvModel } from '../models/pv.ts'
import { SwapModel } from '../models/swap.ts'

export interface FleetSpec {
  readonly seed: string
  readonly chargers: number
  readonly pv: number
  readonly swap: number
  /** Device time at which the simulation starts. */
  readonly startMs: number
  /** How often devices sample their meters (device time). */
  readonly sampleMs: number
}

/** The three sandbox deals' pools; tariffs are configured per pool (docs/architecture.md). */
export const DEFAULT_POOLS: Readonly<
  Record<AssetClass, { poolId: string; tariffId: string; prefix: string }>
> = {
  charger: { poolId: 'longshine-ev', tariffId: 'ev-tou', prefix: 'chg' },
  pv: { poolId: 'gcl-pv', tariffId: 'pv-fit', prefix: 'pv' },
  swap: { poolId: 'xunying-swap', tariffId: 'swap-std', prefix: 'swp' },
}

export interface SimulatedDevice {
  readonly record: DeviceRecord
  readonly privateKey: KeyObject
  readonly model: DeviceModel
}

export interface Fleet {
  readonly spec: FleetSpec
  readonly devices: readonly SimulatedDevice[]
  registry(): DeviceRegistryFile
}

export function deviceId(assetClass: AssetClass, index: number): string {
  return `${DEFAULT_POOLS[assetClass].prefix}-${String(index + 1).padStart(6, '0')}`
}

export function createFleet(spec: FleetSpec): Fleet {
  const devices: SimulatedDevice[] = []
  const add = (assetClass: AssetClass, count: number) => {
    for (let i = 0; i < count; i++) {
      const id = deviceId(assetClass, i)
      const rng = createRng(spec.seed, 'device', id)
      const keys = keyPairFromSeed(deriveDeviceSeed(spec.seed, id))
      const { model, ratedPowerW } = createModel(assetClass, id, rng, spec)
      devices.push({
        record: {
          deviceId: id,
          assetClass,
          poolId: DEFAULT_POOLS[assetClass].poolId,
          ratedPowerW,
          tariffId: DEFAULT_POOLS[assetClass].tariffId,
          publicKey: keys.publicKeyHex,
        },
        privateKey: keys.privateKey,
        model,
      })
    }
  }
  add('charger', spec.chargers)
  add('pv', spec.pv)
  add('swap', spec.swap)
  return {
    spec,
    devices,
    registry: () => ({ version: 1, devices: devices.map((d) => d.record) }),
  }
}

function createModel(
  assetClass: AssetClass,
  id: string,
  rng: ReturnType<typeof createRng>,
  spec: FleetSpec,
): { model: DeviceModel; ratedPowerW: number } {
  switch (assetClass) {
    case 'charger': {
      const ratedPowerW = rng.pick([7_000, 7_000, 7_000, 60_000, 60_000, 120_000])
      const initialRegisterWh = rng.int(0, 50_000_000)
      return {
        ratedPowerW,
        model: new ChargerModel(id, rng, spec.startMs, initialRegisterWh, {
          ratedPowerW,
          sampleMs: spec.sampleMs,
          utilization: 0.5 + rng.next(),
        }),
      }
    }
    case 'pv': {
      // Rooftop plants from 10 kW to 100 kW (82 MW over ~3,000 plants is ~27 kW on average).
      const ratedPowerW = rng.int(10, 100) * 1000
      return {
        ratedPowerW,
        model: new PvModel(id, rng, spec.startMs, rng.int(0, 2000) * ratedPowerW, {
          fleetSeed: spec.seed,
          ratedPowerW,
          dcToAcRatio: 1 + 0.3 * rng.next(),
          sampleMs: spec.sampleMs,
        }),
      }
    }
    case 'swap': {
      const slots = 12
      const slotChargeW = 400
      return {
        ratedPowerW: slots * slotChargeW,
        model: new SwapModel(id, rng, spec.startMs, rng.int(0, 5_000_000), {
          slots,
          slotChargeW,
          sampleMs: spec.sampleMs,
          demand: 0.5 + rng.next(),
        }),
      }
    }
  }
}
