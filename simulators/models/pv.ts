/**
 * A rooftop PV plant (SunSpec-like inverter): irradiance follows the sun over Hong Kong and the
 * day's weather (shared by plants in the same district), AC power is capped by the inverter's
 * rating, and nothing is produced at night.
 */
import { createRng, type Rng } from '../../core/random/prng.ts'
import type { InverterStatus, Reading } from '../../core/telemetry/types.ts'
import { BaseDeviceModel, HOUR_MS, localDay, localHour } from './device-model.ts'

const SUNRISE_H = 6.0
const SUNSET_H = 18.75
const PEAK_IRRADIANCE_WM2 = 1000
const SYSTEM_EFFICIENCY = 0.92
const DISTRICTS = 8

export interface PvOptions {
  readonly fleetSeed: string
  readonly ratedPowerW: number
  /** DC array size relative to the inverter's AC rating; >1 clips at noon, as real plants do. */
  readonly dcToAcRatio: number
  readonly sampleMs: number
}

/** Clear-sky irradiance at a local hour, W/m². */
export function clearSkyIrradiance(hour: number): number {
  if (hour <= SUNRISE_H || hour >= SUNSET_H) return 0
  const x = Math.sin((Math.PI * (hour - SUNRISE_H)) / (SUNSET_H - SUNRISE_H))
  return PEAK_IRRADIANCE_WM2 * x ** 1.3
}

export class PvModel extends BaseDeviceModel {
  private lastPowerW = 0
  private readonly district: number
  private readonly weatherCache = new Map<number, number>()

  constructor(
    deviceId: string,
    rng: Rng,
    startMs: number,
    initialRegisterWh: number,
    private readonly options: PvOptions,
  ) {
    super(deviceId, rng, startMs, initialRegisterWh)
    this.district = rng.int(0, DISTRICTS - 1)
  }

  /** Clearness of a district's day: sunny, hazy, cloudy or rainy; the same for all its plants. */
  private clearness(day: number): number {
    let value = this.weatherCache.get(day)
    if (value === undefined) {
      const weather = createRng(this.options.fleetSeed, 'weather', this.district, day)
      const roll = weather.next()
      value =
        roll < 0.45
          ? 0.85 + 0.15 * weather.next()
          : roll < 0.75
            ? 0.55 + 0.25 * weather.next()
            : roll < 0.9
              ? 0.25 + 0.25 * weather.next()
              : 0.05 + 0.15 * weather.next()
      if (this.weatherCache.size > 8) this.weatherCache.clear()
      this.weatherCache.set(day, value)
    }
    return value
  }

  advance(toMs: number): Reading[] {
    const out: Reading[] = []
    const { sampleMs, ratedPowerW, dcToAcRatio } = this.options
    let t = (Math.floor(this.nowMs / sampleMs) + 1) * sampleMs
    for (; t <= toMs; t += sampleMs) {
      const clearSky = clearSkyIrradiance(localHour(t))
      const irradiance =
        clearSky === 0 ? 0 : Math.max(0, clearSky * this.clearness(localDay(t)) * this.rng.normal(1, 0.05))
      const dcPowerW = ratedPowerW * dcToAcRatio * (irradiance / PEAK_IRRADIANCE_WM2) * SYSTEM_EFFICIENCY
      const acPowerW = Math.round(Math.min(ratedPowerW, dcPowerW))
      // Trapezoid between samples: the meter integrates continuously.
      this.energyWh += (((this.lastPowerW + acPowerW) / 2) * (t - this.nowMs)) / HOUR_MS
      this.lastPowerW = acPowerW
      this.nowMs = t
      const status: InverterStatus =
        acPowerW === 0 ? 'Sleeping' : dcPowerW > ratedPowerW ? 'Throttled' : 'MPPT'
      this.emit(out, {
        type: 'pv.inverter',
        ts: t,
        registerWh: this.registerWh,
        acPowerW,
        irradianceWm2: Math.round(Math.min(irradiance, 2000)),
        status,
      })
    }
    return out
  }
}
